"""Arrow tables to and from documents: the only place a Document meets a schema (STYLE.md, 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.document import QUARANTINE_SCHEMA, Document
from curation.io.readers import QuarantineRecord
from curation.pipeline.outcomes import FileRecord
from curation.stage import Dropped


def docs_table(docs: list[Document], schema: pa.Schema) -> pa.Table:
    columns: dict[str, list[Any]] = {"id": [d.id for d in docs], "text": [d.text for d in docs],
                                     "source": [d.source for d in docs]}
    for name in schema.names:
        if name not in columns:
            columns[name] = [d.attributes.get(name) for d in docs]
    return pa.Table.from_pydict({n: columns[n] for n in schema.names}, schema=schema)


def table_docs(table: pa.Table) -> list[Document]:
    """Staged rows back into Documents, for the stages that run in pass 2."""
    columns = table.to_pydict()
    ids, texts, sources = columns.pop("id"), columns.pop("text"), columns.pop("source")
    return [Document(ids[i], texts[i], sources[i], {k: v[i] for k, v in columns.items()}) for i in range(len(ids))]


def removed_table(dropped: list[Dropped], texts: list[str | None], schema: pa.Schema) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "id": [d.doc.id for d in dropped], "source": [d.doc.source for d in dropped],
        "stage": [d.stage for d in dropped], "reason": [d.reason for d in dropped],
        "text": texts,
    }
    for name in schema.names:
        if name not in columns:
            columns[name] = [d.extra.get(name) for d in dropped]
    return pa.Table.from_pydict(columns, schema=schema)


def quarantine_table(records: list[QuarantineRecord]) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: getattr(r, name) for name in QUARANTINE_SCHEMA.names} for r in records], schema=QUARANTINE_SCHEMA
    )


def iter_parquet(files: Iterable[FileRecord], columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for f in files:
        yield from pq.ParquetFile(f.path).iter_batches(batch_size=batch_rows, columns=columns)


def iter_texts(files: list[FileRecord], batch_rows: int, keep: Callable[[str], bool] | None = None
               ) -> Iterator[tuple[list[str], list[str]]]:
    """(ids, texts) per batch, in order; with ``keep``, only the documents whose id it keeps: their
    texts alone become Python strings (the tokenizer's samples are a fraction of the corpus)."""
    for batch in iter_parquet(files, ["id", "text"], batch_rows):
        ids = batch.column("id").to_pylist()
        if keep is None:
            yield ids, batch.column("text").to_pylist()
            continue
        mask = [keep(i) for i in ids]
        if any(mask):
            yield [i for i, k in zip(ids, mask) if k], batch.column("text").filter(pa.array(mask)).to_pylist()
