"""The ``dedup`` stage: exact and MinHash near-dedup over the whole curated corpus.

A corpus-level stage: after pass 1 the runner calls :meth:`Deduplicate.fit` with the staged
Parquet files, which runs the three on-disk phases (:func:`curation.dedup.deduplicate`) in the
stage's work folder; in pass 2 :meth:`Deduplicate.process` sees the staged documents in the same
order and drops the ones listed in ``duplicates.parquet`` by their ordinal. Removed rows carry
``duplicate_of`` (the survivor's id), ``cluster_id`` and ``jaccard``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.dedup.config import DedupConfig
from curation.dedup.run import deduplicate
from curation.document import Document
from curation.errors import CurationError
from curation.stage import Dropped, Stage, StageResult


class Deduplicate(Stage):
    """Drop exact and near duplicates, keeping one survivor per cluster.

    Args: the fields of :class:`~curation.dedup.config.DedupConfig` (threshold, ngram, num_perm, ...).
    Survivor policy: highest ``quality_score`` if the corpus has one, then longest, then smallest id.
    """

    name = "dedup"
    removed_columns = {"duplicate_of": pa.string(), "cluster_id": pa.int64(), "jaccard": pa.float64()}

    def __init__(self, **params: Any):
        self.config = DedupConfig(**params)
        self.result: dict[str, Any] | None = None
        self._ordinals = np.zeros(0, np.int64)
        self._rows: dict[str, list[Any]] = {}
        self._next = 0  # ordinal of the next document process() will see

    @property
    def needs_fit(self) -> bool:
        return True

    def fit(self, staging: list[Path], workdir: Path) -> None:
        result = deduplicate(staging, workdir, self.config)
        self.result = result.to_dict()
        # One row per removed document (~100 bytes each); kept documents cost nothing here.
        table = pq.read_table(workdir / "duplicates.parquet")
        self._ordinals = table.column("ordinal").to_numpy()
        self._rows = {name: table.column(name).to_pylist()
                      for name in ("id", "duplicate_of", "cluster_id", "reason", "jaccard")}
        self._next = 0

    def process(self, batch: list[Document]) -> StageResult:
        if self.result is None:
            raise CurationError("the dedup stage runs only inside curate run (it must be fitted on the corpus)")
        first, self._next = self._next, self._next + len(batch)
        lo, hi = np.searchsorted(self._ordinals, [first, self._next])
        drop = {int(self._ordinals[i]) - first: i for i in range(lo, hi)}
        kept: list[Document] = []
        dropped: list[Dropped] = []
        for offset, doc in enumerate(batch):
            row = drop.get(offset)
            if row is None:
                kept.append(doc)
                continue
            if self._rows["id"][row] != doc.id:
                raise CurationError(f"dedup is out of step with the staged order at {doc.id!r}")
            dropped.append(Dropped(doc, self.name, self._rows["reason"][row], {
                "duplicate_of": self._rows["duplicate_of"][row], "cluster_id": self._rows["cluster_id"][row],
                "jaccard": self._rows["jaccard"][row]}))
        counters: Counter[str] = Counter()
        if first == 0 and self.result:
            counters.update({f"dedup/{k}": v for k, v in self.result.items() if isinstance(v, int)})
        return StageResult(kept, dropped, counters)
