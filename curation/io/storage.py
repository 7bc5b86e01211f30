"""Output locations behind fsspec: a run into ``s3://bucket/out`` works in a local (or shared)
folder and publishes its outputs there when it succeeds.

Steps need a POSIX folder (atomic renames, memory-mapped dedup arrays, resumable markers); object
stores have none of that, so only finished outputs travel: every file but the intermediates, with
``manifest.json`` last, so a reader that sees the manifest sees every shard it lists.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import fsspec


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def default_work_dir(url: str) -> Path:
    """A stable local folder per output URL (``$XDG_CACHE_HOME``), so a rerun resumes there."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "curation" / "runs" / hashlib.sha256(url.encode()).hexdigest()[:16]


def publish(local: Path, url: str, skip: tuple[str, ...]) -> list[str]:
    """Copy ``local``'s files (except the top-level folders in ``skip``) to ``url``; manifest last."""
    fs, root = fsspec.core.url_to_fs(url)
    files = sorted(p for p in local.rglob("*") if p.is_file() and p.relative_to(local).parts[0] not in skip
                   and not p.name.endswith(".tmp"))
    files.sort(key=lambda p: p.name == "manifest.json")
    written = []
    for path in files:
        target = f"{root.rstrip('/')}/{path.relative_to(local).as_posix()}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), target)
        written.append(target)
    return written
