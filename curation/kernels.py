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
(Arrow's kernels, datasketch, the per-document Python reference).
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
        while piece <= end:
            # The next cut [cut, after): a \n, or a paragraph break; none: the text's end.
            cut = after = end
            while i < end:
                c = data[i]
                if not paragraphs:
                    if c == 10:
                        cut, after = i, i + 1
                        i += 1
                        break
                    i += 1
                    continue
                if c != 10:  # a break's run holds a \n, and its first one starts the match
                    i += 1
                    continue
                newlines = 0
                first_nl = last_nl = i
                while i < end:
                    c = data[i]
                    w = (1 if (9 <= c <= 13 or 28 <= c <= 32) else 0) if c < 0x80 else _wide_space_at(data, i)
                    if w == 0:
                        break
                    if c == 10:
                        if newlines == 0:
                            first_nl = i
                        last_nl = i
                        newlines += 1
                    i += w
                if newlines >= 2:
                    cut, after = first_nl, last_nl + 1
                    break
            # data[piece:cut], stripped; kept unless empty.
            s, e = piece, cut
            while s < e:
                c = data[s]
                w = (1 if (9 <= c <= 13 or 28 <= c <= 32) else 0) if c < 0x80 else _wide_space_at(data, s)
                if w == 0:
                    break
                s += w
            while e > s:
                j = e - 1
                while data[j] & 0xC0 == 0x80:  # back to the character's first byte
                    j -= 1
                c = data[j]
                if ((1 if (9 <= c <= 13 or 28 <= c <= 32) else 0) if c < 0x80 else _wide_space_at(data, j)) == 0:
                    break
                e = j
            if s < e:
                chars = 0
                for b in range(s, e):
                    chars += data[b] & 0xC0 != 0x80
                starts[k], ends[k], lengths[k] = s, e, chars
                k += 1
            if cut == end:
                break
            piece = after
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


@_compiled
def numbered_lines(data: np.ndarray, text_offsets: np.ndarray, digits: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of lines of each text that hold a decimal digit (Python's ``\\d``) or ``s/n``.

    Args:
        data: The texts' UTF-8 bytes back to back.
        text_offsets: ``data[text_offsets[t]:text_offsets[t + 1]]`` is text t (int64).
        digits: The non-ASCII code points that are decimal digits, sorted.

    Returns:
        Each run's start and end in characters of its text (the end past the run's last ``\\n``,
        or the text's end), and the runs of each text (int64), in text order.
    """
    n_texts = text_offsets.size - 1
    most = n_texts
    for i in range(data.size):
        most += data[i] == 10
    starts = np.empty(most, np.int64)
    ends = np.empty(most, np.int64)
    counts = np.zeros(n_texts, np.int64)
    k = 0
    for t in range(n_texts):
        a = text_offsets[t]
        b = text_offsets[t + 1]
        first = k
        i = a
        ci = 0  # data[i] is character ci of the text
        line = 0
        while i < b:
            numbered = False
            while i < b:  # to the line's end, or its first digit or s/n
                c = data[i]
                # One rarely true test per byte: a frequent one (an "s") mispredicted made it 2x slower.
                if c == 10 or c == 47 or 48 <= c <= 57 or c >= 0xC0:
                    if c == 10:
                        break
                    if c == 47:  # s/n
                        numbered = a < i < b - 1 and data[i - 1] == 115 and data[i + 1] == 110
                    elif c <= 57:
                        numbered = True
                    else:
                        cp = _codepoint_at(data, i)
                        j = np.searchsorted(digits, cp)
                        numbered = j < digits.size and digits[j] == cp
                    if numbered:
                        break
                ci += (c & 0xC0) != 0x80
                i += 1
            if numbered:
                while i < b and data[i] != 10:
                    ci += (data[i] & 0xC0) != 0x80
                    i += 1
                end = ci + 1 if i < b else ci
                if k > first and line <= ends[k - 1]:  # the line after the run's last
                    ends[k - 1] = end
                else:
                    starts[k], ends[k] = line, end
                    k += 1
            i += 1
            ci += 1
            line = ci
        counts[t] = k - first
    return starts[:k], ends[:k], counts
