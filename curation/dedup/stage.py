"""The ``dedup`` stage: exact and MinHash near-dedup over the whole curated corpus.

A corpus-level stage: after pass 1 the runner calls :meth:`Deduplicate.fit` with the staged
Parquet files, which runs the three on-disk phases (:func:`curation.dedup.deduplicate`) in the
stage's work folder; in pass 2 :meth:`Deduplicate.process` sees the staged documents in the same
order and drops the ones listed in ``duplicates.parquet`` by id. Removed rows carry
``duplicate_of`` (the survivor's id), ``cluster_id`` and ``jaccard``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.dedup.config import DedupConfig
from curation.dedup.run import deduplicate
from curation.document import Document
from curation.errors import CurationError
from curation.stage import CorpusStage, CounterGroup, Dropped, MapFn, StageResult


class Deduplicate(CorpusStage):
    """Drop exact and near duplicates, keeping one survivor per cluster.

    Args: the fields of :class:`~curation.dedup.config.DedupConfig` (threshold, ngram, num_perm, ...).
    Survivor policy: highest ``quality_score`` if the corpus has one, then longest, then smallest id.
    """

    name = "dedup"
    params_model = DedupConfig  # its fields and their cited defaults are the stage's parameters
    removed_columns = {"duplicate_of": pa.string(), "cluster_id": pa.int64(), "jaccard": pa.float64()}
    counter_groups = (CounterGroup("dedup/cluster_size/", "Dedup cluster sizes", "cluster size (documents)",
                                   "clusters", plot=True, numeric=True),)

    def __init__(self, **params: Any):
        self.config = DedupConfig(**params)
        self._rows: dict[str, tuple[str, int, str, float]] | None = None

    def prepare(self) -> None:
        # The fit verifies candidate pairs in its own process, with a compiled merge whose first call
        # there costs ~0.7 s: loaded while pass 1 runs, not after the shingle tasks (a short phase
        # on a small corpus, which then waited for it).
        if self.config.near and self.config.verify:
            from curation.dedup.cluster import load_pair_kernel

            load_pair_kernel()

    def fit(self, staging: list[Path], workdir: Path, map_fn: MapFn = map) -> dict[str, int]:
        # The phases' own markers let an interrupted fit resume; they hold input and config hashes.
        result = deduplicate(staging, workdir, self.config, map_fn=map_fn, resume=True)
        self.load(workdir)
        found = result.to_dict()
        counters = {f"dedup/{k}": v for k, v in found.items() if isinstance(v, int)}
        return counters | {f"dedup/cluster_size/{size}": n for size, n in found["cluster_sizes"].items()}

    def load(self, workdir: Path) -> None:
        # One entry per removed document (~150 bytes each); kept documents cost nothing here.
        table = pq.read_table(workdir / "duplicates.parquet",
                              columns=["id", "duplicate_of", "cluster_id", "reason", "jaccard"])
        columns = [table.column(n).to_pylist() for n in table.column_names]
        self._rows = {row[0]: row[1:] for row in zip(*columns)}

    def process(self, batch: list[Document]) -> StageResult:
        # By id (unique within a run): any partition of the staged corpus can be processed alone.
        if self._rows is None:
            raise CurationError("the dedup stage runs only inside curate run (it must be fitted on the corpus)")
        kept: list[Document] = []
        dropped: list[Dropped] = []
        for doc in batch:
            row = self._rows.get(doc.id)
            if row is None:
                kept.append(doc)
                continue
            duplicate_of, cluster_id, reason, jaccard = row
            dropped.append(Dropped(doc, self.name, reason, {
                "duplicate_of": duplicate_of, "cluster_id": cluster_id, "jaccard": jaccard}))
        return StageResult(kept, dropped, Counter())
