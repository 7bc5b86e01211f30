"""Input formats by file suffix: the registry a reader looks in (like :mod:`curation.registry` for stages).

A format is one module with a subclass of :class:`curation.io.readers.InputFormat`: its
``suffixes``, ``records`` (the file's documents and quarantine rows, in order, through the
:class:`~curation.io.readers.DocumentReader` that validates them) and, optionally, ``split`` (ranges
of one file that workers read alone). A new format is that file plus one line in :data:`FORMATS`;
this module imports none of them until asked (it imports nothing of ours at all).

Example, a reader of ``.csv`` files with a ``text`` column (``curation/io/formats/csv.py``)::

    class CsvFormat(InputFormat):  # curation.io.readers.InputFormat
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
from typing import Any

# name -> "module:Class"; the order decides which format claims a suffix two could match.
FORMATS: dict[str, str] = {
    "jsonl": "curation.io.formats.jsonl:JsonlFormat",
    "parquet": "curation.io.formats.parquet:ParquetFormat",
    "text": "curation.io.formats.text:TextFormat",
    "warc": "curation.io.formats.warc:WarcFormat",
    "wet": "curation.io.formats.warc:WetFormat",
}


@functools.cache
def get_format(name: str) -> Any:
    """The registered format ``name`` (an ``InputFormat``, :mod:`curation.io.readers`)."""
    module, _, cls = FORMATS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def supported_suffixes() -> tuple[str, ...]:
    return tuple(s for name in FORMATS for s in get_format(name).suffixes)


def format_name(file_name: str, default: str | None = "text") -> str | None:
    """The format that reads ``file_name`` (by suffix), else ``default``."""
    lower = file_name.lower()
    return next((name for name in FORMATS if lower.endswith(get_format(name).suffixes)), default)
