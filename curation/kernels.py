"""The byte- and hash-level loops numpy cannot do in one pass, compiled by Numba.

Splitting a batch's UTF-8 bytes into words, hashing word n-grams, taking each document's minimum
over 128 MinHash permutations, counting a document's repeated n-grams and merging two sorted
shingle sets are plain loops; numpy writes them as a dozen whole-array passes (masks, diffs, sorts,
``reduceat`` over a 128 x 8,192 block), each touching every byte or value again. Numba compiles
each loop once (cached on disk: later processes load the machine code from ``__pycache__``, or
Numba's user cache folder; ``make`` compiles them after installing), one pass each, without the GIL.

Nothing here is imported at package import: Numba costs ~0.2 s to import and ~0.3 s more on its
first call, which only a process that splits words or counts n-grams should pay. The callers
(:mod:`curation.words`, :mod:`curation.dedup.minhash`, :mod:`curation.quality.stats`,
:func:`curation.dedup.cluster.pair_jaccard`) hold the definitions the tests compare against
(Arrow's kernels, datasketch, xxhash, the per-document Python reference).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

log = logging.getLogger(__name__)


@functools.cache  # once per process
def _warn_uncached() -> None:
    log.warning("Numba finds no writable folder for the compiled loops of curation.kernels: each process "
                "compiles them again (~4 s); set NUMBA_CACHE_DIR to a writable folder")


def _compiled(fn: Callable[..., Any]) -> Any:
    """``fn`` compiled without the GIL or bounds checks, its machine code cached on disk; where
    Numba finds no writable place for the cache (a read-only install and home), compiled in each
    process instead of failing the import."""
    try:
        return njit(cache=True, nogil=True, boundscheck=False)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        _warn_uncached()
        return njit(nogil=True, boundscheck=False)(fn)


# curation.dedup.minhash.COMBINE (Knuth's golden-ratio multiplier), as a uint64 Numba keeps exact.
_COMBINE = np.uint64(0x9E3779B97F4A7C15)


@_compiled
def _codepoint_at(data: np.ndarray, i: int) -> np.uint32:
    """The code point of the character whose first byte ``data[i]`` (>= 0xC0) is, in valid UTF-8."""
    c = np.uint32(data[i])
    if c >= 0xF0:
        return ((c & 0x07) << 18) | ((np.uint32(data[i + 1]) & 0x3F) << 12) \
            | ((np.uint32(data[i + 2]) & 0x3F) << 6) | (np.uint32(data[i + 3]) & 0x3F)
    if c >= 0xE0:
        return ((c & 0x0F) << 12) | ((np.uint32(data[i + 1]) & 0x3F) << 6) | (np.uint32(data[i + 2]) & 0x3F)
    return ((c & 0x1F) << 6) | (np.uint32(data[i + 1]) & 0x3F)


@_compiled
def lead_codepoints(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The code point of every non-ASCII character of valid UTF-8 ``data`` and where it starts."""
    count = 0
    for i in range(data.size):  # sized first: growing the arrays inside the loop slows it 20x
        count += data[i] >= 0xC0
    cps = np.empty(count, np.uint32)
    at = np.empty(count, np.int64)
    j = 0
    for i in range(data.size):  # in valid UTF-8 every byte >= 0xC0 starts a character
        if data[i] < 0xC0:
            continue
        at[j] = i
        cps[j] = _codepoint_at(data, i)
        j += 1
    return cps, at


@_compiled
def distinct_sums(ids: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per document, ``values[ids[w]]`` summed over its words ``w`` in ``[offsets[d], offsets[d + 1])``:
    a value per distinct word (a flag, a length) summed without a per-word array (int64, exact)."""
    out = np.zeros(offsets.size - 1, np.int64)
    for d in range(offsets.size - 1):
        total = 0
        for w in range(offsets[d], offsets[d + 1]):
            total += values[ids[w]]
        out[d] = total
    return out


@_compiled
def symbol_counts(data: np.ndarray, text_offsets: np.ndarray) -> np.ndarray:
    """Per valid UTF-8 text: ``text.count("#") + text.count("...") + text.count("…")`` (Gopher's
    symbols, :func:`curation.quality.stats.symbol_count`). ``str.count`` takes non-overlapping
    matches from the left: a run of k dots holds k // 3."""
    out = np.zeros(text_offsets.size - 1, np.int64)
    for t in range(text_offsets.size - 1):
        start = text_offsets[t]
        count = 0
        dots = 0
        for i in range(start, text_offsets[t + 1]):
            c = data[i]
            dots = dots + 1 if c == 0x2E else 0
            if dots == 3:
                count += 1
                dots = 0
            count += c == 0x23
            if c == 0xA6 and i - 2 >= start and data[i - 1] == 0x80 and data[i - 2] == 0xE2:  # U+2026's last byte
                count += 1
        out[t] = count
    return out


@_compiled
def _grow(ends: np.ndarray, need: int) -> np.ndarray:
    capacity = ends.size
    while capacity < need:
        capacity *= 2
    grown = np.empty(capacity, np.int64)
    grown[:ends.size] = ends
    return grown


@_compiled
def split_runs(data: np.ndarray, text_offsets: np.ndarray, ascii_sep: np.ndarray,
               lead_sep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut valid UTF-8 texts into words: maximal runs of non-separator characters within a text.

    Args:
        data: The texts' bytes, back to back.
        text_offsets: ``data[text_offsets[t]:text_offsets[t + 1]]`` is text t (int64).
        ascii_sep: Whether each byte value below 0x80 is a separator (bool, 256 entries).
        lead_sep: Whether each non-ASCII character is one, in order of appearance (bool).

    Returns:
        The words' bytes back to back, where each word ends in them (int64), and the index of each
        text's first word (int64, one more entry than texts).
    """
    out = np.empty(data.size, np.uint8)
    ends = np.empty(data.size // 8 + 16, np.int64)
    n_texts = text_offsets.size - 1
    first_word = np.empty(n_texts + 1, np.int64)
    ascii_sep = ascii_sep.view(np.uint8)
    words = 0
    pos = 0
    lead = 0
    for t in range(n_texts):
        first_word[t] = words
        i = text_offsets[t]
        end = text_offsets[t + 1]
        # Room for the most words this text can hold (and the ASCII path's speculative write),
        # checked once per text: a check in the byte loop made it 3.6x slower.
        need = words + (end - i) // 2 + 2
        if need > ends.size:
            ends = _grow(ends, need)
        in_word = 0
        while i < end:
            c = data[i]
            if c < 0x80:
                # Branch-free: word and separator bytes alternate every few bytes, which a branch
                # mispredicts (1.6x slower). The byte and the end are written always, kept or not.
                sep = ascii_sep[c]
                out[pos] = c
                ends[words] = pos
                words += in_word & sep
                pos += 1 - sep
                in_word = 1 - sep
                i += 1
                continue
            width = 4 if c >= 0xF0 else (3 if c >= 0xE0 else 2)
            if lead_sep[lead]:
                if in_word:
                    ends[words] = pos
                    words += 1
                    in_word = 0
            else:
                for k in range(width):
                    out[pos + k] = data[i + k]
                pos += width
                in_word = 1
            lead += 1
            i += width
        if in_word:
            ends[words] = pos
            words += 1
    first_word[n_texts] = words
    return out[:pos], ends[:words], first_word


@_compiled
def min_permutations(shingles: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
                     out: np.ndarray) -> None:
    """``out[d, p] = min(out[d, p], min over document d's shingles x of a[p] * fmix32(x) + b[p] mod 2**32)``.

    datasketch's ``affine32`` scheme: MurmurHash3's 32-bit finalizer, then one affine map per
    permutation in uint32 arithmetic (wrapping). Documents without shingles keep ``out``'s row.
    """
    perms = a.size
    row = np.empty(perms, np.uint32)
    for d in range(offsets.size - 1):
        s0 = offsets[d]
        s1 = offsets[d + 1]
        if s1 <= s0:
            continue
        for p in range(perms):
            row[p] = out[d, p]
        for i in range(s0, s1):
            h = np.uint32(shingles[i])
            h ^= h >> np.uint32(16)
            h = np.uint32(h * np.uint32(0x85EBCA6B))
            h ^= h >> np.uint32(13)
            h = np.uint32(h * np.uint32(0xC2B2AE35))
            h ^= h >> np.uint32(16)
            for p in range(perms):  # vectorized by LLVM over p
                v = np.uint32(a[p] * h + b[p])
                if v < row[p]:
                    row[p] = v
        for p in range(perms):
            out[d, p] = row[p]


@_compiled
def ngram_hashes(token_hashes: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document's n-gram hashes, folded to 32 bits, and per-document offsets into them.

    An n-gram's hash is ``h = h * COMBINE + t (mod 2**64)`` over its tokens' hashes, in order,
    folded as ``(h >> 32) ^ h``; a document with fewer than ``n`` (but at least one) tokens is one
    n-gram of all of them, one without tokens has none (:func:`curation.dedup.minhash.shingle_hashes`).
    """
    docs = offsets.size - 1
    shingle_offsets = np.zeros(docs + 1, np.int64)
    for d in range(docs):
        length = offsets[d + 1] - offsets[d]
        shingle_offsets[d + 1] = shingle_offsets[d] + (length - n + 1 if length >= n else min(length, 1))
    out = np.empty(shingle_offsets[docs], np.uint32)
    j = 0
    for d in range(docs):
        start = offsets[d]
        end = offsets[d + 1]
        width = min(n, end - start)
        for i in range(start, end - width + 1 if end > start else start):
            h = np.uint64(0)
            for k in range(width):
                h = h * _COMBINE + token_hashes[i + k]
            out[j] = np.uint32((h >> np.uint64(32)) ^ (h & np.uint64(0xFFFFFFFF)))
            j += 1
    return out, shingle_offsets


# XXH3's default secret (its first 128 bytes: all that inputs of up to 128 bytes read), as the
# little-endian uint64 at each byte offset; and XXH3's and XXH64's constants (xxhash.h, v0.8).
_XXH3_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671fcb79e64eccc0e578825ad07dccff7221"
    "b8084674f743248ee03590e6813a264c3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364")
_XXH3_S64 = np.array([int.from_bytes(_XXH3_SECRET[i:i + 8], "little") for i in range(121)], np.uint64)
XXH3_INLINE_MAX = 128  # longer inputs: the caller hashes them with xxhash
_XXH_P64_1 = np.uint64(0x9E3779B185EBCA87)
_XXH_P64_2 = np.uint64(0xC2B2AE3D27D4EB4F)
_XXH_P64_3 = np.uint64(0x165667B19E3779F9)
_XXH_MX1 = np.uint64(0x165667919E3779F9)
_XXH_MX2 = np.uint64(0x9FB21C651E98DF25)
_LOW32 = np.uint64(0xFFFFFFFF)


@_compiled
def _le64(data: np.ndarray, i: int) -> np.uint64:
    v = np.uint64(0)
    for k in range(8):  # one unaligned load once LLVM has combined them
        v |= np.uint64(data[i + k]) << np.uint64(8 * k)
    return v


@_compiled
def _le32(data: np.ndarray, i: int) -> np.uint64:
    return np.uint64(data[i]) | (np.uint64(data[i + 1]) << np.uint64(8)) \
        | (np.uint64(data[i + 2]) << np.uint64(16)) | (np.uint64(data[i + 3]) << np.uint64(24))


@_compiled
def _mul128_fold64(a: np.uint64, b: np.uint64) -> np.uint64:
    """The 128-bit product of ``a`` and ``b``, its high half XOR its low half (from 32-bit halves)."""
    a_lo, a_hi, b_lo, b_hi = a & _LOW32, a >> np.uint64(32), b & _LOW32, b >> np.uint64(32)
    lo_lo, hi_lo, lo_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi
    cross = (lo_lo >> np.uint64(32)) + (hi_lo & _LOW32) + lo_hi
    upper = (hi_lo >> np.uint64(32)) + (cross >> np.uint64(32)) + a_hi * b_hi
    return ((cross << np.uint64(32)) | (lo_lo & _LOW32)) ^ upper


@_compiled
def _mix16(data: np.ndarray, i: int, s: int) -> np.uint64:
    return _mul128_fold64(_le64(data, i) ^ _XXH3_S64[s], _le64(data, i + 8) ^ _XXH3_S64[s + 8])


@_compiled
def _xxh3_avalanche(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(37)
    h *= _XXH_MX1
    return h ^ (h >> np.uint64(32))


@_compiled
def _xxh3_64(data: np.ndarray, i: int, n: int) -> np.uint64:
    """XXH3-64 (seed 0, default secret) of ``data[i:i + n]``, ``n <= 128``: xxhash.h's
    ``XXH3_len_0to16_64b`` and ``XXH3_len_17to128_64b``."""
    length = np.uint64(n)
    if n > 16:
        acc = length * _XXH_P64_1
        if n > 32:
            if n > 64:
                if n > 96:
                    acc += _mix16(data, i + 48, 96) + _mix16(data, i + n - 64, 112)
                acc += _mix16(data, i + 32, 64) + _mix16(data, i + n - 48, 80)
            acc += _mix16(data, i + 16, 32) + _mix16(data, i + n - 32, 48)
        acc += _mix16(data, i, 0) + _mix16(data, i + n - 16, 16)
        return _xxh3_avalanche(acc)
    if n > 8:
        lo = _le64(data, i) ^ (_XXH3_S64[24] ^ _XXH3_S64[32])
        hi = _le64(data, i + n - 8) ^ (_XXH3_S64[40] ^ _XXH3_S64[48])
        swapped = np.uint64(0)
        for k in range(8):  # byte swap
            swapped = (swapped << np.uint64(8)) | ((lo >> np.uint64(8 * k)) & np.uint64(0xFF))
        return _xxh3_avalanche(length + swapped + hi + _mul128_fold64(lo, hi))
    if n >= 4:  # XXH3_rrmxmx
        h = (_le32(data, i + n - 4) + (_le32(data, i) << np.uint64(32))) ^ (_XXH3_S64[8] ^ _XXH3_S64[16])
        h ^= ((h << np.uint64(49)) | (h >> np.uint64(15))) ^ ((h << np.uint64(24)) | (h >> np.uint64(40)))
        h *= _XXH_MX2
        h ^= (h >> np.uint64(35)) + length
        h *= _XXH_MX2
        return h ^ (h >> np.uint64(28))
    if n > 0:
        h = (np.uint64(data[i]) << np.uint64(16)) | (np.uint64(data[i + (n >> 1)]) << np.uint64(24)) \
            | np.uint64(data[i + n - 1]) | (length << np.uint64(8))
        h ^= (_XXH3_S64[0] & _LOW32) ^ (_XXH3_S64[4] & _LOW32)
    else:
        h = _XXH3_S64[56] ^ _XXH3_S64[64]
    h ^= h >> np.uint64(33)  # XXH64's avalanche
    h *= _XXH_P64_2
    h ^= h >> np.uint64(29)
    h *= _XXH_P64_3
    return h ^ (h >> np.uint64(32))


@_compiled
def xxh3_words(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """XXH3-64 of each word ``data[offsets[w]:offsets[w + 1]]`` (``xxhash.xxh3_64_intdigest`` of its
    bytes); 0 for a word longer than :data:`XXH3_INLINE_MAX` bytes, which the caller hashes."""
    out = np.empty(offsets.size - 1, np.uint64)
    for w in range(out.size):
        n = offsets[w + 1] - offsets[w]
        out[w] = _xxh3_64(data, offsets[w], n) if n <= XXH3_INLINE_MAX else np.uint64(0)
    return out


@_compiled
def _window_start(word_hashes: np.ndarray, n: int) -> tuple[np.uint64, np.uint64]:
    """``COMBINE ** n`` (the factor of the word leaving a window) and the hash of the first
    ``n - 1`` words, where :func:`window_hashes` and :func:`prefixed_windows` start rolling."""
    leaving = np.uint64(1)
    for _ in range(n):
        leaving *= _COMBINE
    h = np.uint64(0)
    for k in range(n - 1):
        h = h * _COMBINE + word_hashes[k]
    return leaving, h


@_compiled
def window_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """``h = h * COMBINE + w (mod 2**64)`` over words ``i .. i+n-1`` of the flat stream, for every
    ``i`` (:func:`curation.decontam.ngrams.window_hashes`): rolled, the word leaving the window
    subtracted times ``COMBINE ** n``, one pass instead of ``2n`` whole-array numpy passes."""
    count = max(word_hashes.size - n + 1, 0)
    out = np.empty(count, np.uint64)
    if count == 0:
        return out
    leaving, h = _window_start(word_hashes, n)
    for i in range(count):
        h = h * _COMBINE + word_hashes[i + n - 1]
        if i > 0:
            h -= word_hashes[i - 1] * leaving
        out[i] = h
    return out


@_compiled
def prefixed_windows(word_hashes: np.ndarray, n: int, prefixes: np.ndarray, shift: np.uint64
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The windows of :func:`window_hashes` whose top bits ``h >> shift`` have their bit set in
    ``prefixes`` (eight to a byte, lowest first): their positions and hashes, in one pass. The
    index lookup keeps ~1 % of a corpus's windows; numpy wrote every hash, then read it back for
    the prefix, the table and the bit, each a pass over 8 bytes a word."""
    count = max(word_hashes.size - n + 1, 0)
    positions = np.empty(count, np.int64)
    hashes = np.empty(count, np.uint64)
    k = 0
    if count:
        leaving, h = _window_start(word_hashes, n)
        for i in range(count):
            h = h * _COMBINE + word_hashes[i + n - 1]
            if i > 0:
                h -= word_hashes[i - 1] * leaving
            top = h >> shift
            if (np.uint64(prefixes[top >> np.uint64(3)]) >> (top & np.uint64(7))) & np.uint64(1):
                positions[k] = i
                hashes[k] = h
                k += 1
    return positions[:k].copy(), hashes[:k].copy()


@_compiled
def _fmix64(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@_compiled
def ngram_cover(ids: np.ndarray, lengths: np.ndarray, offsets: np.ndarray, n: int, multiplier: np.uint64,
                shorter: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document, the characters covered by its word n-grams that occur more than once in it.

    Each document's n-grams go into a hash table of their own, keyed by ``h = h * multiplier + id``
    over their words' ids and compared word by word on a key match, so two n-grams are counted
    together only if their words are equal. Given where repeated m-grams start (m < n), only the
    n-grams made of repeated m-grams are candidates: every occurrence of a repeated n-gram is one,
    and on real text they are a small share once n > 2.

    Args:
        ids: Each word's id (equal words, equal ids), the batch's words back to back.
        lengths: Each word's length in characters.
        offsets: ``[offsets[d], offsets[d + 1])`` are document d's words.
        n: Words per n-gram.
        multiplier: Of the key (tests pass 0 to make keys collide).
        shorter: Where an occurrence of a repeated m-gram starts (bool per word), from an earlier
            call; ignored when ``m`` is 0.
        m: The m of ``shorter``, or 0.

    Returns:
        ``top``: the characters of the most frequent repeated n-gram times its count (ties: the one
        seen first, as ``Counter.most_common``); ``dup``: the characters of the words inside any
        occurrence of a repeated n-gram, each word once (Gopher, Rae et al. 2021, A.1.1), both 0
        where no n-gram repeats; and where an occurrence of a repeated n-gram starts (for ``shorter``).
    """
    docs = offsets.size - 1
    top = np.zeros(docs, np.int64)
    dup = np.zeros(docs, np.int64)
    repeated = np.zeros(ids.size, np.bool_)
    most = 0
    for d in range(docs):
        most = max(most, offsets[d + 1] - offsets[d] - n + 1)
    if most < 2:
        return top, dup, repeated
    size = 1
    while size < 2 * most:
        size *= 2
    slot_first = np.empty(size, np.int64)  # word index of the n-gram's first occurrence; -1: empty
    slot_count = np.empty(size, np.int64)
    slot_key = np.empty(size, np.uint64)
    window_slot = np.empty(most, np.int64)  # -1: not a candidate
    edges = np.empty(most + n, np.int64)
    top_power = np.uint64(1)  # multiplier ** n: the weight of the word leaving the window
    for _ in range(n):
        top_power *= multiplier
    need = n - m + 1  # repeated m-grams in a row that make a candidate
    for d in range(docs):
        start = offsets[d]
        windows = offsets[d + 1] - start - n + 1
        if windows < 2:
            continue
        if m == 0:
            window_slot[:windows] = 0
            candidates = windows
        else:
            candidates = 0
            run = 0
            for p in range(start, offsets[d + 1]):  # window w is a candidate iff shorter[w .. w + n - m]
                run = run + 1 if shorter[p] else 0
                w = p - start - (n - m)
                if 0 <= w < windows:
                    if run >= need:
                        window_slot[w] = 0
                        candidates += 1
                    else:
                        window_slot[w] = -1
        if candidates < 2:
            continue
        table = 1
        while table < 2 * candidates:
            table *= 2
        mask = np.uint64(table - 1)
        slot_first[:table] = -1
        key = np.uint64(0)
        for k in range(n - 1):
            key = key * multiplier + np.uint64(ids[start + k])
        for w in range(windows):
            i = start + w
            # Rolling: the key of words i..i+n-1 from that of i-1..i+n-2, in O(1) (mod 2**64).
            key = key * multiplier + np.uint64(ids[i + n - 1])
            if w > 0:
                key -= np.uint64(ids[i - 1]) * top_power
            if window_slot[w] < 0:
                continue
            j = np.int64(_fmix64(key) & mask)
            while True:
                first = slot_first[j]
                if first < 0:
                    slot_first[j] = i
                    slot_count[j] = 1
                    slot_key[j] = key
                    break
                if slot_key[j] == key:
                    same = True
                    for k in range(n):
                        if ids[first + k] != ids[i + k]:
                            same = False
                            break
                    if same:
                        slot_count[j] += 1
                        break
                j = (j + 1) & (table - 1)
            window_slot[w] = j
        best_count = 1
        best_first = -1
        edges[:windows + n] = 0
        for w in range(windows):  # first occurrences in order: a tie keeps the one seen first
            j = window_slot[w]
            if j < 0 or slot_count[j] < 2:
                continue
            repeated[start + w] = True
            edges[w] += 1
            edges[w + n] -= 1
            if slot_first[j] == start + w and slot_count[j] > best_count:
                best_count = slot_count[j]
                best_first = start + w
        if best_first >= 0:
            chars = 0
            for k in range(n):
                chars += lengths[best_first + k]
            top[d] = chars * best_count
        inside = 0
        total = 0
        for k in range(windows + n - 1):
            inside += edges[k]
            if inside > 0:
                total += lengths[start + k]
        dup[d] = total
    return top, dup, repeated


@_compiled
def sorted_jaccard(values_u: np.ndarray, offsets_u: np.ndarray, rows_u: np.ndarray, values_v: np.ndarray,
                   offsets_v: np.ndarray, rows_v: np.ndarray) -> np.ndarray:
    """Jaccard of set ``values_u[offsets_u[r]:offsets_u[r + 1]]`` (r = ``rows_u[k]``) and its ``v``
    counterpart for every k: each set sorted and distinct, the intersection counted by a merge.
    0.0 where both are empty."""
    out = np.zeros(rows_u.size, np.float64)
    for k in range(rows_u.size):
        i, i_end = offsets_u[rows_u[k]], offsets_u[rows_u[k] + 1]
        j, j_end = offsets_v[rows_v[k]], offsets_v[rows_v[k] + 1]
        union = (i_end - i) + (j_end - j)
        inter = 0
        while i < i_end and j < j_end:
            a = values_u[i]
            b = values_v[j]
            inter += a == b
            i += a <= b
            j += b <= a
        union -= inter
        if union > 0:
            out[k] = inter / union
    return out


@_compiled
def _wide_space_at(data: np.ndarray, i: int) -> int:
    """The byte width of the non-ASCII character at ``data[i]`` if ``str.isspace`` holds for it,
    else 0 (callers test ASCII inline: a call per byte made the loops 20x slower)."""
    c = data[i]
    if c == 0xC2:  # U+0085, U+00A0
        return 2 if data[i + 1] == 0x85 or data[i + 1] == 0xA0 else 0
    if c == 0xE1:  # U+1680
        return 3 if data[i + 1] == 0x9A and data[i + 2] == 0x80 else 0
    if c == 0xE2:  # U+2000-U+200A, U+2028, U+2029, U+202F, U+205F
        c1, c2 = data[i + 1], data[i + 2]
        if c1 == 0x80:
            return 3 if c2 <= 0x8A or c2 == 0xA8 or c2 == 0xA9 or c2 == 0xAF else 0
        return 3 if c1 == 0x81 and c2 == 0x9F else 0
    if c == 0xE3:  # U+3000
        return 3 if data[i + 1] == 0x80 and data[i + 2] == 0x80 else 0
    return 0


@_compiled
def trimmed_pieces(data: np.ndarray, text_offsets: np.ndarray, paragraphs: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stripped, non-empty lines (split at ``\\n``) or paragraphs (split at ``\\n\\s*\\n``) of
    valid UTF-8 texts, as Python's ``str.split``/``re.split`` and ``str.strip`` cut them (whitespace
    is what ``str.isspace`` accepts).

    A paragraph break is a run of whitespace holding two or more ``\\n``: the regex's leftmost,
    greedy match runs from the run's first ``\\n`` to its last, and what is left of the run on
    either side is stripped with the pieces.

    Returns:
        Each piece's first byte and end (int64), its length in characters (int64), and the pieces
        of each text (int64), in text order.
    """
    n_texts = text_offsets.size - 1
    most = n_texts
    for i in range(data.size):  # at most one piece more than a text has \n
        most += data[i] == 10
    starts = np.empty(most, np.int64)
    ends = np.empty(most, np.int64)
    lengths = np.empty(most, np.int64)
    counts = np.zeros(n_texts, np.int64)
    k = 0
    for t in range(n_texts):
        first = k
        i = piece = text_offsets[t]
        end = text_offsets[t + 1]
        cont = 0
        last_cont = 0
        while piece <= end:
            # The next cut [cut, after): a \n, or a paragraph break; none: the text's end. Continuation
            # bytes are counted on the way (``cont``: those of data[piece:i]), so that a piece's length
            # in characters needs no second pass over it.
            cut = after = end
            cut_cont = -1  # continuation bytes of data[piece:cut], where the cut is a break's
            while i < end:
                c = data[i]
                if not paragraphs:
                    if c == 10:
                        cut, after = i, i + 1
                        i += 1
                        break
                    cont += (c & 0xC0) == 0x80
                    i += 1
                    continue
                if c != 10:  # a break's run holds a \n, and its first one starts the match
                    cont += (c & 0xC0) == 0x80
                    i += 1
                    continue
                newlines = 0
                first_nl = last_nl = i
                run_cont = last_cont = cont  # before the run; before its last \n
                while i < end:
                    c = data[i]
                    w = (1 if (9 <= c <= 13 or 28 <= c <= 32) else 0) if c < 0x80 else _wide_space_at(data, i)
                    if w == 0:
                        break
                    if c == 10:
                        if newlines == 0:
                            first_nl = i
                        last_nl = i
                        last_cont = cont
                        newlines += 1
                    cont += w - 1
                    i += w
                if newlines >= 2:
                    cut, after = first_nl, last_nl + 1
                    cut_cont = run_cont
                    break
            if cut_cont < 0:  # a \n or the text's end: every byte before the cut was counted
                cut_cont = cont
            # data[piece:cut], stripped; kept unless empty.
            s, e = piece, cut
            stripped = 0  # continuation bytes of the whitespace stripped
            while s < e:
                c = data[s]
                w = (1 if (9 <= c <= 13 or 28 <= c <= 32) else 0) if c < 0x80 else _wide_space_at(data, s)
                if w == 0:
                    break
                stripped += w - 1
                s += w
            while e > s:
                j = e - 1
                while data[j] & 0xC0 == 0x80:  # back to the character's first byte
                    j -= 1
                c = data[j]
                if ((1 if (9 <= c <= 13 or 28 <= c <= 32) else 0) if c < 0x80 else _wide_space_at(data, j)) == 0:
                    break
                stripped += e - j - 1
                e = j
            if s < e:
                starts[k], ends[k], lengths[k] = s, e, (e - s) - (cut_cont - stripped)
                k += 1
            if cut == end:
                break
            piece = after
            cont = cont - last_cont if paragraphs else 0  # those of data[after:i]
        counts[t] = k - first
    return starts[:k], ends[:k], lengths[:k], counts


@_compiled
def repeated_pieces(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Whether each piece repeats an earlier piece of its text, byte for byte (text t's pieces are
    ``[offsets[t], offsets[t + 1])``): one hash table per text, bytes compared on a key match."""
    repeat = np.zeros(starts.size, np.bool_)
    most = 0
    for t in range(offsets.size - 1):
        most = max(most, offsets[t + 1] - offsets[t])
    size = 1
    while size < 2 * most:
        size *= 2
    table = np.empty(size, np.int64)
    hashes = np.empty(starts.size, np.uint64)
    for p in range(starts.size):
        # Keyed by the length and the first and last 8 bytes, not every byte: equal pieces get equal
        # keys, and unequal ones with equal keys are told apart by the comparison below.
        head = tail = np.uint64(0)
        for i in range(starts[p], min(starts[p] + 8, ends[p])):
            head = (head << np.uint64(8)) | np.uint64(data[i])
        for i in range(max(ends[p] - 8, starts[p]), ends[p]):
            tail = (tail << np.uint64(8)) | np.uint64(data[i])
        hashes[p] = _fmix64(head ^ _fmix64(tail + np.uint64(ends[p] - starts[p])))
    for t in range(offsets.size - 1):
        count = offsets[t + 1] - offsets[t]
        if count < 2:
            continue
        mask = 1
        while mask < 2 * count:
            mask *= 2
        mask -= 1
        table[:mask + 1] = -1
        for p in range(offsets[t], offsets[t + 1]):
            slot = _fmix64(hashes[p]) & np.uint64(mask)
            while True:
                q = table[slot]
                if q < 0:
                    table[slot] = p
                    break
                if hashes[q] == hashes[p] and ends[q] - starts[q] == ends[p] - starts[p]:
                    same = True
                    for i in range(ends[p] - starts[p]):
                        if data[starts[q] + i] != data[starts[p] + i]:
                            same = False
                            break
                    if same:
                        repeat[p] = True
                        break
                slot = (slot + np.uint64(1)) & np.uint64(mask)
    return repeat


@_compiled
def affix_matches(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, affix: np.ndarray, at_end: bool
                  ) -> np.ndarray:
    """Whether each piece ``data[starts[p]:ends[p]]`` starts (or, ``at_end``, ends) with ``affix``'s
    bytes."""
    out = np.zeros(starts.size, np.bool_)
    n = affix.size
    for p in range(starts.size):
        if ends[p] - starts[p] < n:
            continue
        at = ends[p] - n if at_end else starts[p]
        same = True
        for i in range(n):
            if data[at + i] != affix[i]:
                same = False
                break
        out[p] = same
    return out


# Features of :func:`pii_lines`, rows of its outputs.
LINE_NUMBERED, LINE_DIGIT_TRIGGER, LINE_NAME_RUN, LINE_GREETING, LINE_STREET, LINE_LITERAL = 0, 1, 2, 3, 4, 5
_FEATURES = 6
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_STREET_MASK = np.uint64((1 << 16) - 1)


@_compiled
def _in_sorted(values: np.ndarray, v: Any) -> bool:
    """Whether ``v`` is in the sorted ``values``."""
    j = np.searchsorted(values, v)
    return j < values.size and values[j] == v


@_compiled
def _decimal_at(data: np.ndarray, i: int, digits: np.ndarray) -> bool:
    """Whether the character starting at byte ``i`` is a decimal digit (Python's ``\\d``)."""
    c = data[i]
    if c < 0x80:
        return 48 <= c <= 57
    if c < 0xC0:
        return False
    return _in_sorted(digits, _codepoint_at(data, i))


@_compiled
def _char_len(c: np.uint8) -> int:
    return 1 if c < 0xC0 else 2 if c < 0xE0 else 3 if c < 0xF0 else 4


@_compiled
def _dotted_quad_tail(data: np.ndarray, i: int, end: int, digits: np.ndarray) -> bool:
    """Whether ``\\d{1,3}\\.\\d{1,3}\\.\\d`` matches at byte ``i`` (the rest of ``\\d\\.\\d{1,3}...``
    after its first dot): greedy ``\\d{1,3}`` can only end at the dot, so no backtracking."""
    for _ in range(2):
        n = 0
        while i < end and n < 4 and _decimal_at(data, i, digits):
            i += _char_len(data[i])
            n += 1
        if n == 0 or n > 3 or i >= end or data[i] != 46:
            return False
        i += 1
    return i < end and _decimal_at(data, i, digits)


@_compiled
def _upper_len(data: np.ndarray, i: int, end: int) -> int:
    """Bytes of ``[A-Z\\u00c0-\\u00d6\\u00d8-\\u00de]`` at ``i``, or 0."""
    c = data[i]
    if 65 <= c <= 90:
        return 1
    if c == 0xC3 and i + 1 < end and 0x80 <= data[i + 1] <= 0x9E and data[i + 1] != 0x97:
        return 2
    return 0


@_compiled
def _lower_len(data: np.ndarray, i: int, end: int) -> int:
    """Bytes of ``[a-z\\u00df-\\u00f6\\u00f8-\\u00ff]`` at ``i``, or 0."""
    if i >= end:
        return 0
    c = data[i]
    if 97 <= c <= 122:
        return 1
    if c == 0xC3 and i + 1 < end and 0x9F <= data[i + 1] <= 0xBF and data[i + 1] != 0xB7:
        return 2
    return 0


@_compiled
def _title_len(data: np.ndarray, i: int, end: int) -> int:
    """Bytes of how a name word starts at ``i`` (``[UP][lower]`` or ``[UP]'[UP][lower]``), or 0."""
    n = _upper_len(data, i, end)
    if n == 0:
        return 0
    k = i + n
    if k < end and data[k] == 39:
        m = _upper_len(data, k + 1, end) if k + 1 < end else 0
        low = _lower_len(data, k + 1 + m, end) if m else 0
        return k + 1 + m + low - i if low else 0
    low = _lower_len(data, k, end)
    return k + low - i if low else 0


@_compiled
def _same(data: np.ndarray, start: int, words: np.ndarray, a: int, n: int) -> bool:
    """Whether ``data[start:start + n]`` equals ``words[a:a + n]``."""
    for x in range(n):
        if data[start + x] != words[a + x]:
            return False
    return True


@_compiled
def _is_one_of(data: np.ndarray, start: int, n: int, words: np.ndarray, offsets: np.ndarray) -> bool:
    """Whether ``data[start:start + n]`` is one of ``words`` (bytes back to back, ``offsets``)."""
    for k in range(offsets.size - 1):
        if offsets[k + 1] - offsets[k] == n and _same(data, start, words, offsets[k], n):
            return True
    return False


@_compiled
def _name_before(data: np.ndarray, ls: int, q: int, particles: np.ndarray, particle_offsets: np.ndarray) -> bool:
    """Whether, before the space at ``q`` (on a line starting at ``ls``) that a name word follows,
    there are ``(?:[UP]\\.|particle) `` items after a run of letters, ``-``, ``'`` and non-ASCII
    bytes holding the start of a name word (``RUN``'s first word): read backwards from the space,
    so that only the few spaces before a name word are looked at."""
    p = q - 1
    while p >= ls:
        if data[p] == 46:  # an initial, "F.", with a space before it
            if p - 1 >= ls and _upper_len(data, p - 1, p) == 1:
                s = p - 1
            elif p - 2 >= ls and _upper_len(data, p - 2, p) == 2:
                s = p - 2
            else:
                return False
            if s - 1 < ls or data[s - 1] != 32:
                return False
            p = s - 2
            continue
        s = p
        while s >= ls and (data[s] >= 0x80 or 65 <= data[s] <= 90 or 97 <= data[s] <= 122
                           or data[s] == 45 or data[s] == 39):
            s -= 1
        s += 1
        if s > p:
            return False
        for a in range(s, p + 1):
            if (65 <= data[a] <= 90 or data[a] == 0xC3) and _title_len(data, a, p + 1):
                return True
        if s - 1 < ls or data[s - 1] != 32:
            return False
        if not _is_one_of(data, s, p + 1 - s, particles, particle_offsets):
            return False
        p = s - 2
    return False


@_compiled
def _literal_around(data: np.ndarray, j: int, ls: int, le: int, literals: np.ndarray, offsets: np.ndarray,
                    anchors: np.ndarray) -> bool:
    """Whether one of ``literals`` lies on the line ``[ls, le)`` with its anchor byte (``anchors``:
    its index in the literal) at ``j``."""
    for g in range(offsets.size - 1):
        a, n, k = offsets[g], offsets[g + 1] - offsets[g], anchors[g]
        start = j - k
        if literals[a + k] == data[j] and ls <= start and start + n <= le and _same(data, start, literals, a, n):
            return True
    return False


@_compiled
def _greeting_at(data: np.ndarray, j: int, le: int, b: int, greetings: np.ndarray, greeting_offsets: np.ndarray
                 ) -> bool:
    """Whether one of ``greetings`` starts at ``j`` (on a line ending at ``le``), then an optional
    ``.`` and a space, a comma or a newline (in a text ending at ``b``)."""
    for g in range(greeting_offsets.size - 1):
        ga, gb = greeting_offsets[g], greeting_offsets[g + 1]
        if j + gb - ga <= le and _same(data, j, greetings, ga, gb - ga):
            e = j + gb - ga
            if e < b and data[e] == 46:
                e += 1
            if e < b and (data[e] == 32 or data[e] == 44 or data[e] == 10):
                return True
    return False


@_compiled
def fnv1a(data: np.ndarray, start: int, end: int) -> np.uint64:
    """FNV-1a (64 bits) of ``data[start:end]``: how :func:`pii_lines` looks words up."""
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * _FNV_PRIME
    return h


@_compiled
def _ends_with_one(data: np.ndarray, start: int, end: int, words: np.ndarray, offsets: np.ndarray) -> bool:
    """Whether ``data[start:end]`` ends with one of ``words`` (bytes back to back, ``offsets``)."""
    for w in range(offsets.size - 1):
        n = offsets[w + 1] - offsets[w]
        if end - start >= n and _same(data, end - n, words, offsets[w], n):
            return True
    return False


@_compiled
def _street_word_on(data: np.ndarray, ls: int, le: int, words: np.ndarray, wide_words: np.ndarray,
                    seen: np.ndarray, endings: np.ndarray, ending_offsets: np.ndarray) -> bool:
    """Whether the line ``data[ls:le]`` holds a street word (see :func:`pii_lines`; ``seen``: whether
    some street word's hash has each value of its low bits, a table lookup before the search)."""
    j = ls
    while j < le:
        c = data[j]
        if 65 <= c <= 90 or 97 <= c <= 122:
            h = _FNV_OFFSET
            ws = j
            while j < le and (65 <= data[j] <= 90 or 97 <= data[j] <= 122):
                h = (h ^ np.uint64(data[j])) * _FNV_PRIME
                j += 1
            if seen[h & _STREET_MASK] and (_in_sorted(words, h) or (j < le and data[j] >= 0x80
                                                                    and _in_sorted(wide_words, h))):
                return True
            if j == ws:
                j += 1
            continue
        if c == 32 and ls < j and j + 1 < le and (48 <= data[j + 1] <= 57 or data[j + 1] >= 0xC0):
            p = data[j - 1]
            if (97 <= p <= 122 or p == 46 or (p == 0x9F and j - 2 >= ls and data[j - 2] == 0xC3)) \
                    and _ends_with_one(data, ls, j, endings, ending_offsets):
                return True
        j += 1
    return False


@_compiled
def pii_lines(data: np.ndarray, text_offsets: np.ndarray, digits: np.ndarray, particles: np.ndarray,
              particle_offsets: np.ndarray, greetings: np.ndarray, greeting_offsets: np.ndarray,
              street_words: np.ndarray, wide_street_words: np.ndarray, endings: np.ndarray,
              ending_offsets: np.ndarray, literals: np.ndarray, literal_offsets: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of lines of each text where the PII finders' line-bound patterns can match.

    Six features, each a necessary condition of a regex, so that the regex scans only those lines
    (:mod:`curation.pii.lines` holds the definitions and the tests compare them):

    - ``LINE_NUMBERED``: the line holds a decimal digit (Python's ``\\d``) or ``s/n``;
    - ``LINE_DIGIT_TRIGGER``: the line holds a match of ``curation.pii.recognizers.DIGIT_TRIGGER``
      (9 digits apart by at most 3 of `` ().-`` each, a dotted quad, or ``[A-Z]{2}\\d\\d``);
    - ``LINE_NAME_RUN``: a name word (``[UP][lower]`` or ``[UP]'[UP][lower]``), the rest of its run
      of letters, ``-`` and ``'``, a space, any initials (``F. ``) and ``particles`` each followed
      by a space, then the start of another name word;
    - ``LINE_GREETING``: the line holds one of ``greetings`` followed by an optional ``.`` and a
      space, a comma or a newline, or the line before does (the name may follow on the next line);
    - ``LINE_STREET``: a numbered line holding a run of ASCII letters whose :func:`fnv1a` is in
      ``street_words``, or in ``wide_street_words`` when a non-ASCII byte follows it, or a space
      before a digit (or a non-ASCII character) after ``[a-z.ß]`` and one of ``endings``;
    - ``LINE_LITERAL``: the line holds one of ``literals`` (each of two bytes or more).

    Args:
        data: The texts' UTF-8 bytes back to back.
        text_offsets: ``data[text_offsets[t]:text_offsets[t + 1]]`` is text t (int64).
        digits: The non-ASCII code points that are decimal digits, sorted.
        particles, particle_offsets: The name particles' bytes back to back, and where each starts.
        greetings, greeting_offsets: The greetings' bytes (each starts with an ASCII capital).
        street_words, wide_street_words: Sorted hashes of street types' ASCII letters.
        endings, ending_offsets: The street types that end a word before its number.
        literals, literal_offsets: Recognizers' trigger literals, bytes back to back.

    Returns:
        ``starts[f]``, ``ends[f]``: each run of feature ``f`` in characters of its text (the end
        past the run's last ``\\n``, or the text's end); ``counts[f, t]``: text t's runs.
    """
    n_texts = text_offsets.size - 1
    most = n_texts
    for i in range(data.size):
        most += data[i] == 10
    starts = np.empty((_FEATURES, most), np.int64)
    ends = np.empty((_FEATURES, most), np.int64)
    counts = np.zeros((_FEATURES, n_texts), np.int64)
    k = np.zeros(_FEATURES, np.int64)
    flags = np.zeros(_FEATURES, np.bool_)
    # A greeting's first byte (a table in L1), then its first two (a call costs ~50 ns). A literal
    # by its first byte that is no small letter (its anchor): small letters are a third of the text.
    opens = np.zeros(256, np.bool_)
    pairs_greeting = np.zeros(1 << 16, np.bool_)
    for g in range(greeting_offsets.size - 1):
        opens[greetings[greeting_offsets[g]]] = True
        pairs_greeting[(np.int64(greetings[greeting_offsets[g]]) << 8) | greetings[greeting_offsets[g] + 1]] = True
    street_seen = np.zeros(np.int64(_STREET_MASK) + 1, np.bool_)
    for h in street_words:
        street_seen[h & _STREET_MASK] = True
    for h in wide_street_words:
        street_seen[h & _STREET_MASK] = True
    anchors = np.zeros(literal_offsets.size - 1, np.int64)
    anchor_bytes = np.zeros(256, np.bool_)
    literal_before = np.zeros(1 << 16, np.bool_)
    literal_after = np.zeros(1 << 16, np.bool_)
    for g in range(literal_offsets.size - 1):
        at = 0
        while at < literal_offsets[g + 1] - literal_offsets[g] - 1 and 97 <= literals[literal_offsets[g] + at] <= 122:
            at += 1
        anchors[g] = at
        anchor_bytes[literals[literal_offsets[g] + at]] = True
        opens[literals[literal_offsets[g] + at]] = True
        # And by the byte before its anchor (after it, for an anchor that opens the literal): most
        # of the text's "-", "_" and capitals fail this one table lookup.
        x = literal_offsets[g] + at
        if at > 0:
            literal_before[(np.int64(literals[x - 1]) << 8) | literals[x]] = True
        else:
            literal_after[(np.int64(literals[x]) << 8) | literals[x + 1]] = True
    for t in range(n_texts):
        a = text_offsets[t]
        b = text_offsets[t + 1]
        first = k.copy()
        i = a
        ci = 0  # data[i] is character ci of the text
        greeted = False  # the line before held a greeting
        while i < b:
            line, ls = ci, i
            # One pass to the line's end: its length, whether it holds a digit, and a space before a
            # name word, a greeting, a literal (a second pass over the line cost 13 % more). The
            # line's end is not known yet, so those tests are bounded by the text's end: the same
            # answers, as a name word, greeting or literal holds no \n.
            digit = False
            named = False
            greeting = False
            literal = False
            while i < b:
                c = data[i]
                if c == 10:
                    break
                if c == 32:
                    if not named and i + 1 < b:
                        d = data[i + 1]
                        if (65 <= d <= 90 or d == 0xC3) and _title_len(data, i + 1, b) \
                                and _name_before(data, ls, i, particles, particle_offsets):
                            named = True
                elif opens[c]:
                    if not greeting and i + 1 < b and pairs_greeting[(np.int64(c) << 8) | data[i + 1]]:
                        greeting = _greeting_at(data, i, b, b, greetings, greeting_offsets)
                    if not literal and anchor_bytes[c] and (
                            (i > ls and literal_before[(np.int64(data[i - 1]) << 8) | c])
                            or (i + 1 < b and literal_after[(np.int64(c) << 8) | data[i + 1]])):
                        literal = _literal_around(data, i, ls, b, literals, literal_offsets, anchors)
                if c >= 0xC0 or 47 <= c <= 57:
                    if c >= 0xC0:
                        if not digit:
                            digit = _decimal_at(data, i, digits)
                    elif c == 47:
                        digit |= a < i < b - 1 and data[i - 1] == 115 and data[i + 1] == 110  # s/n
                    else:
                        digit = True
                ci += (c & 0xC0) != 0x80
                i += 1
            le = i
            flags[:] = False
            flags[LINE_NUMBERED] = digit
            if digit:  # DIGIT_TRIGGER, which needs a digit
                chain = 0  # digits in a row apart by at most 3 separators each
                gap = 0
                up = 0  # ASCII capitals just before
                caps_digit = False  # the last character was a digit after two capitals
                after_digit = False
                j = ls
                while j < le:
                    c = data[j]
                    step = 1
                    if c < 0x80:  # inline: a helper called per byte costs ~18 ns
                        isdigit = 48 <= c <= 57
                    else:
                        isdigit = c >= 0xC0 and _decimal_at(data, j, digits)
                        step = _char_len(c)
                    if isdigit:
                        if caps_digit or (chain > 0 and chain + 1 >= 9):
                            flags[LINE_DIGIT_TRIGGER] = True
                            break
                        caps_digit = up >= 2
                        chain += 1
                        gap = 0
                        up = 0
                        after_digit = True
                    else:
                        caps_digit = False
                        up = up + 1 if 65 <= c <= 90 else 0
                        if c == 32 or c == 40 or c == 41 or c == 45 or c == 46:
                            gap += 1
                            if gap > 3:
                                chain = 0
                        else:
                            chain = 0
                        if c == 46 and after_digit and _dotted_quad_tail(data, j + 1, le, digits):
                            flags[LINE_DIGIT_TRIGGER] = True
                            break
                        after_digit = False
                    j += step
            flags[LINE_NAME_RUN] = named
            flags[LINE_LITERAL] = literal
            flags[LINE_GREETING] = greeting or greeted
            flags[LINE_STREET] = digit and _street_word_on(data, ls, le, street_words, wide_street_words,
                                                           street_seen, endings, ending_offsets)
            greeted = greeting
            end = ci + 1 if i < b else ci
            for f in range(_FEATURES):
                if flags[f]:
                    if k[f] > first[f] and line <= ends[f, k[f] - 1]:  # the line after the run's last
                        ends[f, k[f] - 1] = end
                    else:
                        starts[f, k[f]], ends[f, k[f]] = line, end
                        k[f] += 1
            i += 1
            ci += 1
        for f in range(_FEATURES):
            counts[f, t] = k[f] - first[f]
    return starts, ends, counts
