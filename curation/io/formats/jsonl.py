"""JSONL input (plain, .gz, .zst): one JSON object per line, read in bounded pieces.

Lines are read at most ``max_document_bytes + 1`` bytes at a time, and a longer one is skipped to
its end without being held whole (quarantined as ``too_large`` with a preview). Plain files split
into byte ranges cut at line starts, so a worker seeks straight to its range; compressed ones into
line ranges (a reader decompresses and skips the lines before its range, so a file is cut into at
most ``MAX_COMPRESSED_SPLITS`` pieces).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from curation.io.readers import BigInt, InputFormat, clean_text

if TYPE_CHECKING:
    from curation.document import Document
    from curation.io.inputs import InputFile
    from curation.io.readers import DocumentReader, QuarantineRecord

PREVIEW_BYTES = 4000  # enough bytes for the 1,000-character preview
# Skipping the lines before a range re-decompresses them: 8 pieces cost at most 3.5x one pass of
# decompression, still far below what the filters spend on the same text.
MAX_COMPRESSED_SPLITS = 8
_SCAN_BLOCK = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"


class JsonlFormat(InputFormat):
    name = "jsonl"
    suffixes = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".jsonl.zstd", ".ndjson.zst")

    def records(self, reader: DocumentReader, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        name = source.display
        limit = reader.config.max_document_bytes
        with source.open() as fh:
            first = 1
            if source.unit == "bytes":
                fh.seek(source.start)
                first = source.first_record or 1
            if source.unit != "bytes" or source.start == 0:
                encoding = _utf16_or_32(fh.peek(4)[:4] if hasattr(fh, "peek") else b"")
                if encoding:
                    yield reader.quarantine(name, None, None, "unsupported_encoding",
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
                    yield reader.quarantine(name, line_no, _id_in_head(raw, reader.config.id_field), "too_large",
                                    f"line of {size} bytes > max_document_bytes {limit}; skipped unread", raw, size)
                    continue
                if line_no == 1 and raw.startswith(UTF8_BOM):
                    raw = raw[len(UTF8_BOM):]  # editors on Windows start UTF-8 files with one
                if not raw.strip():
                    reader.counters["blank_lines"] += 1
                    continue
                yield self.record(reader, raw, name, line_no, source)

    def record(self, reader: DocumentReader, raw: bytes, name: str, line_no: int, source: InputFile
               ) -> Document | QuarantineRecord:
        """One JSONL line into a Document, or the reason it cannot be one; never raises."""
        try:
            record = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
        except UnicodeDecodeError as exc:
            return reader.quarantine(name, line_no, None, "invalid_utf8", f"byte {exc.start}: {exc.reason}", raw)
        except RecursionError:
            return reader.quarantine(name, line_no, None, "malformed_json", "nested too deeply to parse", raw)
        except ValueError as exc:  # JSONDecodeError and friends
            return reader.quarantine(name, line_no, None, "malformed_json", str(exc)[:500], raw)
        if not isinstance(record, dict):
            return reader.quarantine(name, line_no, None, "not_an_object", type(record).__name__, raw)
        try:
            return reader.document(record, name, line_no, len(raw), source)
        except Exception as exc:  # noqa: BLE001 - the safety net: one odd record never stops a run
            return reader.quarantine(name, line_no, None, "bad_record", f"{type(exc).__name__}: {exc}"[:500], raw)

    def split(self, source: InputFile, target_bytes: int) -> list[tuple[InputFile, int]]:
        return split_compressed(source, target_bytes) if source.compressed else _split_plain_or_whole(source,
                                                                                                      target_bytes)


def split_plain(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
    """Byte ranges of equal size, as many as the power of two at or above ``ceil(size / target)``,
    each moved to a line start; also counts lines before each range so quarantine entries keep
    their real line numbers.

    Equal, not ``target`` bytes and a remainder: a 33.6 MB file cut at 32 MiB left one worker of two
    with 95 % of the work (the 4,000-document bench slice: 13.0 s, 9.3 s in equal halves). A power
    of two: every power-of-two number of workers up to it gets equal shares of every pass; the
    219 MB bench corpus in 7 ranges left one worker of two idle through the last range of each
    pass (in 8, the run took 4-5 % less wall time per CPU-second). Ranges stay above ``target / 2``.
    """
    size = f.size()
    if size <= target:
        return [(f, size)]
    pieces = 1 << (math.ceil(size / target) - 1).bit_length()
    bounds = [0]
    with f.open_raw() as fh:
        for i in range(1, pieces):
            at = max(round(i * size / pieces), bounds[-1])
            fh.seek(at)
            if at > bounds[-1]:
                skip_line(fh)  # to the start of the next line, however long this one is
            if fh.tell() >= size:
                break
            if fh.tell() > bounds[-1]:
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


def split_compressed(f: InputFile, target: int) -> list[tuple[InputFile, int]]:
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
        return split_plain(f, target)
    except Exception:  # noqa: BLE001 - unreadable now: one partition, the reader quarantines it
        return [(f, f.size())]


_MAX_INT_DIGITS = 4300  # Python's default int_max_str_digits: json.loads raises ValueError beyond it


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
    return clean_text(value) if isinstance(value, str) else None


def bounded_lines(fh: BinaryIO, limit: int, chunk: int = 1 << 20) -> Iterator[tuple[bytes, int, bool]]:
    """``(line, size, whole)`` for each line of ``fh``, never holding more than ``limit + 1`` bytes of one.

    ``size`` counts the line's bytes with its newline. A line whose content is longer than ``limit``
    comes back with ``whole`` false and only its first ``PREVIEW_BYTES`` bytes; the rest is read
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
        head = raw[:PREVIEW_BYTES]
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
