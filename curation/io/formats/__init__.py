"""Input formats by file suffix: the registry a reader looks in (like :mod:`curation.registry` for stages).

A format is one module with a subclass of :class:`InputFormat`: its ``suffixes``, ``records`` (the
file's documents and quarantine rows, in order, through the :class:`~curation.io.readers.DocumentReader`
that validates them) and, optionally, ``split`` (ranges of one file that workers read alone). A new
format is that file plus one line in :data:`FORMATS`; formats are imported only when a run reads one.

Example, a reader of ``.csv`` files with a ``text`` column (``curation/io/formats/csv.py``)::

    class CsvFormat(InputFormat):
        name = "csv"
        suffixes = (".csv",)

        def records(self, reader, source):
            with source.open() as fh:
                for line, row in enumerate(csv.DictReader(io.TextIOWrapper(fh, "utf-8")), start=2):
                    yield reader.safe_document(row, source.display, line, source)

and ``"csv": "curation.io.formats.csv:CsvFormat"`` in :data:`FORMATS`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from curation.document import Document
    from curation.io.inputs import InputFile
    from curation.io.readers import DocumentReader, QuarantineRecord

# name -> "module:Class"; the order decides which format claims a suffix two could match.
FORMATS: dict[str, str] = {
    "jsonl": "curation.io.formats.jsonl:JsonlFormat",
    "parquet": "curation.io.formats.parquet:ParquetFormat",
    "text": "curation.io.formats.text:TextFormat",
}


class InputFormat:
    """How one kind of file becomes documents."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    def records(self, reader: DocumentReader, source: InputFile) -> Iterator[Document | QuarantineRecord]:
        """The file's (or range's) documents and quarantine rows, in input order. Per-record problems
        become quarantine rows through ``reader``; an exception means the stream itself is damaged
        (the reader then ends the file with one ``unreadable_file`` row)."""
        raise NotImplementedError

    def split(self, source: InputFile, target_bytes: int) -> list[tuple[InputFile, int]]:
        """Ranges of about ``target_bytes`` each that can be read alone, with their sizes; by default
        the whole file."""
        return [(source, source.size())]


@functools.cache
def get_format(name: str) -> InputFormat:
    module, _, cls = FORMATS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def supported_suffixes() -> tuple[str, ...]:
    return tuple(s for name in FORMATS for s in get_format(name).suffixes)


def format_name(file_name: str, default: str | None = "text") -> str | None:
    """The format that reads ``file_name`` (by suffix), else ``default``."""
    lower = file_name.lower()
    return next((name for name in FORMATS if lower.endswith(get_format(name).suffixes)), default)
