"""Input partitions: the unit of work of pass 1, independent of how many workers run them.

The plan depends only on the input files and ``input.partition_bytes``, never on the runner, so a
run on one process, a process pool or a Ray cluster reads the same partitions and writes the same
bytes. Plain JSONL is split into byte ranges at line starts (a reader seeks straight to its range);
compressed JSONL into line ranges (a reader decompresses and skips the lines before its range, so
a file is cut into at most ``MAX_COMPRESSED_SPLITS`` pieces); Parquet into row-group ranges; folders
of text files into groups of files.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from curation.io.readers import InputFile, skip_line

# Skipping the lines before a range re-decompresses them: 8 pieces cost at most 3.5x one pass of
# decompression, still far below what the filters spend on the same text.
MAX_COMPRESSED_SPLITS = 8
_SCAN_BLOCK = 1 << 20


@dataclass(frozen=True)
class InputPartition:
    """One task's share of the input: a list of files or file ranges, read in order."""

    index: int
    files: tuple[InputFile, ...]
    nbytes: int  # input bytes (uncompressed where known), for scheduling and progress
    identity: dict[str, Any] = field(default_factory=dict, compare=False)

    def key(self) -> str:
        """A hash of what the partition reads: paths, sizes, modification times and ranges."""
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()


def _split_plain_jsonl(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
    """Byte ranges of about ``target`` bytes, each starting at a line start; also counts lines
    before each range so quarantine entries keep their real line numbers."""
    size = f.size()
    if size <= target:
        return [(f, size)]
    bounds = [0]
    with f.open_raw() as fh:
        while bounds[-1] + target < size:
            fh.seek(bounds[-1] + target)
            skip_line(fh)  # to the start of the next line, however long this one is
            if fh.tell() >= size:
                break
            bounds.append(fh.tell())
        bounds.append(size)
        lines_before = [1]
        fh.seek(0)
        counted = 0
        for stop in bounds[1:-1]:
            while fh.tell() < stop:
                counted += fh.read(min(_SCAN_BLOCK, stop - fh.tell())).count(b"\n")
            lines_before.append(counted + 1)
    return [(f.ranged("bytes", a, b, first), b - a)
            for a, b, first in zip(bounds[:-1], bounds[1:], lines_before)]


def _split_compressed_jsonl(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
    # Lines as the reader counts them (bounded_lines): one per newline, plus an unterminated tail.
    newlines = nbytes = 0
    last = b""
    try:
        with f.open() as fh:
            while block := fh.read(_SCAN_BLOCK):
                newlines += block.count(b"\n")
                nbytes += len(block)
                last = block[-1:]
    except Exception:  # noqa: BLE001 - a damaged file stays whole; the reader quarantines what it cannot read
        return [(f, f.size())]
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    pieces = min(MAX_COMPRESSED_SPLITS, max(1, math.ceil(nbytes / target)), max(1, lines))
    if pieces == 1:
        return [(f, nbytes)]
    bounds = [round(i * lines / pieces) for i in range(pieces + 1)]
    return [(f.ranged("lines", a, b if b < lines else None), nbytes * (b - a) // lines)
            for a, b in zip(bounds[:-1], bounds[1:])]


def _split_plain_or_whole(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
    try:
        return _split_plain_jsonl(f, target)
    except Exception:  # noqa: BLE001 - unreadable now: one partition, the reader quarantines it
        return [(f, f.size())]


def _split_parquet(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
    try:
        meta = pq.ParquetFile(f.path if f.url is None else f.open_raw()).metadata
    except Exception:  # noqa: BLE001 - unreadable: one partition, the reader quarantines it
        return [(f, f.size())]
    out: list[tuple[InputFile, int]] = []
    start = rows = size = 0
    first_row = 0
    for g in range(meta.num_row_groups):
        size += meta.row_group(g).total_byte_size
        rows += meta.row_group(g).num_rows
        if size >= target or g == meta.num_row_groups - 1:
            out.append((f.ranged("row_groups", start, g + 1, first_row), size))
            start, first_row, size = g + 1, rows, 0
    if len(out) <= 1:
        return [(f, f.size())]
    return out


def plan_partitions(files: list[InputFile], target_bytes: int) -> list[InputPartition]:
    """Split resolved input files into partitions of about ``target_bytes`` each, in input order."""
    pieces: list[tuple[InputFile, int]] = []
    for f in files:
        if f.kind == "jsonl":
            pieces += _split_compressed_jsonl(f, target_bytes) if f.compressed else _split_plain_or_whole(f, target_bytes)
        elif f.kind == "parquet":
            pieces += _split_parquet(f, target_bytes)
        else:
            pieces.append((f, f.size()))
    partitions: list[InputPartition] = []
    group: list[tuple[InputFile, int]] = []

    def flush() -> None:
        if group:
            files_ = tuple(f for f, _ in group)
            partitions.append(InputPartition(len(partitions), files_, sum(n for _, n in group),
                                             {"files": [f.identity() for f in files_]}))
            group.clear()

    for piece, size in pieces:
        # Whole text files (and small files of any kind) are grouped; ranges stand alone.
        if piece.unit is not None or size >= target_bytes:
            flush()
            group.append((piece, size))
            flush()
            continue
        if group and sum(n for _, n in group) + size > target_bytes:
            flush()
        group.append((piece, size))
    flush()
    return partitions
