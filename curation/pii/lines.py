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

Runs = list[tuple[int, int]]


@functools.cache  # once per process
def decimal_digits() -> np.ndarray:
    """The non-ASCII code points Python's ``\\d`` matches (``str.isdecimal``: Unicode's Nd), sorted.
    None lies past U+1FFFF (a test checks every code point)."""
    return np.array([c for c in range(128, 0x20000) if chr(c).isdecimal()], np.uint32)


def _packed(words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [w.encode("ascii") for w in words]
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
    """

    numbered: Runs
    digit_trigger: Runs
    name_runs: Runs
    greetings: Runs


def line_runs(texts: list[str]) -> list[LineRuns]:
    """Each text's :class:`LineRuns`, from one compiled pass over the batch."""
    from curation.kernels import pii_lines  # Numba: only where PII is looked for
    from curation.pii.names import GREETINGS, PARTICLES

    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]  # a copy for ASCII text
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    starts, ends, counts = pii_lines(np.frombuffer(b"".join(encoded), np.uint8), offsets, decimal_digits(),
                                     *_packed(tuple(sorted(PARTICLES))), *_packed(GREETINGS))
    features = []
    for f in range(4):
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
