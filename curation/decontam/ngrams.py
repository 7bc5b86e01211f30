"""Word n-grams as 64-bit hashes over whole batches, and the index of the evaluation items' n-grams.

Words are dedup's (:func:`curation.dedup.normalize.tokenize_batch`: NFC, lowercase, punctuation and
symbols removed, split on whitespace: lm-evaluation-harness's janitor's "lowercased, punctuation-
stripped" words), each hashed once per batch (xxh3-64), and an n-gram's hash combines its words'
(``h = h * C + word``, mod 2^64) with numpy over every window of every document at once. Matching is
exact on those hashes: a false match needs a 64-bit collision, and a reported match shows its words.

An item of ``n`` words or more is indexed by every n-gram in it. A shorter one (of at least
``min_words``) matches only whole, as GPT-3 did for short items (Brown et al. 2020, appendix C): it is
found by its first ``min_words`` words, and each such candidate is then compared on the item's whole
length. Documents are so hashed at two window lengths only, whatever the items' lengths.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from curation.dedup.config import NormalizeConfig
from curation.dedup.minhash import COMBINE, U64, word_token_hashes
from curation.dedup.normalize import TokenBatch, tokenize_batch
from curation.io.files import write_atomic

log = logging.getLogger(__name__)

WORDS = NormalizeConfig()  # the normalization of both sides: dedup's defaults
MASK64 = (1 << 64) - 1
# One bit per value of a hash's top bits: 2**27 bits (16 MiB), ~1.4 % set by the ten bundled sets'
# 1.8 M n-grams, so 1 in 70 of a corpus's windows is binary-searched (a 2**24 table of bytes, the
# same memory, let 1 in 10 through: the searches were 40 % of the scan).
PREFILTER_BITS = 27
# Part of a cached index's key: bump it whenever build() or the words change, so that an index cached
# by older code is never read.
INDEX_VERSION = 1


def index_cache_dir() -> Path:
    """Where built indexes are kept between runs (``$XDG_CACHE_HOME/curation/decontam``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curation" / "decontam"


@dataclass(frozen=True, slots=True)
class Windows:
    """Every ``n``-word window of a batch: its hash, the document it lies in and its first word."""

    hashes: np.ndarray  # uint64
    docs: np.ndarray  # int64, index in the batch
    starts: np.ndarray  # int64, index into the batch's flat tokens


@dataclass(frozen=True, slots=True)
class Matches:
    """Windows of a batch found in the index, sorted by document then position."""

    docs: np.ndarray  # int64
    starts: np.ndarray  # int64, first word (flat index)
    lengths: np.ndarray  # int64, words matched
    items: np.ndarray  # int32, the item
    hashes: np.ndarray  # uint64, the matched n-gram (or short item) hash


def tokenize(texts: list[str] | pa.Array | pa.ChunkedArray) -> tuple[TokenBatch, np.ndarray]:
    """The batch's words and one xxh3-64 per word."""
    batch = tokenize_batch(texts, WORDS)
    return batch, word_token_hashes(batch)


def combine(word_hashes: list[int]) -> int:
    """The hash of one word sequence (the same as its window's)."""
    whole = 0
    for word in word_hashes:
        whole = (whole * COMBINE + word) & MASK64
    return whole


def window_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of words ``i .. i+n-1`` of the flat stream for every ``i``, across documents too:
    :func:`combine` of each window (:func:`window_hashes_reference`), in one compiled pass."""
    from curation.kernels import window_hashes as rolled  # Numba: only where windows are hashed

    return rolled(word_hashes, n)


def window_hashes_reference(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """:func:`window_hashes` as numpy passes: the definition, kept for the tests."""
    count = max(int(word_hashes.size) - n + 1, 0)
    acc = word_hashes[:count].copy()
    for k in range(1, n):
        acc *= U64(COMBINE)
        acc += word_hashes[k:count + k]
    return acc


def windows(word_hashes: np.ndarray, offsets: np.ndarray, n: int) -> Windows:
    """The hash of every window of ``n`` words that lies inside one document."""
    acc = window_hashes(word_hashes, n)
    count = acc.size
    starts = np.arange(count, dtype=np.int64)
    docs = np.searchsorted(offsets, starts, side="right") - 1
    inside = starts + n <= offsets[docs + 1] if count else np.zeros(0, bool)
    return Windows(acc[inside], docs[inside], starts[inside])


def _prefix_bits(sorted_hashes: np.ndarray) -> np.ndarray:
    """The bit table of :func:`_lookup`: bit ``p`` set where some hash's top :data:`PREFILTER_BITS`
    bits are ``p`` (eight to a byte, lowest first). The hashes are sorted, so each byte's bits are
    next to each other."""
    table = np.zeros(1 << (PREFILTER_BITS - 3), np.uint8)
    if sorted_hashes.size:
        top = sorted_hashes >> U64(64 - PREFILTER_BITS)
        byte = (top >> U64(3)).astype(np.int64)
        first = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
        table[byte[first]] = np.bitwise_or.reduceat(np.left_shift(np.uint8(1), (top & U64(7)).astype(np.uint8)), first)
    return table


def _lookup(sorted_hashes: np.ndarray, prefixes: np.ndarray, word_hashes: np.ndarray, n: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows of ``n`` words (:func:`window_hashes`) found in ``sorted_hashes``: their
    positions, where each is in ``sorted_hashes``, and their hashes. One compiled pass hashes
    every window and tests it against the prefix bit table (:func:`_prefix_bits`), which rejects
    almost all; the rest are binary-searched."""
    from curation.kernels import prefixed_windows  # Numba: only where windows are looked up

    positions, queries = prefixed_windows(word_hashes, n, prefixes, U64(64 - PREFILTER_BITS))
    at = np.searchsorted(sorted_hashes, queries)
    at[at == sorted_hashes.size] = 0
    hit = sorted_hashes[at] == queries if sorted_hashes.size else np.zeros(queries.size, bool)
    return positions[hit], at[hit], queries[hit]


def _within(where: np.ndarray, at: np.ndarray, hashes: np.ndarray, offsets: np.ndarray, n: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hits whose window of ``n`` words lies inside one document."""
    docs = np.searchsorted(offsets, where, side="right") - 1
    inside = where + n <= offsets[docs + 1]
    return where[inside], at[inside], hashes[inside]


@dataclass(frozen=True)
class NgramIndex:
    """The evaluation items' n-grams (sorted hashes, and the first item each came from), and the
    short items (by the hash of their first ``min_words`` words: item, length, whole hash)."""

    n: int
    min_words: int
    hashes: np.ndarray  # uint64, sorted
    items: np.ndarray  # int32
    short_keys: np.ndarray  # uint64, sorted (repeats allowed)
    short_items: np.ndarray  # int32
    short_lengths: np.ndarray  # int64
    short_hashes: np.ndarray  # uint64

    @property
    def size(self) -> int:
        return int(self.hashes.size + self.short_keys.size)

    @functools.cached_property
    def _prefixes(self) -> tuple[np.ndarray, np.ndarray]:
        return _prefix_bits(self.hashes), _prefix_bits(self.short_keys)

    @classmethod
    def build(cls, texts: list[str], n: int, min_words: int, chunk: int = 2000) -> tuple[NgramIndex, int]:
        """The index of ``texts`` (item ``i`` is ``texts[i]``); also how many were too short to index."""
        long_parts, short = [], []
        too_short = 0
        for first in range(0, len(texts), chunk):
            batch, hashes = tokenize(texts[first:first + chunk])
            lengths = batch.lengths
            too_short += int((lengths < min_words).sum())
            found = windows(hashes, batch.offsets, n)
            long_parts.append((found.hashes, (found.docs + first).astype(np.int32)))
            for item in np.flatnonzero((lengths >= min_words) & (lengths < n)).tolist():
                words = hashes[batch.offsets[item]:batch.offsets[item + 1]].tolist()
                short.append((combine(words[:min_words]), item + first, len(words), combine(words)))
        all_hashes = np.concatenate([h for h, _ in long_parts]) if long_parts else np.zeros(0, U64)
        all_items = np.concatenate([i for _, i in long_parts]) if long_parts else np.zeros(0, np.int32)
        hashes, first_at = np.unique(all_hashes, return_index=True)  # the first item speaks for an n-gram
        short.sort()
        return cls(n, min_words, hashes, all_items[first_at],
                   np.array([s[0] for s in short], U64), np.array([s[1] for s in short], np.int32),
                   np.array([s[2] for s in short], np.int64), np.array([s[3] for s in short], U64)), too_short

    def matches(self, word_hashes: np.ndarray, offsets: np.ndarray) -> Matches:
        """Every window of the batch found in the index, sorted by document, then position.

        Every position of the flat word stream is looked up, windows across two documents too: they
        are few and almost never match, so telling them apart after the lookup, for the matches
        alone, is cheaper than for every window before it.
        """
        prefixes, short_prefixes = self._prefixes
        where, at, found = _within(*_lookup(self.hashes, prefixes, word_hashes, self.n), offsets, self.n)
        docs, starts = [np.searchsorted(offsets, where, side="right") - 1], [where]
        lengths, items, hashes = [np.full(where.size, self.n, np.int64)], [self.items[at]], [found]
        if self.short_keys.size:
            where, at, _ = _within(*_lookup(self.short_keys, short_prefixes, word_hashes, self.min_words), offsets,
                                   self.min_words)
            for start, a in zip(where.tolist(), at.tolist()):  # rare: compare each candidate on its whole length
                doc = int(np.searchsorted(offsets, start, side="right") - 1)
                j = a
                while j < self.short_keys.size and self.short_keys[j] == self.short_keys[a]:
                    length = int(self.short_lengths[j])
                    if start + length <= offsets[doc + 1] and \
                            combine(word_hashes[start:start + length].tolist()) == int(self.short_hashes[j]):
                        docs.append(np.array([doc])), starts.append(np.array([start]))
                        lengths.append(np.array([length])), items.append(self.short_items[j:j + 1])
                        hashes.append(self.short_hashes[j:j + 1])
                    j += 1
        columns = [np.concatenate(c) for c in (docs, starts, lengths, items, hashes)]
        order = np.lexsort((columns[1], columns[0]))
        return Matches(*(c[order] for c in columns))

    @classmethod
    def cached(cls, texts: list[str], n: int, min_words: int, directory: Path | None = None
               ) -> tuple[NgramIndex, int]:
        """:meth:`build`'s result, read from ``directory`` when these texts were indexed before.

        The bundled sets' index takes ~1.7 s to build on every run and ~0.02 s to read. Its key is
        the sha256 of every text, ``n``, ``min_words`` and :data:`INDEX_VERSION`, so any change to
        the items or the code that builds it builds a new one. An unreadable cache file is rebuilt,
        an unwritable folder only means no cache.
        """
        directory = index_cache_dir() if directory is None else Path(directory)
        digest = hashlib.sha256(f"ngram-index {INDEX_VERSION} {n} {min_words} {len(texts)}\n".encode())
        for text in texts:
            data = text.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
        path = directory / f"index-{digest.hexdigest()[:32]}.npz"
        try:
            with np.load(path) as d:
                return cls._from_arrays(d), int(d["too_short"][0])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("decontaminate: rebuilding the unreadable cached index %s (%s)", path, exc)
        index, too_short = cls.build(texts, n, min_words)
        try:
            write_atomic(path, lambda fh: index.save(fh, too_short=too_short))
        except OSError as exc:
            log.warning("decontaminate: cannot cache the index in %s (%s)", directory, exc)
        return index, too_short

    def save(self, path: str | Path | BinaryIO, **extra: int) -> None:
        np.savez(path, n=np.array([self.n]), min_words=np.array([self.min_words]), hashes=self.hashes,
                 items=self.items, short_keys=self.short_keys, short_items=self.short_items,
                 short_lengths=self.short_lengths, short_hashes=self.short_hashes,
                 **{k: np.array([v]) for k, v in extra.items()})

    @classmethod
    def load(cls, path: str) -> NgramIndex:
        with np.load(path) as d:
            return cls._from_arrays(d)

    @classmethod
    def _from_arrays(cls, d: Mapping[str, np.ndarray]) -> NgramIndex:
        return cls(int(d["n"][0]), int(d["min_words"][0]), d["hashes"], d["items"], d["short_keys"],
                   d["short_items"], d["short_lengths"], d["short_hashes"])
