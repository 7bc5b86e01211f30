"""Completion markers: how a rerun knows which steps are finished, and why it can trust them.

A step's marker is its outcome as JSON (``DIR/markers/STEP.json``), written after everything it
lists. It counts as "done" only if its ``key`` (a hash of the step's inputs and of the config it
depends on) matches, and every file it lists still has the size and sha256 it was written with:
a torn marker, a stale one, or one whose files were changed or lost since is recomputed. A step
calls :func:`forget` before it rewrites its files, so no marker ever vouches for half-new files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

from curation.io.files import matches_record, read_json, sha256_file, write_json
from curation.pipeline.outcomes import FileRecord, Outcome

T = TypeVar("T", bound=Outcome)


def key(*parts: Any) -> str:
    """A hash of a step's inputs: outcomes' keys, config models, paths and numbers."""
    def plain(x: Any) -> Any:
        if hasattr(x, "model_dump"):
            return x.model_dump(mode="json")
        if isinstance(x, (list, tuple)):
            return [plain(i) for i in x]
        return x
    return hashlib.sha256(json.dumps(plain(list(parts)), sort_keys=True, default=str).encode()).hexdigest()


def load(marker: Path, expected_key: str, cls: type[T]) -> T | None:
    """The finished outcome of the step, or None: missing, torn, stale, or its files changed."""
    try:
        outcome = cls.from_json(read_json(marker))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if outcome.key != expected_key:
        return None
    if not all(matches_record(Path(f.path), f.bytes, f.sha256) for f in outcome.file_records()):
        return None
    return _resumed(outcome)


def resume(marker: Path, expected_key: str, cls: type[T]) -> T | None:
    """:func:`load`; when the step is not finished, :func:`forget` its marker, since the step is about
    to rewrite its files."""
    done = load(marker, expected_key, cls)
    if done is None:
        forget(marker)
    return done


def _resumed(outcome: T) -> T:
    import dataclasses

    return dataclasses.replace(outcome, resumed=True)


def forget(marker: Path) -> None:
    """Before a step rewrites its files: its old marker must never vouch for the new ones."""
    marker.unlink(missing_ok=True)


def save(marker: Path, outcome: Outcome) -> None:
    write_json(marker, outcome.to_json())


def file_record(path: Path) -> FileRecord:
    return FileRecord(str(path), path.stat().st_size, sha256_file(path))
