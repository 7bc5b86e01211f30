"""Phase 3: verify candidate pairs, union-find, one survivor per cluster, ``duplicates.parquet``.

Steps, in order:

1. Exact edges are unioned first. Every near-dup candidate pair is then rewritten to the exact
   classes' representatives (smallest ordinals), since exact copies have identical shingle sets;
   self-pairs and repeats across bands disappear.
2. Verification (``verify``): the representatives' shingle sets are re-derived from the staging
   texts of only those documents (:func:`shingle_partition`, one task per staging file), and each
   pair's true Jaccard is computed in blocks of ``memory_budget_bytes / 2``; a pair is an edge
   only if ``jaccard >= threshold``.
3. Union-find over the edges (numpy: hook the larger root under the smaller, then pointer
   jumping). Survivor of a cluster: highest ``quality_score`` (missing counts lowest), then longest
   text, then smallest id.
4. ``cluster_mode="survivor"`` (default with verification): a member whose own Jaccard with the
   survivor is below the threshold (it joined through a chain A~B~C) is not removed; such members
   are clustered again among themselves, round after round. So every removed document is within
   the threshold of the very document it is a duplicate of, and a chain of templated pages does
   not collapse into one survivor. ``"component"``: every member but the survivor is removed.
   Rows carry ``duplicate_of`` (the survivor's id), ``cluster_id`` (the cluster's smallest
   ordinal) and the true Jaccard with the survivor (1.0 for an exact copy; null without verify).

Memory: the union-find holds one int32 per document (int64 past 2**31 documents); edges 16 bytes
per distinct candidate pair; shingle blocks are bounded by the budget; survivor selection holds
only the members of clusters.
"""

from __future__ import annotations

import functools
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.dedup.buckets import partitions
from curation.dedup.config import DedupConfig
from curation.dedup.minhash import MinHasher
from curation.dedup.normalize import tokenize_batch
from curation.dedup.workdir import (DUPLICATES_SCHEMA, EXACT, Layout, read_json, save_npy, save_npz, save_parquet,
                                    write_json)

EXACT_DUPLICATE = "exact_duplicate"  # the removed/ reasons of the dedup stage
NEAR_DUPLICATE = "near_duplicate"
MAX_ROUNDS = 64  # survivor mode: re-clustering rounds before the remaining chained documents are kept


# --------------------------------------------------------------------------------------------
# Union-find over ordinals


class UnionFind:
    """Vectorized union-find whose roots are the smallest member of each set.

    Example:
        >>> uf = UnionFind(5)
        >>> uf.union(np.array([3, 1]), np.array([4, 3]))
        >>> uf.roots().tolist()
        [0, 1, 2, 1, 1]
    """

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)

    def find(self, x: np.ndarray) -> np.ndarray:
        p = self.parent
        r = p[x]
        while True:
            rr = p[r]
            if np.array_equal(rr, r):
                return r
            r = rr

    def union(self, u: np.ndarray, v: np.ndarray) -> None:
        while u.size:
            ru, rv = self.find(u), self.find(v)
            apart = ru != rv
            if not apart.any():
                break
            u, v, ru, rv = u[apart], v[apart], ru[apart], rv[apart]
            np.minimum.at(self.parent, np.maximum(ru, rv), np.minimum(ru, rv).astype(self.parent.dtype))
        self.compress()

    def compress(self) -> None:
        p = self.parent
        while True:
            pp = p[p]
            if np.array_equal(pp, p):
                break
            p = pp
        self.parent = p

    def roots(self) -> np.ndarray:
        self.compress()
        return self.parent


# --------------------------------------------------------------------------------------------
# Shingle sets for verification


def _unique_per_doc(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of each segment, vectorized: sort (doc << 32 | value) once."""
    keys = np.repeat(np.arange(offsets.size - 1, dtype=np.uint64), np.diff(offsets)) << np.uint64(32)
    keys |= values
    keys.sort()  # np.unique would hash first: 7x slower here
    if keys.size:
        keep = np.empty(keys.size, bool)
        keep[0] = True
        np.not_equal(keys[1:], keys[:-1], out=keep[1:])
        keys = keys[keep]
    out_docs = (keys >> np.uint64(32)).astype(np.int64)
    counts = np.bincount(out_docs, minlength=offsets.size - 1)
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), np.concatenate([[0], np.cumsum(counts)])


def shingle_partition(part_index: int, workdir: str | Path, config: DedupConfig) -> dict[str, Any]:
    """Phase 3a, one task per staging file: the sorted shingle sets of the documents verification needs.

    Reads ``verify/needed.npy`` (written by :func:`cluster`), re-tokenizes only those documents of
    this staging part and writes ``verify/part-NNNNN.npz`` (``ordinals``, ``offsets``, ``values``).
    """
    started = time.perf_counter()
    layout = Layout(workdir)
    part = read_json(layout.part_marker(part_index))
    needed = np.load(layout.needed)
    first, rows = part["first_ordinal"], part["rows"]
    lo, hi = np.searchsorted(needed, [first, first + rows])
    local = needed[lo:hi] - first
    hasher = MinHasher(config)
    ordinals, value_chunks, count_chunks = [], [], []
    if local.size:
        pf = pq.ParquetFile(part["input"])
        seen = 0
        for batch in pf.iter_batches(batch_size=config.batch_size, columns=["text"]):
            n = batch.num_rows
            a, b = np.searchsorted(local, [seen, seen + n])
            if b > a:
                take = local[a:b] - seen
                texts = batch.column("text").take(pa.array(take))
                tokens = tokenize_batch(texts, config.normalize, normalized=config.shingle == "char")
                shingles, offsets = hasher.shingles(tokens)
                values, offs = _unique_per_doc(shingles, offsets)
                value_chunks.append(values)
                count_chunks.append(np.diff(offs))
                ordinals.append(take + seen + first)
            seen += n
    values = np.concatenate(value_chunks) if value_chunks else np.empty(0, np.uint32)
    counts = np.concatenate(count_chunks) if count_chunks else np.empty(0, np.int64)
    save_npz(layout.shingle_file(part_index),
             ordinals=np.concatenate(ordinals) if ordinals else np.empty(0, np.int64),
             offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), values=values)
    stats = {"part_index": part_index, "docs": int(local.size), "values": int(values.size),
             "bytes": int(values.nbytes), "seconds": round(time.perf_counter() - started, 4)}
    write_json(layout.shingle_marker(part_index), stats)
    return stats


@dataclass(slots=True)
class _Block:
    ordinals: np.ndarray  # sorted
    offsets: np.ndarray
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.ordinals.nbytes + self.offsets.nbytes + self.values.nbytes


def _load_block(files: list[Path]) -> _Block:
    ords, offs, vals, base = [], [], [], 0
    for f in files:
        with np.load(f) as z:
            ords.append(z["ordinals"])
            offs.append(z["offsets"][:-1] + base)
            vals.append(z["values"])
            base += int(z["values"].size)
    return _Block(np.concatenate(ords), np.concatenate(offs + [np.array([base], np.int64)]), np.concatenate(vals))


class ShingleStore:
    """The shingle files grouped into blocks of consecutive staging parts, each <= half the budget."""

    def __init__(self, layout: Layout, parts: list[dict[str, Any]], budget: int):
        self.firsts = np.array([p["first_ordinal"] for p in parts], np.int64)
        files = [layout.shingle_file(p["part_index"]) for p in parts]
        sizes = [read_json(layout.shingle_marker(p["part_index"]))["bytes"] for p in parts]
        self.blocks: list[list[Path]] = []
        self.block_of_part = np.zeros(len(parts), np.int64)
        current, current_bytes = [], 0
        for i, (f, size) in enumerate(zip(files, sizes)):
            if current and current_bytes + size > budget // 2:
                self.blocks.append(current)
                current, current_bytes = [], 0
            current.append(f)
            current_bytes += size
            self.block_of_part[i] = len(self.blocks)
        if current:
            self.blocks.append(current)
        self.peak_bytes = 0
        self.loads = 0
        self._cached: tuple[int, _Block] | None = None  # the last first-side block, reused by the next call

    def block_of(self, ordinals: np.ndarray) -> np.ndarray:
        return self.block_of_part[np.searchsorted(self.firsts, ordinals, side="right") - 1]

    def load(self, index: int) -> _Block:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        self.loads += 1
        return _load_block(self.blocks[index])

    def pair_blocks(self, u: np.ndarray, v: np.ndarray) -> Iterator[tuple[np.ndarray, _Block, _Block]]:
        """Yield (indices into the pairs, block of u, block of v), each block pair once.

        Blocks follow ordinal order, so ``u < v`` puts u's block first; block i stays loaded while
        the blocks after it are loaded one at a time.
        """
        bu, bv = self.block_of(u), self.block_of(v)
        order = np.lexsort((bv, bu))
        keys = bu[order] * len(self.blocks) + bv[order]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        groups = np.split(order, cuts) if order.size else []
        loaded_i, block_i = -1, None
        for g in groups:
            i, j = int(bu[g[0]]), int(bv[g[0]])
            if i != loaded_i:
                if self._cached is not None and self._cached[0] != i:
                    self._cached = None
                block_i = None  # free the previous block before loading the next
                block_i, loaded_i = self.load(i), i
                self._cached = (i, block_i)
            block_j = block_i if j == i else self.load(j)
            self.peak_bytes = max(self.peak_bytes, block_i.nbytes + (0 if j == i else block_j.nbytes))
            yield g, block_i, block_j
            del block_j


def pair_jaccard(block_u: _Block, block_v: _Block, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """True Jaccard of the shingle sets of each pair ``(u[k], v[k])``.

    Each set is stored sorted and distinct, so one compiled merge per pair counts the
    intersection (:func:`curation.kernels.sorted_jaccard`), with no temporaries: the numpy form
    gathered, tagged and sorted both sides of every pair (~64 bytes per shingle hash).
    """
    from curation.kernels import sorted_jaccard  # Numba: only where pairs are verified

    ru = np.searchsorted(block_u.ordinals, u)
    rv = np.searchsorted(block_v.ordinals, v)
    return sorted_jaccard(block_u.values, block_u.offsets, ru, block_v.values, block_v.offsets, rv)


def load_pair_kernel() -> None:
    """Load :func:`pair_jaccard`'s compiled merge for the store's types (one pair of tiny sets): the
    process's first compiled call costs ~0.7 s (Numba's registries, its BLAS check), later ones nothing."""
    block = _Block(np.array([0], np.int64), np.array([0, 1], np.int64), np.array([7], np.uint32))
    pair_jaccard(block, block, np.array([0], np.int64), np.array([0], np.int64))


# --------------------------------------------------------------------------------------------
# The phase


@dataclass
class DedupResult:
    """What dedup found; ``to_dict()`` is what ``result.json`` holds."""

    docs: int
    duplicates: int
    exact_duplicates: int
    near_duplicates: int
    clusters: int
    cluster_sizes: dict[str, int]
    candidate_pairs: int
    verified_pairs: int
    rejected_pairs: int
    bands: int
    rows: int
    threshold: float
    seconds: dict[str, float]
    memory: dict[str, int]
    duplicates_path: str
    counters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_rss_bytes() -> int:
    """This process's peak resident set: VmHWM on Linux (``ru_maxrss`` survives exec, VmHWM does not)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _size_bins(sizes: np.ndarray) -> dict[str, int]:
    bins: Counter[str] = Counter()
    for s, n in zip(*np.unique(sizes, return_counts=True)):
        s = int(s)
        if s <= 4:
            label = str(s)
        else:
            hi = 1 << (s - 1).bit_length()
            label = f"{hi // 2 + 1}-{hi}"
        bins[label] += int(n)
    return dict(sorted(bins.items(), key=lambda kv: int(kv[0].split("-")[0])))


def _load_edges(layout: Layout, names: list[str]) -> np.ndarray:
    chunks = []
    for name in names:
        path = layout.edges(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run bucket_partition({name!r}) first")
        chunks.append(np.load(path))
    return np.concatenate(chunks) if chunks else np.empty((0, 2), np.int64)


def _pair_keys(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct ``lo * n + hi`` of the pairs, self-pairs dropped (n < 3e9 keeps it in int64)."""
    lo, hi = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
    keep = lo != hi
    return np.unique(lo[keep] * np.int64(n) + hi[keep])


def _members_table(layout: Layout, parts: list[dict[str, Any]], member: np.ndarray) -> pa.Table:
    """ordinal, id, length, quality (missing or NaN: -inf) of the documents flagged in ``member``."""
    tables = []
    for p in parts:
        docs = pq.read_table(layout.docs(p["part_index"]), columns=["ordinal", "id", "length", "quality_score"])
        keep = member[docs.column("ordinal").to_numpy()]
        if keep.any():
            tables.append(docs.filter(pa.array(keep)))
    table = pa.concat_tables(tables)
    quality = pc.if_else(pc.is_nan(table.column("quality_score")).fill_null(True), float("-inf"),
                         table.column("quality_score"))
    return table.set_column(table.schema.get_field_index("quality_score"), "quality_score", quality)


POLICY = [("quality_score", "descending"), ("length", "descending"), ("id", "ascending")]


class _Jaccard:
    """True Jaccard of pairs of class representatives (None without verification)."""

    def __init__(self, store: ShingleStore | None):
        self.store = store

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.full(a.size, np.nan)
        if self.store is None or a.size == 0:
            return out
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        for idx, block_u, block_v in self.store.pair_blocks(lo, hi):
            out[idx] = pair_jaccard(block_u, block_v, lo[idx], hi[idx])
        return out


def _resolve(k: int, a: np.ndarray, b: np.ndarray, rank: np.ndarray, reps: np.ndarray, jaccard: _Jaccard,
             threshold: float, mode: str, max_rounds: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Assign each of ``k`` nodes (exact classes) joined by accepted edges ``(a, b)`` to a survivor node.

    ``component``: each connected component keeps its best-ranked node; every other node is its
    duplicate. ``survivor``: the same, but a node whose Jaccard with that survivor is below the
    threshold is not removed; such nodes are clustered again among themselves (their edges only),
    round after round, so every removed node is within the threshold of the node it defers to.

    Returns:
        ``(survivor_of, jaccard_to_survivor, counters)``: survivor_of[i] == i for kept nodes; counters
        ``rounds``, ``deferred`` (members below the threshold with their survivor, re-clustered) and
        ``kept_after_rounds`` (chained members still unresolved after ``max_rounds``, kept).
    """
    survivor_of = np.arange(k)
    jac = np.full(k, np.nan)
    rounds = deferred = 0
    while a.size:
        rounds += 1
        uf = UnionFind(k)
        uf.union(a, b)
        comp = uf.roots()
        nodes = np.unique(np.concatenate([a, b]))
        c = comp[nodes]
        order = np.lexsort((rank[nodes], c))  # by component, best rank first
        c_sorted = c[order]
        head = np.concatenate([[True], c_sorted[1:] != c_sorted[:-1]])
        best = nodes[order][np.flatnonzero(head)][np.cumsum(head) - 1]  # each node's component survivor
        members = nodes[order][~head]
        target = best[~head]
        j = jaccard(reps[members], reps[target])
        if mode == "component":
            survivor_of[members], jac[members] = target, j
            break
        ok = j >= threshold
        survivor_of[members[ok]], jac[members[ok]] = target[ok], j[ok]
        failed = np.zeros(k, bool)
        failed[members[~ok]] = True
        deferred += int((~ok).sum())
        keep = failed[a] & failed[b]
        a, b = a[keep], b[keep]
        if rounds == max_rounds and a.size:  # pathological chains: keep the rest rather than loop on
            return survivor_of, jac, {"rounds": rounds, "deferred": deferred,
                                      "kept_after_rounds": int(np.unique(np.concatenate([a, b])).size)}
    return survivor_of, jac, {"rounds": rounds, "deferred": deferred, "kept_after_rounds": 0}


def cluster(workdir: str | Path, config: DedupConfig,
            map_fn: Callable[[Callable[[int], Any], Iterable[int]], Iterable[Any]] = map) -> DedupResult:
    """Verify, cluster and pick survivors; write ``duplicates.parquet`` and ``result.json``.

    Args:
        workdir: The work directory after every signature and bucket task.
        config: The dedup configuration.
        map_fn: How to run the per-part shingle tasks (``map`` by default; a process pool's
            ``map`` parallelizes them: each call is ``shingle_partition(part_index)``).
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    layout = Layout(workdir)
    parts = layout.parts()
    n = sum(p["rows"] for p in parts)
    bands, rows = config.band_rows
    uf = UnionFind(n)
    counters: Counter[str] = Counter()

    # 1. Exact classes.
    if config.exact:
        exact_edges = _load_edges(layout, [EXACT])
        counters["exact_pairs"] = int(exact_edges.shape[0])
        uf.union(exact_edges[:, 0], exact_edges[:, 1])
        del exact_edges
    exact_root = uf.roots().copy() if config.exact else None

    # 2. Near candidates, rewritten to exact representatives; one band file at a time, so only the
    #    distinct pairs (not every band's copy of them) are ever held together.
    cand_u = cand_v = np.empty(0, np.int64)
    edges_bytes = 0
    if config.near:
        keys = np.empty(0, np.int64)
        counters["band_edges"] = 0
        for name in partitions(config):
            if name == EXACT:
                continue
            edges = _load_edges(layout, [name])
            counters["band_edges"] += int(edges.shape[0])
            edges_bytes = max(edges_bytes, edges.nbytes + keys.nbytes)
            u, v = edges[:, 0], edges[:, 1]
            if exact_root is not None:
                u, v = exact_root[u], exact_root[v]
            keys = np.union1d(keys, _pair_keys(u, v, max(n, 1)))
            del edges, u, v
        cand_u, cand_v = keys // max(n, 1), keys % max(n, 1)
        del keys
    seconds["load_edges"] = time.perf_counter() - t0
    candidates = int(cand_u.size)
    verified = rejected = 0
    store_peak = 0
    store_loads = 0

    # 3. Verification, or take every candidate.
    store = None
    accepted_u, accepted_v = cand_u, cand_v
    if config.near and config.verify and candidates:
        t = time.perf_counter()
        needed = np.unique(np.concatenate([cand_u, cand_v]))
        save_npy(layout.needed, needed)
        counters["docs_reshingled"] = int(needed.size)
        del needed
        # Verification runs here, in the caller's process, whose first compiled call costs ~0.7 s
        # (Numba's registries, its BLAS check): a run has loaded it beside pass 1 already
        # (Deduplicate.prepare); otherwise paid while the shingle tasks run (in a pool's workers,
        # where this process only waits), not after them.
        loading = threading.Thread(target=load_pair_kernel, name="load-pair-kernel", daemon=True)
        loading.start()
        list(map_fn(functools.partial(shingle_partition, workdir=workdir, config=config),
                    [p["part_index"] for p in parts]))
        loading.join()
        seconds["reshingle"] = time.perf_counter() - t
        t = time.perf_counter()
        store = ShingleStore(layout, parts, config.memory_budget_bytes)
        ok = np.zeros(candidates, bool)
        for idx, block_u, block_v in store.pair_blocks(cand_u, cand_v):
            ok[idx] = pair_jaccard(block_u, block_v, cand_u[idx], cand_v[idx]) >= config.threshold - 1e-12
        accepted_u, accepted_v = cand_u[ok], cand_v[ok]
        verified, rejected = candidates, int((~ok).sum())
        store_peak, store_loads = store.peak_bytes, store.loads
        seconds["verify"] = time.perf_counter() - t
    uf.union(accepted_u, accepted_v)
    del cand_u, cand_v

    # 4. Survivors. Nodes are exact classes (identical shingle sets), named by representative.
    t = time.perf_counter()
    roots = uf.roots()
    rep = exact_root if exact_root is not None else np.arange(n)
    sizes = np.bincount(roots, minlength=n)
    member = sizes[roots] > 1
    del sizes
    mode = config.cluster_mode if store is not None else "component"
    resolve_counts = {"rounds": 0, "deferred": 0, "kept_after_rounds": 0}
    if member.any():
        table = _members_table(layout, parts, member)
        ordinal = table.column("ordinal").to_numpy()
        node_rep = np.unique(rep[ordinal])  # representatives of the classes in clusters
        node = np.searchsorted(node_rep, rep[ordinal])
        table = table.append_column("node", pa.array(node))
        # Each class's best document, and the classes ranked by their best documents.
        by_class = table.sort_by([("node", "ascending")] + POLICY)
        cls = by_class.column("node").to_numpy()
        head = np.concatenate([[True], cls[1:] != cls[:-1]])
        best_row = np.flatnonzero(head)  # one per node, in node order
        best = by_class.take(pa.array(best_row))
        rank = np.empty(node_rep.size, np.int64)
        rank[best.append_column("i", pa.array(np.arange(best_row.size))).sort_by(POLICY).column("i").to_numpy()] = \
            np.arange(best_row.size)
        k = node_rep.size
        a = np.searchsorted(node_rep, accepted_u)
        b = np.searchsorted(node_rep, accepted_v)
        survivor_node, node_jac, resolve_counts = _resolve(
            k, a, b, rank, node_rep, _Jaccard(store), config.threshold, mode, MAX_ROUNDS)
        if store is not None:
            store_peak = max(store_peak, store.peak_bytes)
            store_loads = store.loads
        # Documents: the survivor of a cluster is the best document of its survivor class.
        doc_target = survivor_node[cls]
        survivor_row = best_row[doc_target]
        row = np.arange(cls.size)
        removed = row != survivor_row
        ords = by_class.column("ordinal").to_numpy()
        # cluster_id: the smallest ordinal in the final cluster.
        cluster_min = np.full(k, np.iinfo(np.int64).max)
        np.minimum.at(cluster_min, doc_target, ords)
        is_exact = (cls == doc_target)[removed]
        jaccard = np.where(is_exact, 1.0, node_jac[cls[removed]])
        dup_ordinal = ords[removed]
        order = np.argsort(dup_ordinal, kind="stable")
        ids = by_class.column("id")
        out = pa.table({
            "ordinal": pa.array(dup_ordinal[order]),
            "id": ids.take(pa.array(np.flatnonzero(removed)[order])),
            "duplicate_of": ids.take(pa.array(survivor_row[removed][order])),
            "cluster_id": pa.array(cluster_min[doc_target[removed]][order]),
            "reason": pa.array(np.where(is_exact, EXACT_DUPLICATE, NEAR_DUPLICATE)[order]),
            "jaccard": pa.array(jaccard[order], pa.float64(), from_pandas=True),
        }, schema=DUPLICATES_SCHEMA)
        final_sizes = np.bincount(doc_target, minlength=k)
        cluster_sizes = final_sizes[final_sizes > 1]
        members_bytes = table.nbytes + by_class.nbytes
        is_exact_all = is_exact
    else:
        out = DUPLICATES_SCHEMA.empty_table()
        cluster_sizes = np.zeros(0, np.int64)
        members_bytes = 0
        is_exact_all = np.zeros(0, bool)
    save_parquet(layout.duplicates, out)
    seconds["survivors"] = time.perf_counter() - t
    counters.update(resolve_counts)

    part_seconds = sum(p["seconds"] for p in parts)
    bucket_markers = [read_json(layout.edges_marker(name)) for name in partitions(config)]
    seconds = {"signatures": round(part_seconds, 4),
               "buckets": round(sum(m["seconds"] for m in bucket_markers), 4),
               **{f"cluster/{k}": round(v, 4) for k, v in seconds.items()},
               "cluster": round(time.perf_counter() - t0, 4)}
    memory = {
        "union_find_bytes": int(uf.parent.nbytes),
        "cluster_arrays_bytes": int(uf.parent.nbytes * 2 + 8 * n + member.nbytes),
        "edges_peak_bytes": int(edges_bytes),
        "verify_block_peak_bytes": int(store_peak),
        "verify_block_loads": int(store_loads),
        "members_table_bytes": int(members_bytes),
        "bucket_peak_sort_bytes": int(max([m["peak_sort_bytes"] for m in bucket_markers], default=0)),
        "bucket_max_splits": int(max([m["splits"] for m in bucket_markers], default=0)),
        "process_peak_rss_bytes": peak_rss_bytes(),
    }
    result = DedupResult(
        docs=n, duplicates=out.num_rows, exact_duplicates=int(is_exact_all.sum()),
        near_duplicates=int(out.num_rows - is_exact_all.sum()), clusters=int(cluster_sizes.size),
        cluster_sizes=_size_bins(cluster_sizes), candidate_pairs=candidates, verified_pairs=verified,
        rejected_pairs=rejected, bands=bands, rows=rows, threshold=config.threshold,
        seconds=seconds, memory=memory, duplicates_path=str(layout.duplicates),
        counters=dict(counters) | {"buckets": sum(m["buckets"] for m in bucket_markers),
                                   "max_bucket": max([m["max_bucket"] for m in bucket_markers], default=0)},
    )
    write_json(layout.result, result.to_dict())
    return result
