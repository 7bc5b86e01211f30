"""The training stage on the sample run's shards: exact tokens, the rank x worker split, resumable
positions, the Megatron-LM and nanoGPT exports read back by independent readers, and real CPU
training (loss falls, kill-and-resume gives the same losses, DDP over gloo with torchrun)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from helpers import ROOT, small_config
from curation.pipeline import run as curate
from curation.tokenizer import TokenCounter, hash_unit
from curation.training.data import RunData, consumer_stream, pack, plan_units, shuffle_blocks
from curation.training.export import export_megatron, export_nanogpt, export_run

# A model small enough for a CPU test: a few ms per step on the 4k-vocabulary sample run.
TINY = dict(layers=2, d_model=32, heads=2, seq_len=32, batch_size=8, lr=1e-2, warmup_steps=3, num_workers=0,
            device="cpu", log_every=1, checkpoint_every=0)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP's spinning threads make tiny models
    several times slower (3.4 s against 13.6 s for 30 steps under load)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run_dir(sample_run) -> Path:
    return Path(sample_run.output_dir)


@pytest.fixture(scope="module")
def run(run_dir) -> RunData:
    return RunData.open(run_dir)


@pytest.fixture(scope="module")
def documents(run) -> list[list[int]]:
    """Every document's ids in manifest order, from the run's own counter (independent of the loader)."""
    counter = TokenCounter(run.tokenizer_path)
    docs = []
    for shard in run.shards:
        texts = pq.read_table(shard, columns=["text"]).column("text").to_pylist()
        flat, offsets = counter.ids(texts)
        docs += [flat[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
    return docs


def split_docs(stream: np.ndarray, eos: int) -> list[tuple[int, ...]]:
    """A packed stream back into documents: EOS ends each one and appears nowhere else."""
    assert stream[-1] == eos
    ends = np.flatnonzero(stream == eos)
    return [tuple(stream[a + 1 if i else 0:b].tolist()) for i, (a, b) in enumerate(zip(np.r_[-1, ends[:-1]], ends))]


# --- data: exact ids, split, positions (numpy only) -------------------------------------------------


def test_run_data_checks_the_tokenizer(run, run_dir, tmp_path):
    assert run.eos_token == "<|endoftext|>" and run.eos_id == 0 and run.vocab_size <= 4000
    copy = tmp_path / "run"
    shutil.copytree(run_dir / "tokenizer", copy / "tokenizer")
    shutil.copy(run_dir / "manifest.json", copy / "manifest.json")
    (copy / "tokenizer" / "tokenizer.json").write_text((copy / "tokenizer" / "tokenizer.json").read_text() + " ")
    with pytest.raises(Exception, match="not the tokenizer the run counted with"):
        RunData.open(copy)


def test_stream_is_the_runs_tokens_plus_one_eos_per_document(run, documents):
    units = plan_units(run, 1)
    stream = np.concatenate(list(consumer_stream(run, units, 0, 1, shuffle=False, epochs=1)))
    assert len(stream) == run.total_tokens + run.total_documents  # manifest total + one EOS per doc
    assert split_docs(stream, run.eos_id) == [tuple(d) for d in documents]
    # The ids are HF tokenizers' own (with the run's special-token policy), not just the same count.
    reference = Tokenizer.from_file(str(run.tokenizer_path))
    reference.encode_special_tokens = True
    texts = pq.read_table(run.shards[0], columns=["text"]).column("text").to_pylist()[:40]
    assert [reference.encode(t, add_special_tokens=False).ids for t in texts] == documents[:40]


@pytest.mark.parametrize("n_consumers", [3, 8])
def test_consumer_split_covers_every_document_once(run, documents, n_consumers):
    units = plan_units(run, n_consumers)
    got = Counter()
    for c in range(n_consumers):
        stream = np.concatenate(list(consumer_stream(run, units, c, n_consumers, seed=7, epochs=1)))
        got.update(split_docs(stream, run.eos_id))
    assert got == Counter(tuple(d) for d in documents)


def test_skipping_to_a_position_equals_reading_up_to_it(run):
    units = plan_units(run, 2)
    full = np.concatenate(list(consumer_stream(run, units, 1, 2, seed=3, epochs=2)))
    epoch = len(full) // 2 + 5
    for skip in (1, 999, 123_457, epoch, len(full) - 1):
        resumed = np.concatenate(list(consumer_stream(run, units, 1, 2, seed=3, epochs=2, skip_tokens=skip)))
        np.testing.assert_array_equal(resumed, full[skip:])


def test_pack_cuts_fixed_blocks_across_chunks():
    chunks = [np.arange(0, 5), np.arange(5, 6), np.arange(6, 17)]
    blocks = list(pack(iter(chunks), 4, keep_tail=True))
    assert [b.tolist() for b in blocks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], [16]]
    assert len(list(pack(iter(chunks), 4))) == 4


def test_shuffle_blocks_permutes_windows_and_resumes_mid_window():
    blocks = [np.array([i]) for i in range(10)]
    out = [int(b[0]) for b in shuffle_blocks(iter(blocks), 4, [1, 2])]
    assert sorted(out[:4]) == [0, 1, 2, 3] and sorted(out[4:8]) == [4, 5, 6, 7] and sorted(out[8:]) == [8, 9]
    assert out != list(range(10))
    later = [int(b[0]) for b in shuffle_blocks(iter(blocks[4:]), 4, [1, 2], first_window=1, skip=3)]
    assert later == out[7:]


def test_literal_special_token_is_text_not_a_separator(run, tmp_path):
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"id": "a", "text": "A page about tokenizers: <|endoftext|> ends a GPT-2 document. " * 20}) + "\n"
        + json.dumps({"id": "b", "text": "A second document, plain prose with several words in it. " * 20}) + "\n")
    out = tmp_path / "out"
    config = small_config(tokenizer={"path": str(run.tokenizer_path)})
    curate([str(tmp_path / "in.jsonl")], out, config, progress=False)
    small = RunData.open(out)
    stream = np.concatenate(list(consumer_stream(small, plan_units(small, 1), 0, 1, shuffle=False, epochs=1)))
    assert np.count_nonzero(stream == small.eos_id) == 2 == small.total_documents
    assert len(stream) == small.total_tokens + 2


def test_stored_token_ids_are_read_instead_of_tokenizing(run, run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("removed", "quarantine"))
    counter = TokenCounter(run.tokenizer_path)
    for shard in sorted((copy / "shards").glob("*.parquet")):
        table = pq.read_table(shard)
        flat, offsets = counter.ids(table.column("text").to_pylist())
        # Shifted ids (same counts): the stream can only hold them if the column was read.
        shifted = (flat.astype(np.int64) + 1) % run.vocab_size
        ids = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(shifted, pa.uint32()))
        pq.write_table(table.append_column("token_ids", ids), shard)
    stored = RunData.open(copy)
    units = plan_units(stored, 1)
    got = np.concatenate(list(consumer_stream(stored, units, 0, 1, shuffle=False, epochs=1)))
    expected = np.concatenate(list(consumer_stream(run, plan_units(run, 1), 0, 1, shuffle=False, epochs=1)))
    doc_ids = expected != run.eos_id
    np.testing.assert_array_equal(got[doc_ids], (expected[doc_ids] + 1) % run.vocab_size)
    np.testing.assert_array_equal(got[~doc_ids], expected[~doc_ids])


# --- exports, read back from the format descriptions -----------------------------------------------


def read_mmidx(prefix: Path) -> list[np.ndarray]:
    """An independent MMIDIDX reader, from the layout in Megatron-LM's indexed_dataset.py."""
    raw = (prefix.parent / (prefix.name + ".idx")).read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, code, n_seq, n_doc = struct.unpack_from("<QBQQ", raw, 9)
    assert version == 1
    dtype = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
             8: np.uint16}[code]
    at = 9 + 8 + 1 + 8 + 8
    lengths = np.frombuffer(raw, "<i4", n_seq, at)
    pointers = np.frombuffer(raw, "<i8", n_seq, at + 4 * n_seq)
    doc_index = np.frombuffer(raw, "<i8", n_doc, at + 12 * n_seq)
    assert at + 12 * n_seq + 8 * n_doc == len(raw)
    assert doc_index[0] == 0 and doc_index[-1] == n_seq and np.all(np.diff(doc_index) > 0)
    data = np.fromfile(prefix.parent / (prefix.name + ".bin"), dtype)
    itemsize = np.dtype(dtype).itemsize
    assert pointers[-1] // itemsize + lengths[-1] == len(data)
    return [data[p // itemsize:p // itemsize + n] for p, n in zip(pointers, lengths)]


def test_megatron_export_round_trip(run, documents, tmp_path):
    result = export_megatron(run, tmp_path / "tokens")
    sequences = read_mmidx(tmp_path / "tokens")
    assert result["dtype"] == "uint16" and result["documents"] == len(documents) == run.total_documents
    assert sum(len(s) for s in sequences) == run.total_tokens + run.total_documents == result["tokens"]
    for seq, doc in zip(sequences, documents):
        assert seq[-1] == run.eos_id and seq[:-1].tolist() == doc
    assert not list(tmp_path.glob("*.tmp"))


def test_nanogpt_export_round_trip(run, documents, tmp_path):
    meta = export_nanogpt(run, tmp_path, val_fraction=0.05)
    assert meta == json.loads((tmp_path / "meta.json").read_text())
    ids = [i for s in run.shards for i in pq.read_table(s, columns=["id"]).column("id").to_pylist()]
    expected = {"train": [], "val": []}
    for doc_id, doc in zip(ids, documents):
        expected["val" if hash_unit(doc_id) < 0.05 else "train"] += doc + [run.eos_id]
    for split in ("train", "val"):
        data = np.memmap(tmp_path / f"{split}.bin", dtype=np.uint16, mode="r")  # how nanoGPT reads it
        assert data.tolist() == expected[split]
        assert meta["tokens"][split] == len(data)
    assert meta["documents"]["val"] > 0
    assert meta["tokens"]["train"] + meta["tokens"]["val"] == run.total_tokens + run.total_documents


def test_nanogpt_val_bin_is_never_empty(run, tmp_path, capsys):
    from curation.training.export import main

    def small_run(n_docs: int) -> Path:
        rows = pq.read_table(run.shards[0], columns=["id", "text"]).slice(0, n_docs).to_pylist()
        (tmp_path / f"in{n_docs}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        out = tmp_path / f"run{n_docs}"
        curate([str(tmp_path / f"in{n_docs}.jsonl")], out, small_config(tokenizer={"path": str(run.tokenizer_path)}),
               progress=False)
        return out

    two = small_run(2)
    # nanoGPT's 0.05% holds out no document of two: the one with the lowest hash goes to val.bin.
    assert main([str(two), "-o", str(tmp_path / "export"), "--format", "nanogpt"]) == 0
    meta = json.loads((tmp_path / "export" / "nanogpt" / "meta.json").read_text())
    assert meta["documents"] == {"train": 1, "val": 1} and meta["val_adjusted"]
    small = RunData.open(two)
    ids = pq.read_table(small.shards[0], columns=["id"]).column("id").to_pylist()
    held_out = min(range(2), key=lambda i: hash_unit(ids[i]))
    docs = split_docs(np.concatenate(list(consumer_stream(small, plan_units(small, 1), 0, 1, shuffle=False,
                                                          epochs=1))), small.eos_id)
    val = np.memmap(tmp_path / "export" / "nanogpt" / "val.bin", dtype=np.uint16, mode="r")
    assert val.tolist() == list(docs[held_out]) + [small.eos_id]
    # A fraction every document hashes below keeps one for train.bin.
    assert main([str(two), "-o", str(tmp_path / "all"), "--format", "nanogpt", "--val-fraction", "0.999999999"]) == 0
    assert json.loads((tmp_path / "all" / "nanogpt" / "meta.json").read_text())["documents"] == {"train": 1, "val": 1}
    capsys.readouterr()
    assert main([str(small_run(1)), "-o", str(tmp_path / "one"), "--format", "nanogpt"]) == 2
    assert "1 document(s)" in capsys.readouterr().err
    assert main([str(two), "-o", str(tmp_path / "zero"), "--val-fraction", "0"]) == 2
    assert "val_fraction must be in (0, 1)" in capsys.readouterr().err


# --- PyTorch: dataset, loader positions, training --------------------------------------------------


def test_rank_and_worker_split_covers_every_token_once(run, documents):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from curation.training.loader import PackedDataset

    per_consumer: dict[int, list[tuple[int, np.ndarray]]] = {}
    for rank in range(2):  # 2 DDP ranks x 2 DataLoader workers = 4 consumers
        # Blocks in stream order (shuffle_window=1), so that documents can be put back together.
        ds = PackedDataset(run, 1023, rank=rank, world_size=2, seed=1, shuffle_window=1, epochs=1, keep_tail=True)
        for block, consumer, position in DataLoader(ds, batch_size=None, num_workers=2):
            assert isinstance(block, torch.Tensor) and block.dtype == torch.int64
            # A copy, so the worker's shared-memory block is released now, not at the end.
            per_consumer.setdefault(int(consumer), []).append((int(position), block.numpy().copy()))
    assert sorted(per_consumer) == [0, 1, 2, 3]
    got = Counter()
    total = 0
    for blocks in per_consumer.values():
        stream = np.concatenate([b for _, b in sorted(blocks, key=lambda pb: pb[0])])
        total += len(stream)
        got.update(split_docs(stream, run.eos_id))
    assert total == run.total_tokens + run.total_documents
    assert got == Counter(tuple(d) for d in documents)


def test_loader_resumes_from_its_state_with_workers(run):
    pytest.importorskip("torch")
    from curation.training.loader import PackedDataset, ShardLoader

    def loader(state=None, workers=2):
        ds = PackedDataset(run, 31, seed=5, shuffle_window=4)  # 12 batches of 3 cross windows
        if state is not None:
            ds.load_state_dict(state)
        return ShardLoader(ds, batch_size=3, num_workers=workers)

    whole = loader()
    batches = [b for b, _ in zip(whole, range(12))]
    first = loader()
    it = iter(first)
    for i in range(7):
        np.testing.assert_array_equal(next(it), batches[i])
    state = json.loads(json.dumps(first.state_dict()))  # survives a JSON round trip
    del it
    assert state["n_consumers"] == 2 and sum(state["positions"].values()) == 7 * 3
    resumed = iter(loader(state))
    for i in range(7, 12):
        np.testing.assert_array_equal(next(resumed), batches[i])
    with pytest.raises(ValueError, match="consumers"):
        loader(state, workers=3)


def test_schedule_and_optimizer_groups():
    pytest.importorskip("torch")
    from curation.training.model import GPT, GPTConfig, shape_for_params
    from curation.training.train import WarmupCosine

    f = WarmupCosine(warmup=10, total=110, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    model = GPT(GPTConfig(vocab_size=1000, seq_len=16, layers=2, d_model=32, heads=2))
    decay, other = model.optimizer_groups(0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith("weight") and "ln" not in names[id(p)] for p in decay["params"])
    assert {names[id(p)] for p in other["params"]} >= {"tok.weight", "pos.weight", "ln_f.weight", "ln_f.bias"}
    assert len(decay["params"]) + len(other["params"]) == len(list(model.parameters()))
    assert model.config.padded_vocab == 1024 and model.flops_params() == model.num_params() - 16 * 32
    assert shape_for_params(85e6) == (12, 768, 12) and shape_for_params(143_297) == (1, 64, 1)


def losses(out: Path) -> dict[int, float]:
    records = map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
    return {r["step"]: r["loss"] for r in records if "loss" in r}  # validation-only lines have none


def test_training_loss_falls_and_a_killed_run_resumes_exactly(run_dir, tmp_path):
    pytest.importorskip("torch")
    from curation.training.train import TrainConfig, train

    config = TrainConfig(**{**TINY, "max_steps": 30, "checkpoint_every": 10})
    whole = train(run_dir, tmp_path / "whole", config)
    uninterrupted = losses(tmp_path / "whole")
    assert sorted(uninterrupted) == list(range(1, 31))
    first, last = np.mean([uninterrupted[s] for s in range(1, 6)]), np.mean([uninterrupted[s] for s in range(26, 31)])
    assert first > 7.5 and last < first - 1.0, (first, last)  # ln(4000) = 8.3 at the start
    assert whole["steps"] == 30 and whole["tokens"] == 30 * 8 * 32 and whole["mfu"] is None  # no GPU peak on a CPU
    assert whole["planner_mfu"] == 0.5

    class Killed(Exception):
        pass

    def kill_at_23(record):
        if record["step"] == 23:
            raise Killed  # after the step-20 checkpoint: steps 21-23 are lost, as in a real crash

    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(run_dir, out, config, on_step=kill_at_23)
    (out / "checkpoint.pt.tmp").write_bytes(b"half-written")  # a crash during a later save
    resumed = train(run_dir, out, config)
    assert resumed["steps_this_run"] == 10
    after = losses(out)
    assert sorted(after) == list(range(1, 31))
    for step in range(21, 31):
        assert after[step] == pytest.approx(uninterrupted[step], abs=1e-6), step


def test_time_limit_stops_with_a_checkpoint_and_bf16_autocast(run_dir, tmp_path):
    pytest.importorskip("torch")
    import torch

    from curation.training.train import TrainConfig, train

    config = TrainConfig(**{**TINY, "max_steps": 50, "max_seconds": 1e-6, "precision": "bf16"})
    summary = train(run_dir, tmp_path, config)
    assert summary["steps"] == 1 and summary["precision"] == "bf16" and summary["stopped"] == "max_seconds"
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 1


def test_extended_run_follows_the_new_schedule_and_a_finished_run_keeps_its_summary(run_dir, tmp_path, caplog):
    pytest.importorskip("torch")
    from curation.training.train import TrainConfig, WarmupCosine, train

    out = tmp_path / "run"
    train(run_dir, out, TrainConfig(**{**TINY, "max_steps": 6}))
    longer = TrainConfig(**{**TINY, "max_steps": 12})
    extended = train(run_dir, out, longer)
    lrs = {r["step"]: r["lr"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())}
    schedule = WarmupCosine(TINY["warmup_steps"], 12, 0.1)
    for step in range(7, 13):  # the 12-step cosine from step 6 on, not the 6-step one's floor
        assert lrs[step] == pytest.approx(TINY["lr"] * schedule(step)), step
    assert lrs[7] > 0.5 * TINY["lr"]
    assert extended["resumed_at_step"] == 6 and extended["schedule_changed"] == {"max_steps": [6, 12]}

    # Run again when finished: nothing trains, the summary stays (it used to be overwritten with nulls).
    summary = (out / "train_summary.json").read_text()
    with caplog.at_level(logging.INFO, logger="curation.training"):
        again = train(run_dir, out, longer)
    assert "already complete" in caplog.text
    assert again == json.loads(summary) and (out / "train_summary.json").read_text() == summary
    assert train(run_dir, out, TrainConfig(**{**TINY, "max_steps": 8})) == again  # past max_steps: the same
    # A summary lost after the last checkpoint is rebuilt from the metrics log, not from nothing.
    (out / "train_summary.json").unlink()
    rebuilt = train(run_dir, out, longer)
    assert rebuilt["steps"] == 12 and rebuilt["steps_this_run"] == 0
    assert rebuilt["final_loss"] == again["final_loss"] and rebuilt["tokens_per_s"] > 0


def test_ddp_with_two_processes_over_gloo(run_dir, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "ddp"
    args = ["--layers", "1", "--d-model", "32", "--heads", "2", "--seq-len", "32", "--batch-size", "4",
            "--max-steps", "6", "--warmup-steps", "2", "--workers", "0", "--device", "cpu", "--log-every", "3",
            "--grad-accum", "2"]  # accumulation: DDP's no_sync on the first micro-batch of each step
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "curation.training", str(run_dir), "--output", str(out), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6 and summary["tokens"] == 6 * 2 * 2 * 4 * 32
    import torch

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["loader"]["positions"] == {"0": 48, "1": 48}  # a consumer per rank: 6 steps x 2 x 4 sequences
    assert len(state["rng"]) == 2
    assert proc.stdout.count("steps 6") == 1  # one report, from rank 0


def test_curate_train_cli_and_bad_settings(run_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    from curation.cli import main

    out = tmp_path / "cli"
    assert main(["train", str(run_dir), "-o", str(out), "--from-budget", "--seq-len", "32", "--batch-size", "4",
                 "--max-steps", "3", "--warmup-steps", "1", "--workers", "0", "--device", "cpu", "--log-every", "1",
                 "--peak-flops", "1e11"]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    # MFU = 6 N tokens/s / peak, and against the planner's 50%.
    assert summary["mfu"] == pytest.approx(6 * summary["flops_params"] * summary["tokens_per_s"] / 1e11)
    assert summary["mfu_vs_planner"] == pytest.approx(summary["mfu"] / 0.5)
    assert "MFU" in capsys.readouterr().out
    budget = json.loads((run_dir / "budget.json").read_text())
    from curation.training.model import shape_for_params

    assert (summary["model"]["layers"], summary["model"]["d_model"]) == shape_for_params(
        budget["compute_optimal"]["params"])[:2]
    assert main(["train", str(run_dir), "-o", str(out), "--warmup-steps", "50", "--max-steps", "10"]) == 2
    assert "warmup_steps (50) exceeds max_steps (10)" in capsys.readouterr().err
    # A checkpoint of another shape: the command line's way out is a flag, not a Python keyword.
    assert main(["train", str(run_dir), "-o", str(out), "--layers", "1", "--d-model", "32", "--heads", "2",
                 "--seq-len", "32", "--max-steps", "3", "--warmup-steps", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "cannot be resumed" in err and "--no-resume" in err and "resume=False" not in err


def test_bench_train_gpu_code_path_on_cpu(run_dir, tmp_path):
    pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import train_gpu
    finally:
        sys.path.remove(str(ROOT / "bench"))
    results = tmp_path / "train_gpu.json"
    result = train_gpu.main(["--run", str(run_dir), "--out", str(tmp_path / "o"), "--tiny", "--results", str(results)])
    saved = json.loads(results.read_text())
    assert saved["tokens_per_s"] > 0 and saved["peak_memory_gb"] > 0 and saved["mfu"] is None
    assert saved["summary"]["steps"] == 6 and result["goal_mfu"] == 0.40
    assert saved["val_bpb"] > 0 and saved["unigram_bpb"] > 0  # validation beside MFU


def test_export_run_rejects_unknown_format(run_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export_run(run_dir, tmp_path, ("hdf5",))
