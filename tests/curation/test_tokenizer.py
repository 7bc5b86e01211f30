"""BPE training, the special-token policy, and exact counting with fastokens vs HF."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pytest
from tokenizers import Tokenizer

from curation.config import TokenizerConfig
from curation.errors import CurationError
from curation.tokenizer import PROBE_TEXTS, SampleSplit, TokenCounter, save_tokenizer, train_tokenizer

from helpers import SAMPLE


@pytest.fixture(scope="module")
def texts():
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(1500), fh)]


@pytest.fixture(scope="module")
def tokenizer_path(texts, tmp_path_factory):
    config = TokenizerConfig(vocab_size=3000)
    tokenizer = train_tokenizer([texts[i:i + 100] for i in range(0, len(texts), 100)], config)
    return save_tokenizer(tokenizer, tmp_path_factory.mktemp("tok"), config)


def test_trained_tokenizer_shape(tokenizer_path):
    tok = Tokenizer.from_file(str(tokenizer_path))
    assert tok.get_vocab_size() == 3000
    assert tok.token_to_id("<|endoftext|>") == 0
    text = "Grüße, 東京! \t\n def f(): return 42"
    assert tok.decode(tok.encode(text).ids) == text  # byte-level: lossless, no unknown token


def test_training_is_deterministic(texts):
    config = TokenizerConfig(vocab_size=1000)
    a = train_tokenizer([texts[:500]], config).to_str()
    b = train_tokenizer([texts[:500]], config).to_str()
    assert a == b


def test_fastokens_counts_and_ids_equal_hf(tokenizer_path, texts):
    fast = TokenCounter(tokenizer_path, backend="fastokens")
    hf = TokenCounter(tokenizer_path, backend="hf")
    assert fast.backend == "fastokens" and hf.backend == "hf"
    reference = Tokenizer.from_file(str(tokenizer_path))
    expected = [len(reference.encode(t).ids) for t in texts]
    assert fast.count(texts).tolist() == expected
    assert hf.count(texts).tolist() == expected
    fast_ids, fast_offsets = fast.ids(texts[:200] + PROBE_TEXTS)
    hf_ids, hf_offsets = hf.ids(texts[:200] + PROBE_TEXTS)
    assert np.array_equal(fast_ids, hf_ids) and np.array_equal(fast_offsets, hf_offsets)


def test_literal_special_token_is_counted_as_text(tokenizer_path):
    counter = TokenCounter(tokenizer_path)
    text = "see <|endoftext|> here"
    reference = Tokenizer.from_file(str(tokenizer_path))
    injected = reference.encode(text).ids
    assert 0 in injected  # HF's default would inject the EOS id...
    flat, _ = counter.ids([text])
    assert 0 not in flat.tolist()  # ...our policy encodes the literal as ordinary text
    reference.encode_special_tokens = True
    assert counter.count([text]).tolist() == [len(reference.encode(text).ids)]


def test_auto_falls_back_to_hf_with_a_warning(tokenizer_path, monkeypatch, caplog):
    monkeypatch.setattr(TokenCounter, "_try_fastokens", lambda self, probes: "ids differ (simulated)")
    with caplog.at_level(logging.WARNING):
        counter = TokenCounter(tokenizer_path, backend="auto")
    assert counter.backend == "hf" and "falls back to HF" in caplog.text
    with pytest.raises(CurationError, match="fastokens cannot count"):
        TokenCounter(tokenizer_path, backend="fastokens")


def test_a_shared_counter_is_built_once_per_content_and_backend(tokenizer_path, tmp_path, monkeypatch):
    from curation.io.files import sha256_file

    built = []
    init = TokenCounter.__init__
    monkeypatch.setattr(TokenCounter, "__init__", lambda self, *a, **k: (built.append(a[0]), init(self, *a, **k))[-1])
    monkeypatch.setattr("curation.tokenizer._SHARED_COUNTERS", {})
    sha = sha256_file(tokenizer_path)
    copy = tmp_path / "tokenizer.json"  # a run's copy of a given tokenizer: the same content
    copy.write_bytes(tokenizer_path.read_bytes())
    a = TokenCounter.shared(tokenizer_path, "auto", sha)
    assert TokenCounter.shared(copy, "auto", sha) is a and len(built) == 1
    hf = TokenCounter.shared(tokenizer_path, "hf", sha)
    assert hf is not a and hf.backend == "hf" and len(built) == 2
    other = TokenCounter.shared(tokenizer_path, "auto", "another content")  # the oldest (auto) goes
    assert TokenCounter.shared(tokenizer_path, "hf", sha) is hf and len(built) == 3
    assert TokenCounter.shared(tokenizer_path, "auto", sha) is not a and len(built) == 4
    assert other.count(["a b"]).tolist() == a.count(["a b"]).tolist()


def test_a_run_builds_one_counter(tmp_path, monkeypatch):
    """The tokenizer step and the shard step, in one process, count with one counter."""
    from curation.pipeline import run

    from helpers import small_config

    built = []
    init = TokenCounter.__init__
    monkeypatch.setattr(TokenCounter, "__init__", lambda self, *a, **k: (built.append(a[0]), init(self, *a, **k))[-1])
    monkeypatch.setattr("curation.tokenizer._SHARED_COUNTERS", {})
    run([str(SAMPLE)], tmp_path / "out", small_config(), progress=False)
    assert len(built) == 1, built


def test_bad_tokenizer_file(tmp_path):
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(CurationError, match="cannot load tokenizer"):
        TokenCounter(tmp_path / "t.json")


def test_transformers_loads_it(tokenizer_path):
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_path))
    text = "A sentence for transformers."
    assert fast(text)["input_ids"] == Tokenizer.from_file(str(tokenizer_path)).encode(text).ids
    auto = transformers.AutoTokenizer.from_pretrained(str(tokenizer_path.parent))
    assert auto.eos_token == "<|endoftext|>"
    assert 0 not in auto("x <|endoftext|> y")["input_ids"]  # split_special_tokens from tokenizer_config.json


def test_sample_split_is_deterministic_and_bounded():
    config = TokenizerConfig(train_sample_bytes=1000, holdout_fraction=0.1)
    split = SampleSplit.for_corpus(config, corpus_bytes=10_000)
    ids = [f"doc-{i}" for i in range(20_000)]
    holdout = [i for i in ids if split.is_holdout(i)]
    train = [i for i in ids if split.is_train(i)]
    assert not set(holdout) & set(train)
    assert abs(len(holdout) / len(ids) - 0.1) < 0.01
    assert abs(len(train) / len(ids) - 0.9 * 1000 / 9000) < 0.01
    assert SampleSplit.for_corpus(config, corpus_bytes=500).train_fraction == 1.0
