"""The words of a batch of texts, found in one numpy pass over its UTF-8 bytes.

Dedup's and decontamination's words are what Arrow's ``utf8_split_whitespace`` leaves after
``replace_substring_regex`` turned punctuation and symbols into spaces: 1.2 s per 72 MB here, most
of it the regex. :func:`split_words` marks each byte as separator or word and cuts the runs of word
bytes, giving the same words (:func:`split_reference` is the definition; the tests compare the two
on every Unicode code point) as one flat ``large_string`` array in ~0.8 s. Without punctuation
(whitespace only) Arrow's split alone is as fast, so the quality rules keep it.
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


def split_words(arr: pa.Array, strip_punctuation: bool) -> tuple[pa.Array, np.ndarray]:
    """Every word of every text, flattened (a ``large_string`` array), and per-text offsets into it.

    Each byte is marked as part of a separator or of a word: ASCII by a table, other characters by
    the class of their code point (decoded with numpy; the batch's few distinct ones are classified
    by :func:`_separators`). Words are the maximal runs of word bytes within a text, copied into one
    buffer that becomes the Arrow array without another copy.
    """
    arr = arr if pa.types.is_large_string(arr.type) else arr.cast(pa.large_string())
    _, offsets_buf, data_buf = arr.buffers()
    text_offsets = np.frombuffer(offsets_buf, np.int64, len(arr) + 1, arr.offset * 8)
    lo, hi = int(text_offsets[0]), int(text_offsets[-1])
    data = np.frombuffer(data_buf, np.uint8, hi - lo, lo) if hi > lo else np.zeros(0, np.uint8)
    starts_of_texts = text_offsets - lo
    sep = _byte_table(strip_punctuation)[data]
    leads = np.flatnonzero(data >= 0xC0)
    if leads.size:
        b0, b1, b2, b3 = (data[np.minimum(leads + k, data.size - 1)].astype(np.uint32) for k in range(4))
        width = np.where(b0 >= 0xF0, 4, np.where(b0 >= 0xE0, 3, 2))
        cp = np.where(width == 2, ((b0 & 0x1F) << 6) | (b1 & 0x3F),
                      np.where(width == 3, ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
                               ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F)))
        distinct, which = np.unique(cp, return_inverse=True)
        is_sep = _separators([chr(c) for c in distinct.tolist()], strip_punctuation)[which.reshape(-1)]
        for k in range(4):  # the lead byte and its continuation bytes share the character's class
            sep[leads[is_sep & (width > k)] + k] = True
    # +1 where a word starts, -1 just past where one ends; a text's first byte starts afresh.
    word = np.zeros(data.size + 2, np.int8)
    np.logical_not(sep, out=word[1:-1].view(bool))
    edges = np.diff(word)
    inner = starts_of_texts[1:-1]
    inner = inner[(inner > 0) & (inner < data.size)]
    if inner.size:  # a word never runs from one text into the next
        joined = inner[(word[inner] == 1) & (word[inner + 1] == 1)]
        edges = edges.astype(np.int16)
        edges[joined] = 2  # ends the previous word and starts another at the same byte
    word_starts = np.flatnonzero(edges > 0)
    word_ends = np.flatnonzero((edges < 0) | (edges == 2))
    lengths = word_ends - word_starts
    word_offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=word_offsets[1:])
    words = pa.Array.from_buffers(pa.large_string(), int(lengths.size),
                                  [None, pa.py_buffer(word_offsets), pa.py_buffer(data[~sep])])
    return words, np.searchsorted(word_starts, starts_of_texts).astype(np.int64)
