"""Compressed inputs: gzip and zstd, read as streams, with truncation detected rather than ignored."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from typing import Any, BinaryIO

import zstandard

COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")


def decompressed(name: str, open_raw: Callable[[], BinaryIO]) -> BinaryIO:
    """The bytes of the file ``name`` (decompressed by its suffix), from ``open_raw()``'s stream."""
    name = name.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=open_raw(), mode="rb")  # type: ignore[return-value]
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(_ZstdFrames(open_raw), buffer_size=1 << 20)
    return open_raw()


class _ZstdFrames(io.RawIOBase):
    """zstd frames decompressed in bounded pieces, failing on a truncated stream.

    zstandard's ``stream_reader`` ends quietly when the input stops mid-frame, which would turn a
    truncated file into a silently shorter one; at the end of the stream the frames' block headers
    are walked (a few bytes per 128 KiB block) and an incomplete one is an ``EOFError``.
    """

    def __init__(self, open_raw: Callable[[], BinaryIO]):
        self._open_raw = open_raw
        self._reader = zstandard.ZstdDecompressor().stream_reader(open_raw(), read_across_frames=True, closefd=True)
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._reader.readinto(buffer)
        if n == 0 and not self._checked:
            self._checked = True
            with self._open_raw() as raw:
                check_zstd_frames(raw)
        return n

    def close(self) -> None:
        self._reader.close()
        super().close()


_ZSTD_MAGIC = 0xFD2FB528


def check_zstd_frames(fh: BinaryIO) -> None:
    """Walk the zstd frames of ``fh`` by their headers (RFC 8878, section 3.1) without decompressing.

    Raises:
        EOFError: the stream ends inside a frame.
        ValueError: bytes that are not a zstd frame.
    """

    def need(n: int) -> bytes:
        data = fh.read(n)
        if len(data) < n:
            raise EOFError("compressed file ends inside a zstd frame (truncated)")
        return data

    while magic_bytes := fh.read(4):
        if len(magic_bytes) < 4:
            raise EOFError("compressed file ends inside a zstd frame header (truncated)")
        magic = int.from_bytes(magic_bytes, "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # a skippable frame
            size = int.from_bytes(need(4), "little")
            need(size)
            continue
        if magic != _ZSTD_MAGIC:
            raise ValueError(f"not a zstd frame at byte {fh.tell() - 4}")
        descriptor = need(1)[0]
        fcs_flag, single, checksum, did_flag = descriptor >> 6, descriptor >> 5 & 1, descriptor >> 2 & 1, descriptor & 3
        need((0 if single else 1) + (0, 1, 2, 4)[did_flag] + (single if fcs_flag == 0 else (2, 4, 8)[fcs_flag - 1]))
        while True:
            header = int.from_bytes(need(3), "little")
            last, kind, size = header & 1, header >> 1 & 3, header >> 3
            need(1 if kind == 1 else size)
            if last:
                break
        if checksum:
            need(4)
