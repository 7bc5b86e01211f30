"""Stages over batches: the chain a partition runs, and what it counted.

``run_chain`` is pure (accounting returned, nothing written); ``record`` folds one batch's records
into the per-stage totals and writes its removed rows. Built stages are cached per process, so a
worker loads the classifier and Presidio once, not once per partition: a cache, not state, keyed by
everything that decides the stages' behaviour.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curation.config import StageSpec
from curation.document import Document
from curation.io.parquet import RollingParquetWriter
from curation.pipeline.privacy import TextGuard
from curation.pipeline.tables import removed_table
from curation.registry import build_stage
from curation.stage import Dropped, Stage
from curation.summary import StageStats, utf8_bytes


@dataclass(slots=True)
class StepRecord:
    """What one stage did to one batch: the funnel, the drops, its counters and its time."""

    docs_in: int
    bytes_in: int
    docs_out: int
    bytes_out: int
    seconds: float
    dropped: list[Dropped]
    counters: Counter[str]


class TextSizes:
    """UTF-8 sizes of texts, each text object encoded once: most stages pass their documents' text
    on as the same object, and encoding every kept text after every stage cost ~1.2 s of a run
    over the bench corpus. Keeps each text it sized alive, so an id is never reused while cached."""

    def __init__(self, texts: list[str], sizes: list[int]):
        self._known = {id(t): (t, n) for t, n in zip(texts, sizes)}

    def total(self, texts: list[str]) -> int:
        total = 0
        for text in texts:
            hit = self._known.get(id(text))
            if hit is None or hit[0] is not text:
                hit = (text, len(text.encode("utf-8")))
                self._known[id(text)] = hit
            total += hit[1]
        return total


def run_chain(stages: list[Stage], docs: list[Document], sizes: list[int]
              ) -> tuple[list[Document], int, list[StepRecord]]:
    """Run stages in order over one batch (``sizes``: each text's UTF-8 bytes). Pure: accounting
    is returned, nothing is written."""
    steps = []
    known = TextSizes([d.text for d in docs], sizes)
    nbytes = sum(sizes)
    for stage in stages:
        t0 = time.perf_counter()
        result = stage(docs)
        seconds = time.perf_counter() - t0
        kept_bytes = known.total([d.text for d in result.kept])
        steps.append(StepRecord(len(docs), nbytes, len(result.kept), kept_bytes, seconds, result.dropped,
                                result.counters))
        docs, nbytes = result.kept, kept_bytes
    return docs, nbytes, steps


def record(stats: list[StageStats], steps: list[StepRecord], removed: RollingParquetWriter, schema: pa.Schema,
           guard: TextGuard) -> None:
    """Add one batch's records to the stage totals and write its dropped documents to removed/."""
    for stage_stats, step in zip(stats, steps):
        stage_stats.add_step(step)
        if step.dropped:
            t0 = time.perf_counter()
            texts, redacted = guard.removed(step.dropped)
            if redacted:
                stage_stats.redacted += redacted
                stage_stats.redact_seconds += time.perf_counter() - t0
            removed.write(removed_table(step.dropped, texts, schema), utf8_bytes([t or "" for t in texts]))


def cached_stages(specs: list[StageSpec], fitted: dict[str, tuple[str, Path]] | None = None) -> list[Stage]:
    """Built stages for ``specs``; corpus-level ones loaded from their fit (``fitted``: stage name ->
    (fit key, work folder))."""
    fitted = fitted or {}
    return _built(json.dumps([[s.name, s.params] for s in specs], sort_keys=True, default=str),
                  json.dumps({k: [key, str(path)] for k, (key, path) in fitted.items()}, sort_keys=True))


@functools.lru_cache(maxsize=4)
def _built(specs_json: str, fitted_json: str) -> list[Stage]:
    fitted = json.loads(fitted_json)
    stages = [build_stage(name, params) for name, params in json.loads(specs_json)]
    for stage in stages:
        if stage.needs_fit:
            stage.load(Path(fitted[stage.name][1]))
    return stages
