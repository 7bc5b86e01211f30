"""Dedup: normalization, datasketch-identical signatures, LSH parameters, phases, quality on the sample."""

from __future__ import annotations

import functools
import gzip
import json
import random
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH
from pydantic import ValidationError

from curation.dedup import (DedupConfig, MinHasher, NormalizeConfig, UnionFind, bucket_partition, char_shingle_hash,
                            cluster, deduplicate, exact_hashes, normalize_text, optimal_params, pair_jaccard,
                            partitions, staging_parts, s_curve, signature_partition, text_hash128, tokenize_batch,
                            tokens, word_shingle_hash)
from curation.dedup.cluster import _Block, shingle_partition
from curation.dedup.normalize import _nfc, nfc_unsafe
from curation.dedup.stage import Deduplicate

from helpers import SAMPLE


def write_parts(directory: Path, rows: list[dict], per_part: int, columns=("id", "text")) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(0, len(rows), per_part):
        chunk = rows[i:i + per_part]
        path = directory / f"part-{i // per_part:05d}.parquet"
        pq.write_table(pa.table({c: [r.get(c) for r in chunk] for c in columns}), path)
        files.append(path)
    return files


@pytest.fixture(scope="module")
def sample_docs() -> list[dict]:
    with gzip.open(SAMPLE, "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def sample_files(sample_docs, tmp_path_factory) -> list[Path]:
    return write_parts(tmp_path_factory.mktemp("staging"), sample_docs, 1200)


@pytest.fixture(scope="module")
def sample_result(sample_files, tmp_path_factory):
    work = tmp_path_factory.mktemp("dedup")
    result = deduplicate(sample_files, work, DedupConfig())
    return result, pq.read_table(work / "duplicates.parquet")


# ---------------------------------------------------------------------------------------------
# Normalization


def test_normalization_options():
    cfg = NormalizeConfig()
    composed, decomposed = "Caf\u00e9 au lait", "Cafe\u0301 au lait"
    assert normalize_text(composed, cfg) == normalize_text(decomposed, cfg) == "café au lait"
    assert normalize_text(decomposed, cfg.model_copy(update={"nfc": False})) != "café au lait"
    assert normalize_text("Hello,   World!\n\tAgain", cfg) == "hello world again"
    assert normalize_text("Hello, World", cfg.model_copy(update={"lowercase": False})) == "Hello World"
    assert normalize_text("x+y=z; “quoted”—dash", cfg) == "x y z quoted dash"
    assert normalize_text("a, b", cfg.model_copy(update={"strip_punctuation": False})) == "a, b"
    kept = cfg.model_copy(update={"collapse_whitespace": False})
    assert normalize_text("a  b\n", kept) == "a  b\n"
    assert tokens("a  b\n", kept) == ["a", "b"]  # shingles always split on whitespace
    assert normalize_text("", cfg) == "" and tokens(" \n ", cfg) == []
    assert tokens("don't stop", cfg) == ["don", "t", "stop"]  # punctuation separates words


def test_batch_tokens_equal_single_document_tokens(sample_docs):
    texts = [d["text"] for d in sample_docs[:400]] + ["", "   ", None, "only!!!", "tail   "]
    batch = tokenize_batch(texts, NormalizeConfig(), normalized=True)
    for i, text in enumerate(texts):
        words = batch.tokens[batch.offsets[i]:batch.offsets[i + 1]].to_pylist()
        assert words == tokens(text or "", NormalizeConfig())
        assert batch.normalized[i].as_py() == " ".join(words)
        if text:
            assert words == [w for w in normalize_text(text, NormalizeConfig()).split(" ") if w]


def test_exact_hash_is_xxh3_128_of_normalized_text():
    hi, lo, ok = exact_hashes(pa.array(["hello world", "", "hello world"]))
    assert (int(hi[0]), int(lo[0])) == text_hash128("hello world") and ok.tolist() == [True, False, True]


def test_nfc_flags_every_character_that_can_change_a_text():
    """A text is only normalized when it holds a flagged character: every non-starter, every
    character NFC changes by itself, and every last character of a composite that NFC composes
    (found through NFD/NFC on every code point, Hangul syllables included, not the table the flag
    is built from)."""
    every = np.arange(0x80, 0x110000, dtype=np.uint32)
    every = every[(every < 0xD800) | (every > 0xDFFF)]
    flagged = set(every[nfc_unsafe(every)].tolist())
    must = set()
    for cp in every.tolist():
        ch = chr(cp)
        if unicodedata.combining(ch) or unicodedata.normalize("NFC", ch) != ch:
            must.add(cp)
        nfd = unicodedata.normalize("NFD", ch)
        if len(nfd) >= 2 and unicodedata.normalize("NFC", nfd) == ch:
            must.add(ord(nfd[-1]))
    assert must <= flagged
    assert len(flagged) < 3 * len(must)  # a flag, not every non-ASCII character


def test_nfc_of_a_batch_equals_python_on_every_text(sample_docs):
    texts = [d["text"] for d in sample_docs] + [
        "Cafe\u0301", "\u1100\u1161\u11a8 \uac00\u11a8", "\u0b47\u0b3e", "\u212b \u0344 \u0f73", "a\u0323\u0307",
        "plain ascii", "", "“curly” — é", "\U0001d15e", "\u0d46\u0d3e x", "e\u0301\u0301"]
    arr = pa.array(texts, pa.large_string())
    for part in (arr, arr.slice(3)):
        assert _nfc(part).to_pylist() == [unicodedata.normalize("NFC", t) for t in part.to_pylist()]
    untouched = pa.array(["plain", "“curly” café"], pa.large_string())
    assert _nfc(untouched) is untouched  # nothing flagged: the same array back


# ---------------------------------------------------------------------------------------------
# Signatures and LSH


@pytest.mark.parametrize("shingle,ngram,hashfunc", [("word", 5, word_shingle_hash), ("word", 3, word_shingle_hash),
                                                     ("char", 9, char_shingle_hash)])
def test_signatures_equal_datasketch(sample_docs, shingle, ngram, hashfunc):
    cfg = DedupConfig(shingle=shingle, ngram=ngram, num_perm=128, seed=7)
    docs = sample_docs[::40] + [{"text": "three short words"}, {"text": "!!!"}]
    sigs = MinHasher(cfg).signatures_for_texts([d["text"] for d in docs])
    for doc, sig in zip(docs, sigs):
        words = tokens(doc["text"], cfg.normalize)
        if shingle == "word":
            units = [" ".join(words[i:i + ngram]) for i in range(max(len(words) - ngram + 1, 1))] if words else []
        else:
            text = " ".join(words)
            units = [text[i:i + ngram] for i in range(max(len(text) - ngram + 1, 1))] if text else []
        m = MinHash(num_perm=128, seed=7, hashfunc=hashfunc)
        m.update_batch([u.encode() for u in units])
        assert np.array_equal(m.hashvalues, sig)
        lean = LeanMinHash(seed=7, hashvalues=sig, scheme="affine32")  # our signatures are datasketch's
        assert lean.jaccard(LeanMinHash(m)) == 1.0


def test_word_hashes_are_xxh3_of_each_words_bytes(sample_docs):
    """The compiled XXH3 (curation.kernels.xxh3_words) against xxhash: random bytes of every length
    the kernel takes (each of its length classes reads other bytes of the secret), longer words
    (xxhash itself, the fallback) and every word of the sample."""
    from curation.dedup.minhash import word_token_hashes
    from curation.dedup.normalize import TokenBatch
    from curation.kernels import XXH3_INLINE_MAX, xxh3_words

    rng = random.Random(5)
    raw = [rng.randbytes(n) for n in range(XXH3_INLINE_MAX + 1) for _ in range(30)]
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in raw])]).astype(np.int64)
    got = xxh3_words(np.frombuffer(b"".join(raw), np.uint8), offsets)
    assert got.tolist() == [xxhash.xxh3_64_intdigest(w) for w in raw]
    words = [w for d in sample_docs for w in tokens(d["text"], NormalizeConfig())]
    words += ["é" * n for n in (64, 65, 120, 121, 300)] + ["x" * n for n in (128, 129, 240, 241, 1000)]
    batch = TokenBatch(pa.array(words, pa.large_string()), np.array([0, len(words)], np.int64))
    assert word_token_hashes(batch).tolist() == [xxhash.xxh3_64_intdigest(w.encode()) for w in words]


def test_signatures_deterministic_and_batch_independent(sample_docs):
    texts = [d["text"] for d in sample_docs[:300]]
    whole = MinHasher(DedupConfig()).signatures_for_texts(texts)
    pieces = np.concatenate([MinHasher(DedupConfig()).signatures_for_texts(texts[i:i + 7]) for i in range(0, 300, 7)])
    assert np.array_equal(whole, pieces)
    other_seed = MinHasher(DedupConfig(seed=2)).signatures_for_texts(texts[:5])
    assert not np.array_equal(whole[:5], other_seed)


@pytest.mark.parametrize("num_perm", [32, 128, 256])
def test_lsh_parameters_and_permutations_are_datasketchs_without_importing_it(num_perm):
    """The (bands, rows) search and the affine32 permutations, computed without the package (its
    import costs every process ~0.4 s), equal datasketch's own."""
    from datasketch.lsh import _optimal_param
    from curation.dedup.minhash import affine32_permutations

    for threshold in (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9):
        for weights in ((0.5, 0.5), (0.1, 0.9), (0.8, 0.2)):
            assert optimal_params(threshold, num_perm, weights) == _optimal_param(threshold, num_perm, *weights), \
                (threshold, weights)
    for seed in (0, 1, 7, 2**31 + 5):
        expected = MinHash(num_perm=num_perm, seed=seed).permutations
        a, b = affine32_permutations(num_perm, seed)
        assert a.dtype == b.dtype == expected.dtype == np.uint32
        assert np.array_equal(a, expected[0]) and np.array_equal(b, expected[1])


def test_signing_imports_neither_datasketch_nor_scipy_integrate():
    import subprocess
    import sys

    code = ("import sys; from curation.dedup import DedupConfig, MinHasher; c = DedupConfig(); c.band_rows; "
            "MinHasher(c).signatures_for_texts(['one two three four five six']); "
            "print(sorted(m for m in ('datasketch', 'scipy.integrate') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_band_rows_and_s_curve():
    default = DedupConfig()
    assert default.band_rows == (25, 5)  # datasketch's optimum for 0.6 with weights (0.1, 0.9)
    lsh = MinHashLSH(threshold=0.6, num_perm=128, weights=(0.1, 0.9))
    assert (lsh.b, lsh.r) == default.band_rows
    unverified = DedupConfig(verify=False, threshold=0.8)
    assert unverified.band_rows == (9, 13) == (MinHashLSH(0.8, 128).b, MinHashLSH(0.8, 128).r)
    assert optimal_params(0.8, 128, (0.5, 0.5)) == (9, 13)
    assert s_curve(0.6, 25, 5) == pytest.approx(0.868, abs=1e-3) and s_curve(0.7, 25, 5) > 0.989
    assert s_curve(0.85, 25, 5) > 0.9999 and s_curve(0.3, 25, 5) == pytest.approx(0.0590, abs=1e-3)
    assert DedupConfig(bands=14, rows=8).band_rows == (14, 8)
    with pytest.raises(ValidationError):
        DedupConfig(bands=14)
    with pytest.raises(ValidationError):
        DedupConfig(bands=20, rows=8)  # 160 > 128 permutations
    with pytest.raises(ValidationError):
        DedupConfig(exact=False, near=False)
    with pytest.raises(ValidationError):
        DedupConfig(thresold=0.8)  # extra="forbid"


def test_union_find_matches_connected_components():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(0)
    n = 5000
    u, v = rng.integers(0, n, 4000), rng.integers(0, n, 4000)
    uf = UnionFind(n)
    uf.union(u[:2000], v[:2000])
    uf.union(u[2000:], v[2000:])
    roots = uf.roots()
    _, labels = connected_components(coo_matrix((np.ones(u.size), (u, v)), shape=(n, n)), directed=False)
    # Same partition, and each root is its component's smallest member.
    assert len(set(zip(roots.tolist(), labels.tolist()))) == len(set(labels.tolist()))
    smallest = {}
    for i, lab in enumerate(labels.tolist()):
        smallest.setdefault(lab, i)
    assert all(roots[i] == smallest[lab] for i, lab in enumerate(labels.tolist()))


def test_pair_jaccard_matches_python_sets():
    rng = np.random.default_rng(1)
    sets = [np.unique(rng.integers(0, 300, rng.integers(0, 200))).astype(np.uint32) for _ in range(60)]
    offsets = np.concatenate([[0], np.cumsum([s.size for s in sets])]).astype(np.int64)
    block = _Block(np.arange(60, dtype=np.int64) * 3, offsets, np.concatenate(sets))
    u, v = rng.integers(0, 60, 500), rng.integers(0, 60, 500)
    got = pair_jaccard(block, block, u * 3, v * 3)
    for a, b, j in zip(u, v, got):
        sa, sb = set(sets[a].tolist()), set(sets[b].tolist())
        assert j == pytest.approx(len(sa & sb) / len(sa | sb) if sa | sb else 0.0)


# ---------------------------------------------------------------------------------------------
# The phases on small hand-made corpora

BASE = ("The quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill and "
        "the birds sing in the old oak tree behind the red barn near the river bank on a sunny morning")


def test_exact_duplicates_use_normalized_text(tmp_path):
    rows = [
        {"id": "a", "text": BASE},
        # Same after case, whitespace and punctuation; no longer than "a", so "a" (smaller id) survives.
        {"id": "b", "text": BASE.upper().replace(" ", "\n").replace("dog\nwhile", "dog,while")},
        {"id": "c", "text": "Something else entirely, with no overlap at all."},
        {"id": "d", "text": "!!!"},  # empty after normalization: never an exact duplicate
        {"id": "e", "text": "???"},
    ]
    result = deduplicate(write_parts(tmp_path / "in", rows, 2), tmp_path / "w", DedupConfig(near=False))
    dup = pq.read_table(tmp_path / "w" / "duplicates.parquet").to_pylist()
    assert dup == [{"ordinal": 1, "id": "b", "duplicate_of": "a", "cluster_id": 0, "reason": "exact_duplicate",
                    "jaccard": 1.0}]
    assert result.exact_duplicates == 1 and result.near_duplicates == 0
    strict = DedupConfig(near=False, normalize={"lowercase": False})
    assert deduplicate(write_parts(tmp_path / "in", rows, 2), tmp_path / "w2", strict).duplicates == 0


def test_survivor_policy(tmp_path):
    def docs(quality):
        return [
            {"id": "z-short", "text": BASE, "quality_score": quality[0]},
            {"id": "y-long", "text": BASE + " again", "quality_score": quality[1]},
            {"id": "x-long", "text": BASE + " twice", "quality_score": quality[2]},
        ]

    def survivor(quality, with_quality=True):
        cols = ("id", "text", "quality_score") if with_quality else ("id", "text")
        d = tmp_path / f"q{abs(hash(str(quality), ))}{with_quality}"
        deduplicate(write_parts(d / "in", docs(quality), 2, cols), d / "w", DedupConfig(threshold=0.6))
        dup = pq.read_table(d / "w" / "duplicates.parquet").to_pylist()
        assert len(dup) == 2 and {r["cluster_id"] for r in dup} == {0}
        assert {r["reason"] for r in dup} == {"near_duplicate"} and all(r["jaccard"] >= 0.6 for r in dup)
        (kept,) = {"z-short", "y-long", "x-long"} - {r["id"] for r in dup}
        assert {r["duplicate_of"] for r in dup} == {kept}
        return kept

    assert survivor([0.9, 0.1, 0.2]) == "z-short"  # highest quality_score first
    assert survivor([None, 0.1, float("nan")]) == "y-long"  # missing or NaN quality counts lowest
    assert survivor([0.5, 0.5, 0.5]) == "x-long"  # then longest, then smallest id
    assert survivor([0, 0, 0], with_quality=False) == "x-long"


def test_verification_rejects_lsh_candidates_below_threshold(tmp_path):
    words = BASE.split()
    rows = [{"id": "orig", "text": BASE}]
    # First half shared, second half new: 5-gram Jaccard ~0.3, which 64 bands of 1 row always propose.
    rows.append({"id": "half", "text": " ".join(words[:20] + [f"new{i}" for i in range(20, len(words))])})
    files = write_parts(tmp_path / "in", rows, 2)
    loose = DedupConfig(exact=False, bands=64, rows=1, threshold=0.5)
    verified = deduplicate(files, tmp_path / "v", loose)
    assert verified.candidate_pairs == 1 and verified.rejected_pairs == 1 and verified.duplicates == 0
    unverified = deduplicate(files, tmp_path / "u", loose.model_copy(update={"verify": False}))
    assert unverified.duplicates == 1
    assert pq.read_table(tmp_path / "u" / "duplicates.parquet").column("jaccard").null_count == 1


# ---------------------------------------------------------------------------------------------
# The sample corpus: labelled exact and near duplicates


def test_sample_ground_truth(sample_docs, sample_result):
    result, dup = sample_result
    by_id = {d["id"]: d for d in sample_docs}
    removed = {r["id"]: r for r in dup.to_pylist()}
    assert result.docs == 3495 and (result.bands, result.rows) == (25, 5)
    assert (result.duplicates, result.exact_duplicates, result.near_duplicates) == (301, 105, 196)

    def found(d):
        return d["id"] in removed or d["dup_of"] in removed

    exact = [d for d in sample_docs if d["kind"] == "exact_dup"]
    near = [d for d in sample_docs if d["kind"] == "near_dup"]
    assert sum(map(found, exact)) == len(exact) == 105
    assert sum(map(found, near)) == 152  # of 175
    by_edit = Counter((d["edit"]["op"], d["edit"].get("rate")) for d in near if found(d))
    assert by_edit[("word_delete", 0.05)] == by_edit[("word_insert", 0.05)] == by_edit[("add_header", None)] == 16
    assert by_edit[("word_swap", 0.1)] == 9  # J 0.59-0.72, around the threshold
    assert by_edit[("word_delete", 0.1)] == 0  # J 0.41-0.54: below the threshold by design

    # Removed outside its labelled family: originals that really are near-identical to another one
    # (repetitive junk lines; "what's new" sections copied between Python releases) and two
    # templated reference pages. None of the 80 number tables (DataTrove folds digits: it removes 79).
    def family(doc_id):
        return by_id[doc_id]["dup_of"] or doc_id

    outside = [r for r in removed.values() if family(r["id"]) != family(r["duplicate_of"])]
    assert Counter(by_id[r["id"]]["source"] for r in outside) == {"junk:repetitive": 37, "python-doc": 6,
                                                                   "postgresql-doc": 1}
    assert sorted(r["id"].split("/")[-1] for r in outside if by_id[r["id"]]["label"] == "human") == [
        "2.2.html#pep-227-nested-scopes", "2.2.html#pep-255-simple-generators", "2.5.html#pep-343-the-with-statement",
        "3.6.html#notable-changes-in-python-3-6-2", "3.8.html#notable-changes-in-python-3-8-8",
        "contrib-dblink-build-sql-insert.html", "mailbox.html#mmdfmessage"]
    # Every removal is backed by its own true Jaccard with the survivor.
    assert all(r["jaccard"] >= 0.6 for r in removed.values())
    assert all(r["reason"] == "exact_duplicate" for r in removed.values() if by_id[r["id"]]["kind"] == "exact_dup")
    assert dup.column("ordinal").to_pylist() == sorted(dup.column("ordinal").to_pylist())


def test_ordinals_follow_staging_order(sample_docs, sample_result):
    _, dup = sample_result
    for row in dup.to_pylist():
        assert sample_docs[row["ordinal"]]["id"] == row["id"]


def test_deterministic(sample_files, sample_result, tmp_path):
    _, first = sample_result
    deduplicate(sample_files, tmp_path / "again", DedupConfig())
    assert pq.read_table(tmp_path / "again" / "duplicates.parquet").equals(first)


def test_phases_one_by_one_equal_convenience(sample_files, sample_result, tmp_path):
    """The per-partition tasks, run in another order, give the same file as deduplicate()."""
    _, expected = sample_result
    cfg, work = DedupConfig(), tmp_path / "phases"
    for path, index, first in reversed(staging_parts(sample_files)):
        signature_partition(path, index, first, work, cfg)
    for name in reversed(partitions(cfg)):
        bucket_partition(name, work, cfg)
    cluster(work, cfg, map_fn=lambda f, items: [f(i) for i in reversed(list(items))])
    assert pq.read_table(work / "duplicates.parquet").equals(expected)


def test_memory_budget_splits_buckets_and_verification_blocks(sample_files, sample_result, tmp_path):
    _, expected = sample_result
    small = DedupConfig(memory_budget_bytes=64 << 10)
    result = deduplicate(sample_files, tmp_path / "small", small)
    assert result.memory["bucket_max_splits"] >= 3  # each band partition was split by key range
    assert result.memory["bucket_peak_sort_bytes"] <= small.memory_budget_bytes
    assert result.memory["verify_block_loads"] > 1  # shingle sets loaded in blocks
    assert pq.read_table(tmp_path / "small" / "duplicates.parquet").equals(expected)


def test_resume_reuses_finished_tasks(sample_files, tmp_path):
    cfg = DedupConfig()
    deduplicate(sample_files[:1], tmp_path / "w", cfg)
    marker = tmp_path / "w" / "parts" / "part-00000.json"
    before = marker.read_text()
    stats = signature_partition(sample_files[0], 0, 0, tmp_path / "w", cfg, resume=True)
    assert marker.read_text() == before and stats["rows"] == 1200
    changed = signature_partition(sample_files[0], 0, 0, tmp_path / "w", cfg.model_copy(update={"ngram": 4}),
                                  resume=True)
    assert changed["config"] != json.loads(before)["config"]


def test_cluster_needs_every_part(sample_files, tmp_path):
    cfg = DedupConfig()
    path, index, first = staging_parts(sample_files)[1]
    signature_partition(path, index, first, tmp_path / "w", cfg)  # part 1 without part 0
    with pytest.raises(ValueError, match="not contiguous"):
        bucket_partition("exact", tmp_path / "w", cfg)


def test_process_pool_map(sample_files, sample_result, tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    _, expected = sample_result
    with ProcessPoolExecutor(2) as pool:
        deduplicate(sample_files, tmp_path / "pool", DedupConfig(), map_fn=functools.partial(pool.map))
    assert pq.read_table(tmp_path / "pool" / "duplicates.parquet").equals(expected)


def test_survivor_mode_does_not_remove_through_chains(tmp_path):
    """a ~ b (J 0.64) and b ~ c (J 0.64), but c is far from a (J 0.385): c is not a's duplicate."""
    words = [f"w{i:03d}" for i in range(56)]
    rows = [{"id": "a", "text": " ".join(words[0:40])}, {"id": "b", "text": " ".join(words[8:48])},
            {"id": "c", "text": " ".join(words[16:56])}]
    files = write_parts(tmp_path / "in", rows, 3)
    cfg = DedupConfig(bands=64, rows=1)  # every pair with any overlap is a candidate
    survivor = deduplicate(files, tmp_path / "s", cfg)
    dup = pq.read_table(tmp_path / "s" / "duplicates.parquet").to_pylist()
    assert [(r["id"], r["duplicate_of"], round(r["jaccard"], 3)) for r in dup] == [("b", "a", 0.636)]
    assert survivor.counters["deferred"] == 1 and survivor.clusters == 1
    component = deduplicate(files, tmp_path / "c", cfg.model_copy(update={"cluster_mode": "component"}))
    dup = pq.read_table(tmp_path / "c" / "duplicates.parquet").to_pylist()
    assert [(r["id"], r["duplicate_of"], round(r["jaccard"], 3)) for r in dup] == [("b", "a", 0.636),
                                                                                  ("c", "a", 0.385)]
    assert component.clusters == 1


def test_the_pair_check_loads_while_the_shingle_tasks_run(sample_files, tmp_path, monkeypatch):
    """Verification runs in the caller's process, whose first compiled call costs ~0.7 s: that load
    runs beside the shingle tasks (in a pool they leave this process waiting), not after them."""
    import importlib
    import threading

    cluster = importlib.import_module("curation.dedup.cluster")  # the package exports a function of that name
    loading, shingling = threading.Event(), threading.Event()
    loaders: list[str] = []
    overlapped: list[bool] = []
    real_load = cluster.load_pair_kernel

    def load():
        # The kernel may already be loaded in this test process and the real load return at
        # once; holding the loader until the shingle tasks start shows the two overlap.
        loading.set()
        loaders.append(threading.current_thread().name)
        shingling.wait(10)
        real_load()

    def map_fn(fn, items):
        if getattr(fn, "func", None) is shingle_partition:
            overlapped.append(loading.wait(10))
            shingling.set()
        return map(fn, items)

    monkeypatch.setattr(cluster, "load_pair_kernel", load)
    result = deduplicate(sample_files, tmp_path / "w", DedupConfig(), map_fn=map_fn)
    assert result.verified_pairs > 0 and overlapped == [True] and loaders == ["load-pair-kernel"]


def test_prepare_loads_the_verification_kernel_where_the_fit_will_verify(monkeypatch):
    """``prepare()`` (called by the runner in a thread beside pass 1, in the process that fits)
    makes the kernel's first call there: on a small corpus the shingle tasks ended before it did,
    and the fit waited ~0.7 s for it. Without verification there is nothing to load."""
    import importlib
    import subprocess
    import sys

    fresh = ("from curation.kernels import sorted_jaccard as k\n"
             "from curation.dedup.stage import Deduplicate\n"
             "assert not k.signatures\n"
             "Deduplicate().prepare()\n"
             "assert k.signatures, 'not loaded'\n")
    subprocess.run([sys.executable, "-c", fresh], check=True)
    cluster = importlib.import_module("curation.dedup.cluster")
    calls: list[int] = []
    monkeypatch.setattr(cluster, "load_pair_kernel", lambda: calls.append(1))
    Deduplicate(verify=False).prepare()
    Deduplicate(near=False).prepare()
    assert calls == []
    Deduplicate().prepare()
    assert calls == [1]
