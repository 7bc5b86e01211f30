"""The compiled line pass (curation/pii/lines.py, curation.kernels.pii_lines) against its definitions.

Each feature marks the lines where a regex can match; the regex then scans only those lines. So
each is compared with the regex itself: the lines where ``DIGIT_TRIGGER`` matches are exactly the
marked ones, and ``RUN`` and ``SINGLE`` scanned on their marked lines find what they find in the
whole text, on random text built from the pieces the patterns care about and on real text.
"""

from __future__ import annotations

import gzip
import json
import random
import re

import pytest
from helpers import SAMPLE
from pii_eval import build_eval_set

from curation.pii import names
from curation.pii.lines import decimal_digits, line_runs, scan
from curation.pii.recognizers import DIGIT_TRIGGER

# 2-, 3- and 4-byte characters and a lone surrogate (the readers quarantine them; the pass must
# not miscount characters after one).
WIDE = ["\u00e9", "\u4e2d", "\U0001f600", "\ud800"]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        sample = [json.loads(line)["text"] for line in f]
    return sample + [doc.text for doc in build_eval_set()]


def lines_of(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The runs cut into their lines, each end past its newline."""
    out = []
    for start, end in runs:
        while start < end:
            nl = text.find("\n", start, end)
            stop = end if nl < 0 else nl + 1
            out.append((start, stop))
            start = stop
    return out


def lines_matching(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for line in text.split("\n"):
        if pattern.search(line):
            out.append((start, min(start + len(line) + 1, len(text))))
        start += len(line) + 1
    return out


def random_texts(pieces: list[str], n: int, most: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, most))) for _ in range(n)]


def test_decimal_digits_are_what_backslash_d_matches():
    assert set(decimal_digits().tolist()) == {c for c in range(128, 0x110000) if re.fullmatch(r"\d", chr(c))}


def test_numbered_lines_are_the_lines_holding_a_digit_or_s_n():
    alphabet = list("a1s/n \n\n,.") + ["\u0663", "\uff11", "\U0001d7d9", "s/n", "/n", "s/"] + WIDE
    samples = random_texts(alphabet, 20_000, 30, 3) + ["s/n", "/n", "s/", "1", "\n1\n", "x\ns/n\n\n2"]
    numbered = re.compile(r"\d|s/n")
    for text, lines in zip(samples, line_runs(samples)):
        assert lines_of(text, lines.numbered) == lines_matching(numbered, text), text
        # Runs are maximal: the next one never starts where the last one ended.
        assert all(a[1] < b[0] for a, b in zip(lines.numbered, lines.numbered[1:]))


def test_digit_trigger_lines_are_the_lines_it_matches_on():
    trigger = re.compile(DIGIT_TRIGGER)
    # Digits of several scripts, the separators it allows, dots for a quad, capitals before digits.
    pieces = list("0123456789 ().-.-AZb:\n") + ["\u0663", "\uff11", "\U0001d7d9", "  ", "1.", "12.", "123.",
                                               "1234.", "AB", "XY1", "555) ", "(", "1.2.3.4"] + WIDE
    samples = random_texts(pieces, 30_000, 25, 5)
    samples += ["10.0.0.1", "1.22.333.4", "1.2.3.", "1.2.3.4444", "1234.5.6.7", "(555) 123-4567", "555 123 45",
                "1-2-3-4-5-6-7-8-9", "1  -  2", "AB12", "Ab12", "A12", "AB1 2", "DE89 3704", "\u0663" * 9]
    hits = 0
    for text, lines in zip(samples, line_runs(samples)):
        expected = lines_matching(trigger, text)
        assert lines_of(text, lines.digit_trigger) == expected, text
        hits += bool(expected)
    assert hits > 3_000  # the random texts hit each branch often enough to matter


NAME_PIECES = ["Anna", "Berg", "Zoë", "Émile", "Ørsted", "O'Neil", "D'", "Mc", "Donald", "Ann-Marie", "-Lena", "'s",
               "van", "de", "la", "'t", "y", "al", "F.", "É.", "M", ".", "x", "ß", "ÿ", "×", "÷", "ABC", "IBM", "a",
               "1", "_", "@", "`", "(", "/", " ", " ", " ", "  ", "\n", ",", "Dear", "Mrs", "Mr.", "Thank you",
               "Hi", "His", "Best", "Prof", "Regards,", ",\n"] + WIDE


@pytest.mark.parametrize("pattern, feature, more, seed", [
    ("RUN", "name_runs", [" "] * 12 + ["Anna", "Berg", "Émile", "van", "F."] * 3, 7),
    ("SINGLE", "greetings", ["Dr", "Dame", "Hello", "Hey", "Thanks", "Cheers", "Sincerely", "Sir", "Ms", "Mx", "Miss",
                             "Dearest", ".\n", "\n\n"], 9),
])
def test_name_patterns_scanned_on_their_lines_find_what_they_find_in_the_whole_text(pattern, feature, more, seed):
    regex = getattr(names, pattern)
    samples = random_texts(NAME_PIECES + more, 30_000, 16, seed)
    found = 0
    for text, lines in zip(samples, line_runs(samples)):
        whole = [m.span() for m in regex.finditer(text)]
        assert [m.span() for m in scan(regex, text, getattr(lines, feature))] == whole, text
        found += len(whole)
    assert found > 2_000


def test_every_feature_on_real_text(texts):
    from curation.pii.lines import LITERALS

    trigger = re.compile(DIGIT_TRIGGER)
    literals = re.compile("|".join(map(re.escape, LITERALS)))
    marked = 0
    for text, lines in zip(texts, line_runs(texts)):
        assert lines_of(text, lines.digit_trigger) == lines_matching(trigger, text)
        assert lines_of(text, lines.literals) == lines_matching(literals, text)
        for pattern, runs in ((names.RUN, lines.name_runs), (names.SINGLE, lines.greetings)):
            assert [m.span() for m in scan(pattern, text, runs)] == [m.span() for m in pattern.finditer(text)]
        marked += sum(e - s for s, e in lines.name_runs)
    # The point of it: the name pattern scans a small part of the text.
    assert 0 < marked < 0.5 * sum(map(len, texts))


def test_literal_lines_are_the_lines_holding_a_trigger_literal():
    from curation.pii.lines import LITERALS
    from curation.pii.recognizers import RECOGNIZERS

    # Every recognizer's trigger literal of two characters or more is looked for here.
    assert {lit for r in RECOGNIZERS.values() for lit in r.TRIGGER_LITERALS if len(lit) > 1} <= set(LITERALS)
    pieces = list(LITERALS) + [lit[:-1] for lit in LITERALS] + [lit[1:] for lit in LITERALS] + \
        list("ghpsk_-AIz \n.") + WIDE
    samples = random_texts(pieces, 20_000, 8, 11)
    definition = re.compile("|".join(map(re.escape, LITERALS)))
    hits = 0
    for text, lines in zip(samples, line_runs(samples)):
        expected = lines_matching(definition, text)
        assert lines_of(text, lines.literals) == expected, text
        hits += bool(expected)
    assert hits > 5_000
