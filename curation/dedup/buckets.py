"""Phase 2, one task per partition (each band, and the exact hashes): group keys, emit candidate pairs.

A partition holds ``(key, ordinal)`` entries from every staging part. Documents sharing a key form
a bucket; each bucket of m documents yields m - 1 edges from its smallest ordinal to the others
(DataTrove's choice: connectivity needs no more, and a boilerplate bucket of 10,000 pages stays
10,000 edges instead of 50 million pairs).

Memory is set by ``memory_budget_bytes``, not by the corpus: a partition whose sort would need
more is first streamed to disk split by key range (keys are uniform hashes, so ranges are even)
into ``ceil(1.25 * need / budget)`` spill files, and each is grouped on its own; a range that still
comes out too large is split again on the key's other half. Equal keys always land in the same
range, so the edges are identical whatever the split. Only a single bucket larger than the budget
(millions of copies of one document) is grouped whole.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from curation.dedup.config import DedupConfig
from curation.dedup.workdir import (BAND_DTYPE, EXACT, EXACT_DTYPE, Layout, band_name, raw_to_npy, read_json,
                                    write_json)

# Sorting n entries of s bytes holds the entries, a sorted copy and an int64 permutation.
SORT_OVERHEAD = 2


def partitions(config: DedupConfig) -> list[str]:
    """The names of the partitions ``bucket_partition`` accepts, for this configuration."""
    names = [EXACT] if config.exact else []
    if config.near:
        names += [band_name(b) for b in range(config.band_rows[0])]
    return names


def _sort_bytes(n: int, dtype: np.dtype) -> int:
    return n * (SORT_OVERHEAD * dtype.itemsize + 8)


def _star_edges(entries: np.ndarray, exact: bool) -> tuple[np.ndarray, dict[str, int]]:
    """Sort entries by key then ordinal; edges from each bucket's first (smallest) ordinal to the rest."""
    if entries.size == 0:
        return np.empty((0, 2), np.int64), {"buckets": 0, "max_bucket": 0}
    if exact:
        order = np.lexsort((entries["ordinal"], entries["lo"], entries["hi"]))
        hi, lo = entries["hi"][order], entries["lo"][order]
        new = np.empty(order.size, bool)
        new[0] = True
        new[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    else:
        order = np.lexsort((entries["ordinal"], entries["key"]))
        key = entries["key"][order]
        new = np.empty(order.size, bool)
        new[0] = True
        new[1:] = key[1:] != key[:-1]
    ordinals = entries["ordinal"][order]
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    first = ordinals[starts][group]
    member = ~new
    edges = np.stack([first[member], ordinals[member]], axis=1)
    sizes = np.diff(np.append(starts, order.size))
    return edges, {"buckets": int((sizes > 1).sum()), "max_bucket": int(sizes.max())}


def _key_range(entries: np.ndarray, splits: int, exact: bool, depth: int) -> np.ndarray:
    """Which of ``splits`` key ranges each entry falls in: the key's high 32 bits, then its low 32 bits."""
    key = (entries["hi"] if depth == 0 else entries["lo"]) if exact else entries["key"]
    bits = key >> np.uint64(32) if depth == 0 else key & np.uint64(0xFFFFFFFF)
    return ((bits * np.uint64(splits)) >> np.uint64(32)).astype(np.int64)


def _spill(sources: list[np.ndarray], directory: Path, splits: int, exact: bool, depth: int, chunk_rows: int
           ) -> list[Path]:
    """Stream entries into ``splits`` key-range files; order within each file follows the sources."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"range-{r:05d}.bin" for r in range(splits)]
    handles = [open(p, "wb") for p in paths]
    try:
        for arr in sources:
            for c0 in range(0, arr.shape[0], chunk_rows):
                chunk = np.asarray(arr[c0:c0 + chunk_rows])
                ranges = _key_range(chunk, splits, exact, depth)
                order = np.argsort(ranges, kind="stable")
                bounds = np.searchsorted(ranges[order], np.arange(splits + 1))
                for r in range(splits):
                    if bounds[r + 1] > bounds[r]:
                        chunk[order[bounds[r]:bounds[r + 1]]].tofile(handles[r])
    finally:
        for h in handles:
            h.close()
    return paths


def bucket_partition(partition: str | int, workdir: str | Path, config: DedupConfig,
                     resume: bool = False) -> dict[str, Any]:
    """Group one partition's keys and write its candidate edges to ``edges/<partition>.npy``.

    Args:
        partition: ``"exact"``, ``"band-07"`` or a band number (see :func:`partitions`).
        workdir: The work directory the signature tasks wrote.
        config: The dedup configuration (``memory_budget_bytes`` bounds this task's arrays).
        resume: Return the existing marker when it matches the config and the signature parts.

    Returns:
        The task's stats (also written to ``edges/<partition>.json``).
    """
    started = time.perf_counter()
    if isinstance(partition, int):
        partition = band_name(partition)
    layout = Layout(workdir)
    exact = partition == EXACT
    dtype = EXACT_DTYPE if exact else BAND_DTYPE
    parts = layout.parts()
    identity = {"partition": partition, "config": config.signature_sha256(), "parts": len(parts),
                "docs": sum(p["rows"] for p in parts), "memory_budget_bytes": config.memory_budget_bytes}
    marker = layout.edges_marker(partition)
    if resume and marker.exists():
        old = read_json(marker)
        if all(old.get(k) == v for k, v in identity.items()):
            return old
    files = [layout.bucket_file(partition, p["part_index"]) for p in parts]
    missing = [f for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"bucket files missing for {partition}: {missing[0]} (run signature_partition)")
    inputs = [np.load(f, mmap_mode="r") for f in files]
    total = sum(a.shape[0] for a in inputs)
    stats = {"entries": total, "splits": 0, "buckets": 0, "max_bucket": 0, "edges": 0}  # splits: ranges grouped
    peak = 0
    edges_path = layout.edges(partition)
    edges_path.parent.mkdir(parents=True, exist_ok=True)
    raw = edges_path.with_name(edges_path.name + ".raw")
    edges_out = open(raw, "wb")  # streamed: a partition's edges never sit in memory together

    def group(entries: np.ndarray) -> None:
        nonlocal peak
        peak = max(peak, _sort_bytes(entries.size, dtype))
        stats["splits"] += 1
        edges, s = _star_edges(entries, exact)
        stats["buckets"] += s["buckets"]
        stats["max_bucket"] = max(stats["max_bucket"], s["max_bucket"])
        stats["edges"] += int(edges.shape[0])
        edges.tofile(edges_out)

    def split(sources: list[np.ndarray], entries: int, directory: Path, depth: int) -> None:
        # A range can come out larger than average; split it again on the other key half. Past
        # that its entries share whole keys (one giant bucket), which no split can divide.
        need = _sort_bytes(entries, dtype)
        if need <= config.memory_budget_bytes or depth == 2:
            group(np.concatenate([np.asarray(a) for a in sources]) if sources else np.empty(0, dtype))
            return
        parts = max(2, math.ceil(1.25 * need / config.memory_budget_bytes))
        chunk_rows = max(1, config.memory_budget_bytes // (4 * dtype.itemsize))
        for r, path in enumerate(_spill(sources, directory / f"d{depth}", parts, exact, depth, chunk_rows)):
            rows = path.stat().st_size // dtype.itemsize
            data = np.memmap(path, dtype, mode="r") if rows else np.empty(0, dtype)  # streamed if re-split
            split([data], rows, directory / f"d{depth}-{r:05d}", depth + 1)
            del data
            path.unlink()

    spill_dir = layout.root / "spill" / partition
    shutil.rmtree(spill_dir, ignore_errors=True)
    try:
        split(inputs, total, spill_dir, 0)
    finally:
        edges_out.close()
        shutil.rmtree(spill_dir, ignore_errors=True)
    raw_to_npy(raw, edges_path, np.dtype("<i8"), (stats["edges"], 2))
    stats |= identity | {"peak_sort_bytes": peak, "seconds": round(time.perf_counter() - started, 4)}
    write_json(marker, stats)
    return stats
