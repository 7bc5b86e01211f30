"""Quality stages: every rule at its threshold, the calibrated default, language ID, classifiers."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from classifiers.evaluate import evaluate_chain, load_sample
from classifiers.train import fit_fasttext, load_labelled, train_classifiers
from curation import Document
from curation.errors import CurationError
from curation.quality.c4 import C4Filter
from curation.quality.classifier import QualityClassifier, QualityModel, QualityThreshold
from curation.quality.fineweb import FineWebQuality
from curation.quality.gopher import GopherQuality, GopherRepetition
from curation.quality.heuristics import Heuristics
from curation.quality.language import LanguageFilter
from curation.quality.stats import TextView

from helpers import SAMPLE, kept_documents, small_config

WORDS = "river stone light water green house paper music window garden table market".split()  # 5.5 chars avg


def only(cls, **enabled):
    """A rule set with every threshold off except the given ones."""
    off = {k: None for k in cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount]
           if k != "short_line_chars"}
    if cls is GopherRepetition:
        off.update(top_ngram={}, dup_ngram={})
    return cls(**{**off, **enabled})


def reasons(stage, *texts):
    return [d.reason for d in stage([Document(str(i), t) for i, t in enumerate(texts)]).dropped]


def words(n, vocab=WORDS, seed=0):
    rng = random.Random(seed)
    return " ".join(rng.choice(vocab) for _ in range(n))


# --- Gopher quality, each rule alone at the paper's threshold: just pass, just fail ---

def test_gopher_word_count():
    stage = only(GopherQuality, min_words=50, max_words=100)
    assert reasons(stage, words(50), words(100), words(49), words(101)) == ["gopher_too_few_words", "gopher_too_many_words"]


def test_gopher_mean_word_length():
    stage = only(GopherQuality, min_mean_word_length=3, max_mean_word_length=10)
    assert reasons(stage, "abc " * 10, "a" * 10 + " " + "b" * 10, "ab abc", "a" * 11) == [
        "gopher_short_mean_word", "gopher_long_mean_word"]


def test_gopher_symbol_ratio():
    stage = only(GopherQuality, max_symbol_word_ratio=0.1)
    ok = words(20) + " # #"  # 2 symbols / 22 words
    bad = words(20) + " # # ..."  # 3 symbols / 23 words > 0.1... and 3/23 = 0.13
    assert reasons(stage, ok, bad) == ["gopher_symbol_ratio"]


def test_gopher_bullet_and_ellipsis_lines():
    bullets = only(GopherQuality, max_bullet_lines_ratio=0.9)
    nine = "\n".join(["- item line"] * 9 + ["plain line"])
    assert reasons(bullets, nine, "\n".join(["• item"] * 10)) == ["gopher_bullet_lines"]
    ellipsis = only(GopherQuality, max_ellipsis_lines_ratio=0.3)
    three = "\n".join(["and so on..."] * 3 + ["done."] * 7)
    four = "\n".join(["and so on…"] * 4 + ["done."] * 6)
    assert reasons(ellipsis, three, four) == ["gopher_ellipsis_lines"]


def test_gopher_alpha_words_and_stop_words():
    alpha = only(GopherQuality, min_alpha_words_ratio=0.8)
    assert reasons(alpha, words(8) + " 12 34", words(7) + " 12 34 56") == ["gopher_alpha_words"]
    stops = only(GopherQuality, min_stop_words=2)
    assert reasons(stops, words(10) + " the of", words(10) + " The", words(10)) == [
        "gopher_stop_words", "gopher_stop_words"]


# --- Gopher repetition ---

def test_duplicate_lines_by_count_and_chars():
    stage = only(GopherRepetition, max_dup_line_ratio=0.3)
    lines = [f"line number {i}" for i in range(7)]
    assert reasons(stage, "\n".join(lines + ["x a"] * 4), "\n".join(lines + ["x a"] * 5)) == ["gopher_dup_lines"]
    chars = only(GopherRepetition, max_dup_line_chars=0.2)
    unique = "\n".join(["u" * 40, "v" * 40])  # 80 chars
    assert reasons(chars, unique + "\nrep\n" + "rep\n" * 1, unique + "\n" + "r" * 30 + "\n" + "r" * 30) == [
        "gopher_dup_line_chars"]


def test_top_ngram_share():
    stage = only(GopherRepetition, top_ngram={2: 0.20})
    filler = " ".join(f"w{i:03d}" for i in range(60))  # 60 distinct 4-char words = 240 chars
    # "ab cd" (4 chars) three times: 12 / (240 + 12) < 0.2; nineteen times: 76 / 316 > 0.2
    assert reasons(stage, filler + " ab cd" * 3, filler + " ab cd" * 19) == ["gopher_top_2gram"]


def reference_dup_ngram_fraction(text: str, n: int) -> float:
    """Gopher's definition in plain Python: characters in n-grams occurring more than once."""
    ws = text.split()
    grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]
    counts = {g: grams.count(g) for g in set(grams)}
    covered = [False] * len(ws)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered[i:i + n] = [True] * n
    total = sum(map(len, ws))
    return sum(len(w) for w, c in zip(ws, covered) if c) / total if total else 0.0


def test_vectorised_ngram_statistics_match_plain_python():
    rng = random.Random(7)
    for trial in range(60):
        vocab = WORDS[: rng.randint(2, len(WORDS))]
        text = words(rng.randint(0, 120), vocab, seed=trial)
        view = TextView(text)
        for n in (2, 5, 7, 10):
            assert view.duplicate_ngram_char_fraction(n) == pytest.approx(reference_dup_ngram_fraction(text, n))
        grams = [" ".join(text.split()[i:i + 3]) for i in range(len(text.split()) - 2)]
        if grams:
            top = max(set(grams), key=lambda g: (grams.count(g), -grams.index(g)))
            expected = len(top.replace(" ", "")) * grams.count(top) / sum(map(len, text.split()))
            assert view.top_ngram_char_fraction(3) == pytest.approx(expected if grams.count(top) > 1 else 0.0)


def test_duplicated_5gram_share_threshold():
    stage = only(GopherRepetition, dup_ngram={5: 0.15})
    base = " ".join(f"t{i:03d}" for i in range(100))  # 400 chars of distinct words
    repeat = " aa bb cc dd ee"  # 10 chars per occurrence
    assert reasons(stage, base + repeat * 3, base + repeat * 8) == ["gopher_dup_5gram"]  # 30/430 ok, 80/480 > .15


# --- C4 ---

def test_c4_line_rules_record_what_they_removed():
    text = ("A proper sentence ends here.\nnav menu\nEnable JavaScript to view this page properly.\n"
            "Read our privacy policy for details today.\nNo punctuation at the end of this line\n"
            + "\n".join(f"Sentence number {i} is fine." for i in range(5)))
    result = C4Filter()([Document("a", text)])
    doc, = result.kept
    assert doc.text.splitlines()[0] == "A proper sentence ends here." and len(doc.text.splitlines()) == 6
    assert doc.attributes["c4_removed_lines"] == 4
    assert result.counters["removed_lines/c4_short_line"] == 1
    assert result.counters["removed_lines/c4_javascript_line"] == 1
    assert result.counters["removed_lines/c4_policy_line"] == 1
    assert result.counters["removed_lines/c4_no_terminal_punctuation"] == 1


def test_c4_document_rules_and_switches():
    sentences = " ".join(f"This is sentence {i}." for i in range(5))
    code = sentences + "\nThe code is shown here: { return x; }."
    assert reasons(C4Filter(), "Lorem ipsum dolor sit amet. " + sentences, code, sentences[:60]) == [
        "c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences"]
    relaxed = C4Filter(curly_bracket=False, lorem_ipsum=False, min_sentences=None)
    assert reasons(relaxed, code, "Lorem ipsum dolor sit amet, one line.") == []


# --- FineWeb ---

def test_fineweb_rules():
    punct = only(FineWebQuality, min_line_punct_ratio=0.12)
    lines = [f"line {i} without a stop" for i in range(25)]
    assert reasons(punct, "\n".join(lines[:21] + ["ends."] * 4), "\n".join(lines[:22] + ["ends."] * 3)) == [
        "fineweb_line_punct"]  # 4/25 = 0.16 passes; 3/25 = 0.12 drops (<=)
    short = only(FineWebQuality, max_short_line_ratio=0.67)
    long_line = "a line that is clearly longer than thirty characters"
    assert reasons(short, "\n".join(["short"] * 2 + [long_line] * 1), "\n".join(["short"] * 67 + [long_line] * 33)) == [
        "fineweb_short_lines"]  # 2/3 = 0.667 passes (< 0.67); 0.67 drops
    newlines = only(FineWebQuality, max_newline_per_word=0.3)
    assert reasons(newlines, "one two three four\nfive six seven", "one\ntwo\nthree") == ["fineweb_newlines"]
    dup = only(FineWebQuality, max_dup_line_chars=0.01)
    assert reasons(dup, long_line + "\nanother line", long_line + "\n" + long_line) == ["fineweb_dup_line_chars"]


# --- the calibrated default, measured on sample_data's labels ---

@pytest.fixture(scope="module")
def sample_records():
    return load_sample(SAMPLE)


def test_default_chain_keeps_human_text_and_removes_junk(sample_records):
    report = evaluate_chain(sample_records, "default")  # classifier scored out-of-fold
    human, junk = report["by_label"]["human"], report["by_label"]["junk"]
    assert human["kept_fraction"] >= 0.98, report["drops"]
    assert 1 - junk["kept_fraction"] >= 0.95, report["drops"]
    for key, row in report["by_source"].items():
        if key.startswith("human/"):
            assert row["kept"] / row["documents"] >= 0.95, key


def test_paper_presets_drop_much_more_real_text(sample_records):
    default = evaluate_chain(sample_records, [s for s in small_config(preset="default").stages
                                              if s.name in ("length", "heuristics", "language")])
    fineweb = evaluate_chain(sample_records, "fineweb")
    assert default["by_label"]["human"]["kept_fraction"] > 0.98
    assert fineweb["by_label"]["human"]["kept_fraction"] < 0.7  # FineWeb-style chain: ~42% of docs lost
    assert fineweb["would_fire"]["fineweb_quality/fineweb_dup_line_chars"] > 0


def test_heuristics_count_would_fire_and_first_firing(sample_records):
    docs = [Document(r["id"], r["text"], r["source"]) for r in sample_records if r["label"] == "junk"]
    result = Heuristics()(docs)
    first = {}
    for d in result.dropped:
        first[d.reason] = first.get(d.reason, 0) + 1
    for reason, n in first.items():
        assert result.counters[f"would_fire/{reason}"] >= n
    assert sum(first.values()) == len(result.dropped) > 400


# --- language ID ---

ENGLISH = "The quick brown fox jumps over the lazy dog while the children watch from the garden."
GERMAN = "Der schnelle braune Fuchs springt über den faulen Hund, während die Kinder im Garten zusehen."


def test_language_tags_and_filters():
    result = LanguageFilter()([Document("en", ENGLISH * 3), Document("de", GERMAN * 3), Document("x", "1234 5678 ####")])
    assert [d.id for d in result.kept] == ["en"]
    assert result.kept[0].attributes["lang"] == "en" and result.kept[0].attributes["lang_score"] > 0.9
    assert sorted((d.doc.id, d.reason, d.doc.attributes["lang"]) for d in result.dropped) == [
        ("de", "language_not_kept", "de"), ("x", "language_not_kept", "unknown")]
    tag_only = LanguageFilter(languages=[])([Document("de", GERMAN)])
    assert tag_only.kept[0].attributes["lang"] == "de"


def test_fasttext_language_backend_loads_a_checked_local_model(tmp_path, sample_records):
    # A small model trained here on real text: English documentation vs the sample's Latin lorem
    # ipsum pages. (Faker's small German vocabulary makes fastText's training hit NaN.)
    english = [r for r in sample_records if r["source"] == "python-doc"][:300]
    latin = [r for r in sample_records if r["source"] == "junk:lorem"]
    lines = [f"__label__en {' '.join(r['text'].split()[:80])}" for r in english[:-1]]
    lines += [f"__label__la {' '.join(r['text'].split()[:80])}" for r in latin[:-1]]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    path = tmp_path / "lid.bin"
    fit_fasttext(str(tmp_path / "train.txt"), path, epoch=5, lr=0.1, dim=32, bucket=200_000, thread=1, seed=0)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stage = LanguageFilter(languages=["la"], min_score=0.0, backend="fasttext", model_path=str(path), model_sha256=digest)
    result = stage([Document("la", latin[-1]["text"]), Document("en", english[-1]["text"])])
    assert [d.id for d in result.kept] == ["la"] and result.dropped[0].doc.attributes["lang"] == "en"
    with pytest.raises(CurationError, match="sha256"):
        LanguageFilter(backend="fasttext", model_path=str(path), model_sha256="0" * 64)([Document("a", ENGLISH)])


# --- classifiers ---

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("classifier")
    data = load_labelled([], [], labelled=[str(SAMPLE)])
    return out, train_classifiers(data, out)


def test_classifiers_reach_roc_auc_on_held_out_split(trained):
    out, report = trained
    for kind in ("fasttext", "linear"):
        m = report[kind]["held_out_metrics"]
        assert m["roc_auc"] >= 0.95 and m["f1"] >= 0.9, (kind, m)
        card = json.loads((out / (report[kind]["file"] + ".json")).read_text())
        assert card["sha256"] == hashlib.sha256((out / card["file"]).read_bytes()).hexdigest()
        assert card["data"]["held_out"] == m["n"] > 500
    assert "ROC-AUC" in (out / "MODEL_CARD.md").read_text()


def test_scoring_is_deterministic_and_model_files_are_checked(trained, tmp_path):
    out, _ = trained
    texts = [r["text"] for r in load_sample(SAMPLE)[:300]]
    for name in ("fasttext.bin", "linear.npz"):
        a, b = QualityModel(out / name).scores(texts), QualityModel(out / name).scores(texts)
        assert np.array_equal(a, b) and ((a >= 0) & (a <= 1)).all()
    np.load(out / "linear.npz", allow_pickle=False)  # plain arrays: loads without pickle
    tampered = tmp_path / "fasttext.bin"
    tampered.write_bytes((out / "fasttext.bin").read_bytes()[:-10] + b"0" * 10)
    (tmp_path / "fasttext.bin.json").write_text((out / "fasttext.bin.json").read_text())
    with pytest.raises(CurationError, match="refusing to load"):
        QualityModel(tampered)


def test_tag_then_threshold(trained):
    out, _ = trained
    docs = [Document("good", ENGLISH * 5), Document("junk", "buy cheap pills " * 30)]
    tagged = QualityClassifier(str(out / "linear.npz"))(docs)
    assert [d.id for d in tagged.kept] == ["good", "junk"] and tagged.dropped == []
    scores = {d.id: d.attributes["quality_score"] for d in tagged.kept}
    result = QualityThreshold(min_score=(scores["good"] + scores["junk"]) / 2)(tagged.kept)
    assert [d.id for d in result.kept] == ["good"]
    assert result.dropped[0].reason == "low_quality_score" and result.dropped[0].extra["quality_score"] == scores["junk"]
    with pytest.raises(CurationError, match="needs quality_score"):
        QualityThreshold()([Document("x", "text")])


def test_keep_top_fraction_over_the_whole_corpus(trained, tmp_path):
    from curation.pipeline import run

    out, _ = trained
    config = small_config(stages=[{"name": "quality_classifier", "params": {"model": str(out / "fasttext.bin")}},
                                  {"name": "quality_threshold", "params": {"keep_top_fraction": 0.25}}])
    result = run([str(SAMPLE)], tmp_path / "run", config, progress=False)
    kept = kept_documents(tmp_path / "run", ["quality_score"]).column("quality_score").to_numpy()
    removed = pq.read_table(tmp_path / "run" / "removed", columns=["reason", "quality_score"])
    total = len(kept) + removed.num_rows
    assert total == 3495 and abs(len(kept) - 0.25 * total) <= 0.01 * total
    assert kept.min() >= removed.column("quality_score").to_numpy().max()
    assert set(removed.column("reason").to_pylist()) == {"low_quality_score"}
    assert result.summary["stages"][2]["docs_out"] == len(kept)


def test_fasttext_divergence_is_retried_with_a_lower_rate(tmp_path, monkeypatch):
    import classifiers.train as train

    calls = []

    class FakePool:
        def __init__(self, n):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def apply(self, fn, args):
            calls.append(args[2]["lr"])
            return "Encountered NaN." if len(calls) <= 2 else None

    class FakeContext:
        Pool = FakePool

    monkeypatch.setattr(train.multiprocessing, "get_context", lambda method: FakeContext)
    assert fit_fasttext("train.txt", tmp_path / "m.bin", lr=0.4, dim=8) == 0.1
    assert calls == [0.4, 0.2, 0.1]
    calls.clear()
    FakePool.apply = lambda self, fn, args: calls.append(1) or "Encountered NaN."
    with pytest.raises(CurationError, match="fastText training failed"):
        fit_fasttext("train.txt", tmp_path / "m.bin", lr=0.4)
    assert len(calls) == train.NAN_RETRIES + 1
