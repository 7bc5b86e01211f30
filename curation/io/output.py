"""The output folder: whose it is, who is writing it, and what a run may delete in it.

A run writes only into a folder it owns: one it created, or found empty, and marked with
``OWNER_FILE``. A non-empty folder without that mark (``--output .`` in a project that has a
``tokenizer/``, say) is refused before anything is touched, and so is an output equal to, inside or
around an input. Inside its folder a run deletes only what it wrote: the files its steps name
(``shard-00000.parquet``, ...) and the intermediate folders it made. While a run works, it holds an
exclusive lock on ``LOCK_FILE``; a second run on the same folder is refused with the first one's
process id. The lock is the operating system's (``flock``): it goes away with the process, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from curation.errors import CurationError
from curation.io.files import read_json, write_json

OWNER_FILE = ".curation-output.json"
LOCK_FILE = ".curation.lock"
OWNER_MARK = {"written_by": "curation", "note": "this folder's contents were written by `curate run`; "
              "a later run into it may replace them"}


def _has_entries(directory: Path) -> bool:
    return any(True for _ in directory.iterdir())


def _legacy_output(directory: Path) -> bool:
    """A folder written by a version before ownership marks: its plan.json is ours."""
    try:
        plan = read_json(directory / "plan.json")
    except (OSError, ValueError):
        return False
    return isinstance(plan, dict) and "identity" in plan and "partitions" in plan


def check_paths(output: Path, inputs: Sequence[str]) -> None:
    """Refuse an output that is an input, lies inside one, or holds one (it would be rewritten)."""
    out = output.resolve()
    for given in inputs:
        if "://" in str(given):
            continue
        # A glob's folder part is what it reads from.
        text = str(given)
        cut = min((i for i, c in enumerate(text) if c in "*?["), default=None)
        base = Path(os.path.dirname(text[:cut]) if cut is not None else text).resolve()
        if out == base or base in out.parents:
            raise CurationError(f"--output {output} is inside the input {given}: choose a folder outside the inputs")
        if out in base.parents:
            raise CurationError(f"the input {given} is inside --output {output}, which the run rewrites: choose "
                                "another output folder")


def claim(output: Path, inputs: Sequence[str] = ()) -> Path:
    """Make ``output`` this project's: create it, or accept it if empty or already ours.

    Raises:
        CurationError: ``output`` is a file, is not empty and not ours, or overlaps an input.
            Nothing is created or changed then.
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise CurationError(f"--output {output} is an existing file, not a folder")
    check_paths(output, inputs)
    if output.is_dir() and _has_entries(output):
        if (output / OWNER_FILE).is_file():
            return output
        if not _legacy_output(output):
            raise CurationError(f"--output {output} is not empty and was not written by curate (no {OWNER_FILE}): "
                                "choose a new or empty folder; nothing was changed")
    output.mkdir(parents=True, exist_ok=True)
    write_json(output / OWNER_FILE, OWNER_MARK)
    return output


@contextmanager
def exclusive(output: Path) -> Iterator[None]:
    """Hold ``output``'s run lock for the duration of the block.

    Raises:
        CurationError: another process holds it.
    """
    path = Path(output) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise CurationError(f"another run is writing to {output} (process {holder}): wait for it to finish, "
                                "or choose another --output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_files(folder: Path, patterns: Iterable[str]) -> None:
    """Delete the files in ``folder`` matching ``patterns`` (names a run writes), then the folder if
    that left it empty: a file the user put there stays, and so does the folder holding it."""
    if not folder.is_dir():
        return
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    try:
        folder.rmdir()
    except OSError:  # not empty: something that is not ours is in it
        pass


def remove_tree(folder: Path) -> None:
    """Delete an intermediate folder the run created (it holds nothing but the run's files)."""
    shutil.rmtree(folder, ignore_errors=True)
