"""Parquet input: a text column (and optional id, source and kept columns), split by row groups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.io.readers import InputFormat, str_or_none

if TYPE_CHECKING:
    from curation.document import Document
    from curation.io.inputs import InputFile
    from curation.io.readers import DocumentReader, QuarantineRecord

PREVIEW_BYTES = 4000


class ParquetFormat(InputFormat):
    name = "parquet"
    suffixes = (".parquet",)

    def records(self, reader: DocumentReader, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        cfg = reader.config
        parquet = pq.ParquetFile(source.path if source.url is None else source.open_raw())
        columns = set(parquet.schema_arrow.names)
        if cfg.text_field not in columns:
            yield reader.quarantine(name, None, None, "missing_text_column",
                            f"no column {cfg.text_field!r} in {sorted(columns)}; {parquet.metadata.num_rows} rows", b"")
            return
        wanted = [c for c in (cfg.text_field, cfg.id_field, cfg.source_field, *cfg.keep_fields) if c in columns]
        row = source.first_record or 0
        groups = None
        if source.unit == "row_groups":
            groups = list(range(source.start, parquet.num_row_groups if source.stop is None else source.stop))
        for batch in parquet.iter_batches(batch_size=cfg.batch_size, columns=list(dict.fromkeys(wanted)),
                                          row_groups=groups):
            values = {c: batch.column(c) for c in batch.schema.names}
            text_col = values.pop(cfg.text_field)
            if pa.types.is_dictionary(text_col.type):
                text_col = text_col.cast(text_col.type.value_type)
            texts: list[Any]
            sizes: list[int | None] = [None] * len(batch)
            heads: list[bytes | None] = [None] * len(batch)
            if _is_text_type(text_col.type):
                # As bytes, so invalid UTF-8 written by another tool is quarantined, not fatal; and
                # sizes first, so an oversized value is never turned into a Python string.
                text_col = text_col.cast(pa.large_binary())
                lengths = pc.binary_length(text_col)
                over = pc.fill_null(pc.greater(lengths, cfg.max_document_bytes), False)
                if pc.any(over).as_py():
                    sizes = lengths.to_pylist()
                    heads = pc.if_else(over, pc.binary_slice(text_col, 0, PREVIEW_BYTES),
                                       pa.scalar(None, pa.large_binary())).to_pylist()
                    text_col = pc.if_else(over, pa.scalar(None, pa.large_binary()), text_col)
            texts = text_col.to_pylist()
            others = {c: col.to_pylist() for c, col in values.items()}
            for i, text in enumerate(texts):
                record = {c: col[i] for c, col in others.items()}
                if heads[i] is not None:
                    yield reader.quarantine(name, row, str_or_none(record.get(cfg.id_field)), "too_large",
                                    f"{sizes[i]} bytes > max_document_bytes {cfg.max_document_bytes}", heads[i],
                                    sizes[i])
                elif isinstance(text, bytes):
                    try:
                        record[cfg.text_field] = text.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        yield reader.quarantine(name, row, str_or_none(record.get(cfg.id_field)), "invalid_utf8",
                                        f"byte {exc.start}: {exc.reason}", text)
                    else:
                        yield reader.safe_document(record, name, row, source)
                else:
                    record[cfg.text_field] = text
                    yield reader.safe_document(record, name, row, source)
                row += 1

    def split(self, source: InputFile, target_bytes: int) -> list[tuple[InputFile, int]]:
        return split_row_groups(source, target_bytes)


def split_row_groups(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
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


def _is_text_type(dtype: pa.DataType) -> bool:
    return any(check(dtype) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                                           pa.types.is_large_binary))
