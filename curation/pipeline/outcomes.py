"""What each step produced, as typed records: passed to the next steps and kept as its marker.

Every outcome lists the files its step wrote (:class:`FileRecord`: path, size, sha256 and the
counts a manifest needs), so a marker can be checked against the disk before it is trusted
(:mod:`curation.pipeline.markers`), and holds the ``key`` of what it was computed from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from curation.io.parquet import FileInfo

T = TypeVar("T", bound="Outcome")


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file a step wrote, as the manifest and the marker check need it."""

    path: str
    bytes: int
    sha256: str
    rows: int = 0
    tokens: int = 0
    text_bytes: int = 0

    @classmethod
    def of(cls, info: FileInfo) -> FileRecord:
        return cls(str(info.path), info.file_bytes, info.sha256, info.rows, info.tokens, info.text_bytes)


@dataclass(frozen=True)
class Outcome:
    """Base of every step's outcome: its key, and whether a rerun found it finished."""

    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("files",)

    key: str
    files: tuple[FileRecord, ...] = ()  # files the step wrote besides its main ones
    resumed: bool = field(default=False, compare=False)  # loaded from a marker, not computed

    def file_records(self) -> Iterator[FileRecord]:
        for name in self.FILE_FIELDS:
            yield from getattr(self, name)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("resumed")
        return data

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        values = dict(data)
        for name in cls.FILE_FIELDS:
            values[name] = tuple(FileRecord(**f) for f in values.get(name, ()))
        for f in dataclasses.fields(cls):
            if isinstance(values.get(f.name), list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)


@dataclass(frozen=True)
class PartitionOutcome(Outcome):
    """One input partition after a pass: pass 1 (``filter``) or pass 2 (``late``)."""

    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("staging", "removed", "quarantine", "files")

    step: str = "filter"  # "filter" (pass 1) or "late" (pass 2)
    index: int = 0
    stats: tuple[dict[str, Any], ...] = ()  # StageStats.to_dict() per stage (pass 1: "read" first)
    staging: tuple[FileRecord, ...] = ()  # the partition's documents after this pass
    removed: tuple[FileRecord, ...] = ()
    quarantine: tuple[FileRecord, ...] = ()
    quarantined: dict[str, int] = field(default_factory=dict)  # reasons, pass 1 only

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.staging)


@dataclass(frozen=True)
class FitOutcome(Outcome):
    """A corpus-level stage fitted on the whole staged corpus (its state is in its work folder)."""

    stage: str = ""
    position: int = 0  # in the chain
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class TokenizerOutcome(Outcome):
    """The run's tokenizer, trained or given, and its bytes per token on held-out documents."""

    path: str = "tokenizer/tokenizer.json"
    sha256: str = ""
    vocab_size: int = 0
    eos_token: str | None = None
    counter: str = ""  # the backend that counts tokens (fastokens, or HF)
    source: str = ""  # "trained" or "given"
    holdout_documents: int = 0
    holdout_bytes_per_token: float | None = None
    seconds: float = 0.0
    training: dict[str, Any] = field(default_factory=dict)  # sample size and share, or the given file's sha256
    note: str | None = None  # why the vocabulary came out smaller than configured

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in self.to_json().items() if k not in ("key", "files", "training", "note")}
        return data | self.training


@dataclass(frozen=True)
class ShardsOutcome(Outcome):
    """The shards and the held-out split's, in input order, and the tokens each stage removed."""

    FILE_FIELDS: ClassVar[tuple[str, ...]] = ("shards", "heldout", "files")

    shards: tuple[FileRecord, ...] = ()
    heldout: tuple[FileRecord, ...] = ()
    tokens_dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
