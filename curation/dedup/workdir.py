"""The on-disk layout shared by the dedup phases, and atomic writes into it.

::

    WORKDIR/
      parts/part-00000.json          signature task marker and stats (input, rows, first ordinal)
      docs/part-00000.parquet        per document: ordinal, id, length, quality_score, exact hash, shingles
      buckets/exact/part-00000.npy   (hi, lo, ordinal): exact-hash keys of one staging part
      buckets/band-07/part-00000.npy (key, ordinal): band 7's LSH keys of one staging part
      edges/band-07.npy + .json      candidate pairs (ordinal, ordinal) from one partition, and its stats
      verify/needed.npy              ordinals whose shingle sets verification needs
      verify/part-00000.npz          their sorted shingle hashes, per staging part
      duplicates.parquet             the result; result.json its counters

Every file is written under a temporary name and renamed when complete (``curation.io.files``); a
task's JSON marker is written last, so a marker means the task's files are whole. Each marker holds
the hash of the config fields that shape the files, so a resumed run never mixes configurations.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.files import read_json, write_atomic, write_json

EXACT = "exact"
BAND_DTYPE = np.dtype([("key", "<u8"), ("ordinal", "<i8")])
EXACT_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("ordinal", "<i8")])
DOCS_SCHEMA = pa.schema([
    ("ordinal", pa.int64()),
    ("id", pa.string()),
    ("length", pa.int64()),  # characters of the original text
    ("quality_score", pa.float64()),
    ("exact_hi", pa.uint64()),
    ("exact_lo", pa.uint64()),
    ("shingles", pa.int64()),  # shingles hashed (with repeats); 0: no near-dedup for this document
])
DUPLICATES_SCHEMA = pa.schema([
    ("ordinal", pa.int64()),
    ("id", pa.string()),
    ("duplicate_of", pa.string()),
    ("cluster_id", pa.int64()),
    ("reason", pa.string()),
    ("jaccard", pa.float64()),
])


def band_name(band: int) -> str:
    return f"band-{band:02d}"


class Layout:
    """Paths inside one dedup work directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def part_marker(self, part: int) -> Path:
        return self.root / "parts" / f"part-{part:05d}.json"

    def docs(self, part: int) -> Path:
        return self.root / "docs" / f"part-{part:05d}.parquet"

    def bucket_dir(self, partition: str) -> Path:
        return self.root / "buckets" / partition

    def bucket_file(self, partition: str, part: int) -> Path:
        return self.bucket_dir(partition) / f"part-{part:05d}.npy"

    def edges(self, partition: str) -> Path:
        return self.root / "edges" / f"{partition}.npy"

    def edges_marker(self, partition: str) -> Path:
        return self.root / "edges" / f"{partition}.json"

    @property
    def needed(self) -> Path:
        return self.root / "verify" / "needed.npy"

    def shingle_file(self, part: int) -> Path:
        return self.root / "verify" / f"part-{part:05d}.npz"

    def shingle_marker(self, part: int) -> Path:
        return self.root / "verify" / f"part-{part:05d}.json"

    @property
    def duplicates(self) -> Path:
        return self.root / "duplicates.parquet"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    def parts(self) -> list[dict[str, Any]]:
        """The markers of every finished signature task, in part order, checked to be contiguous."""
        markers = [read_json(p) for p in sorted((self.root / "parts").glob("part-*.json"))]
        expected = 0
        for i, m in enumerate(markers):
            if m["part_index"] != i or m["first_ordinal"] != expected:
                raise ValueError(f"signature parts in {self.root} are not contiguous at part {i}: run every "
                                 "signature_partition (part_index 0..n-1, first_ordinal = rows before it) first")
            expected += m["rows"]
        return markers


def save_npy(path: Path, array: np.ndarray) -> None:
    write_atomic(path, lambda fh: np.save(fh, array, allow_pickle=False))


def raw_to_npy(raw: Path, path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """Publish a raw little-endian array file as ``path`` (.npy), streaming it; ``raw`` is removed."""
    def write(out: BinaryIO) -> None:
        np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                   "fortran_order": False, "shape": shape})
        with open(raw, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)

    write_atomic(path, write)
    raw.unlink()


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    write_atomic(path, lambda fh: np.savez(fh, **arrays))


def save_parquet(path: Path, table: pa.Table) -> None:
    write_atomic(path, lambda fh: pq.write_table(table, fh, compression="zstd", compression_level=1))


__all__ = ["DOCS_SCHEMA", "DUPLICATES_SCHEMA", "Layout", "read_json", "raw_to_npy", "save_npy", "save_npz",
           "save_parquet", "write_json"]
