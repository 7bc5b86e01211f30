"""Output locations behind fsspec: a run into ``s3://bucket/out`` works in a local (or shared)
folder and publishes its outputs there when it succeeds.

Steps need a POSIX folder (atomic renames, memory-mapped dedup arrays, resumable markers); object
stores have none of that, so only finished outputs travel. Publishing uploads exactly the run's
output files, ``manifest.json`` last, so a reader that sees the manifest sees every shard it lists;
then it deletes what the previous run there published and this one did not (a shard count that
shrank), and only that: the list of what was published is kept at the URL in ``OWNER_FILE``, which
also marks the location as ours. A non-empty location without it is refused before the run starts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import fsspec

from curation.errors import CurationError
from curation.io.output import OWNER_FILE, OWNER_MARK


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def default_work_dir(url: str) -> Path:
    """A stable local folder per output URL (``$XDG_CACHE_HOME``), so a rerun resumes there."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "curation" / "runs" / hashlib.sha256(url.encode()).hexdigest()[:16]


def _join(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def _previous(fs: fsspec.AbstractFileSystem, root: str) -> dict | None:
    """The owner file at ``root``: None if the location is absent or empty; raises if it holds
    files that no run of ours published."""
    owner = _join(root, OWNER_FILE)
    if fs.exists(owner):
        try:
            with fs.open(owner, "rb") as fh:
                return json.loads(fh.read())
        except ValueError:
            return {"files": []}  # torn by a crash mid-publish: ours, with nothing listed
    if fs.exists(root) and fs.isdir(root) and fs.ls(root, detail=False):
        raise CurationError(f"--output {root} is not empty and was not written by curate (no {OWNER_FILE}): "
                            "choose a new or empty location; nothing was changed")
    return None


def check_remote_owner(url: str) -> None:
    """Refuse an output URL that holds files no run of ours wrote (before anything starts)."""
    fs, root = fsspec.core.url_to_fs(url)
    try:
        _previous(fs, root)
    except (ImportError, ValueError) as exc:
        raise CurationError(f"cannot use --output {url}: {exc}") from None


def publish(local: Path, url: str, files: Sequence[str]) -> list[str]:
    """Upload ``files`` (paths relative to ``local``) to ``url``, ``manifest.json`` last; then delete
    what the previous publish there listed and this one does not.

    Returns the uploaded URLs, in upload order.
    """
    fs, root = fsspec.core.url_to_fs(url)
    previous = _previous(fs, root) or {"files": []}
    # Claimed first, listing old and new files: a publish killed midway leaves a location that is
    # still ours and whose every file a later publish knows about.
    _write_owner(fs, root, sorted(set(previous.get("files", [])) | set(files)))
    ordered = sorted(files, key=lambda f: (f == "manifest.json", f))
    uploaded = []
    for relative in ordered:
        target = _join(root, relative)
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(local / relative), target)
        uploaded.append(target)
    stale = sorted(set(previous.get("files", [])) - set(files))
    for relative in stale:
        target = _join(root, relative)
        if fs.exists(target):
            fs.rm(target)
    _write_owner(fs, root, sorted(files))
    return uploaded


def _write_owner(fs: fsspec.AbstractFileSystem, root: str, files: list[str]) -> None:
    fs.makedirs(root, exist_ok=True)
    with fs.open(_join(root, OWNER_FILE), "wb") as fh:
        fh.write((json.dumps(OWNER_MARK | {"files": files}, indent=2, sort_keys=True) + "\n").encode())
