"""The batch statistics of curation.quality.stats against a plain per-document Python reference.

The rule filters see each document through a view onto batch-level arrays (Arrow word splitting,
one word vocabulary per batch, one sort per n-gram size). These tests pin that path to the obvious
per-document computation: every statistic is equal (as floats, not approximately) on every document
of sample_data, so every rule decision is too; and the Arrow kernels agree with Python's string
methods for every code point.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curation import Document
from curation.kernels import ngram_cover
from curation.quality.fineweb import FineWebQuality
from curation.quality.gopher import GopherQuality, GopherRepetition
from curation.quality.heuristics import Heuristics
from curation.quality.rules import RuleFilter
from curation.quality.stats import (BULLETS, ELLIPSES, GOPHER_STOP_WORDS, TERMINAL_PUNCTUATION,
                                    WHITESPACE, TextBatch, TextView, text_views)

from helpers import SAMPLE

ALL_CHARS = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


class ReferenceView:
    """What every statistic means, one document at a time in plain Python (the definitions the
    rules were written against before the batch path)."""

    def __init__(self, text: str):
        self.text = text
        self.words = text.split()
        self.word_count = len(self.words)
        self.word_chars = sum(map(len, self.words))
        self.lines = [s for line in text.split("\n") if (s := line.strip())]
        self.paragraphs = [s for p in re.split(r"\n\s*\n", text) if (s := p.strip())]
        self.symbol_count = text.count("#") + sum(text.count(e) for e in ELLIPSES)
        self.newline_count = text.count("\n")
        self.line_duplicates = self.duplicates(self.lines)
        self.paragraph_duplicates = self.duplicates(self.paragraphs)
        self._counts: dict[int, Counter] = {}

    @staticmethod
    def duplicates(items: list[str]) -> tuple[float, float]:
        if not items:
            return 0.0, 0.0
        seen: set[str] = set()
        dup_count = dup_chars = 0
        for item in items:
            if item in seen:
                dup_count += 1
                dup_chars += len(item)
            seen.add(item)
        return dup_count / len(items), dup_chars / sum(map(len, items))

    def line_share(self, starting=(), ending=(), max_chars=None) -> float:
        if not self.lines:
            return 0.0
        hits = sum(1 for s in self.lines if (starting and s.startswith(starting)) or (ending and s.endswith(ending))
                   or (max_chars is not None and len(s) <= max_chars))
        return hits / len(self.lines)

    def alpha_word_fraction(self) -> float:
        has_alpha = re.compile(r"[^\W\d_]")
        return sum(1 for w in self.words if has_alpha.search(w)) / len(self.words) if self.words else 0.0

    def stop_word_count(self) -> int:
        return sum(1 for w in self.words if w.lower() in GOPHER_STOP_WORDS)

    def _grams(self, n: int) -> list[tuple[str, ...]]:
        return list(zip(*(self.words[k:] for k in range(n))))

    def _count(self, n: int) -> Counter:
        if n not in self._counts:
            self._counts[n] = Counter(self._grams(n))
        return self._counts[n]

    def top_ngram_char_fraction(self, n: int) -> float:
        counts = self._count(n)
        if not counts:
            return 0.0
        top, count = counts.most_common(1)[0]  # ties: the first seen, as Counter keeps insertion order
        return sum(map(len, top)) * count / self.word_chars if count > 1 else 0.0

    def duplicate_ngram_char_fraction(self, n: int) -> float:
        counts = self._count(n)
        covered = [False] * len(self.words)
        for i, gram in enumerate(self._grams(n)):
            if counts[gram] > 1:
                covered[i:i + n] = [True] * n
        return sum(len(w) for w, c in zip(self.words, covered) if c) / self.word_chars if self.word_chars else 0.0


def assert_same_statistics(view, ref: ReferenceView, ns=range(2, 11)) -> None:
    assert (view.word_count, view.word_chars) == (ref.word_count, ref.word_chars)
    assert view.line_duplicates == ref.line_duplicates
    assert view.paragraph_duplicates == ref.paragraph_duplicates
    for kwargs in ({"starting": BULLETS}, {"ending": ELLIPSES}, {"ending": TERMINAL_PUNCTUATION}, {"max_chars": 30}):
        assert view.line_share(**kwargs) == ref.line_share(**kwargs), kwargs
    assert view.alpha_word_fraction() == ref.alpha_word_fraction()
    assert view.stop_word_count() == ref.stop_word_count()
    for n in ns:
        assert view.top_ngram_char_fraction(n) == ref.top_ngram_char_fraction(n), n
        assert view.duplicate_ngram_char_fraction(n) == ref.duplicate_ngram_char_fraction(n), n


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


@pytest.fixture(scope="module")
def references(sample_texts) -> list[ReferenceView]:
    return [ReferenceView(t) for t in sample_texts]


def test_every_sample_document_has_the_reference_statistics(sample_texts, references):
    # Small chunks, so documents share batches of many sizes; the n-gram sizes asked in a shuffled
    # order, so the pruning of larger n by smaller ones starts from different levels.
    order = list(range(2, 11))
    random.Random(3).shuffle(order)
    views = list(text_views(sample_texts, chunk_chars=200_000))
    for view in views:
        for n in order:
            view.duplicate_ngram_char_fraction(n)
    for view, ref in zip(views, references, strict=True):
        assert_same_statistics(view, ref)


def test_symbol_counts_are_pythons_str_count(sample_texts, references):
    """The compiled count of ``#`` and ellipses equals ``str.count`` (non-overlapping, from the left)
    on every sample document and on dot runs, near misses and multi-byte neighbours."""
    edges = ["", ".", "..", "...", "....", ".....", "......", ".......", "…", "……", "#", "##", "a...b.. .c...",
             "\u2025\u22ef\u2026.", "…...#…", "é..." + "." * 3, "\u0080\u00a6…", "…é", "x\u2026", "# …\n...\n#"]
    texts = sample_texts + edges
    expected = [r.symbol_count for r in references] + [ReferenceView(t).symbol_count for t in edges]
    assert TextBatch(texts).symbol_counts.tolist() == expected
    assert [TextView(t).symbol_count for t in edges] == expected[len(sample_texts):]
    assert TextBatch(["a\ud800..."]).symbol_counts.tolist() == [1]  # a lone surrogate counts as U+FFFD


RULE_SETS = [Heuristics(min_words=50), GopherQuality(), GopherRepetition(), FineWebQuality(),
             Heuristics(max_words=100_000, max_bullet_lines_ratio=0.9, min_line_punct_ratio=0.12,
                        max_short_line_ratio=0.67, fineweb_max_dup_line_chars=0.01, max_newline_per_word=0.3,
                        top_ngram={2: 0.2, 3: 0.18, 4: 0.16}, dup_ngram={5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12,
                                                                         9: 0.11, 10: 0.10})]


@pytest.mark.parametrize("stage", RULE_SETS, ids=lambda s: s.name)
def test_every_rule_decides_as_on_the_reference(stage, sample_texts, references):
    """Every rule of every rule set fires on exactly the documents where it fires on the reference
    statistics, and the stage's drops and would-fire counters follow."""
    rules = stage.rules()
    docs = [Document(str(i), t) for i, t in enumerate(sample_texts)]
    expected = [[reason for reason, fires in rules if fires(ref)] for ref in references]
    result = stage(docs)
    assert {d.doc.id: d.reason for d in result.dropped} == {str(i): f[0] for i, f in enumerate(expected) if f}
    would_fire = Counter(f"would_fire/{r}" for f in expected for r in f)
    assert {k: v for k, v in result.counters.items() if k.startswith("would_fire/")} == would_fire
    assert sum(would_fire.values()) > 0


@pytest.mark.parametrize("stage", RULE_SETS[:1] + RULE_SETS[-1:], ids=lambda s: s.name)
def test_rules_asked_per_batch_decide_as_asked_per_document(stage, sample_texts, monkeypatch):
    """The columnar path (each rule once per batch, on its Columns) against the per-document one
    (each rule once per TextView), with batches of a few documents so that chunk edges fall
    everywhere: the same drops, reasons and counters."""
    import functools

    import curation.quality.rules as rules_module
    from curation.quality.stats import text_batches

    assert stage.columnar
    docs = [Document(str(i), t) for i, t in enumerate(sample_texts)]
    monkeypatch.setattr(rules_module, "text_batches", functools.partial(text_batches, chunk_chars=20_000))
    columns = stage(docs)
    monkeypatch.setattr(type(stage), "columnar", False)
    views = stage(docs)
    assert [d.id for d in columns.kept] == [d.id for d in views.kept]
    assert [(d.doc.id, d.reason) for d in columns.dropped] == [(d.doc.id, d.reason) for d in views.dropped]
    assert columns.counters == views.counters and len(columns.dropped) > 0


def test_a_rule_filter_reading_the_text_runs_per_document():
    class Shouting(RuleFilter):
        name = "shouting"

        def rules(self):
            return [("too_short", lambda v: v.word_count < 2), ("all_caps", lambda v: v.text.isupper())]

    result = Shouting()([Document("a", "QUIET PLEASE"), Document("b", "fine words"), Document("c", "X")])
    assert [d.id for d in result.kept] == ["b"]
    assert [(d.doc.id, d.reason) for d in result.dropped] == [("a", "all_caps"), ("c", "too_short")]
    assert {k: v for k, v in result.counters.items() if k.startswith("would_fire/")} == {
        "would_fire/all_caps": 2, "would_fire/too_short": 1}


def test_edge_cases_match_the_reference():
    texts = ["", " ", "\n\n", "word", "a a", "  lead and trail  \n", "x\x1cy\u3000z\xa0w", "a b a b a b a b",
             "one\n\n  \ntwo\n\t\none\n\n\n", "- bullet\n* star\n• dot\nplain…\nend...",
             "İSTANBUL THE ᴛʜᴇ The \u212aey",
             "½ ² ٣ _ __ a_1 Ⅻ", "a\r\n\r\nb\r\n\r\na", " ".join(["w"] * 200), "\u2028\u2029 x \x85 y"]
    views = list(text_views(texts))
    for view, text in zip(views, texts, strict=True):
        assert_same_statistics(view, ReferenceView(text))
    assert_same_statistics(TextView("a b c a b c"), ReferenceView("a b c a b c"))


def test_top_ngram_ties_go_to_the_first_seen():
    # "b c" and "a b" both occur twice; "b c" occurs first.
    assert TextView("x b c a b c a b").top_ngram_char_fraction(2) == 4 / 8
    assert ReferenceView("x b c a b c a b").top_ngram_char_fraction(2) == 4 / 8


def test_ngrams_never_count_across_documents():
    batch = TextBatch(["a b c", "c d e a b", "a b"])
    assert list(batch.duplicate_ngram_char_fractions(2)) == [0.0, 0.0, 0.0]
    assert list(batch.top_ngram_char_fractions(2)) == [0.0, 0.0, 0.0]


def test_colliding_ngram_keys_are_told_apart_word_by_word(sample_texts):
    """With a key multiplier of 0 an n-gram's key is its last word's id, so n-grams ending in the
    same word share a key: they must still be counted apart, every cover as with the real keys."""
    batch = TextBatch(sample_texts[:200] + ["a b c b a b", "x y x y", "p q r s p q r s p q"])
    args = (batch._words[0], batch.word_lengths.astype(np.int64), batch.word_offsets.astype(np.int64))
    none = np.zeros(0, bool)
    for n in (1, 2, 3, 5, 10):
        real = ngram_cover(*args, n, np.uint64(0xBF58476D1CE4E5B9), none, 0)
        colliding = ngram_cover(*args, n, np.uint64(0), none, 0)
        assert all(np.array_equal(a, b) for a, b in zip(real, colliding))
        if n > 1:  # the candidates left by the repeated (n - 1)-grams find every repeated n-gram
            pruned = ngram_cover(*args, n, np.uint64(0xBF58476D1CE4E5B9), shorter, n_before)
            assert all(np.array_equal(a, b) for a, b in zip(real, pruned))
        shorter, n_before = real[2], n
    assert ngram_cover(*args, 2, np.uint64(0), none, 0)[0][-3] == 2 * 2  # "a b" twice, not every "* b" together


def test_chunks_do_not_change_statistics(sample_texts):
    texts = sample_texts[:300]
    whole = [(v.word_chars, v.top_ngram_char_fraction(3), v.duplicate_ngram_char_fraction(5), v.line_duplicates)
             for v in text_views(texts, chunk_chars=10**9)]
    small = [(v.word_chars, v.top_ngram_char_fraction(3), v.duplicate_ngram_char_fraction(5), v.line_duplicates)
             for v in text_views(texts, chunk_chars=5_000)]
    assert whole == small


def test_a_lone_surrogate_counts_as_one_character():
    # Arrow needs valid UTF-8 (the readers quarantine lone surrogates); the statistics still hold.
    text = "a \ud800 b a \ud800 b\nline \ud801\nline \ud801"
    assert_same_statistics(TextView(text), ReferenceView(text))
    assert TextView(text).duplicate_ngram_char_fraction(2) == 1.0


# --- Arrow's kernels agree with Python's string methods ---

def test_whitespace_is_what_str_isspace_accepts():
    assert set(WHITESPACE) == {c for c in ALL_CHARS if c.isspace()}


def test_arrow_splits_and_strips_like_python_for_every_code_point():
    texts = [f"a{c}b" for c in ALL_CHARS] + [f"{c}a{c}" for c in ALL_CHARS]
    split = pc.utf8_split_whitespace(pa.array(texts)).to_pylist()
    assert [[w for w in words if w] for words in split] == [t.split() for t in texts]
    assert pc.utf8_trim_whitespace(pa.array(texts)).to_pylist() == [t.strip() for t in texts]


def test_arrow_splits_random_whitespace_runs_like_python():
    rng = random.Random(0)
    alphabet = list(WHITESPACE) + list("ab\u00e9\u4e2d_.\n\n")
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(20_000)]
    words = pc.utf8_split_whitespace(pa.array(texts)).to_pylist()
    assert [[w for w in ws if w] for ws in words] == [t.split() for t in texts]


def _pieces(texts: list[str], paragraphs: bool) -> list[list[str]]:
    batch = TextBatch(texts)
    pieces = batch.paragraphs if paragraphs else batch.lines
    data = pieces.data.tobytes()
    out = [data[s:e].decode() for s, e in zip(pieces.starts, pieces.ends)]
    assert list(pieces.lengths) == [len(p) for p in out]
    return [out[pieces.offsets[d]:pieces.offsets[d + 1]] for d in range(len(texts))]


def test_lines_and_paragraphs_are_pythons_split_and_strip():
    """The compiled cut (curation.kernels.trimmed_pieces) against ``str.split("\\n")``,
    ``re.split(r"\\n\\s*\\n")`` and ``str.strip()``: every code point between and around words
    and line breaks, and random runs of every whitespace character and line breaks."""
    rng = random.Random(0)
    alphabet = list(WHITESPACE) + list("ab\u00e9\u4e2d\U0001f600_.\n\n\n")
    texts = [f"a{c}b" for c in ALL_CHARS] + [f"{c}a{c}\n{c}\n{c}b{c}" for c in ALL_CHARS]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(20_000)]
    assert _pieces(texts, paragraphs=False) == [[p.strip() for p in t.split("\n") if p.strip()] for t in texts]
    assert _pieces(texts, paragraphs=True) == [[p.strip() for p in re.split(r"\n\s*\n", t) if p.strip()]
                                               for t in texts]


def test_repeated_pieces_and_affixes_are_pythons():
    rng = random.Random(2)
    alphabet = ["ab", "a", "\u00e9", "- x", "...", "\u2026", " ", "\u3000", "\n", "\n", "\n\n"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(5_000)]
    lines = [[p.strip() for p in t.split("\n") if p.strip()] for t in texts]
    batch = TextBatch(texts)
    repeat = [[line in doc[:i] for i, line in enumerate(doc)] for doc in lines]
    share = [sum(r) / len(r) if r else 0.0 for r in repeat]
    chars = [sum(len(x) for x, r in zip(doc, rs) if r) / sum(map(len, doc)) if doc else 0.0
             for doc, rs in zip(lines, repeat)]
    assert list(batch.lines.duplicates[0]) == share and list(batch.lines.duplicates[1]) == chars
    # Pieces are keyed by length and first and last 8 bytes: equal keys, different middles.
    same_key = "first 8 X last 8\nfirst 8 Y last 8\nfirst 8 X last 8\nfirst 8 Z last 8"
    assert TextBatch([same_key]).lines.duplicates[0].tolist() == [0.25]
    for affix in ("- ", "...", "\u2026", "ab", "\u00e9"):
        for at_end in (False, True):
            flags = batch.lines.affixed(affix, at_end)
            assert list(flags) == [x.endswith(affix) if at_end else x.startswith(affix) for doc in lines for x in doc]


def test_only_ascii_words_lower_to_ascii_stop_words():
    # stop_word_counts lowercases ASCII only: exact because no other character lowercases to one of
    # the stop words' letters (the Kelvin sign lowercases to "k", in none of them).
    to_ascii = {c: c.lower() for c in ALL_CHARS if not c.isascii() and c.lower().isascii()}
    assert to_ascii == {"\u212a": "k"}
    assert not set("".join(to_ascii.values())) & set("".join(GOPHER_STOP_WORDS))


def test_arrow_string_lengths_are_python_lengths():
    assert pc.utf8_length(pa.array(ALL_CHARS)).to_pylist() == [1] * len(ALL_CHARS)


def test_classifier_preprocessing_collapses_whitespace_as_the_regex_did():
    from curation.quality.classifier import preprocess

    rng = random.Random(1)
    alphabet = list(WHITESPACE) + list("aBcÉİß\u212a_.")
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert preprocess(text, 25) == re.sub(r"\s+", " ", text[:25].lower()).strip()
