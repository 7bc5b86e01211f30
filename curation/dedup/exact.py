"""Exact duplicates: a 128-bit hash of each document's normalized text.

128 bits because a 64-bit hash is expected to collide somewhere once a corpus nears 2**32
documents (birthday bound); at 128 bits a collision in 10**12 documents has probability ~1e-15.
Documents whose normalized text is empty (only punctuation, say) are left out: normalization
erased everything they had, so their equality says nothing.

Example:
    >>> import pyarrow as pa
    >>> hi, lo, ok = exact_hashes(pa.array(["a b", "a b", ""]))
    >>> bool(hi[0] == hi[1] and lo[0] == lo[1]), ok.tolist()
    (True, [True, True, False])
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from curation.words import utf8_bytes


def text_hash128(text: str | bytes) -> tuple[int, int]:
    """(high, low) 64-bit halves of xxh3-128 of the UTF-8 text."""
    h = xxhash.xxh3_128_intdigest(text.encode("utf-8") if isinstance(text, str) else text)
    return h >> 64, h & ((1 << 64) - 1)


def exact_hashes(normalized: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xxh3-128 of every normalized text, read straight from the Arrow buffers.

    Returns:
        ``(hi, lo, nonempty)``: two uint64 arrays and a bool array (False for empty texts).
    """
    if isinstance(normalized, pa.ChunkedArray):
        normalized = normalized.combine_chunks()
    n = len(normalized)
    data_array, offsets = utf8_bytes(normalized)
    data = memoryview(data_array)
    digests = [xxhash.xxh3_128_intdigest(data[a:b]) for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    hi = np.fromiter((d >> 64 for d in digests), np.uint64, count=n)
    lo = np.fromiter((d & 0xFFFFFFFFFFFFFFFF for d in digests), np.uint64, count=n)
    nonempty = np.diff(offsets) > 0
    if normalized.null_count:
        nonempty &= normalized.is_valid().to_numpy(zero_copy_only=False)
    return hi, lo, nonempty
