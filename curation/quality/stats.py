"""Per-document text statistics, computed lazily and at most once per document.

Words are whitespace-separated tokens (``str.split``, as Gopher counts them): the peers spend most
of their time in a spaCy word splitter here (ANCHORS.md). Repetition statistics work on integer
word ids with numpy instead of building one Python string per n-gram.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

# Gopher's stop words (Rae et al. 2021, A.1.1): a document needs at least two of them.
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "‣", "◦", "⁃", "∙", "- ", "* ", "– ")
ELLIPSES = ("...", "…")
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "'", "’")
_PARAGRAPH_SPLIT = re.compile(r"\n\s*\n")
_HAS_ALPHA = re.compile(r"[^\W\d_]")
# Odd 64-bit multipliers for combining word ids into n-gram keys (splitmix64 / golden ratio).
_MIX = np.uint64(0x9E3779B97F4A7C15)
_MUL = np.uint64(0xBF58476D1CE4E5B9)


class TextView:
    """Lazily computed statistics of one text. Every property is computed on first use only."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def words(self) -> list[str]:
        return self.text.split()

    @cached_property
    def _vocabulary(self) -> dict[str, int]:
        """Distinct words in order of first appearance -> their id."""
        return {w: i for i, w in enumerate(dict.fromkeys(self.words))}

    @cached_property
    def word_ids(self) -> np.ndarray:
        """Exact per-document word ids (no hash collisions; deterministic)."""
        return np.fromiter(map(self._vocabulary.__getitem__, self.words), np.intp, len(self.words))

    # Per-word properties are computed once per distinct word and gathered through the ids:
    # documents repeat words, so this does far less Python work than a loop over every word.

    def _per_distinct(self, fn, dtype) -> np.ndarray:
        vocab = self._vocabulary
        return np.fromiter(map(fn, vocab), dtype, len(vocab))[self.word_ids]

    @cached_property
    def word_lengths(self) -> np.ndarray:
        return self._per_distinct(len, np.int64)

    @cached_property
    def word_chars(self) -> int:
        return int(self.word_lengths.sum())

    @cached_property
    def lines(self) -> list[str]:
        """Non-empty lines, stripped."""
        return [s for line in self.text.split("\n") if (s := line.strip())]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [s for p in _PARAGRAPH_SPLIT.split(self.text) if (s := p.strip())]

    def alpha_word_fraction(self) -> float:
        if not self.words:
            return 0.0
        has_letter = self._per_distinct(lambda w: _HAS_ALPHA.search(w) is not None, bool)
        return np.count_nonzero(has_letter) / len(self.words)

    def stop_word_count(self) -> int:
        return int(np.count_nonzero(self._per_distinct(lambda w: w.lower() in GOPHER_STOP_WORDS, bool)))

    def ngram_keys(self, n: int) -> np.ndarray:
        """One uint64 key per word n-gram (equal n-grams, equal keys; distinct ones collide ~2^-64)."""
        ids = self.word_ids.astype(np.uint64) * _MIX + np.uint64(1)
        count = len(ids) - n + 1
        if count <= 0:
            return np.zeros(0, np.uint64)
        keys = ids[:count].copy()
        for k in range(1, n):
            keys = keys * _MUL + ids[k:k + count]
        return keys

    def top_ngram_char_fraction(self, n: int) -> float:
        """Characters covered by the most frequent word n-gram (every occurrence) / word characters.

        Gopher's "fraction of characters in the most common n-gram"; characters are non-space
        characters of words, so indentation and line breaks do not dilute it.
        """
        keys = self.ngram_keys(n)
        if len(keys) == 0 or self.word_chars == 0:
            return 0.0
        ordered = np.sort(keys)
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        counts = np.diff(np.append(starts, len(ordered)))
        top = counts.max()
        if top < 2:
            return 0.0
        # Ties go to the n-gram seen first, as Counter.most_common does in DataTrove's version.
        start = int(np.flatnonzero(np.isin(keys, ordered[starts[counts == top]]))[0])
        return float(self.word_lengths[start:start + n].sum() * top) / self.word_chars

    def duplicate_ngram_char_fraction(self, n: int) -> float:
        """Characters in word n-grams that occur more than once / word characters.

        Gopher's definition (Rae et al. 2021, A.1.1): every occurrence counts, and a character
        covered by several overlapping duplicate n-grams counts once.
        """
        keys = self.ngram_keys(n)
        if len(keys) == 0 or self.word_chars == 0:
            return 0.0
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        starts = np.flatnonzero(counts[inverse] > 1)
        if len(starts) == 0:
            return 0.0
        edges = np.zeros(len(self.words) + 1, np.int64)
        edges[starts] += 1
        edges[starts + n] -= 1
        covered = np.cumsum(edges[:-1]) > 0
        return float(self.word_lengths[covered].sum()) / self.word_chars

    @staticmethod
    def duplicate_fractions(items: list[str]) -> tuple[float, float]:
        """(repeated items / items, characters in repeated items / characters): repeats after the first."""
        if not items:
            return 0.0, 0.0
        seen: set[str] = set()
        dup_count = dup_chars = total_chars = 0
        for item in items:
            total_chars += len(item)
            if item in seen:
                dup_count += 1
                dup_chars += len(item)
            else:
                seen.add(item)
        return dup_count / len(items), (dup_chars / total_chars if total_chars else 0.0)
