"""The address finder's shortcuts give what the whole-text regexes give.

The street regexes scan only the runs of lines holding a digit or ``s/n`` (found by a compiled pass),
and the gate is a faster spelling of the same condition: each is compared with its definition.
"""

from __future__ import annotations

import gzip
import json
import random
import re

import pytest
from helpers import SAMPLE
from pii_eval import build_eval_set

import curation.pii.addresses as addresses

TRIGGER_DEFINITION = re.compile(r"(?:^|[\s,])\d|\d[\s,]", re.M)
STREET_PATTERNS = ("US_UK", "DE_NL", "FR", "IT_ES")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        sample = [json.loads(line)["text"] for line in f]
    return sample + [doc.text for doc in build_eval_set()]


def reference_runs(text: str) -> list[tuple[int, int]]:
    """Runs of consecutive lines holding ``\\d`` or ``s/n``, each end past its newline."""
    runs: list[tuple[int, int]] = []
    start = 0
    for line in text.split("\n"):
        end = min(start + len(line) + 1, len(text))
        if re.search(r"\d|s/n", line):
            if runs and runs[-1][1] == start:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
        start += len(line) + 1
    return runs


def test_decimal_digits_are_what_backslash_d_matches():
    assert set(addresses.decimal_digits().tolist()) == {c for c in range(128, 0x110000)
                                                         if re.fullmatch(r"\d", chr(c))}


def test_numbered_lines_are_the_lines_holding_a_digit_or_s_n():
    rng = random.Random(3)
    # ASCII, Arabic-Indic, full-width and mathematical digits; s/n pieces; 2-, 3- and 4-byte
    # characters and a lone surrogate (the readers quarantine them, the finder must not miscount).
    alphabet = list("a1s/n \n\n,.") + ["\u0663", "\uff11", "\U0001d7d9", "\u00e9", "\u4e2d", "\U0001f600",
                                       "\ud800", "s/n", "/n", "s/"]
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(20_000)]
    samples += ["s/n", "/n", "s/", "1", "\n1\n", "x\ns/n\n\n2"]
    assert addresses.numbered_lines(samples) == [reference_runs(t) for t in samples]


def test_street_patterns_scanned_on_numbered_lines_find_what_they_find_in_the_whole_text(texts):
    runs = addresses.numbered_lines(texts)
    found = 0
    for name in STREET_PATTERNS:
        pattern = getattr(addresses, name)
        for text, text_runs in zip(texts, runs):
            whole = [m.span() for m in pattern.finditer(text)]
            assert [m.span() for m in addresses._scan(pattern, text, text_runs)] == whole, name
            found += len(whole)
    assert found > 400  # the evaluation set's 500 addresses, the sample's few


def test_the_gate_is_its_definition():
    rng = random.Random(4)
    alphabet = list("ab1 ,\n\t-") + ["\u00a0", "\u0663", "\u2003"]
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(100_000)]
    assert [bool(addresses.TRIGGER.search(t)) for t in samples] == \
           [bool(TRIGGER_DEFINITION.search(t)) for t in samples]
