"""Measure a stage chain on labelled documents: what it keeps of real text and removes of junk.

The quality classifier inside a chain is evaluated out-of-fold: documents are split into folds by
id hash and each fold is scored by a model trained on the other folds only, so the figures never
reward a model for having seen the documents it scores.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.train import TrainingData, train_classifiers
from curation.config import CORPUS_STAGES, PRESETS, StageSpec
from curation.document import Document
from curation.registry import build_stage
from curation.tokenizer import hash_unit


# Corpus-level stages (decontaminate, dedup) need a fitted run and pii rewrites: each has its own bench.
NOT_QUALITY = tuple(s["name"] for s in CORPUS_STAGES)


def load_sample(path: Path, kinds: tuple[str, ...] = ("original",)) -> list[dict[str, Any]]:
    """Labelled records (``label`` human/junk, ``source``) of the given kinds (duplicates are dedup's job)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [r for r in map(json.loads, fh) if r.get("kind", "original") in kinds]


def evaluate_chain(records: list[dict[str, Any]], stages: list[StageSpec] | str, *, folds: int = 2,
                   positive_label: str = "human") -> dict[str, Any]:
    """Run a chain's quality stages (a preset name or stage specs) over labelled records; report
    kept/removed shares. ``dedup`` and ``pii`` are left out: they are measured on their own sets.

    Returns per label and per source: documents, kept; drops per first-firing reason and label;
    would-fire counts per rule and label.
    """
    specs = [StageSpec.model_validate(s) for s in PRESETS[stages]] if isinstance(stages, str) else stages
    specs = [s for s in specs if s.name not in NOT_QUALITY]
    fold_of = [int(hash_unit("fold:" + r["id"]) * folds) for r in records]
    kept_by = Counter()
    docs_by = Counter()
    drops: dict[str, Counter] = defaultdict(Counter)
    would: dict[str, Counter] = defaultdict(Counter)
    needs_model = any(s.name == "quality_classifier" and not s.params.get("model") for s in specs)
    with tempfile.TemporaryDirectory() as tmp:
        for fold in range(folds if needs_model else 1):
            members = [r for r, f in zip(records, fold_of) if f == fold or not needs_model]
            fold_specs = specs
            if needs_model:
                others = [r for r, f in zip(records, fold_of) if f != fold]
                data = TrainingData([r["text"] for r in others],
                                    np.array([r["label"] == positive_label for r in others], np.int8),
                                    [r["id"] for r in others])
                model_dir = Path(tmp) / f"fold{fold}"
                train_classifiers(data, model_dir, holdout_fraction=0.2)
                fold_specs = [StageSpec(name=s.name, params={**s.params, "model": str(model_dir / "fasttext.bin")})
                              if s.name == "quality_classifier" and not s.params.get("model") else s for s in specs]
            docs = [Document(r["id"], r["text"], r["source"], {"label": r["label"]}) for r in members]
            for r in members:
                docs_by[(r["label"], r["source"])] += 1
            for spec in fold_specs:
                result = build_stage(spec.name, spec.params)(docs)
                for dropped in result.dropped:
                    drops[f"{spec.name}/{dropped.reason}"][dropped.doc.attributes["label"]] += 1
                for key, n in result.counters.items():
                    if key.startswith("would_fire/"):
                        would[f"{spec.name}/{key.removeprefix('would_fire/')}"]["all"] += n
                docs = result.kept
            for doc in docs:
                kept_by[(doc.attributes["label"], doc.source)] += 1
    labels = sorted({label for label, _ in docs_by})
    by_label = {label: {"documents": sum(n for (l, _), n in docs_by.items() if l == label),
                        "kept": sum(n for (l, _), n in kept_by.items() if l == label)} for label in labels}
    for row in by_label.values():
        row["kept_fraction"] = round(row["kept"] / row["documents"], 4) if row["documents"] else None
    return {
        "stages": [s.name for s in specs],
        "by_label": by_label,
        "by_source": {f"{label}/{source}": {"documents": n, "kept": kept_by[(label, source)]}
                      for (label, source), n in sorted(docs_by.items())},
        "drops": {reason: dict(c) for reason, c in sorted(drops.items())},
        "would_fire": {rule: c["all"] for rule, c in sorted(would.items())},
    }
