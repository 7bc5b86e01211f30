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


def whole(text: str) -> list[tuple[int, int]]:
    return [(0, len(text))]


def test_street_lines_hold_every_street_the_whole_text_holds(texts):
    finder = addresses.AddressFinder()
    found = 0
    for text, lines in zip(texts, line_runs(texts)):
        streets = finder.streets(text, whole(text))
        assert finder.streets(text, lines.streets) == streets
        assert finder.find_one(text, lines.streets) == finder.find_one(text, whole(text))
        found += len(streets)
    assert found > 400
    # Random lines built from what the four street forms and their look-alikes are made of.
    rng = random.Random(6)
    pieces = (["1777", "5", "12-3", "221B", "\u0663", "s/n", " ", " ", " ", ", ", "\n", "'", "\u2019", ".", "-", "x",
               "é", "ß", "Kramer", "Jones", "O'Connor", "de", "la", "Barre", "Goffredo", "Ana", "Sancho", "Prado"]
              + ["Court", "Courtyard", "St", "St.", "Street", "Streets", "Close", "Lane", "Way", "Wayé"]
              + ["rue", "allée", "allee", "av.", "avenue", "bis", "place", "quai"]
              + ["Viale", "Via", "Vía", "Calle", "C/", "C.", "Avda.", "Travesía", "Rúa", "Cañada", "Paseo", "del"]
              + ["Schaafstraße", "Johannastraat", "Beckergasse", "Janin-Noack-Weg", "Weg", "ring", "str.", "Ring"])
    seps = [" "] * 8 + ["", ", ", "\n", "-", "'", "\u00a0"]
    samples = ["".join(rng.choice(pieces) + rng.choice(seps) for _ in range(rng.randint(0, 8))) for _ in range(40_000)]
    hits = 0
    for text, lines in zip(samples, line_runs(samples)):
        streets = finder.streets(text, whole(text))
        assert finder.streets(text, lines.streets) == streets, text
        hits += bool(streets)
    assert hits > 500


def test_the_gate_is_its_definition():
    rng = random.Random(4)
    alphabet = list("ab1 ,\n\t-") + ["\u00a0", "\u0663", "\u2003"]
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(100_000)]
    assert [bool(addresses.TRIGGER.search(t)) for t in samples] == \
           [bool(TRIGGER_DEFINITION.search(t)) for t in samples]
