"""Input partitions: the unit of work of pass 1, independent of how many workers run them.

The plan depends only on the input files and ``input.partition_bytes``, never on the runner, so a
run on one process, a process pool or a Ray cluster reads the same partitions and writes the same
bytes. Each input format says how a file of its own splits (``InputFormat.split``: plain JSONL into
byte ranges at line starts, compressed JSONL into line ranges, Parquet into row-group ranges); small
files and whole files (text folders) are grouped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from curation.io.formats import get_format
from curation.io.inputs import InputFile


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


def partition_inputs(files: list[InputFile], target_bytes: int) -> list[InputPartition]:
    """Split resolved input files into partitions of about ``target_bytes`` each, in input order."""
    pieces: list[tuple[InputFile, int]] = []
    for f in files:
        pieces += get_format(f.kind).split(f, target_bytes)
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
