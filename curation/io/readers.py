"""Streaming readers: JSONL (plain, .gz, .zst), Parquet, and folders of .txt/.md files.

Each reader yields bounded batches of :class:`Document` plus the records it could not turn into
one, as :class:`QuarantineRecord` with file, line and reason. Nothing raises on bad records and
nothing is dropped without a record; only a missing input path is an error. A damaged stream
(a truncated or corrupt archive) ends its file with an ``unreadable_file`` row; the records read
before the damage are kept.

Memory is bounded by the config, not by the input: lines are read at most
``max_document_bytes + 1`` bytes at a time, and a longer line is skipped to its end without being
held whole (quarantined as ``too_large`` with a preview).

Documents without an id get ``<path>:<line>`` (``<path>:<row>`` for Parquet), the path relative
to the folder that holds every input, so two ``part-0.jsonl`` in different folders never collide.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
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
    rel: str = ""  # path relative to the inputs' common folder: the stem of generated ids
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

    @property
    def name(self) -> str:
        """The id stem: the relative path, or the file name when no common folder is known."""
        return self.rel or self.path.name

    def open_raw(self) -> BinaryIO:
        """The file's bytes as stored (seekable, with ``readline(size)``)."""
        if self.url is None:
            return open(self.path, "rb")
        fh = fsspec.open(self.url, "rb").open()
        # fsspec's own buffered files have no readline(size), which bounded line reading needs.
        return fh if isinstance(fh, io.BufferedIOBase) else io.BufferedReader(fh)  # type: ignore[arg-type]

    def open(self) -> BinaryIO:
        """The file's bytes, decompressed by suffix (.gz, .zst)."""
        name = self.path.name.lower()
        if name.endswith(".gz"):
            return gzip.GzipFile(fileobj=self.open_raw(), mode="rb")  # type: ignore[return-value]
        if name.endswith((".zst", ".zstd")):
            return io.BufferedReader(_ZstdFrames(self.open_raw), buffer_size=1 << 20)
        return self.open_raw()

    def stat(self) -> dict[str, Any]:
        """Size and a change stamp (mtime, or an object store's ETag): a changed file changes it.

        A file that cannot be stat'ed (a dangling link, no permission) gets size -1: its reader
        quarantines it as ``unreadable_file`` rather than the plan failing.
        """
        if self.url is None:
            try:
                st = self.path.stat()
            except OSError as exc:
                return {"bytes": -1, "stamp": f"unreadable: {type(exc).__name__}"}
            return {"bytes": st.st_size, "stamp": st.st_mtime_ns}
        fs, path = fsspec.core.url_to_fs(self.url)
        try:
            info = fs.info(path)
        except OSError as exc:
            return {"bytes": -1, "stamp": f"unreadable: {type(exc).__name__}"}
        stamp = next((info[k] for k in ("mtime", "LastModified", "ETag", "etag", "updated", "md5Hash", "created")
                      if info.get(k) is not None), None)
        return {"bytes": int(info["size"]), "stamp": str(stamp)}

    def size(self) -> int:
        return max(0, self.stat()["bytes"])

    def read_bytes(self) -> bytes:
        with self.open_raw() as fh:
            return fh.read()

    def identity(self) -> dict[str, Any]:
        return {"path": self.display, **self.stat(), "unit": self.unit, "start": self.start, "stop": self.stop}

    def ranged(self, unit: str, start: int, stop: int | None, first_record: int | None = None) -> InputFile:
        return replace(self, unit=unit, start=start, stop=stop, first_record=first_record)


class _ZstdFrames(io.RawIOBase):
    """zstd frames decompressed in bounded pieces, failing on a truncated stream.

    zstandard's ``stream_reader`` ends quietly when the input stops mid-frame, which would turn a
    truncated file into a silently shorter one; at the end of the stream the frames' block headers
    are walked (a few bytes per 128 KiB block) and an incomplete one is an ``EOFError``.
    """

    def __init__(self, open_raw: Callable[[], BinaryIO]):
        self._open_raw = open_raw
        self._reader = zstandard.ZstdDecompressor().stream_reader(open_raw(), read_across_frames=True, closefd=True)
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._reader.readinto(buffer)
        if n == 0 and not self._checked:
            self._checked = True
            with self._open_raw() as raw:
                check_zstd_frames(raw)
        return n

    def close(self) -> None:
        self._reader.close()
        super().close()


_ZSTD_MAGIC = 0xFD2FB528


def check_zstd_frames(fh: BinaryIO) -> None:
    """Walk the zstd frames of ``fh`` by their headers (RFC 8878, section 3.1) without decompressing.

    Raises:
        EOFError: the stream ends inside a frame.
        ValueError: bytes that are not a zstd frame.
    """

    def need(n: int) -> bytes:
        data = fh.read(n)
        if len(data) < n:
            raise EOFError("compressed file ends inside a zstd frame (truncated)")
        return data

    while magic_bytes := fh.read(4):
        if len(magic_bytes) < 4:
            raise EOFError("compressed file ends inside a zstd frame header (truncated)")
        magic = int.from_bytes(magic_bytes, "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # a skippable frame
            size = int.from_bytes(need(4), "little")
            need(size)
            continue
        if magic != _ZSTD_MAGIC:
            raise ValueError(f"not a zstd frame at byte {fh.tell() - 4}")
        descriptor = need(1)[0]
        fcs_flag, single, checksum, did_flag = descriptor >> 6, descriptor >> 5 & 1, descriptor >> 2 & 1, descriptor & 3
        need((0 if single else 1) + (0, 1, 2, 4)[did_flag] + (single if fcs_flag == 0 else (2, 4, 8)[fcs_flag - 1]))
        while True:
            header = int.from_bytes(need(3), "little")
            last, kind, size = header & 1, header >> 1 & 3, header >> 3
            need(1 if kind == 1 else size)
            if last:
                break
        if checksum:
            need(4)


def _supported(path: Path | str) -> bool:
    return str(path).lower().endswith(SUPPORTED_SUFFIXES)


def _resolve_url(pattern: str) -> list[InputFile]:
    """Files behind an fsspec URL: a file, a folder (recursively) or a glob."""
    fs, path = fsspec.core.url_to_fs(pattern)
    protocol = pattern.split("://", 1)[0]

    def file(p: str) -> InputFile:
        url = p if "://" in p else f"{protocol}://{p.lstrip('/') if protocol not in ('file', 'local') else p}"
        return InputFile(Path(p), url=url)

    if fs.isdir(path):
        return [file(p) for p in sorted(fs.find(path)) if _supported(p)]
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
    package must be installed). Each file's ``rel`` is its path relative to the deepest folder
    holding every input (per location: local disk, or one URL scheme and host), the stem of the
    ids generated for records without one.

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
            # is_symlink: a dangling link to a data file is reported (unreadable_file), not skipped.
            for child in sorted(p for p in path.rglob("*") if (p.is_file() or p.is_symlink()) and _supported(p)):
                found.setdefault(str(child.resolve()), InputFile(child))
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
    files = sorted(found.values(), key=lambda f: f.display)
    return _with_relative_names(files)


def folder_notes(patterns: Iterable[str | Path]) -> list[str]:
    """A note for each input folder that mixes record files (JSONL, Parquet) with .txt/.md files:
    those are read as documents too, which is rarely meant for a README beside the data."""
    notes = []
    for pattern in patterns:
        path = Path(pattern)
        if isinstance(pattern, str) and "://" in pattern or not path.is_dir():
            continue
        files = [p for p in path.rglob("*") if p.is_file() and _supported(p)]
        text = sorted(p.relative_to(path).as_posix() for p in files if p.name.lower().endswith(TEXT_SUFFIXES))
        if text and len(text) < len(files):
            shown = ", ".join(text[:3]) + (", ..." if len(text) > 3 else "")
            notes.append(f"{pattern}: its {len(text)} .txt/.md file(s) beside the data files ({shown}) are read as "
                         "documents too; name the data files instead of the folder to leave them out")
    return notes


def _with_relative_names(files: list[InputFile]) -> list[InputFile]:
    """Set each file's ``rel``: its path below the common folder of the files at the same location."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, f in enumerate(files):
        if f.url is None:
            location, where = "", f.path.absolute().as_posix()
        else:
            scheme, _, rest = f.url.partition("://")
            host, _, tail = rest.partition("/") if scheme not in ("file", "local") else ("", "", rest.lstrip("/"))
            location, where = f"{scheme}://{host}/", "/" + tail
        groups.setdefault(location, []).append((i, where))
    out = list(files)
    for location, members in groups.items():
        root = posixpath.commonpath([posixpath.dirname(w) for _, w in members])
        for i, where in members:
            rel = posixpath.relpath(where, root)
            # Several locations (local files and s3://, say) keep their location in the name.
            out[i] = replace(files[i], rel=rel if len(groups) == 1 else location + rel)
    return out


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
    ``missing_text_column``, ``unreadable_file``, ``unsupported_encoding`` (a UTF-16/32 file),
    ``bad_record`` (anything else one record can do wrong).
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
        except Exception as exc:  # noqa: BLE001 - any damage to one file must not stop the run
            # A truncated or corrupt archive, an unreadable or vanished file, a broken Parquet
            # page: keep what was read before it, and say where and why the file ended.
            quarantined.append(QuarantineRecord(_clean(name), None, None, "unreadable_file",
                                                _clean(f"{type(exc).__name__}: {exc}"[:500]), 0, ""))
            self.counters["quarantined/unreadable_file"] += 1
        if docs or quarantined:
            yield ReadBatch(docs, quarantined, name)

    # Each record source yields Documents and QuarantineRecords in input order.

    def _jsonl_records(self, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        limit = self.config.max_document_bytes
        with source.open() as fh:
            first = 1
            if source.unit == "bytes":
                fh.seek(source.start)
                first = source.first_record or 1
            if source.unit != "bytes" or source.start == 0:
                encoding = _utf16_or_32(fh.peek(4)[:4] if hasattr(fh, "peek") else b"")
                if encoding:
                    yield self._bad(name, None, None, "unsupported_encoding",
                                    f"{encoding} (byte-order mark); JSONL input must be UTF-8: convert the file", b"",
                                    source.size())
                    return
            lines = bounded_lines(fh, limit)
            if source.unit == "bytes":
                lines = _byte_range(lines, source.start, source.stop)
            elif source.unit == "lines":
                lines = _line_range(lines, source.start, source.stop)
                first = source.start + 1
            for line_no, (raw, size, whole) in enumerate(lines, start=first):
                if not whole:
                    yield self._bad(name, line_no, _id_in_head(raw, self.config.id_field), "too_large",
                                    f"line of {size} bytes > max_document_bytes {limit}; skipped unread", raw, size)
                    continue
                if line_no == 1 and raw.startswith(UTF8_BOM):
                    raw = raw[len(UTF8_BOM):]  # editors on Windows start UTF-8 files with one
                if not raw.strip():
                    self.counters["blank_lines"] += 1
                    continue
                yield self._record(raw, name, line_no, source)

    def _record(self, raw: bytes, name: str, line_no: int, source: InputFile) -> Document | QuarantineRecord:
        """One JSONL line into a Document, or the reason it cannot be one; never raises."""
        try:
            record = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
        except UnicodeDecodeError as exc:
            return self._bad(name, line_no, None, "invalid_utf8", f"byte {exc.start}: {exc.reason}", raw)
        except RecursionError:
            return self._bad(name, line_no, None, "malformed_json", "nested too deeply to parse", raw)
        except ValueError as exc:  # JSONDecodeError and friends
            return self._bad(name, line_no, None, "malformed_json", str(exc)[:500], raw)
        if not isinstance(record, dict):
            return self._bad(name, line_no, None, "not_an_object", type(record).__name__, raw)
        try:
            return self._document(record, name, line_no, len(raw), source)
        except Exception as exc:  # noqa: BLE001 - the safety net: one odd record never stops a run
            return self._bad(name, line_no, None, "bad_record", f"{type(exc).__name__}: {exc}"[:500], raw)

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
                    heads = pc.if_else(over, pc.binary_slice(text_col, 0, PREVIEW_CHARS * 4),
                                       pa.scalar(None, pa.large_binary())).to_pylist()
                    text_col = pc.if_else(over, pa.scalar(None, pa.large_binary()), text_col)
            texts = text_col.to_pylist()
            others = {c: col.to_pylist() for c, col in values.items()}
            for i, text in enumerate(texts):
                record = {c: col[i] for c, col in others.items()}
                if heads[i] is not None:
                    yield self._bad(name, row, _str_or_none(record.get(cfg.id_field)), "too_large",
                                    f"{sizes[i]} bytes > max_document_bytes {cfg.max_document_bytes}", heads[i],
                                    sizes[i])
                elif isinstance(text, bytes):
                    try:
                        record[cfg.text_field] = text.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        yield self._bad(name, row, _str_or_none(record.get(cfg.id_field)), "invalid_utf8",
                                        f"byte {exc.start}: {exc.reason}", text)
                    else:
                        yield self._safe_document(record, name, row, source)
                else:
                    record[cfg.text_field] = text
                    yield self._safe_document(record, name, row, source)
                row += 1

    def _text_records(self, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        doc_id = source.name
        size = source.size()
        if size > self.config.max_document_bytes:
            with source.open_raw() as fh:
                head = fh.read(PREVIEW_CHARS * 4)
            yield self._bad(name, None, doc_id, "too_large",
                            f"{size} bytes > max_document_bytes {self.config.max_document_bytes}", head, size)
            return
        with source.open_raw() as fh:
            raw = fh.read(self.config.max_document_bytes + 1)  # the file may have grown since stat
        if len(raw) > self.config.max_document_bytes:
            yield self._bad(name, None, doc_id, "too_large",
                            f"over max_document_bytes {self.config.max_document_bytes}", raw[:PREVIEW_CHARS * 4])
            return
        if raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield self._bad(name, None, doc_id, "invalid_utf8", f"byte {exc.start}: {exc.reason}", raw)
            return
        yield self._safe_document({self.config.id_field: doc_id, self.config.text_field: text,
                                   self.config.source_field: source.path.parent.name}, name, None, source)

    def _safe_document(self, record: dict[str, Any], name: str, line: int | None,
                       source: InputFile) -> Document | QuarantineRecord:
        try:
            return self._document(record, name, line, None, source)
        except Exception as exc:  # noqa: BLE001 - one odd record never stops a run
            return self._bad(name, line, None, "bad_record", f"{type(exc).__name__}: {exc}"[:500], b"")

    def _document(self, record: dict[str, Any], name: str, line: int | None, raw_size: int | None,
                  source: InputFile) -> Document | QuarantineRecord:
        """Validate one parsed record; return a Document or the reason it cannot be one."""
        cfg = self.config
        doc_id = _str_or_none(record.get(cfg.id_field))
        if doc_id is None:
            doc_id = f"{source.name}:{line}"
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
        source_name = _clean(source_value) if isinstance(source_value, str) and source_value else source.path.name
        return Document(doc_id, text, source_name, attributes)

    def _bad(self, name: str, line: int | None, doc_id: str | None, reason: str, detail: str,
             raw: bytes | str, raw_size: int | None = None) -> QuarantineRecord:
        size = raw_size if raw_size is not None else len(raw)
        return QuarantineRecord(_clean(name), line, doc_id, reason, _clean(detail), size, _preview(raw))


_MISSING = object()
UTF8_BOM = b"\xef\xbb\xbf"
_MAX_INT_DIGITS = 4300  # Python's default int_max_str_digits: json.loads raises ValueError beyond it


class BigInt:
    """A JSON integer too long for ``int()`` (a 5,000-digit number in some metadata field is valid
    JSON): the record is kept, and the number's digits are its text form."""

    __slots__ = ("digits",)

    def __init__(self, digits: str):
        self.digits = digits

    def __str__(self) -> str:
        return self.digits


def _parse_int(digits: str) -> int | BigInt:
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else BigInt(digits)


def _utf16_or_32(head: bytes) -> str | None:
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32-LE"), (b"\x00\x00\xfe\xff", "UTF-32-BE"),
                      (b"\xff\xfe", "UTF-16-LE"), (b"\xfe\xff", "UTF-16-BE")):
        if head.startswith(bom):
            return name
    return None


def _id_in_head(head: bytes, field: str) -> str | None:
    """The id of a record too large to parse, if its first bytes hold it as a plain JSON string
    (``{"id": "abc", "text": ...``): a help to find the record, not a parse."""
    match = re.search(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*"((?:[^"\\]|\\.){0,500})"', head)
    if match is None:
        return None
    try:
        value = json.loads(b'"' + match.group(1) + b'"')
    except ValueError:
        return None
    return _clean(value) if isinstance(value, str) else None


def _is_text_type(dtype: pa.DataType) -> bool:
    return any(check(dtype) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                                           pa.types.is_large_binary))


def bounded_lines(fh: BinaryIO, limit: int, chunk: int = 1 << 20) -> Iterator[tuple[bytes, int, bool]]:
    """``(line, size, whole)`` for each line of ``fh``, never holding more than ``limit + 1`` bytes of one.

    ``size`` counts the line's bytes with its newline. A line whose content is longer than ``limit``
    comes back with ``whole`` false and only its first ``PREVIEW_CHARS * 4`` bytes; the rest is read
    in ``chunk``-sized pieces and discarded.
    """
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw, len(raw), True
            continue
        size = len(raw)
        head = raw[:PREVIEW_CHARS * 4]
        del raw
        while True:
            more = fh.readline(chunk)
            size += len(more)
            if not more or more.endswith(b"\n"):
                break
        yield head, size, False


def skip_line(fh: BinaryIO, chunk: int = 1 << 20) -> None:
    """Advance ``fh`` past the next newline without holding the line."""
    while True:
        more = fh.readline(chunk)
        if not more or more.endswith(b"\n"):
            return


Line = tuple[bytes, int, bool]


def _byte_range(lines: Iterator[Line], start: int, stop: int | None) -> Iterator[Line]:
    """Lines (from ``start``, a line start) until ``stop`` bytes, also a line start."""
    position = start
    for line in lines:
        if stop is not None and position >= stop:
            return
        position += line[1]
        yield line


def _line_range(lines: Iterator[Line], start: int, stop: int | None) -> Iterator[Line]:
    for i, item in enumerate(lines):
        if stop is not None and i >= stop:
            return
        if i >= start:
            yield item


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, BigInt):
        return value.digits
    if isinstance(value, bytes):
        return _clean(value.decode("utf-8", errors="replace"))
    # default=str: Parquet timestamps, decimals and dates are not JSON types.
    return _clean(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                                  default=str))
