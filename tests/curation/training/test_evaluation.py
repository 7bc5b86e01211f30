"""Closing the loop on the sample run: the held-out split never reaches training, validation is
logged beside training loss, sampling means what Hugging Face's settings mean, and the exported
GPT-2 checkpoint reproduces our logits in ``transformers``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.errors import CurationError
from curation.tokenizer import TokenCounter
from curation.training.data import RunData

torch = pytest.importorskip("torch")

TINY = dict(layers=2, d_model=32, heads=2, seq_len=32, batch_size=8, lr=1e-2, warmup_steps=3, num_workers=0,
            device="cpu", log_every=5, checkpoint_every=0, sample_max_new_tokens=40)


@pytest.fixture(scope="module")
def run_dir(sample_run) -> Path:
    return Path(sample_run.output_dir)


@pytest.fixture(scope="module")
def trained(run_dir, tmp_path_factory) -> tuple[Path, dict]:
    from curation.training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("trained")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = train(run_dir, out, TrainConfig(**TINY, max_steps=30, eval_every=10))
    finally:
        torch.set_num_threads(threads)
    return out, summary


def documents(run: RunData) -> list[tuple[int, ...]]:
    counter = TokenCounter(run.tokenizer_path)
    docs = []
    for shard in run.shards:
        flat, offsets = counter.ids(pq.read_table(shard, columns=["text"]).column("text").to_pylist())
        docs += [tuple(flat[a:b].tolist()) for a, b in zip(offsets[:-1], offsets[1:])]
    return docs


# --- the held-out split -----------------------------------------------------------------------------


def test_heldout_documents_never_reach_a_training_batch(run_dir, tmp_path):
    from curation.mixture import Recipe, plan_mixture
    from curation.training.loader import PackedDataset

    train, held = RunData.open(run_dir), RunData.open(run_dir, split="heldout")
    assert held.total_documents > 0 and held.shards[0].parent.name == "heldout"
    # One epoch, every token id of it, as the trainer's loader delivers it (blocks kept in stream order).
    dataset = PackedDataset(train, 255, seed=3, shuffle_window=1, epochs=1, keep_tail=True)
    stream = np.concatenate([np.asarray(block) for block, _, _ in dataset])
    assert stream.size == train.total_tokens + train.total_documents
    ends = np.flatnonzero(stream == train.eos_id)
    seen = [tuple(stream[a + 1:b].tolist()) for a, b in zip(np.r_[-1, ends[:-1]], ends)]
    assert sorted(seen) == sorted(documents(train))
    # This chain has no dedup, so a held-out text may also be a training document's: those aside,
    # no held-out document is in the epoch.
    train_ids = set(pq.read_table(run_dir / "shards", columns=["id"]).column("id").to_pylist())
    held_ids = pq.read_table(run_dir / "heldout", columns=["id"]).column("id").to_pylist()
    assert not train_ids & set(held_ids)
    copies = set(documents(train))
    unique = [d for d in documents(held) if d not in copies]
    assert len(unique) > held.total_documents / 2 and not set(unique) & set(seen)
    # Nor through a mixture: a held-out shard is not a source.
    with pytest.raises(CurationError, match="not a shard listed"):
        plan_mixture(Recipe.model_validate({"sources": {"x": {"path": str(run_dir / "heldout" / "*.parquet"),
                                                                "share": 1.0}}, "total_tokens": 1000}))


# --- validation -------------------------------------------------------------------------------------


def test_validation_is_logged_beside_training_loss(run_dir, trained):
    from curation.training.evaluate import HeldOut

    out, summary = trained
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [10, 20, 30]
    val = [r["val_loss"] for r in records if "val_loss" in r]
    assert val[-1] < val[0] and all(math.isfinite(v) for v in val)
    assert summary["val_loss"] == val[-1] and summary["val_ppl"] == pytest.approx(math.exp(val[-1]))
    heldout = HeldOut.read(RunData.open(run_dir, split="heldout"), 1 << 20)
    assert summary["heldout_documents"] == heldout.documents
    assert summary["val_tokens"] == heldout.predicted == RunData.open(run_dir, split="heldout").total_tokens + \
        heldout.documents  # every document's tokens and its EOS, once
    assert summary["val_bpb"] == pytest.approx(summary["val_loss"] * heldout.predicted / math.log(2)
                                               / heldout.text_bytes)
    assert summary["loss_curve"] == "loss.png" and (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_curate_evaluate_agrees_with_training(trained, capsys):
    from curation.cli import main

    out, summary = trained
    assert main(["evaluate", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["val_bpb"] == pytest.approx(summary["val_bpb"], rel=1e-5)
    assert result["unigram_bpb"] == pytest.approx(summary["unigram_bpb"])


# --- sampling ---------------------------------------------------------------------------------------


def test_top_k_and_top_p_masks_match_transformers():
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    from curation.training.sample import top_k_mask, top_p_mask

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 500, generator=generator) * 3
    logits[:, :40] = logits[:, :40].round()  # ties at the boundary, kept on both sides
    ids = torch.zeros(16, 1, dtype=torch.long)
    for k in (1, 2, 25, 499, 500, 10_000):
        assert torch.equal(top_k_mask(logits, k), TopKLogitsWarper(k)(ids, logits.clone())), k
    for p in (0.01, 0.3, 0.9, 0.95, 0.999):
        assert torch.equal(top_p_mask(logits, p), TopPLogitsWarper(p)(ids, logits.clone())), p


def test_settings_apply_in_hugging_faces_order():
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    from curation.training.sample import SamplingConfig, next_token_distribution

    logits = torch.randn(4, 300, generator=torch.Generator().manual_seed(1)) * 4
    ids = torch.zeros(4, 1, dtype=torch.long)
    for temperature, k, p in ((0.8, 25, 1.0), (1.3, 50, 0.9), (0.5, 0, 0.7)):
        ours = next_token_distribution(logits, SamplingConfig(temperature=temperature, top_k=k, top_p=p))
        warpers = [TemperatureLogitsWarper(temperature)] + ([TopKLogitsWarper(k)] if k else []) + \
            ([TopPLogitsWarper(p)] if p < 1 else [])
        theirs = LogitsProcessorList(warpers)(ids, logits.clone()).softmax(-1)
        assert torch.allclose(ours, theirs, atol=1e-7)


def test_greedy_and_seeded_sampling(trained):
    from curation.training.sample import SamplingConfig, Trained, distinct_n, generate

    model = Trained.load(str(trained[0]))
    prompt = [model.eos_id, 100, 200]
    greedy = generate(model.model, prompt, SamplingConfig(temperature=0, max_new_tokens=12, stop_at_eos=False),
                      model.vocab_size)
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(12):
            ids.append(int(model.model(torch.tensor([ids]))[0, -1, :model.vocab_size].argmax()))
    assert greedy == ids[len(prompt):]
    config = SamplingConfig(max_new_tokens=60, stop_at_eos=False, seed=7)
    first = generate(model.model, prompt, config, model.vocab_size)
    assert first == generate(model.model, prompt, config, model.vocab_size)
    assert first != generate(model.model, prompt, SamplingConfig(max_new_tokens=60, stop_at_eos=False, seed=8),
                             model.vocab_size)
    assert model.model.config.padded_vocab > model.vocab_size and max(first) < model.vocab_size
    assert 0 < distinct_n(first) <= 1 and distinct_n([5] * 20) == 1 / 19
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)


def test_training_ends_with_samples_and_curate_sample_repeats_them(trained, capsys):
    from curation.cli import main

    out, summary = trained
    assert [s["seed"] for s in summary["samples"]] == [0, 1]
    for s in summary["samples"]:
        assert 0 < s["tokens"] <= 40 and s["distinct_2"] > 0
    assert main(["sample", str(out), "--max-new-tokens", "40", "--seed", "0", "-n", "2"]) == 0
    printed = capsys.readouterr().out
    assert summary["samples"][0]["text"] in printed and summary["samples"][1]["text"] in printed
    assert main(["sample", str(out), "--top-p", "0"]) == 2
    assert "top_p must be in (0, 1]" in capsys.readouterr().err


# --- export -----------------------------------------------------------------------------------------


def test_export_loads_in_transformers_with_our_logits(trained, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from curation.cli import main
    from curation.training.sample import SamplingConfig, Trained, generate

    assert main(["export-model", str(trained[0]), "--output", str(tmp_path / "hf")]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (tmp_path / "hf").iterdir()}
    ours = Trained.load(str(trained[0]))
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ids = torch.randint(0, ours.vocab_size, (3, 32), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = ours.model(ids)[..., :ours.vocab_size], theirs(ids).logits
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4)
    # generate continues a prompt as our model does (greedy), from the same tokenizer's ids.
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    prompt = tokenizer("The function returns", return_tensors="pt")["input_ids"]
    assert prompt[0].tolist() == TokenCounter(ours.tokenizer_path).ids(["The function returns"])[0].tolist()
    hf = theirs.generate(prompt, do_sample=False, max_new_tokens=10)[0, prompt.shape[1]:].tolist()
    assert hf == generate(ours.model, prompt[0].tolist(), SamplingConfig(temperature=0, max_new_tokens=10,
                                                                          stop_at_eos=False), ours.vocab_size)[:len(hf)]
    text = pipeline("text-generation", model=str(tmp_path / "hf"))("The function returns", max_new_tokens=5)
    assert text[0]["generated_text"].startswith("The function returns")
