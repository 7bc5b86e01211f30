"""Writing files so a crash never leaves a partial one under a final name, and hashing them.

Every write goes to a hidden temporary name unique to the writing process (``.NAME.PID-RANDOM.tmp``:
two writers never share one, and ``*.parquet`` globs never see one), is flushed to disk and then
renamed over the final name, which POSIX makes atomic. Leftovers of a killed writer are removed by
:func:`remove_stale_tmp` when the next run of the same output starts (it holds the output's lock,
so no writer of its own is running yet).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

TMP_SUFFIX = ".tmp"


def tmp_path(path: Path) -> Path:
    """A temporary sibling of ``path`` that no other writer uses."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")


def replace_synced(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk and rename it to ``path``."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Create ``path`` through ``write(file)`` on a temporary file, renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        replace_synced(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, lambda fh: fh.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Sorted keys and a final newline: the same data always gives the same bytes."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def matches_record(path: Path, size: int | None, sha256: str | None) -> bool:
    """Whether ``path`` exists with the size and sha256 recorded when it was written."""
    try:
        if size is not None and path.stat().st_size != size:
            return False
    except OSError:
        return False
    return sha256 is None or sha256_file(path) == sha256


def remove_stale_tmp(folders: Iterable[Path]) -> int:
    """Delete temporary files (ours by their name) left in ``folders`` by killed writers."""
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob(f".*{TMP_SUFFIX}"):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed
