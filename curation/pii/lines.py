"""Which lines of a batch can hold what the PII finders look for: one compiled pass.

The finders' regexes scan every character of every text, most of them to fail: the phone, card,
IBAN and IP triggers at every digit, the name runs at every capital. Each of these patterns stays on
one line and needs something a byte loop can see there (a digit; nine digits close together; a name
word followed by another), so :func:`curation.kernels.pii_lines` marks the lines that have it, in
one pass over the batch's UTF-8, and the regexes run on those lines only, finding what they find in
the whole text (the tests compare both, feature by feature, on random text and on real text).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from curation.pii.entities import API_TOKEN_LITERALS, AWS_KEY_PREFIXES
from curation.pii.vocab import (DE_NL_ENDINGS, FR_TYPES, GREETINGS, IT_ES_TYPES, PARTICLES, UK_TYPES,
                                USPS_SUFFIXES)

Runs = list[tuple[int, int]]
# Every recognizer's trigger literal of two characters or more (a test checks it): one pass marks
# their lines instead of a str.find per literal per text. "@" keeps its str.find (a memchr).
LITERALS = API_TOKEN_LITERALS + AWS_KEY_PREFIXES


@functools.cache  # once per process
def decimal_digits() -> np.ndarray:
    """The non-ASCII code points Python's ``\\d`` matches (``str.isdecimal``: Unicode's Nd), sorted.
    None lies past U+1FFFF (a test checks every code point)."""
    return np.array([c for c in range(128, 0x20000) if chr(c).isdecimal()], np.uint32)


def _packed(words: tuple[str, ...] | list[str], errors: str = "strict") -> tuple[np.ndarray, np.ndarray]:
    """The words' UTF-8 back to back, and where each starts (one more offset than words)."""
    encoded = [w.encode("utf-8", errors) for w in words]  # a copy for ASCII text
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), offsets


@dataclass(frozen=True, slots=True)
class LineRuns:
    """One text's runs of lines, ``[start, end)`` in characters, each end past its ``\\n``.

    Attributes:
        numbered: Lines holding a decimal digit or ``s/n`` (every street address form).
        digit_trigger: Lines holding a match of ``recognizers.DIGIT_TRIGGER``.
        name_runs: Lines where ``names.RUN`` can match.
        greetings: Lines where ``names.SINGLE`` can start, and the line after each.
        streets: Numbered lines holding a street type where the street patterns of
            :mod:`curation.pii.addresses` need one (:func:`street_words`).
        literals: Lines holding one of ``LITERALS``, the recognizers' trigger literals of two
            characters or more.
    """

    numbered: Runs
    digit_trigger: Runs
    name_runs: Runs
    greetings: Runs
    streets: Runs
    literals: Runs

    @classmethod
    def empty(cls) -> LineRuns:
        """No line of any kind: for a text nothing looks at."""
        return cls(*([] for _ in range(6)))

    @staticmethod
    def windows(text: str, runs: Runs) -> list[tuple[int, int]]:
        """``runs`` as line ranges of ``text`` without their last ``\n``, as the PII stage's windows."""
        return [(start, end - (text[end - 1] == "\n")) for start, end in runs]


@functools.cache  # once per process
def street_words() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`curation.kernels.pii_lines` looks for on a numbered line to mark it a street line.

    Every street form names its type: ``1777 Kramer Court`` after a space and before a word
    boundary, ``87, rue de Barre`` and ``Viale Goffredo, 19`` before a space (or ``C/``, ``Avda.``),
    ``Schaafstraße 1`` at the end of the word before its number. The ASCII letters a type starts
    with are the whole run of ASCII letters there (a non-ASCII byte after them for ``allée``,
    ``Vía``); the word-final types are compared as bytes.

    Returns:
        The sorted FNV-1a hashes of the types' ASCII letters, those followed by a non-ASCII
        character apart, and the word-final types' UTF-8 back to back with their offsets.
    """
    from curation.kernels import fnv1a

    words: set[int] = set()
    wide: set[int] = set()
    for word in USPS_SUFFIXES + UK_TYPES + FR_TYPES + IT_ES_TYPES:
        letters = re.match(r"[A-Za-z]+", word)
        if letters is None:
            raise ValueError(f"street type {word!r} starts with no ASCII letter")
        rest = word[letters.end():]
        head = np.frombuffer(letters.group().encode("ascii"), np.uint8)
        (wide if rest and not rest[0].isascii() else words).add(int(fnv1a(head, 0, head.size)))
    return (np.array(sorted(words), np.uint64), np.array(sorted(wide), np.uint64), *_packed(DE_NL_ENDINGS))


def line_runs(texts: list[str]) -> list[LineRuns]:
    """Each text's :class:`LineRuns`, from one compiled pass over the batch."""
    from curation.kernels import pii_lines  # Numba: only where PII is looked for

    # A lone surrogate (the readers quarantine them) stays one character of three bytes.
    starts, ends, counts = pii_lines(*_packed(texts, "surrogatepass"), decimal_digits(),
                                     *_packed(tuple(sorted(PARTICLES))), *_packed(GREETINGS), *street_words(),
                                     *_packed(LITERALS))
    features = []
    for f in range(len(counts)):
        bounds = np.concatenate(([0], np.cumsum(counts[f]))).tolist()
        n = bounds[-1]
        pairs = list(zip(starts[f, :n].tolist(), ends[f, :n].tolist()))
        features.append([pairs[bounds[t]:bounds[t + 1]] for t in range(len(texts))])
    return [LineRuns(*runs) for runs in zip(*features)]


def scan(pattern: re.Pattern[str], text: str, runs: Runs) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` for a pattern whose matches start on ``runs``' lines and end
    there: the same matches (a look-behind reads before the run's start, a look-ahead at its end
    reads the ``\\n`` or the text's end, as in the whole text)."""
    for start, end in runs:
        yield from pattern.finditer(text, start, end)
