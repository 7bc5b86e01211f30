"""Atomic, rolling Parquet writers.

Every file is written under a temporary name (:func:`curation.io.files.tmp_path`) and renamed only
when complete, so a crash never leaves a partial file under a final name (DataTrove's weak spot,
STYLE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.files import replace_synced, sha256_file, tmp_path


@dataclass(slots=True)
class FileInfo:
    """One finished file, as the manifest lists it."""

    path: Path
    rows: int
    tokens: int
    text_bytes: int
    file_bytes: int
    sha256: str


class RollingParquetWriter:
    """Write tables to ``DIR/PREFIX-00000.parquet``, ``-00001``... rolling over at a target size.

    Rows are buffered until ``row_group_bytes`` of text is pending and then written as one row
    group, so row groups are sized by content rather than by however the caller batched rows; with
    per-row sizes (``write(..., row_bytes=...)``) a row group ends right at the row that reaches it,
    so the files' bytes depend on the rows alone, not on the batches (the input's partitioning).

    Args:
        directory: Output folder (created).
        prefix: File name prefix.
        schema: Arrow schema of every file.
        target_bytes: Close a file once it holds this many text bytes (``None``: never).
        target_tokens: Close a file once it holds this many tokens (``None``: never).
        row_group_bytes: Text bytes per row group.
        compression: Parquet codec; ``compression_level`` its level.
    """

    def __init__(self, directory: Path, prefix: str, schema: pa.Schema, *, target_bytes: int | None = None,
                 target_tokens: int | None = None, row_group_bytes: int = 32 << 20,
                 compression: str = "zstd", compression_level: int | None = 3):
        self.directory = Path(directory)
        self.prefix = prefix
        self.schema = schema
        self.target_bytes = target_bytes
        self.target_tokens = target_tokens
        self.row_group_bytes = row_group_bytes
        self.compression = compression
        self.compression_level = compression_level
        self.files: list[FileInfo] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._rows = self._tokens = self._text_bytes = 0

    def write(self, table: pa.Table, text_bytes: int, tokens: int = 0, row_bytes: np.ndarray | None = None,
              row_tokens: np.ndarray | None = None) -> None:
        """Append rows; ``text_bytes`` and ``tokens`` are what they add toward the targets.

        With per-row ``row_bytes`` (and ``row_tokens``) a row group ends and a file closes right
        after the row that reaches its target, however many rows the caller passes at once; without
        them, after the table that does.
        """
        if table.num_rows == 0:
            return
        if row_bytes is None:
            self._append(table, text_bytes, tokens)
            return
        start = 0
        while start < table.num_rows:
            end = start + self._rows_to_target(row_bytes[start:], None if row_tokens is None else row_tokens[start:])
            self._append(table.slice(start, end - start), int(row_bytes[start:end].sum()),
                         int(row_tokens[start:end].sum()) if row_tokens is not None else 0)
            start = end

    def _rows_to_target(self, row_bytes: np.ndarray, row_tokens: np.ndarray | None) -> int:
        """How many of these rows go before the next boundary: up to the one that fills the row
        group or reaches a file target, or all."""
        cumulative = np.cumsum(row_bytes)
        hit = np.flatnonzero(cumulative + self._pending_bytes >= self.row_group_bytes)
        reach = int(hit[0]) + 1 if len(hit) else len(row_bytes)
        if self.target_bytes is not None:
            hit = np.flatnonzero(cumulative + self._text_bytes >= self.target_bytes)
            reach = min(reach, int(hit[0]) + 1) if len(hit) else reach
        if self.target_tokens is not None and row_tokens is not None:
            hit = np.flatnonzero(np.cumsum(row_tokens) + self._tokens >= self.target_tokens)
            reach = min(reach, int(hit[0]) + 1) if len(hit) else reach
        return reach

    def _append(self, table: pa.Table, text_bytes: int, tokens: int) -> None:
        self._pending.append(table)
        self._pending_bytes += text_bytes
        self._rows += table.num_rows
        self._tokens += tokens
        self._text_bytes += text_bytes
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()
        if (self.target_bytes is not None and self._text_bytes >= self.target_bytes) or (
            self.target_tokens is not None and self._tokens >= self.target_tokens
        ):
            self._roll()

    def close(self) -> list[FileInfo]:
        """Finish the current file; return every file written, in order."""
        self._roll()
        return self.files

    def abort(self) -> None:
        """Drop the unfinished file (on error), keeping the finished ones."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()
        self._pending, self._pending_bytes = [], 0

    def _flush(self) -> None:
        if not self._pending:
            return
        # One chunk per column: Parquet pages (and dictionary fallbacks) follow chunk boundaries, so
        # without it the bytes would depend on how the caller batched rows, i.e. on the partitioning.
        table = pa.concat_tables(self._pending).cast(self.schema).combine_chunks()
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._tmp = tmp_path(self._final_path(len(self.files)))
            self._writer = pq.ParquetWriter(
                self._tmp, self.schema, compression=self.compression, compression_level=self.compression_level,
            )
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._pending, self._pending_bytes = [], 0

    def _roll(self) -> None:
        self._flush()
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        final = self._final_path(len(self.files))
        assert self._tmp is not None
        replace_synced(self._tmp, final)
        self.files.append(FileInfo(final, self._rows, self._tokens, self._text_bytes, final.stat().st_size,
                                   sha256_file(final)))
        self._tmp = None
        self._rows = self._tokens = self._text_bytes = 0

    def _final_path(self, index: int) -> Path:
        return self.directory / f"{self.prefix}-{index:05d}.parquet"
