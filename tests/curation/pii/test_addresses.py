"""The address finder's shortcuts give what the whole-text regexes give.

The street regexes scan only the runs of lines holding a digit or ``s/n`` (found by a compiled pass,
tests/curation/pii/test_lines.py), and the gate is a faster spelling of the same condition: each is
compared with its definition.
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
from curation.pii.lines import line_runs, scan

TRIGGER_DEFINITION = re.compile(r"(?:^|[\s,])\d|\d[\s,]", re.M)
STREET_PATTERNS = ("US_UK", "DE_NL", "FR", "IT_ES")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        sample = [json.loads(line)["text"] for line in f]
    return sample + [doc.text for doc in build_eval_set()]


def test_street_patterns_scanned_on_numbered_lines_find_what_they_find_in_the_whole_text(texts):
    runs = [lines.numbered for lines in line_runs(texts)]
    found = 0
    for name in STREET_PATTERNS:
        pattern = getattr(addresses, name)
        for text, text_runs in zip(texts, runs):
            whole = [m.span() for m in pattern.finditer(text)]
            assert [m.span() for m in scan(pattern, text, text_runs)] == whole, name
            found += len(whole)
    assert found > 400  # the evaluation set's 500 addresses, the sample's few


def test_the_gate_is_its_definition():
    rng = random.Random(4)
    alphabet = list("ab1 ,\n\t-") + ["\u00a0", "\u0663", "\u2003"]
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(100_000)]
    assert [bool(addresses.TRIGGER.search(t)) for t in samples] == \
           [bool(TRIGGER_DEFINITION.search(t)) for t in samples]
