"""Web archives: WARC ``response`` records (HTML) and WET ``conversion`` records (text), through FastWARC.

One document per record, its id the ``WARC-Record-ID`` (``urn:uuid:...``), with the target URI, the
capture date and the content type as columns (and, for WARC, the HTTP status and the charset the
page was decoded with). Plain or gzip-per-record files (Common Crawl's ``.warc.gz``/``.warc.wet.gz``)
alike: FastWARC detects the compression.

A WARC page becomes a document only if it can be text: HTTP 200, an HTML content type, and bytes
that decode (the HTTP header's charset, else the page's ``<meta charset>`` or uchardet's guess
through Resiliparse, else UTF-8 and Windows-1252). Everything else is a quarantine row with the
reason (``http_status``, ``not_html``, ``undecodable``, ``truncated_record``, ``too_large``);
records that are not pages at all (``warcinfo``, ``request``, ``metadata``, ``revisit``) are counted
in the reader's ``warc_skipped/<type>`` counters, not quarantined. The ``line`` of a quarantine row
is the record's byte offset in the (compressed) file: ``dd``/``zcat`` find it again.

Large files split at record boundaries (found in one pass over the file, as compressed JSONL's
lines are), so workers each seek straight to their records. A damaged gzip member ends the file's
reading with one ``unreadable_file`` row; what follows a truncated last record, which FastWARC
would end on silently, is reported the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from curation.io.readers import InputFormat

if TYPE_CHECKING:
    from curation.document import Document
    from curation.io.inputs import InputFile
    from curation.io.readers import DocumentReader, QuarantineRecord

PREVIEW_BYTES = 4000
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Metadata every WARC/WET document carries into the shards (a format's own columns).
WEB_FIELDS: dict[str, pa.DataType] = {"url": pa.string(), "warc_date": pa.string(), "content_type": pa.string()}


class WarcFormat(InputFormat):
    """WARC files: each ``response`` record with an HTML page is one document (its HTML as text)."""

    name = "warc"
    suffixes = (".warc", ".warc.gz")
    attributes: ClassVar[dict[str, pa.DataType]] = WEB_FIELDS | {"http_status": pa.int32(), "charset": pa.string()}
    document_type = "response"

    def records(self, reader: DocumentReader, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        from fastwarc import ArchiveIterator, WarcRecordType

        name = source.display
        start = source.start if source.unit == "bytes" else 0
        stop = source.stop if source.unit == "bytes" else None
        wanted = getattr(WarcRecordType, self.document_type)
        last: int | None = None
        with source.open_raw() as fh:
            fh.seek(start)
            for record in ArchiveIterator(fh, parse_http=False):
                pos = record.stream_pos
                if stop is not None and pos >= stop:
                    break
                last = pos
                if record.record_type != wanted:
                    reader.counters[f"warc_skipped/{record.record_type}"] += 1
                    continue
                yield self.record(reader, record, name, pos, source)
        damage = unread_tail(source, start if last is None else last, stop, first=last is None)
        if damage:
            raise OSError(damage)  # the reader ends the file with one unreadable_file row

    def record(self, reader: DocumentReader, record: Any, name: str, pos: int, source: InputFile
               ) -> Document | QuarantineRecord:
        """One record into a document, or the reason it cannot be one; never raises."""
        doc_id = record.record_id.strip("<>") or None
        limit = reader.config.max_document_bytes
        try:
            if record.content_length > limit:
                return reader.quarantine(name, pos, doc_id, "too_large",
                                         f"record of {record.content_length} bytes > max_document_bytes {limit}",
                                         record.reader.read(PREVIEW_BYTES), record.content_length)
            declared = record.content_length  # freeze() sets it to what it found
            record.freeze()  # the block in memory: its length checked, then its HTTP headers parsed
            block = record.reader.read()
            if len(block) < declared:
                return reader.quarantine(name, pos, doc_id, "truncated_record", f"{len(block)} of {declared} bytes",
                                         block, declared)
            return self.document(reader, record, block, name, pos, doc_id, source)
        except Exception as exc:  # noqa: BLE001 - one odd record never stops a run
            return reader.quarantine(name, pos, doc_id, "bad_record", f"{type(exc).__name__}: {exc}"[:500], b"")

    def document(self, reader: DocumentReader, record: Any, block: bytes, name: str, pos: int, doc_id: str | None,
                 source: InputFile) -> Document | QuarantineRecord:
        record.reader.seek(0)  # a frozen record reads again, now past its HTTP headers
        record.parse_http()
        status = record.http_headers.status_code
        mime = (record.http_content_type or "").lower()
        body = record.reader.read()
        if status != 200:
            return reader.quarantine(name, pos, doc_id, "http_status", f"HTTP {status}", body)
        if mime not in HTML_TYPES:
            return reader.quarantine(name, pos, doc_id, "not_html", f"content type {mime or 'missing'}", b"",
                                     len(body))
        text, charset = decode_html(body, record.http_charset)
        if text is None:
            return reader.quarantine(name, pos, doc_id, "undecodable", charset, body)
        fields = {"url": record.headers.get("WARC-Target-URI"), "warc_date": record.headers.get("WARC-Date"),
                  "content_type": mime, "http_status": status, "charset": charset}
        return reader.safe_document({reader.config.id_field: doc_id, reader.config.text_field: text}, name, pos,
                                    source, fields)

    def split(self, source: InputFile, target_bytes: int) -> list[tuple[InputFile, int]]:
        return split_records(source, target_bytes)


class WetFormat(WarcFormat):
    """WET files (Common Crawl's extracted text): each ``conversion`` record is one document."""

    name = "wet"
    suffixes = (".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz")
    attributes: ClassVar[dict[str, pa.DataType]] = WEB_FIELDS
    document_type = "conversion"

    def document(self, reader: DocumentReader, record: Any, block: bytes, name: str, pos: int, doc_id: str | None,
                 source: InputFile) -> Document | QuarantineRecord:
        try:
            text = block.decode("utf-8")  # WET is UTF-8 by Common Crawl's definition
        except UnicodeDecodeError as exc:
            return reader.quarantine(name, pos, doc_id, "invalid_utf8", f"byte {exc.start}: {exc.reason}", block)
        fields = {"url": record.headers.get("WARC-Target-URI"), "warc_date": record.headers.get("WARC-Date"),
                  "content_type": (record.headers.get("Content-Type") or "").lower() or None}
        return reader.safe_document({reader.config.id_field: doc_id, reader.config.text_field: text}, name, pos,
                                    source, fields)


def decode_html(body: bytes, declared: str | None) -> tuple[str | None, str]:
    """The page as text and the encoding that read it; ``(None, why)`` when nothing does.

    The HTTP header's charset first (what the server said), then the page's own ``<meta charset>``
    or uchardet's guess, then UTF-8 and Windows-1252; names mapped as browsers map them (WHATWG:
    a page labelled ISO-8859-1 is read as Windows-1252), all through Resiliparse."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

    def candidates() -> Iterator[str]:  # uchardet runs only when the server's charset does not read it
        if declared and (mapped := map_encoding_to_html5(declared, fallback_utf8=False)):
            yield mapped
        yield detect_encoding(body, from_html_meta=True) or "utf-8"
        yield from ("utf-8", "cp1252")

    tried: list[str] = []
    for encoding in candidates():
        encoding = encoding.lower()
        if encoding in tried:
            continue
        tried.append(encoding)
        try:
            text = body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
        return (text[1:] if text.startswith("\ufeff") else text), encoding
    try:  # Resiliparse's last resort: double decoding with replacement, which never fails
        return bytes_to_str(body, tried[0], errors="replace"), f"{tried[0]} (with replacements)"
    except (LookupError, UnicodeError) as exc:
        return None, f"no encoding reads it ({', '.join(tried)}): {exc}"


def split_records(source: InputFile, target_bytes: int) -> list[tuple[InputFile, int]]:
    """Byte ranges of about ``target_bytes``, each starting at a record (the offsets found in one pass).

    A gzip file compressed whole (one member, not one per record) has no offsets to seek to: it is
    read by one worker, as its records' offsets fail the check below."""
    from fastwarc import ArchiveIterator

    size = source.size()
    if size <= target_bytes:
        return [(source, size)]
    bounds, ids = [0], [""]
    with source.open_raw() as fh:
        for record in ArchiveIterator(fh, parse_http=False):
            if record.stream_pos >= bounds[-1] + target_bytes:
                bounds.append(record.stream_pos)
                ids.append(record.record_id)
        for bound, record_id in zip(bounds[1:], ids[1:]):
            fh.seek(bound)
            first = next(iter(ArchiveIterator(fh, parse_http=False)), None)
            if first is None or first.record_id != record_id or first.stream_pos != bound:
                return [(source, size)]
    bounds.append(size)
    return [(source.ranged("bytes", a, b), b - a) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def unread_tail(source: InputFile, last: int, stop: int | None, first: bool) -> str | None:
    """Why the bytes after the last record read (at ``last``) up to ``stop`` were not records, or None.

    FastWARC ends silently on a truncated gzip member; a range's reader finds where its last record
    ends on its own (a gzip member inflated, or a plain record's header read) and says what is left."""
    end_of_range = min(source.size(), stop) if stop is not None else source.size()
    with source.open_raw() as fh:
        fh.seek(last)
        head = fh.read(5)
        fh.seek(last)
        if first:
            end = last
        elif head[:2] == b"\x1f\x8b":
            end = last + _gzip_member_length(fh)
        elif head == b"WARC/":
            end = last + _plain_record_length(fh)
        else:  # inside a gzip compressed whole: its record offsets are not where records start
            return None
    if end >= end_of_range:
        return None
    return (f"{end_of_range - end} bytes from offset {end} are not readable WARC records "
            "(a truncated or damaged record): the records before them were read")


def _gzip_member_length(fh: Any) -> int:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    consumed = 0
    while not inflate.eof:
        chunk = fh.read(1 << 16)
        if not chunk:
            return consumed  # truncated: it ends where the file does, and the caller sees no more
        inflate.decompress(chunk)
        consumed += len(chunk) - len(inflate.unused_data)
    return consumed


def _plain_record_length(fh: Any) -> int:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 1 << 20:
        chunk = fh.read(1 << 14)
        if not chunk:
            break
        head += chunk
    header, sep, _ = head.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in header.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return len(header) + len(sep) + length + 4  # the block, then the record's closing CRLF CRLF
