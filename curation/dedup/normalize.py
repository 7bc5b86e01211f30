"""Text normalization and tokenization over whole Arrow batches.

Everything runs over a whole batch, in Arrow's C++ string kernels (lowercasing, with Unicode simple
case mapping: "İ" becomes "i", where Python's ``str.lower`` gives "i̇") and numpy (the split into
words at whitespace and punctuation, :mod:`curation.words`), never building one Python string per word. :func:`normalize_text` and
:func:`tokens` are the same code on one text, for tests and for feeding datasketch.

Example:
    >>> from curation.dedup.config import NormalizeConfig
    >>> tokens("Hello,  WORLD! Caf\\u0065\\u0301s", NormalizeConfig())
    ['hello', 'world', 'cafés']
    >>> normalize_text("Hello,  WORLD!", NormalizeConfig())
    'hello world'
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.dedup.config import NormalizeConfig
from curation.words import PUNCTUATION_RE2, split_words, utf8_bytes



def normalize_text(text: str, cfg: NormalizeConfig) -> str:
    """The normalized text of one document, as the exact hash sees it (the batch path on one text)."""
    return tokenize_batch([text], cfg, normalized=True).normalized[0].as_py()


def tokens(text: str, cfg: NormalizeConfig) -> list[str]:
    """The words of one normalized document, as shingles see them."""
    return tokenize_batch([text], cfg).tokens.to_pylist()


@dataclass(slots=True)
class TokenBatch:
    """The tokens of a batch of documents, flattened.

    Attributes:
        tokens: Every word of every document, in order (an Arrow string array, no empty strings).
        offsets: ``tokens[offsets[i]:offsets[i + 1]]`` are document ``i``'s words (int64, length n + 1).
        normalized: The normalized texts the exact hash is taken over (None unless asked for).
    """

    tokens: pa.Array
    offsets: np.ndarray
    normalized: pa.Array | None = None

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def _as_string_array(texts: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    if isinstance(texts, list):
        texts = pa.array(texts, pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if texts.null_count:
        texts = texts.fill_null("")
    return texts


@functools.cache  # 0.03 s, once per process that normalizes non-ASCII text
def _composition_seconds() -> frozenset[int]:
    """Starters that can compose with the character before them (NFC_QC=Maybe with ccc 0):
    the second character of every two-character canonical decomposition, and the Hangul vowel and
    trailing consonant jamo (composed by algorithm, in no decomposition table)."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for cp in range(0xC0, 0x30000):  # no canonical decomposition lies above U+2FA1D
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            seconds.add(int(parts[1], 16))
    return frozenset(seconds)


def nfc_unsafe(cps: np.ndarray) -> np.ndarray:
    """Which code points can make a text non-NFC: NFC's quick check (UAX #15) answers "yes" for a
    text none of whose characters is a non-starter (ccc > 0), changes under NFC by itself
    (NFC_QC=No) or can compose with the character before it (NFC_QC=Maybe)."""
    seconds = _composition_seconds()
    return np.fromiter((c in seconds or unicodedata.combining(ch := chr(c)) > 0 or unicodedata.normalize("NFC", ch) != ch
                        for c in cps.tolist()), bool, count=cps.size)


def _nfc(texts: pa.Array) -> pa.Array:
    """NFC only where needed: only texts holding a character :func:`nfc_unsafe` flags can change.

    Arrow's own ``utf8_normalize`` rewrites every string (0.76 s for 44 MB here); Python's
    ``is_normalized`` on every non-ASCII text took 0.7 s for the 209 MB bench corpus (half its
    texts hold a curly quote); finding the texts with a flagged character takes a tenth of that.
    """
    from curation.kernels import lead_codepoints  # Numba: only where texts are normalized

    data, offsets = utf8_bytes(texts)
    cps, at = lead_codepoints(data)
    if cps.size == 0:
        return texts
    distinct, which = np.unique(cps, return_inverse=True)
    flagged = at[nfc_unsafe(distinct)[which.reshape(-1)]]
    if flagged.size == 0:
        return texts
    candidates = np.unique(np.searchsorted(offsets, flagged, side="right") - 1)
    subset = texts.take(pa.array(candidates)).to_pylist()
    fixed = {int(i): unicodedata.normalize("NFC", s) for i, s in zip(candidates, subset)
             if not unicodedata.is_normalized("NFC", s)}
    if not fixed:
        return texts
    values = texts.to_pylist()
    for i, s in fixed.items():
        values[i] = s
    return pa.array(values, texts.type)


def tokenize_batch(texts: pa.Array | pa.ChunkedArray | list[str], cfg: NormalizeConfig,
                   normalized: bool = False) -> TokenBatch:
    """Normalize and split a batch of documents into words; optionally the normalized texts too.

    The words are exactly those of replacing punctuation and symbols by a space (Arrow's RE2
    ``[\\p{P}\\p{S}]+``) and splitting on Arrow's Unicode whitespace
    (:func:`curation.words.split_reference`), found in one numpy pass over the batch's bytes.

    Args:
        texts: The documents (nulls count as empty).
        cfg: Normalization options.
        normalized: Also return each document's normalized text (for the exact hash): the words
            joined by one space when ``collapse_whitespace``, else the text with whitespace kept.
    """
    arr = _as_string_array(texts)
    if cfg.nfc:
        arr = _nfc(arr)
    if cfg.lowercase:
        arr = pc.utf8_lower(arr)
    flat, offsets = split_words(arr, cfg.strip_punctuation)
    text = None
    if normalized:
        if cfg.collapse_whitespace:
            lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), flat)
            text = pc.binary_join(lists, pa.scalar(" ", pa.large_string()))
        elif cfg.strip_punctuation:
            text = pc.replace_substring_regex(arr, PUNCTUATION_RE2, " ")
        else:
            text = arr
    return TokenBatch(flat, offsets, text)
