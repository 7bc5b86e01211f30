"""All phases in order: the convenience entry point the pipeline runner calls.

Orchestration (process pool, Ray, several machines) calls the phases itself instead:

    parts = staging_parts(staging_files)
    pool.map(signature_partition, parts)                   # one task per staging file
    pool.map(bucket_partition, partitions(config))         # one task per band (+ "exact")
    cluster(workdir, config, map_fn=pool.map)              # shingle re-reads fan out per file

Each phase reads only the previous phases' files in the work directory, so tasks may run in
different processes or on different machines that share it (or that ship ``buckets/<partition>``
to the machine grouping that partition).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from curation.dedup.buckets import bucket_partition, partitions
from curation.dedup.cluster import DedupResult, cluster
from curation.dedup.config import DedupConfig
from curation.dedup.signatures import staging_parts, signature_partition

MapFn = Callable[[Callable[..., Any], Iterable[Any]], Iterable[Any]]


def _signature_task(item: tuple[Path, int, int], workdir: Path, config: DedupConfig, resume: bool) -> dict:
    path, index, first = item
    return signature_partition(path, index, first, workdir, config, resume=resume)


def deduplicate(staging_files: list[str | Path], workdir: str | Path, config: DedupConfig | None = None,
                map_fn: MapFn = map, resume: bool = False) -> DedupResult:
    """Run signatures, buckets and cluster over staging files; return what was found.

    Documents are numbered by their position in ``staging_files`` order (the global ordinal), and
    ``WORKDIR/duplicates.parquet`` lists the ordinals to drop, sorted.

    Args:
        staging_files: Parquet files with ``id`` and ``text`` (and optionally ``quality_score``).
        workdir: Work directory; emptied first unless ``resume``.
        config: Dedup configuration (defaults if None).
        map_fn: Runs each phase's independent tasks (``map``: sequentially, in this process).
        resume: Keep finished tasks whose markers match the inputs and config.

    Example:
        >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["one two three", "One, two three!",
        ...                "something else entirely"]}), d / "part-00000.parquet")
        >>> deduplicate([d / "part-00000.parquet"], d / "dedup").duplicates
        1
    """
    config = config or DedupConfig()
    workdir = Path(workdir)
    if not resume and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    parts = staging_parts(staging_files)
    list(map_fn(functools.partial(_signature_task, workdir=workdir, config=config, resume=resume), parts))
    list(map_fn(functools.partial(bucket_partition, workdir=workdir, config=config, resume=resume),
                partitions(config)))
    return cluster(workdir, config, map_fn=map_fn)
