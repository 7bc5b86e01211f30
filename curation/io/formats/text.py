"""Folders of text files: one document per ``.txt``/``.md`` file, its id the file's relative path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from curation.io.formats.jsonl import UTF8_BOM
from curation.io.readers import InputFormat

if TYPE_CHECKING:
    from curation.document import Document
    from curation.io.inputs import InputFile
    from curation.io.readers import DocumentReader, QuarantineRecord

PREVIEW_BYTES = 4000


class TextFormat(InputFormat):
    name = "text"
    suffixes = (".txt", ".md")

    def records(self, reader: DocumentReader, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        doc_id = source.name
        size = source.size()
        if size > reader.config.max_document_bytes:
            with source.open_raw() as fh:
                head = fh.read(PREVIEW_BYTES)
            yield reader.quarantine(name, None, doc_id, "too_large",
                            f"{size} bytes > max_document_bytes {reader.config.max_document_bytes}", head, size)
            return
        with source.open_raw() as fh:
            raw = fh.read(reader.config.max_document_bytes + 1)  # the file may have grown since stat
        if len(raw) > reader.config.max_document_bytes:
            yield reader.quarantine(name, None, doc_id, "too_large",
                            f"over max_document_bytes {reader.config.max_document_bytes}", raw[:PREVIEW_BYTES])
            return
        if raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield reader.quarantine(name, None, doc_id, "invalid_utf8", f"byte {exc.start}: {exc.reason}", raw)
            return
        yield reader.safe_document({reader.config.id_field: doc_id, reader.config.text_field: text,
                                   reader.config.source_field: source.path.parent.name}, name, None, source)
