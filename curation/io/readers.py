"""Streaming readers: JSONL (plain, .gz, .zst), Parquet, and folders of .txt/.md files.

Each reader yields bounded batches of :class:`Document` plus the records it could not turn into
one, as :class:`QuarantineRecord` with file, line and reason. Nothing raises on bad records and
nothing is dropped without a record; only a missing input path is an error.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from curation.config import InputConfig
from curation.document import Document
from curation.errors import CurationError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".jsonl.zstd", ".ndjson.zst")
TEXT_SUFFIXES = (".txt", ".md")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + TEXT_SUFFIXES + PARQUET_SUFFIXES
PREVIEW_CHARS = 1000  # enough to recognise a bad record; a 50 MB one is not copied whole


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


@dataclass
class InputFile:
    """One input file, or one range of it (see :mod:`curation.partition`).

    A range is ``[start, stop)`` in ``unit``: ``bytes`` (plain JSONL, aligned to line starts),
    ``lines`` (compressed JSONL, 0-based) or ``row_groups`` (Parquet). ``first_record`` is the
    1-based line (JSONL) or 0-based row (Parquet) of the range's first record, so quarantine
    entries point at the same place whichever range read them. ``url`` is set for files read
    through fsspec (``s3://``, ``gs://``, ``file://``, ...); ``path`` then only names the file.
    """

    path: Path
    root: Path | None = None  # the folder it was found in, for text-file ids
    unit: str | None = None
    start: int = 0
    stop: int | None = None
    first_record: int | None = None
    url: str | None = None

    @property
    def kind(self) -> str:
        name = self.path.name.lower()
        if name.endswith(JSONL_SUFFIXES):
            return "jsonl"
        if name.endswith(PARQUET_SUFFIXES):
            return "parquet"
        return "text"

    @property
    def display(self) -> str:
        return self.url or str(self.path)

    @property
    def compressed(self) -> bool:
        return self.path.name.lower().endswith((".gz", ".zst", ".zstd"))

    def open_raw(self) -> BinaryIO:
        """The file's bytes as stored (seekable)."""
        if self.url is None:
            return open(self.path, "rb")
        return fsspec.open(self.url, "rb").open()

    def open(self) -> BinaryIO:
        """The file's bytes, decompressed by suffix (.gz, .zst)."""
        name = self.path.name.lower()
        if name.endswith(".gz"):
            return gzip.GzipFile(fileobj=self.open_raw(), mode="rb")  # type: ignore[return-value]
        if name.endswith((".zst", ".zstd")):
            # The raw zstd reader does not iterate by line; a buffered wrapper does.
            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(self.open_raw(), closefd=True))
        return self.open_raw()

    def stat(self) -> dict[str, Any]:
        """Size and a change stamp (mtime, or an object store's ETag): a changed file changes it."""
        if self.url is None:
            st = self.path.stat()
            return {"bytes": st.st_size, "stamp": st.st_mtime_ns}
        fs, path = fsspec.core.url_to_fs(self.url)
        info = fs.info(path)
        stamp = next((info[k] for k in ("mtime", "LastModified", "ETag", "etag", "updated", "md5Hash", "created")
                      if info.get(k) is not None), None)
        return {"bytes": int(info["size"]), "stamp": str(stamp)}

    def size(self) -> int:
        return self.stat()["bytes"]

    def read_bytes(self) -> bytes:
        with self.open_raw() as fh:
            return fh.read()

    def identity(self) -> dict[str, Any]:
        return {"path": self.display, **self.stat(), "unit": self.unit, "start": self.start, "stop": self.stop}

    def ranged(self, unit: str, start: int, stop: int | None, first_record: int | None = None) -> InputFile:
        return replace(self, unit=unit, start=start, stop=stop, first_record=first_record)


def _supported(path: Path | str) -> bool:
    return str(path).lower().endswith(SUPPORTED_SUFFIXES)


def _resolve_url(pattern: str) -> list[InputFile]:
    """Files behind an fsspec URL: a file, a folder (recursively) or a glob."""
    fs, path = fsspec.core.url_to_fs(pattern)
    protocol = pattern.split("://", 1)[0]

    def file(p: str, root: str | None = None) -> InputFile:
        url = p if "://" in p else f"{protocol}://{p.lstrip('/') if protocol not in ('file', 'local') else p}"
        return InputFile(Path(p), Path(root) if root else None, url=url)

    if fs.isdir(path):
        return [file(p, path) for p in sorted(fs.find(path)) if _supported(p)]
    matches = sorted(fs.glob(path)) if any(c in path for c in "*?[") else ([path] if fs.exists(path) else [])
    if not matches:
        raise CurationError(f"input not found: {pattern}")
    for match in matches:
        if not _supported(match) and not fs.isdir(match):
            raise CurationError(f"unsupported input format: {match} (expected one of {', '.join(SUPPORTED_SUFFIXES)})")
    return [file(m) for m in matches if not fs.isdir(m)]


def resolve_inputs(patterns: Iterable[str | Path]) -> list[InputFile]:
    """Expand files, folders (recursively) and glob patterns into a sorted, de-duplicated list.

    Local paths, or any fsspec URL (``s3://bucket/data/*.jsonl.zst``; the protocol's fsspec
    package must be installed).

    Raises:
        CurationError: a path or pattern that matches nothing, or a file of unknown format.
    """
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        if isinstance(pattern, str) and "://" in pattern:
            try:
                for f in _resolve_url(pattern):
                    found.setdefault(f.display, f)
            except (ImportError, ValueError) as exc:
                raise CurationError(f"cannot read {pattern}: {exc}") from None
            continue
        path = Path(pattern)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and _supported(p)):
                found.setdefault(str(child.resolve()), InputFile(child, root=path))
            continue
        matches = [Path(m) for m in sorted(glob.glob(str(pattern), recursive=True))] if not path.exists() else [path]
        if not matches:
            raise CurationError(f"input not found: {pattern}")
        for match in matches:
            if match.is_dir():
                continue
            if not _supported(match):
                raise CurationError(
                    f"unsupported input format: {match} (expected one of {', '.join(SUPPORTED_SUFFIXES)})"
                )
            found.setdefault(str(match.resolve()), InputFile(match))
    return sorted(found.values(), key=lambda f: f.display)


def _preview(raw: bytes | str) -> str:
    if isinstance(raw, str):
        raw = raw[:PREVIEW_CHARS].encode("utf-8", "surrogatepass")
    return raw[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS]


def _clean(value: str) -> str:
    """Replace lone surrogates (from JSON escapes like \\ud800) so the value can be written."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", errors="replace")


class DocumentReader:
    """Turns input files into batches of documents, quarantining what it cannot use.

    One reader is used for a whole run: it remembers 64-bit hashes of the ids it has seen so a
    duplicate id is quarantined wherever it appears (about 70 bytes per document).

    Quarantine reasons: ``malformed_json``, ``not_an_object``, ``invalid_utf8``, ``missing_text``,
    ``null_text``, ``non_string_text``, ``empty_text``, ``too_large``, ``duplicate_id``,
    ``missing_text_column``, ``unreadable_file``.
    """

    def __init__(self, config: InputConfig, skip: Iterable[int] = ()):
        self.config = config
        self._seen_ids: set[int] = set()
        self.counters: Counter[str] = Counter()
        # Ordinals (among this reader's valid documents) whose id an earlier partition already
        # claimed: found after the fact by curation.pipeline.duplicate_id_skips.
        self._skip = frozenset(skip)
        self._ordinal = 0
        self.id_hashes: list[int] = []  # 64-bit hash of each valid document's id, in order

    def read(self, source: InputFile) -> Iterator[ReadBatch]:
        readers = {"jsonl": self._jsonl_records, "parquet": self._parquet_records, "text": self._text_records}
        docs: list[Document] = []
        quarantined: list[QuarantineRecord] = []
        name = source.display
        try:
            for item in readers[source.kind](source):
                if isinstance(item, QuarantineRecord):
                    quarantined.append(item)
                    self.counters[f"quarantined/{item.reason}"] += 1
                    continue
                docs.append(item)
                if len(docs) >= self.config.batch_size:
                    yield ReadBatch(docs, quarantined, name)
                    docs, quarantined = [], []
        except (OSError, EOFError, zstandard.ZstdError, pa.ArrowException) as exc:
            # A truncated archive or corrupt Parquet file: keep what was read, quarantine the rest.
            quarantined.append(QuarantineRecord(name, None, None, "unreadable_file", str(exc)[:500], 0, ""))
            self.counters["quarantined/unreadable_file"] += 1
        if docs or quarantined:
            yield ReadBatch(docs, quarantined, name)

    # Each record source yields Documents and QuarantineRecords in input order.

    def _jsonl_records(self, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        with source.open() as fh:
            lines: Iterable[bytes] = fh
            first = 1
            if source.unit == "bytes":
                fh.seek(source.start)
                lines = _byte_range(fh, source.start, source.stop)
                first = source.first_record or 1
            elif source.unit == "lines":
                lines = itertools.islice(fh, source.start, source.stop)
                first = source.start + 1
            for line_no, raw in enumerate(lines, start=first):
                if not raw.strip():
                    self.counters["blank_lines"] += 1
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    yield self._bad(name, line_no, None, "invalid_utf8", f"byte {exc.start}: {exc.reason}", raw)
                    continue
                except json.JSONDecodeError as exc:
                    yield self._bad(name, line_no, None, "malformed_json", str(exc), raw)
                    continue
                if not isinstance(record, dict):
                    yield self._bad(name, line_no, None, "not_an_object", type(record).__name__, raw)
                    continue
                yield self._document(record, name, line_no, len(raw), source)

    def _parquet_records(self, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        cfg = self.config
        parquet = pq.ParquetFile(source.path if source.url is None else source.open_raw())
        columns = set(parquet.schema_arrow.names)
        if cfg.text_field not in columns:
            yield self._bad(name, None, None, "missing_text_column",
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
            if pa.types.is_string(text_col.type) or pa.types.is_large_string(text_col.type):
                # As bytes, so invalid UTF-8 written by another tool is quarantined, not fatal.
                texts: list[Any] = text_col.cast(pa.large_binary()).to_pylist()
            else:
                texts = text_col.to_pylist()
            others = {c: col.to_pylist() for c, col in values.items()}
            for i, text in enumerate(texts):
                record = {c: col[i] for c, col in others.items()}
                if isinstance(text, bytes):
                    try:
                        text = text.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        yield self._bad(name, row, _str_or_none(record.get(cfg.id_field)), "invalid_utf8",
                                        f"byte {exc.start}: {exc.reason}", text)
                        row += 1
                        continue
                record[cfg.text_field] = text
                yield self._document(record, name, row, None, source)
                row += 1

    def _text_records(self, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        path = source.path
        name = source.display
        doc_id = path.relative_to(source.root).as_posix() if source.root else path.name
        size = source.size()
        if size > self.config.max_document_bytes:
            with source.open_raw() as fh:
                head = fh.read(PREVIEW_CHARS)
            yield self._bad(name, None, doc_id, "too_large",
                            f"{size} bytes > max_document_bytes {self.config.max_document_bytes}", head, size)
            return
        raw = source.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield self._bad(name, None, doc_id, "invalid_utf8", f"byte {exc.start}: {exc.reason}", raw)
            return
        source_name = source.root.name if source.root else path.parent.name
        yield self._document({self.config.id_field: doc_id, self.config.text_field: text,
                              self.config.source_field: source_name}, name, None, size, source)

    def _document(self, record: dict[str, Any], name: str, line: int | None, raw_size: int | None,
                  source: InputFile) -> Document | QuarantineRecord:
        """Validate one parsed record; return a Document or the reason it cannot be one."""
        cfg = self.config
        doc_id = _str_or_none(record.get(cfg.id_field))
        if doc_id is None:
            doc_id = f"{source.path.name}:{line}"
        text = record.get(cfg.text_field, _MISSING)

        def bad(reason: str, detail: str) -> QuarantineRecord:
            raw = json.dumps(record, ensure_ascii=False, default=str)[: PREVIEW_CHARS * 2]
            return self._bad(name, line, _clean(doc_id), reason, detail, raw, raw_size)

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
        doc_id = _clean(doc_id)
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
        attributes = {f: _as_text(record.get(f)) for f in cfg.keep_fields}
        source_name = _clean(source_value) if isinstance(source_value, str) else source.path.name
        return Document(doc_id, text, source_name, attributes)

    def _bad(self, name: str, line: int | None, doc_id: str | None, reason: str, detail: str,
             raw: bytes | str, raw_size: int | None = None) -> QuarantineRecord:
        size = raw_size if raw_size is not None else len(raw)
        return QuarantineRecord(_clean(name), line, doc_id, reason, _clean(detail), size, _preview(raw))


_MISSING = object()


def _byte_range(fh: BinaryIO, start: int, stop: int | None) -> Iterator[bytes]:
    """Lines of ``fh`` (positioned at ``start``, a line start) until ``stop`` bytes, also a line start."""
    position = start
    for raw in fh:
        if stop is not None and position >= stop:
            return
        position += len(raw)
        yield raw


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return _clean(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))
