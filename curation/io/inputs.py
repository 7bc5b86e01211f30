"""Input files: what a run reads, found from paths, folders, globs and fsspec URLs.

:func:`resolve_inputs` expands the user's arguments into :class:`InputFile` s, each read by the
input format registered for its suffix (:mod:`curation.io.formats`), and names each one relative
to the folder that holds every input: the stem of the ids generated for records without one.
"""

from __future__ import annotations

import glob
import io
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import fsspec

from curation.errors import CurationError
from curation.io.compression import COMPRESSED_SUFFIXES, decompressed
from curation.io.formats import format_name, supported_suffixes


@dataclass
class InputFile:
    """One input file, or one range of it (see :mod:`curation.partition`).

    A range is ``[start, stop)`` in ``unit``: ``bytes`` (plain JSONL, aligned to line starts),
    ``lines`` (compressed JSONL, 0-based) or ``row_groups`` (Parquet). ``first_record`` is the
    1-based line (JSONL) or 0-based row (Parquet) of the range's first record, so quarantine
    entries point at the same place whichever range read them. ``url`` is set for files read
    through fsspec (``s3://``, ``gs://``, ``file://``, ...); ``path`` then only names the file.
    """

    path: Path
    rel: str = ""  # path relative to the inputs' common folder: the stem of generated ids
    unit: str | None = None
    start: int = 0
    stop: int | None = None
    first_record: int | None = None
    url: str | None = None

    @property
    def kind(self) -> str:
        """The registered input format that reads it (:mod:`curation.io.formats`)."""
        return format_name(self.path.name)

    @property
    def display(self) -> str:
        return self.url or str(self.path)

    @property
    def compressed(self) -> bool:
        return self.path.name.lower().endswith(COMPRESSED_SUFFIXES)

    @property
    def name(self) -> str:
        """The id stem: the relative path, or the file name when no common folder is known."""
        return self.rel or self.path.name

    def open_raw(self) -> BinaryIO:
        """The file's bytes as stored (seekable, with ``readline(size)``)."""
        if self.url is None:
            return open(self.path, "rb")
        fh = fsspec.open(self.url, "rb").open()
        # fsspec's own buffered files have no readline(size), which bounded line reading needs.
        return fh if isinstance(fh, io.BufferedIOBase) else io.BufferedReader(fh)  # type: ignore[arg-type]

    def open(self) -> BinaryIO:
        """The file's bytes, decompressed by suffix (.gz, .zst)."""
        return decompressed(self.path.name, self.open_raw)

    def stat(self) -> dict[str, Any]:
        """Size and a change stamp (mtime, or an object store's ETag): a changed file changes it.

        A file that cannot be stat'ed (a dangling link, no permission) gets size -1: its reader
        quarantines it as ``unreadable_file`` rather than the plan failing.
        """
        if self.url is None:
            try:
                st = self.path.stat()
            except OSError as exc:
                return {"bytes": -1, "stamp": f"unreadable: {type(exc).__name__}"}
            return {"bytes": st.st_size, "stamp": st.st_mtime_ns}
        fs, path = fsspec.core.url_to_fs(self.url)
        try:
            info = fs.info(path)
        except OSError as exc:
            return {"bytes": -1, "stamp": f"unreadable: {type(exc).__name__}"}
        stamp = next((info[k] for k in ("mtime", "LastModified", "ETag", "etag", "updated", "md5Hash", "created")
                      if info.get(k) is not None), None)
        return {"bytes": int(info["size"]), "stamp": str(stamp)}

    def size(self) -> int:
        return max(0, self.stat()["bytes"])

    def read_bytes(self) -> bytes:
        with self.open_raw() as fh:
            return fh.read()

    def identity(self) -> dict[str, Any]:
        return {"path": self.display, **self.stat(), "unit": self.unit, "start": self.start, "stop": self.stop}

    def ranged(self, unit: str, start: int, stop: int | None, first_record: int | None = None) -> InputFile:
        return replace(self, unit=unit, start=start, stop=stop, first_record=first_record)


def _supported(path: Path | str) -> bool:
    return format_name(str(path), default=None) is not None


def _resolve_url(pattern: str) -> list[InputFile]:
    """Files behind an fsspec URL: a file, a folder (recursively) or a glob."""
    fs, path = fsspec.core.url_to_fs(pattern)
    protocol = pattern.split("://", 1)[0]

    def file(p: str) -> InputFile:
        url = p if "://" in p else f"{protocol}://{p.lstrip('/') if protocol not in ('file', 'local') else p}"
        return InputFile(Path(p), url=url)

    if fs.isdir(path):
        return [file(p) for p in sorted(fs.find(path)) if _supported(p)]
    matches = sorted(fs.glob(path)) if any(c in path for c in "*?[") else ([path] if fs.exists(path) else [])
    if not matches:
        raise CurationError(f"input not found: {pattern}")
    for match in matches:
        if not _supported(match) and not fs.isdir(match):
            raise CurationError(f"unsupported input format: {match} (expected one of {', '.join(supported_suffixes())})")
    return [file(m) for m in matches if not fs.isdir(m)]


def resolve_inputs(patterns: Iterable[str | Path]) -> list[InputFile]:
    """Expand files, folders (recursively) and glob patterns into a sorted, de-duplicated list.

    Local paths, or any fsspec URL (``s3://bucket/data/*.jsonl.zst``; the protocol's fsspec
    package must be installed). Each file's ``rel`` is its path relative to the deepest folder
    holding every input (per location: local disk, or one URL scheme and host), the stem of the
    ids generated for records without one.

    Raises:
        CurationError: a path or pattern that matches nothing, or a file of unknown format.
    """
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        if isinstance(pattern, str) and "://" in pattern:
            try:
                for f in _resolve_url(pattern):
                    found.setdefault(f.display, f)
            except (ImportError, ValueError) as exc:
                raise CurationError(f"cannot read {pattern}: {exc}") from None
            continue
        path = Path(pattern)
        if path.is_dir():
            # is_symlink: a dangling link to a data file is reported (unreadable_file), not skipped.
            for child in sorted(p for p in path.rglob("*") if (p.is_file() or p.is_symlink()) and _supported(p)):
                found.setdefault(str(child.resolve()), InputFile(child))
            continue
        matches = [Path(m) for m in sorted(glob.glob(str(pattern), recursive=True))] if not path.exists() else [path]
        if not matches:
            raise CurationError(f"input not found: {pattern}")
        for match in matches:
            if match.is_dir():
                continue
            if not _supported(match):
                raise CurationError(
                    f"unsupported input format: {match} (expected one of {', '.join(supported_suffixes())})"
                )
            found.setdefault(str(match.resolve()), InputFile(match))
    files = sorted(found.values(), key=lambda f: f.display)
    return _with_relative_names(files)


def folder_notes(patterns: Iterable[str | Path]) -> list[str]:
    """A note for each input folder that mixes record files (JSONL, Parquet) with .txt/.md files:
    those are read as documents too, which is rarely meant for a README beside the data."""
    notes = []
    for pattern in patterns:
        path = Path(pattern)
        if isinstance(pattern, str) and "://" in pattern or not path.is_dir():
            continue
        files = [p for p in path.rglob("*") if p.is_file() and _supported(p)]
        text = sorted(p.relative_to(path).as_posix() for p in files if format_name(p.name) == "text")
        if text and len(text) < len(files):
            shown = ", ".join(text[:3]) + (", ..." if len(text) > 3 else "")
            notes.append(f"{pattern}: its {len(text)} .txt/.md file(s) beside the data files ({shown}) are read as "
                         "documents too; name the data files instead of the folder to leave them out")
    return notes


def _with_relative_names(files: list[InputFile]) -> list[InputFile]:
    """Set each file's ``rel``: its path below the common folder of the files at the same location."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, f in enumerate(files):
        if f.url is None:
            location, where = "", f.path.absolute().as_posix()
        else:
            scheme, _, rest = f.url.partition("://")
            host, _, tail = rest.partition("/") if scheme not in ("file", "local") else ("", "", rest.lstrip("/"))
            location, where = f"{scheme}://{host}/", "/" + tail
        groups.setdefault(location, []).append((i, where))
    out = list(files)
    for location, members in groups.items():
        root = posixpath.commonpath([posixpath.dirname(w) for _, w in members])
        for i, where in members:
            rel = posixpath.relpath(where, root)
            # Several locations (local files and s3://, say) keep their location in the name.
            out[i] = replace(files[i], rel=rel if len(groups) == 1 else location + rel)
    return out
