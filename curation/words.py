"""The words of a batch of texts, found in one compiled pass over its UTF-8 bytes.

Dedup's and decontamination's words are what Arrow's ``utf8_split_whitespace`` leaves after
``replace_substring_regex`` turned punctuation and symbols into spaces: 1.2 s per 72 MB here, most
of it the regex. :func:`split_words` decides each character as separator or word and copies the
runs of word bytes, giving the same words (:func:`split_reference` is the definition; the tests
compare the two on every Unicode code point) as one flat ``large_string`` array in ~0.3 s (the
numpy form of the same pass, a dozen whole-array passes, took 0.8 s). The quality rules split at
whitespace only (``str.split()``'s words) with the same pass.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Unicode punctuation (P*) and symbols (S*): RE2 classes for the Arrow kernel.
PUNCTUATION_RE2 = r"[\p{P}\p{S}]+"


def split_reference(arr: pa.Array, strip_punctuation: bool) -> tuple[pa.Array, np.ndarray]:
    """The words of each (already lowercased) text with Arrow's kernels: the definition
    :func:`split_words` reproduces, kept for tests and for anyone reading it."""
    if strip_punctuation:
        arr = pc.replace_substring_regex(arr, PUNCTUATION_RE2, " ")
    # Trim first: without it Arrow 26 leaves trailing whitespace on the last token of the array.
    split = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(arr))
    flat = split.flatten()
    offsets = split.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    # Arrow yields [""] for an empty string: drop empty tokens and recount the offsets.
    keep = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    if not keep.all():
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        offsets = kept_before[offsets]
        flat = flat.filter(pa.array(keep))
    return flat.cast(pa.large_string()), offsets


def _separators(chars: list[str], strip_punctuation: bool) -> np.ndarray:
    """Which of ``chars`` separate words, by Arrow's own whitespace split and RE2 classes."""
    probe = pa.array([f"x{c}x" for c in chars], pa.large_string())
    sep = pc.list_value_length(pc.utf8_split_whitespace(probe)).to_numpy() != 1
    if strip_punctuation:
        sep |= pc.match_substring_regex(pa.array(chars, pa.large_string()), PUNCTUATION_RE2).to_numpy(
            zero_copy_only=False)
    return sep


@functools.cache  # built on first use: 0.2 s that a process without dedup need not pay at import
def _byte_table(strip_punctuation: bool) -> np.ndarray:
    """Separator bytes: ASCII by :func:`_separators`; bytes >= 0x80 are decided per character."""
    return np.concatenate([_separators([chr(c) for c in range(128)], strip_punctuation), np.zeros(128, bool)])


def utf8_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's UTF-8 bytes (no copy for ``large_string``) and each text's offsets into them."""
    arr = arr if pa.types.is_large_string(arr.type) else arr.cast(pa.large_string())
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64, len(arr) + 1, arr.offset * 8)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, np.uint8, hi - lo, lo) if hi > lo else np.zeros(0, np.uint8)
    return data, offsets - lo


def split_words(arr: pa.Array, strip_punctuation: bool) -> tuple[pa.Array, np.ndarray]:
    """Every word of every text, flattened (a ``large_string`` array), and per-text offsets into it.

    One compiled pass over the batch's bytes (:func:`curation.kernels.split_runs`) decides each
    character: ASCII by a table, other characters by the class of their code point (the batch's
    few distinct ones are classified by :func:`_separators`), and copies the runs of word
    characters into one buffer that becomes the Arrow array without another copy.
    """
    from curation.kernels import lead_codepoints, split_runs  # Numba: only where words are split

    data, text_offsets = utf8_bytes(arr)
    cps, _ = lead_codepoints(data)
    if cps.size:
        distinct, which = np.unique(cps, return_inverse=True)
        lead_sep = _separators([chr(c) for c in distinct.tolist()], strip_punctuation)[which.reshape(-1)]
    else:
        lead_sep = np.zeros(0, bool)
    word_bytes, ends, first_word = split_runs(data, text_offsets, _byte_table(strip_punctuation), lead_sep)
    word_offsets = np.zeros(ends.size + 1, np.int64)
    word_offsets[1:] = ends
    words = pa.Array.from_buffers(pa.large_string(), int(ends.size),
                                  [None, pa.py_buffer(word_offsets), pa.py_buffer(word_bytes)])
    return words, first_word
