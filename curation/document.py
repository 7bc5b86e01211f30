"""The one in-memory record type, and the Arrow schemas it is serialized with.

Serialization lives apart from the record (STYLE.md, principle 1): stages see ``Document``;
only writers see Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass(slots=True)
class Document:
    """One document flowing through the pipeline.

    Attributes:
        id: Unique identifier (from the input's id field, or ``<file>:<line>`` when absent).
        text: The document text. Stages that rewrite text record what they removed.
        source: Where it came from: the input's source field, or the input file's name.
        attributes: Per-document tags added by stages (scores, language, counts). Each key a
            stage may set is declared in its ``attributes`` schema and becomes a shard column.
    """

    id: str
    text: str
    source: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


# Bad input that could not become a Document: enough to find it again and to see why.
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line", pa.int64()),  # 1-based line for JSONL, 0-based row for Parquet, null for text files
        ("id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw_bytes", pa.int64()),  # size of the whole raw record
        ("raw_preview", pa.string()),  # first bytes only: a 50 MB record must not be copied whole
    ]
)

# Every document a stage dropped. Stages may declare more columns (e.g. ``duplicate_of``).
REMOVED_BASE_FIELDS = [
    ("id", pa.string()),
    ("source", pa.string()),
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("text", pa.string()),
]

# Output shards. Stage attributes are appended after these columns.
SHARD_BASE_FIELDS = [
    ("id", pa.string()),
    ("text", pa.string()),
    ("source", pa.string()),
    ("token_count", pa.int64()),
]

# Curated documents between the stage pass and the tokenize pass.
STAGING_BASE_FIELDS = [
    ("id", pa.string()),
    ("text", pa.string()),
    ("source", pa.string()),
]
