"""Train the quality classifiers: fastText (DCLM-style) and a scikit-learn linear baseline.

Both are trained on the same deterministic split (by id hash, whole duplicate clusters at a time)
of positives (high-quality text) and negatives (raw or junk text), evaluated on the held-out part,
and written with a JSON card
beside each model file (what :class:`curation.quality.classifier.QualityModel` reads) plus a
human-readable ``MODEL_CARD.md``. Nothing here is pickled: fastText writes its own ``.bin``; the
linear model is plain arrays in an ``.npz``.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import InputConfig
from curation.dedup.config import DedupConfig
from curation.dedup.run import deduplicate
from curation.errors import CurationError
from curation.io.readers import DocumentReader, resolve_inputs
from curation.io.files import sha256_file
from curation.quality.classifier import DEFAULT_PREFIX_CHARS, QualityModel, preprocess
from curation.tokenizer import hash_unit

POSITIVE, NEGATIVE = "hq", "lq"


@dataclass
class FastTextParams:
    """DCLM (Li et al. 2024) scores with a fastText classifier on word bigrams; the other values are
    fastText's supervised defaults (Joulin et al. 2016) except ``dim`` and ``bucket``, shrunk from
    100 and 2M so the model stays ~43 MB and trains in about a second on a few thousand documents
    (raise them for millions of training documents)."""

    wordNgrams: int = 2
    lr: float = 0.1
    epoch: int = 5
    dim: int = 32
    bucket: int = 200_000
    minCount: int = 1
    seed: int = 0
    thread: int = 1  # one thread: fastText's Hogwild updates are only reproducible single-threaded


@dataclass
class LinearParams:
    """Hashing vectorizer (word 1-2 grams, 2^18 features) + L2 logistic regression: the usual strong
    baseline for text classification (scikit-learn user guide, "Text feature extraction")."""

    n_features: int = 1 << 18
    ngram_range: tuple[int, int] = (1, 2)
    C: float = 4.0
    max_iter: int = 1000


@dataclass
class TrainingData:
    texts: list[str]
    labels: np.ndarray  # 1 = positive
    ids: list[str]


def load_labelled(positives: list[str], negatives: list[str], *, labelled: list[str] | None = None,
                  label_field: str = "label", positive_label: str = "human",
                  text_field: str = "text", id_field: str = "id") -> TrainingData:
    """Read positives and negatives (any input format), or one labelled file split by ``label_field``."""
    texts, labels, ids = [], [], []
    fields = [label_field] if labelled else []
    config = InputConfig(text_field=text_field, id_field=id_field, keep_fields=fields)

    def read(paths: list[str], label: int | None) -> None:
        reader = DocumentReader(config)
        for input_file in resolve_inputs(paths):
            for batch in reader.read(input_file):
                for doc in batch.docs:
                    y = label if label is not None else int(doc.attributes.get(label_field) == positive_label)
                    texts.append(doc.text)
                    labels.append(y)
                    ids.append(f"{y}:{doc.id}")

    if labelled:
        read(labelled, None)
    read(positives, 1)
    read(negatives, 0)
    y = np.array(labels, np.int8)
    if y.sum() == 0 or y.sum() == len(y):
        raise CurationError(f"need both positives and negatives, got {int(y.sum())} positive of {len(y)}")
    return TrainingData(texts, y, ids)


# Exact duplicates and near duplicates at the dedup stage's default threshold (word 5-gram Jaccard
# >= 0.6, verified), as whole union-find components: every verified pair lands on one side, even
# one joined through a chain (the stage's "survivor" mode would split such a component).
SPLIT_DEDUP = DedupConfig(cluster_mode="component")


def duplicate_groups(texts: list[str], config: DedupConfig = SPLIT_DEDUP) -> np.ndarray:
    """For each text, the index of its duplicate cluster's survivor (itself when it has no duplicate),
    found by the project's dedup (curation.dedup: exact hashes, MinHash LSH, verified Jaccard)."""
    group = np.arange(len(texts))
    if len(texts) < 2:
        return group
    with tempfile.TemporaryDirectory(prefix="classifier-split-") as tmp:
        staging = Path(tmp) / "part-00000.parquet"
        # Row numbers as ids: the caller's ids need not be unique, and duplicate_of must resolve.
        pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), staging)
        result = deduplicate([staging], Path(tmp) / "dedup", config)
        found = pq.read_table(result.duplicates_path, columns=["id", "duplicate_of"])
    removed = np.array(found.column("id").to_pylist(), dtype=np.int64)
    group[removed] = np.array(found.column("duplicate_of").to_pylist(), dtype=np.int64)
    return group


@dataclass
class SplitStats:
    """How deduplicating the split changed it (for the model card)."""

    clusters: int = 0  # duplicate clusters (2+ documents)
    clustered_documents: int = 0
    leaked_by_id: int = 0  # held out by their own id's hash with a duplicate on the train side
    moved_to_train: int = 0
    moved_to_held_out: int = 0
    method: str = ""  # "none" when the split was not deduplicated


def split(data: TrainingData, holdout_fraction: float, dedup: bool = True
          ) -> tuple[np.ndarray, np.ndarray, SplitStats]:
    """Train / held-out masks by id hash: the same document always lands on the same side.

    With ``dedup`` a whole duplicate cluster goes to the side of its survivor's id: a held-out
    document with a copy in training scores the model on text it has memorised (100 of 717
    held-out documents of the sample corpus by id hash alone), which inflates every held-out figure.
    """
    own = np.array([hash_unit(i) < holdout_fraction for i in data.ids], dtype=bool)
    if not dedup:
        return ~own, own, SplitStats(method="none")
    group = duplicate_groups(data.texts)
    held = own[group]
    sizes = np.bincount(group, minlength=len(group))
    clustered = sizes[group] > 1
    train_in_group = np.bincount(group, weights=~own, minlength=len(group))
    stats = SplitStats(
        clusters=int((sizes > 1).sum()), clustered_documents=int(clustered.sum()),
        leaked_by_id=int((own & (train_in_group[group] > 0)).sum()),
        moved_to_train=int((own & ~held).sum()), moved_to_held_out=int((~own & held).sum()),
        method=f"exact and near duplicates (word {SPLIT_DEDUP.ngram}-gram Jaccard >= {SPLIT_DEDUP.threshold:g}, "
               "curation.dedup, union-find components) kept on one side: the side of the cluster survivor's id",
    )
    return ~held, held, stats


def metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    pred = (scores >= 0.5).astype(int)
    return {
        "precision": round(float(precision_score(y_true, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y_true, pred, zero_division=0)), 4),
        "f1": round(float(f1_score(y_true, pred, zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(y_true, scores)), 4),
        "n": int(len(y_true)),
    }


def _write_card(model: Path, card: dict[str, Any]) -> dict[str, Any]:
    card = {**card, "sha256": sha256_file(model), "file": model.name, "bytes": model.stat().st_size}
    model.with_name(model.name + ".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


NAN_RETRIES = 4


def fit_fasttext(train_file: str, model_path: str | Path, **params: Any) -> float:
    """Train a fastText supervised model in a fresh process and save it; return the learning rate used.

    Two fastText failure modes are handled. Divergence: it raises "Encountered NaN" when training
    diverges (its maintainers' advice is a lower learning rate, facebookresearch/fastText #638), so
    the rate is halved and training retried. Process state: the NumPy-2 build's training was seen
    to depend on what the process did before (the same input trained in a fresh process, NaN after
    other fastText work), so every attempt runs in a freshly spawned process.
    """
    lr = params.pop("lr", 0.1)
    context = multiprocessing.get_context("spawn")
    for attempt in range(NAN_RETRIES + 1):
        with context.Pool(1) as pool:
            error = pool.apply(_fit_in_child, (train_file, str(model_path), {**params, "lr": lr}))
        if error is None:
            return lr
        if "NaN" not in error or attempt == NAN_RETRIES:
            raise CurationError(f"fastText training failed: {error} (last learning rate {lr})")
        lr /= 2
    raise AssertionError("unreachable")


def _fit_in_child(train_file: str, model_path: str, params: dict[str, Any]) -> str | None:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    try:
        fasttext.train_supervised(input=train_file, verbose=0, **params).save_model(model_path)
    except RuntimeError as exc:
        return str(exc)
    return None


def train_fasttext(texts: list[str], labels: np.ndarray, path: Path, params: FastTextParams,
                   prefix_chars: int) -> float:
    """Train and save; returns the learning rate that trained without diverging."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        for text, y in zip(texts, labels):
            fh.write(f"__label__{POSITIVE if y else NEGATIVE} {preprocess(text, prefix_chars)}\n")
        train_file = fh.name
    try:
        return fit_fasttext(train_file, path, **asdict(params))
    finally:
        Path(train_file).unlink()


def train_linear(texts: list[str], labels: np.ndarray, path: Path, params: LinearParams,
                 prefix_chars: int) -> dict[str, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer_params = {"n_features": params.n_features, "ngram_range": list(params.ngram_range),
                         "alternate_sign": False, "norm": "l2"}
    vectorizer = HashingVectorizer(**{**vectorizer_params, "ngram_range": params.ngram_range})
    features = vectorizer.transform([preprocess(t, prefix_chars) for t in texts])
    model = LogisticRegression(C=params.C, max_iter=params.max_iter).fit(features, labels)
    with open(path, "wb") as fh:  # np.savez on a handle: no ".npz" appended, no pickle inside
        np.savez(fh, coef=model.coef_[0].astype(np.float32), intercept=model.intercept_.astype(np.float64))
    return vectorizer_params


def train_classifiers(data: TrainingData, output: Path, *, holdout_fraction: float = 0.2,
                      fasttext_params: FastTextParams | None = None, linear_params: LinearParams | None = None,
                      prefix_chars: int = DEFAULT_PREFIX_CHARS, data_description: str = "",
                      dedup_split: bool = True) -> dict[str, Any]:
    """Train both models on the same split; evaluate on the held-out part; write models and cards.

    ``dedup_split`` keeps exact and near duplicates on one side of the split (see :func:`split`).
    """
    fasttext_params = fasttext_params or FastTextParams()
    linear_params = linear_params or LinearParams()
    output.mkdir(parents=True, exist_ok=True)
    train, held, split_stats = split(data, holdout_fraction, dedup=dedup_split)
    if held.sum() == 0 or len(set(data.labels[held].tolist())) < 2:
        raise CurationError("the held-out split needs both classes: add data or raise the holdout fraction")
    texts = np.array(data.texts, dtype=object)
    common = {
        "positive_label": POSITIVE, "prefix_chars": prefix_chars, "preprocess": "lowercase, whitespace collapsed",
        "data": {"description": data_description, "positives": int(data.labels.sum()),
                 "negatives": int(len(data.labels) - data.labels.sum()), "train": int(train.sum()), "held_out": int(held.sum()),
                 "split": f"{holdout_fraction:.0%} held out by blake2b hash of the id",
                 "split_dedup": asdict(split_stats)},
    }
    report: dict[str, Any] = {}
    for kind, filename in (("fasttext", "fasttext.bin"), ("linear", "linear.npz")):
        path = output / filename
        t0 = time.perf_counter()
        if kind == "fasttext":
            lr = train_fasttext(list(texts[train]), data.labels[train], path, fasttext_params, prefix_chars)
            card = {"kind": kind, "params": {**asdict(fasttext_params), "lr": lr}}
        else:
            vec = train_linear(list(texts[train]), data.labels[train], path, linear_params, prefix_chars)
            card = {"kind": kind, "params": asdict(linear_params), "vectorizer": vec}
        seconds = time.perf_counter() - t0
        card = _write_card(path, {**card, **common, "train_seconds": round(seconds, 2)})
        scores = QualityModel(path).scores(list(texts[held]))
        card["held_out_metrics"] = metrics(data.labels[held], scores)
        card = _write_card(path, card)
        report[kind] = card
    (output / "MODEL_CARD.md").write_text(render_model_card(report))
    return report


def _split_dedup_line(stats: dict[str, Any] | None) -> str:
    if not stats or stats["method"] == "none":
        return "Split not deduplicated: held-out documents may have copies in training, inflating the metrics."
    return (f"Split deduplicated against training: {stats['method']}. {stats['clustered_documents']:,} documents "
            f"fall in {stats['clusters']:,} duplicate clusters; by id hash alone {stats['leaked_by_id']:,} held-out "
            f"documents would have had a copy in training. {stats['moved_to_train']:,} held-out documents moved to "
            f"train and {stats['moved_to_held_out']:,} train documents to held out, so no duplicate cluster found "
            "spans both sides.")


def render_model_card(report: dict[str, Any]) -> str:
    first = next(iter(report.values()))
    d = first["data"]
    lines = [
        "# Quality classifiers", "",
        f"Data: {d['description'] or 'given positives and negatives'}; {d['positives']:,} positives "
        f"(label `{POSITIVE}`), {d['negatives']:,} negatives (`{NEGATIVE}`); {d['train']:,} train, "
        f"{d['held_out']:,} held out ({d['split']}).",
        _split_dedup_line(d.get("split_dedup")),
        f"Preprocessing: {first['preprocess']}, first {first['prefix_chars']:,} characters.", "",
        "| model | file | bytes | sha256 | precision | recall | F1 | ROC-AUC | train s |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for kind, card in report.items():
        m = card["held_out_metrics"]
        lines.append(f"| {kind} | `{card['file']}` | {card['bytes']:,} | `{card['sha256'][:16]}…` | {m['precision']} | "
                     f"{m['recall']} | {m['f1']} | {m['roc_auc']} | {card['train_seconds']} |")
    lines += ["", "Metrics at a 0.5 threshold on the held-out split. Parameters:", ""]
    lines += [f"- {kind}: `{json.dumps(card['params'])}`" for kind, card in report.items()]
    lines += ["", "Model files do not execute code on load: fastText's own binary format (sha256 checked "
              "against the card before loading) and plain arrays in an `.npz` read with `allow_pickle=False`.", ""]
    return "\n".join(lines)
