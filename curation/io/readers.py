"""Input records into documents: validation, duplicate ids, and a quarantine row for everything else.

A :class:`DocumentReader` reads each file through the input format registered for it
(:mod:`curation.io.formats`: JSONL, Parquet, text folders, WARC/WET) and yields bounded batches of
:class:`Document` plus the records it could not turn into one, as :class:`QuarantineRecord` with
file, line and reason. Nothing raises on bad records and nothing is dropped without a record; only a
missing input path is an error. A damaged stream (a truncated or corrupt archive) ends its file with
an ``unreadable_file`` row; the records read before the damage are kept.

Memory is bounded by the config, not by the input (each format reads in bounded pieces). Documents
without an id get ``<path>:<line>`` (``<path>:<row>`` for Parquet), the path relative to the folder
that holds every input (:mod:`curation.io.inputs`), so two ``part-0.jsonl`` in different folders
never collide.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from curation.config import InputConfig
from curation.document import Document
from curation.io.formats import get_format
from curation.io.inputs import InputFile, folder_notes, resolve_inputs

PREVIEW_CHARS = 1000  # enough to recognise a bad record; a 50 MB one is not copied whole


class InputFormat:
    """How one kind of file becomes documents."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]
    # Columns every document of this format carries into the shards (a WARC page's URL), set by
    # ``records`` through ``reader.document(..., fields)``; beside the config's ``keep_fields``.
    attributes: ClassVar[dict[str, pa.DataType]] = {}

    def records(self, reader: DocumentReader, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        """The file's (or range's) documents and quarantine rows, in input order. Per-record problems
        become quarantine rows through ``reader``; an exception means the stream itself is damaged
        (the reader then ends the file with one ``unreadable_file`` row)."""
        raise NotImplementedError

    def split(self, source: InputFile, target_bytes: int) -> list[tuple[InputFile, int]]:
        """Ranges of about ``target_bytes`` each that can be read alone, with their sizes; by default
        the whole file."""
        return [(source, source.size())]

__all__ = ["BigInt", "DocumentReader", "InputFile", "InputFormat", "QuarantineRecord", "ReadBatch", "folder_notes",
           "resolve_inputs"]


@dataclass(slots=True)
class QuarantineRecord:
    """Input that could not become a document (columns of ``QUARANTINE_SCHEMA``)."""

    source_file: str
    line: int | None
    id: str | None
    reason: str
    detail: str
    raw_bytes: int
    raw_preview: str


@dataclass(slots=True)
class ReadBatch:
    """Up to ``batch_size`` documents from one file and the records quarantined meanwhile."""

    docs: list[Document]
    quarantined: list[QuarantineRecord]
    source_file: str


@dataclass(slots=True)
class ReadBatch:
    """Up to ``batch_size`` documents from one file and the records quarantined meanwhile."""

    docs: list[Document]
    quarantined: list[QuarantineRecord]
    source_file: str


class DocumentReader:
    """Turns input files into batches of documents, quarantining what it cannot use.

    One reader is used for a whole run: it remembers 64-bit hashes of the ids it has seen so a
    duplicate id is quarantined wherever it appears (about 70 bytes per document).

    Quarantine reasons: ``malformed_json``, ``not_an_object``, ``invalid_utf8``, ``missing_text``,
    ``null_text``, ``non_string_text``, ``empty_text``, ``too_large``, ``duplicate_id``,
    ``missing_text_column``, ``unreadable_file``, ``unsupported_encoding`` (a UTF-16/32 file),
    ``bad_record`` (anything else one record can do wrong); web archives add ``http_status``,
    ``not_html``, ``undecodable`` and ``truncated_record`` (:mod:`curation.io.formats.warc`).
    """

    def __init__(self, config: InputConfig, skip: Iterable[int] = ()):
        self.config = config
        self._seen_ids: set[int] = set()
        self.counters: Counter[str] = Counter()
        # Ordinals (among this reader's valid documents) whose id an earlier partition already
        # claimed: found after the fact by curation.pipeline.steps.duplicate_id_skips.
        self._skip = frozenset(skip)
        self._ordinal = 0
        self.id_hashes: list[int] = []  # 64-bit hash of each valid document's id, in order

    def read(self, source: InputFile) -> Iterator[ReadBatch]:
        docs: list[Document] = []
        quarantined: list[QuarantineRecord] = []
        name = source.display
        try:
            for item in get_format(source.kind).records(self, source):
                if isinstance(item, QuarantineRecord):
                    quarantined.append(item)
                    self.counters[f"quarantined/{item.reason}"] += 1
                    continue
                docs.append(item)
                if len(docs) >= self.config.batch_size:
                    yield ReadBatch(docs, quarantined, name)
                    docs, quarantined = [], []
        except Exception as exc:  # noqa: BLE001 - any damage to one file must not stop the run
            # A truncated or corrupt archive, an unreadable or vanished file, a broken Parquet
            # page: keep what was read before it, and say where and why the file ended.
            quarantined.append(QuarantineRecord(clean_text(name), None, None, "unreadable_file",
                                                clean_text(f"{type(exc).__name__}: {exc}"[:500]), 0, ""))
            self.counters["quarantined/unreadable_file"] += 1
        if docs or quarantined:
            yield ReadBatch(docs, quarantined, name)

    def safe_document(self, record: dict[str, Any], name: str, line: int | None,
                       source: InputFile, fields: dict[str, Any] | None = None) -> Document | QuarantineRecord:
        try:
            return self.document(record, name, line, None, source, fields)
        except Exception as exc:  # noqa: BLE001 - one odd record never stops a run
            return self.quarantine(name, line, None, "bad_record", f"{type(exc).__name__}: {exc}"[:500], b"")

    def document(self, record: dict[str, Any], name: str, line: int | None, raw_size: int | None,
                 source: InputFile, fields: dict[str, Any] | None = None) -> Document | QuarantineRecord:
        """Validate one parsed record; return a Document or the reason it cannot be one. ``fields``:
        the format's own columns (:attr:`InputFormat.attributes`), as they are."""
        cfg = self.config
        doc_id = str_or_none(record.get(cfg.id_field))
        if doc_id is None:
            doc_id = f"{source.name}:{line}"
        text = record.get(cfg.text_field, _MISSING)

        def bad(reason: str, detail: str) -> QuarantineRecord:
            raw = json.dumps(record, ensure_ascii=False, default=str)[: PREVIEW_CHARS * 2]
            return self.quarantine(name, line, clean_text(doc_id), reason, detail, raw, raw_size)

        if text is _MISSING:
            return bad("missing_text", f"no field {cfg.text_field!r}; fields: {sorted(record)[:20]}")
        if text is None:
            return bad("null_text", f"field {cfg.text_field!r} is null")
        if not isinstance(text, str):
            return bad("non_string_text", f"field {cfg.text_field!r} is {type(text).__name__}")
        if len(text) > cfg.max_document_bytes or (
            len(text) * 4 > cfg.max_document_bytes and len(text.encode("utf-8", "surrogatepass")) > cfg.max_document_bytes
        ):
            return bad("too_large", f"text over max_document_bytes {cfg.max_document_bytes}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            # JSON may escape a lone surrogate (\ud800); it is not valid Unicode text.
            return bad("invalid_utf8", f"lone surrogate at char {exc.start}")
        doc_id = clean_text(doc_id)
        if not text.strip():
            return bad("empty_text", "text is empty or whitespace only")
        key = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if key in self._seen_ids:
            return bad("duplicate_id", "an earlier document has this id; the first one is kept")
        self._seen_ids.add(key)
        ordinal, self._ordinal = self._ordinal, self._ordinal + 1
        self.id_hashes.append(key)
        if ordinal in self._skip:
            return bad("duplicate_id", "a document in an earlier input partition has this id; the first one is kept")
        source_value = record.get(cfg.source_field)
        attributes = {f: _as_text(record.get(f)) for f in cfg.keep_fields} | (fields or {})
        source_name = clean_text(source_value) if isinstance(source_value, str) and source_value else source.path.name
        return Document(doc_id, text, source_name, attributes)

    def quarantine(self, name: str, line: int | None, doc_id: str | None, reason: str, detail: str,
                   raw: bytes | str, raw_size: int | None = None) -> QuarantineRecord:
        """A quarantine row for input that cannot become a document (with a preview of ``raw``)."""
        size = raw_size if raw_size is not None else len(raw)
        return QuarantineRecord(clean_text(name), line, doc_id, reason, clean_text(detail), size, _preview(raw))


_MISSING = object()


class BigInt:
    """A JSON integer too long for ``int()`` (a 5,000-digit number in some metadata field is valid
    JSON): the record is kept, and the number's digits are its text form."""

    __slots__ = ("digits",)

    def __init__(self, digits: str):
        self.digits = digits

    def __str__(self) -> str:
        return self.digits


def _preview(raw: bytes | str) -> str:
    if isinstance(raw, str):
        raw = raw[:PREVIEW_CHARS].encode("utf-8", "surrogatepass")
    return raw[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS]


def clean_text(value: str) -> str:
    """Replace lone surrogates (from JSON escapes like \\ud800) so the value can be written."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", errors="replace")


def str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, BigInt):
        return value.digits
    if isinstance(value, bytes):
        return clean_text(value.decode("utf-8", errors="replace"))
    # default=str: Parquet timestamps, decimals and dates are not JSON types.
    return clean_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                                  default=str))
