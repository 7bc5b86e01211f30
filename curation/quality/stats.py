"""Text statistics for the rule filters, computed for a whole batch of documents at once.

Words are whitespace-separated tokens (``str.split``, as Gopher counts them): the peers spend most
of their time in a spaCy word splitter here (ANCHORS.md). A :class:`TextBatch` splits all its texts
into words, lines and paragraphs in compiled passes over their UTF-8 bytes (:mod:`curation.kernels`),
gives each distinct word one integer id, and computes every statistic for all its documents with
numpy: done per document, the fixed cost of the Python and numpy calls exceeded the work on the
bench corpus's mostly short documents. :class:`TextView` is one document's window onto its batch,
:class:`Columns` every document's at once (the same names, arrays): the rules see one or the other.

The splits agree exactly with Python's ``str.split()``, ``str.split("\\n")``, ``re.split(r"\\n\\s*\\n")``,
``str.strip()`` and ``len()``, and the tests check it for every code point; statistics are compared
with a plain per-document Python computation on every document of ``sample_data``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Gopher's stop words (Rae et al. 2021, A.1.1): a document needs at least two of them.
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "‣", "◦", "⁃", "∙", "- ", "* ", "– ")
ELLIPSES = ("...", "…")
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "'", "’")
# The characters str.isspace() accepts: what str.split(), str.strip() and Python's regex \s use.
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_STOP_WORDS = pa.array(sorted(GOPHER_STOP_WORDS))
_HAS_ALPHA = re.compile(r"[^\W\d_]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Odd 64-bit multiplier for combining word ids into n-gram keys (splitmix64's).
_MUL = np.uint64(0xBF58476D1CE4E5B9)
# Characters per TextBatch, whatever the stage's batch size (a longer document is a batch of its own):
# bounds the per-word arrays, ~250 bytes per word at the peak (122 MB measured for 3.9 M characters,
# 486 k words of the bench corpus), and was the fastest size there (1 M: +2 %, 4 M: +10 %).
CHUNK_CHARS = 2_000_000


def text_batches(texts: list[str], chunk_chars: int = CHUNK_CHARS) -> Iterator[TextBatch]:
    """The texts, in order, as batches of at most ``chunk_chars`` characters (a longer text alone)."""
    start = size = 0
    for i, text in enumerate(texts):
        if size and size + len(text) > chunk_chars:
            yield TextBatch(texts[start:i])
            start, size = i, 0
        size += len(text)
    if start < len(texts):
        yield TextBatch(texts[start:])


def text_views(texts: list[str], chunk_chars: int = CHUNK_CHARS) -> Iterator[TextView]:
    """One view per text, in order, from batches of at most ``chunk_chars`` characters."""
    for batch in text_batches(texts, chunk_chars):
        yield from batch.views()


def ratio(numerators: Any, denominators: Any) -> Any:
    """``a / b``, 0.0 where ``b`` is 0: for one document's numbers (a view's) or every document's
    (:class:`Columns`), with the same values (see :func:`_ratio`)."""
    if np.ndim(denominators) == 0:
        return numerators / denominators if denominators else 0.0
    return _ratio(np.asarray(numerators), np.asarray(denominators))


def symbol_count(text: str) -> int:
    """``#`` and ellipses (Gopher's symbols); :func:`curation.kernels.symbol_counts` for a batch."""
    return text.count("#") + sum(text.count(e) for e in ELLIPSES)


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``values[offsets[d]:offsets[d + 1]]`` for every d: exact for integers, 0 when empty."""
    cumulative = np.zeros(len(values) + 1, np.int64)
    np.cumsum(values, out=cumulative[1:])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]


def _ratio(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """Integer / integer as float64, the same value as Python's ``a / b``; 0.0 where b is 0."""
    out = np.zeros(len(numerators), np.float64)
    np.divide(numerators, denominators, out=out, where=denominators > 0)
    return out


class _Pieces:
    """The stripped, non-empty pieces (lines or paragraphs) of a batch's texts, in document order:
    where each lies in the batch's UTF-8 bytes, cut in one compiled pass
    (:func:`curation.kernels.trimmed_pieces`)."""

    def __init__(self, data: np.ndarray, text_offsets: np.ndarray, paragraphs: bool):
        from curation.kernels import trimmed_pieces  # Numba: only where rules look at lines

        self.data = data
        self.starts, self.ends, self.lengths, self.counts = trimmed_pieces(data, text_offsets, paragraphs)
        self.offsets = np.concatenate(([0], np.cumsum(self.counts)))

    def share(self, mask: np.ndarray) -> np.ndarray:
        """Per document: pieces where ``mask`` holds / pieces."""
        return _ratio(_segment_sums(mask, self.offsets), self.counts)

    def affixed(self, affix: str, at_end: bool) -> np.ndarray:
        """Whether each piece starts (``at_end``: ends) with ``affix``."""
        from curation.kernels import affix_matches

        return affix_matches(self.data, self.starts, self.ends, np.frombuffer(affix.encode(), np.uint8), at_end)

    @cached_property
    def duplicates(self) -> tuple[np.ndarray, np.ndarray]:
        """Per document: (repeated pieces / pieces, their characters / all characters), where a repeat
        is any occurrence after the first of an identical piece in the same document."""
        from curation.kernels import repeated_pieces

        repeat = repeated_pieces(self.data, self.starts, self.ends, self.offsets)
        chars = _segment_sums(self.lengths, self.offsets)
        return (_ratio(_segment_sums(repeat, self.offsets), self.counts),
                _ratio(_segment_sums(np.where(repeat, self.lengths, 0), self.offsets), chars))


class TextBatch:
    """Statistics of a list of texts; each is computed for all of them on first use, then kept."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._memo: dict[Any, Any] = {}

    def views(self) -> list[TextView]:
        return [TextView(text, self, i) for i, text in enumerate(self.texts)]

    @cached_property
    def columns(self) -> Columns:
        return Columns(self)

    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @cached_property
    def _array(self) -> pa.Array:
        try:
            return pa.array(self.texts, pa.large_string())
        except UnicodeEncodeError:
            # A lone surrogate (the readers quarantine them as invalid_utf8): Arrow needs valid UTF-8,
            # so it counts as U+FFFD here, like it one character, not a letter, space or punctuation.
            return pa.array([_SURROGATE.sub("\ufffd", t) for t in self.texts], pa.large_string())

    # --- words ---

    @cached_property
    def _split(self) -> tuple[pa.Array, np.ndarray]:
        """Every word of the batch and where each document's begin: ``str.split()``'s words (the
        whitespace of Arrow's ``utf8_split_whitespace``, which is ``str.isspace``; tested on every
        code point), in one compiled pass (:func:`curation.words.split_words`)."""
        from curation.words import split_words

        return split_words(self._array, strip_punctuation=False)

    @cached_property
    def _words(self) -> tuple[np.ndarray, pa.Array]:
        """(id of each word of the batch, the distinct words in order of first use)."""
        encoded = pc.dictionary_encode(self._split[0])
        return encoded.indices.to_numpy().astype(np.int64), encoded.dictionary

    @cached_property
    def word_offsets(self) -> np.ndarray:
        """Document d's words are ``[word_offsets[d], word_offsets[d + 1])`` of the batch."""
        return self._split[1]

    @cached_property
    def word_counts(self) -> np.ndarray:
        return np.diff(self.word_offsets)

    def _per_document(self, distinct_values: np.ndarray) -> np.ndarray:
        """Per document: the sum of its words' values (one value per distinct word; a flag counts
        the words that have it), in one compiled pass (:func:`curation.kernels.distinct_sums`)
        instead of a per-word array and its cumulative sum each time."""
        from curation.kernels import distinct_sums

        return distinct_sums(self._words[0], self.word_offsets, distinct_values)

    @cached_property
    def _distinct_lengths(self) -> np.ndarray:
        return pc.utf8_length(self._words[1]).to_numpy().astype(np.int64, copy=False)

    @cached_property
    def word_lengths(self) -> np.ndarray:
        return self._distinct_lengths[self._words[0]]

    @cached_property
    def word_chars(self) -> np.ndarray:
        """Non-space characters of each document's words."""
        return self._per_document(self._distinct_lengths)

    @cached_property
    def alpha_word_counts(self) -> np.ndarray:
        """Per document: words with a letter (Python's ``[^\\W\\d_]``)."""
        distinct = self._words[1]
        # An ASCII letter decides it; so does being ASCII without one. The other words go to Python.
        has_letter = pc.match_substring_regex(distinct, "[A-Za-z]").to_numpy(zero_copy_only=False)
        undecided = np.flatnonzero(~has_letter & ~pc.string_is_ascii(distinct).to_numpy(zero_copy_only=False))
        has_letter[undecided] = [_HAS_ALPHA.search(w) is not None for w in distinct.take(undecided).to_pylist()]
        return self._per_document(has_letter)

    @cached_property
    def symbol_counts(self) -> np.ndarray:
        """:func:`symbol_count` of every text, in one compiled pass over their bytes (three
        ``str.count`` per text took 7 % of the default rules' time on the bench corpus)."""
        from curation.kernels import symbol_counts

        return symbol_counts(*self._bytes)

    @cached_property
    def newline_counts(self) -> np.ndarray:
        return np.fromiter((t.count("\n") for t in self.texts), np.int64, len(self.texts))

    @cached_property
    def stop_word_counts(self) -> np.ndarray:
        # Exact: only ASCII words lower() to an ASCII stop word (the one other character lowering to
        # ASCII is the Kelvin sign, to "k"; tested), and ascii_lower leaves other bytes as they are.
        stop = pc.is_in(pc.ascii_lower(self._words[1]), value_set=_STOP_WORDS)
        return self._per_document(stop.to_numpy(zero_copy_only=False))

    # --- word n-grams ---

    def _ngram_cover(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per document: (characters of its most frequent repeated n-gram x its count, characters
        of words inside any repeated n-gram), and where repeated n-grams start, from one hash table
        per document (:func:`curation.kernels.ngram_cover`; n-grams compared word by word, so
        exact). An n-gram repeats only if each m-gram inside it does: the largest m done so far
        leaves a fraction of the windows to look at."""
        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            from curation.kernels import ngram_cover  # Numba: only where n-grams are counted

            done = [k[1] for k in self._memo if k[0] == "ngrams" and k[1] < n]
            m = max(done, default=0)
            shorter = self._memo[("ngrams", m)][2] if m else np.zeros(0, bool)
            return ngram_cover(np.ascontiguousarray(self._words[0]), np.ascontiguousarray(self.word_lengths, np.int64),
                               np.ascontiguousarray(self.word_offsets, np.int64), n, _MUL, shorter, m)
        return self._cached(("ngrams", n), compute)

    def top_ngram_char_fractions(self, n: int) -> np.ndarray:
        """Per document: characters covered by its most frequent word n-gram (every occurrence) / its
        word characters; 0.0 when no n-gram occurs twice.

        Gopher's "fraction of characters in the most common n-gram"; characters are non-space
        characters of words, so indentation and line breaks do not dilute it. Ties go to the n-gram
        seen first, as Counter.most_common does in DataTrove's version.
        """
        return self._cached(("top", n), lambda: _ratio(self._ngram_cover(n)[0], self.word_chars))

    def duplicate_ngram_char_fractions(self, n: int) -> np.ndarray:
        """Per document: characters in word n-grams that occur more than once / word characters.

        Gopher's definition (Rae et al. 2021, A.1.1): every occurrence counts, and a character
        covered by several overlapping duplicate n-grams counts once.
        """
        return self._cached(("duplicate", n), lambda: _ratio(self._ngram_cover(n)[1], self.word_chars))

    # --- lines and paragraphs ---

    @cached_property
    def _bytes(self) -> tuple[np.ndarray, np.ndarray]:
        from curation.words import utf8_bytes

        return utf8_bytes(self._array)

    @cached_property
    def lines(self) -> _Pieces:
        """Non-empty lines (split at ``\\n``), stripped."""
        return _Pieces(*self._bytes, paragraphs=False)

    @cached_property
    def paragraphs(self) -> _Pieces:
        """Non-empty paragraphs (split at Python's ``\\n\\s*\\n``), stripped."""
        return _Pieces(*self._bytes, paragraphs=True)

    def line_share(self, starting: tuple[str, ...] = (), ending: tuple[str, ...] = (),
                   max_chars: int | None = None) -> np.ndarray:
        """Per document: the share of lines that start with one of ``starting``, end with one of
        ``ending``, or are at most ``max_chars`` long."""
        def compute() -> np.ndarray:
            mask = np.zeros(len(self.lines.starts), bool)
            for prefix in starting:
                mask |= self.lines.affixed(prefix, at_end=False)
            for suffix in ending:
                mask |= self.lines.affixed(suffix, at_end=True)
            if max_chars is not None:
                mask |= self.lines.lengths <= max_chars
            return self.lines.share(mask)
        return self._cached(("line_share", starting, ending, max_chars), compute)


class TextView:
    """One document of a :class:`TextBatch`. ``TextView(text)`` alone is a batch of one."""

    def __init__(self, text: str, batch: TextBatch | None = None, index: int = 0):
        self.text = text
        self.batch = TextBatch([text]) if batch is None else batch
        self.index = index

    @cached_property
    def word_count(self) -> int:
        return int(self.batch.word_counts[self.index])

    @cached_property
    def word_chars(self) -> int:
        return int(self.batch.word_chars[self.index])

    @cached_property
    def line_count(self) -> int:
        return int(self.batch.lines.counts[self.index])

    @cached_property
    def symbol_count(self) -> int:
        return symbol_count(self.text)

    @cached_property
    def newline_count(self) -> int:
        return self.text.count("\n")

    @cached_property
    def line_duplicates(self) -> tuple[float, float]:
        """(repeated lines / lines, characters in repeated lines / characters in lines)."""
        count, chars = self.batch.lines.duplicates
        return float(count[self.index]), float(chars[self.index])

    @cached_property
    def paragraph_duplicates(self) -> tuple[float, float]:
        count, chars = self.batch.paragraphs.duplicates
        return float(count[self.index]), float(chars[self.index])

    def line_share(self, starting: tuple[str, ...] = (), ending: tuple[str, ...] = (),
                   max_chars: int | None = None) -> float:
        return float(self.batch.line_share(starting, ending, max_chars)[self.index])

    def alpha_word_fraction(self) -> float:
        return ratio(int(self.batch.alpha_word_counts[self.index]), self.word_count)

    def stop_word_count(self) -> int:
        return int(self.batch.stop_word_counts[self.index])

    def top_ngram_char_fraction(self, n: int) -> float:
        return float(self.batch.top_ngram_char_fractions(n)[self.index])

    def duplicate_ngram_char_fraction(self, n: int) -> float:
        return float(self.batch.duplicate_ngram_char_fractions(n)[self.index])


class Columns:
    """Every document of a :class:`TextBatch` at once: :class:`TextView`'s statistics under the
    same names, as arrays (one entry per document). A rule written with :func:`ratio` and
    comparisons decides the whole batch in one numpy expression instead of one call per document
    (:attr:`curation.quality.rules.RuleFilter.columnar`)."""

    def __init__(self, batch: TextBatch):
        self.batch = batch

    @property
    def word_count(self) -> np.ndarray:
        return self.batch.word_counts

    @property
    def word_chars(self) -> np.ndarray:
        return self.batch.word_chars

    @property
    def line_count(self) -> np.ndarray:
        return self.batch.lines.counts

    @property
    def symbol_count(self) -> np.ndarray:
        return self.batch.symbol_counts

    @property
    def newline_count(self) -> np.ndarray:
        return self.batch.newline_counts

    @property
    def line_duplicates(self) -> tuple[np.ndarray, np.ndarray]:
        return self.batch.lines.duplicates

    @property
    def paragraph_duplicates(self) -> tuple[np.ndarray, np.ndarray]:
        return self.batch.paragraphs.duplicates

    def line_share(self, starting: tuple[str, ...] = (), ending: tuple[str, ...] = (),
                   max_chars: int | None = None) -> np.ndarray:
        return self.batch.line_share(starting, ending, max_chars)

    def alpha_word_fraction(self) -> np.ndarray:
        return ratio(self.batch.alpha_word_counts, self.batch.word_counts)

    def stop_word_count(self) -> np.ndarray:
        return self.batch.stop_word_counts

    def top_ngram_char_fraction(self, n: int) -> np.ndarray:
        return self.batch.top_ngram_char_fractions(n)

    def duplicate_ngram_char_fraction(self, n: int) -> np.ndarray:
        return self.batch.duplicate_ngram_char_fractions(n)
