"""Partitions and storage: any split of the input, and inputs/outputs behind fsspec, give the same bytes."""

from __future__ import annotations

import gzip
import json
import shutil

import fsspec
import pyarrow.parquet as pq
import pytest

from helpers import MESSY, SAMPLE, small_config
from curation.io.readers import resolve_inputs
from curation.partition import partition_inputs
from curation.pipeline import run


@pytest.fixture(scope="module")
def plain_sample(tmp_path_factory):
    """The sample as plain JSONL (byte ranges) next to the .gz (line ranges)."""
    folder = tmp_path_factory.mktemp("plain")
    (folder / "corpus.jsonl").write_bytes(gzip.decompress(SAMPLE.read_bytes()))
    shutil.copy(MESSY, folder / "messy.jsonl")
    return folder


@pytest.fixture(scope="module")
def reference(plain_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("one-partition")
    return run([str(plain_sample)], out, small_config(input={"partition_bytes": 1 << 30}), progress=False)


def shard_bytes(out) -> list[bytes]:
    return [p.read_bytes() for p in sorted((out / "shards").glob("*.parquet"))]


def test_small_partitions_change_nothing(plain_sample, reference, tmp_path):
    config = small_config(input={"partition_bytes": 700_000})
    partitions = partition_inputs(resolve_inputs([str(plain_sample)]), 700_000)
    assert len(partitions) > 15 and {f.unit for p in partitions for f in p.files} == {"bytes", None}
    result = run([str(plain_sample)], tmp_path / "out", config, progress=False, workers=2)
    assert shard_bytes(result.output_dir) == shard_bytes(reference.output_dir)
    assert result.summary["stages"] != [] and result.summary["partitions"] == len(partitions)
    # Quarantine rows keep their real line numbers whichever range read them.
    lines = sorted(pq.read_table(result.output_dir / "quarantine").column("line").to_pylist())
    ref = sorted(pq.read_table(reference.output_dir / "quarantine").column("line").to_pylist())
    assert lines == ref


def test_row_groups_end_at_the_same_rows_whatever_the_partitions_and_batches(plain_sample, tmp_path):
    """A row group ends at the row that fills it, not after the batch that does: several row groups
    per shard, and the same bytes from one partition in batches of 1,000 as from 16+ in batches of 77."""
    shards = {"row_group_bytes": 200_000, "target_bytes": 2_000_000}
    one = run([str(plain_sample)], tmp_path / "one", small_config(input={"partition_bytes": 1 << 30}, shards=shards),
              progress=False)
    many = run([str(plain_sample)], tmp_path / "many",
               small_config(input={"partition_bytes": 700_000, "batch_size": 77}, shards=shards), progress=False)
    assert many.summary["partitions"] > 15 and one.summary["partitions"] == 1
    groups = [pq.ParquetFile(p).metadata.num_row_groups for p in sorted((one.output_dir / "shards").glob("*.parquet"))]
    assert len(groups) > 1 and min(groups[:-1]) > 3, groups
    assert shard_bytes(many.output_dir) == shard_bytes(one.output_dir)


def test_compressed_input_splits_by_lines(tmp_path):
    partitions = partition_inputs(resolve_inputs([str(SAMPLE)]), 1 << 20)
    assert len(partitions) == 8  # capped: each range re-decompresses the lines before it
    starts = [p.files[0].start for p in partitions]
    assert starts == sorted(starts) and partitions[-1].files[0].stop is None


def test_duplicate_ids_across_partitions_are_quarantined(tmp_path):
    records = [{"id": f"d{i % 40}", "text": f"document number {i} " * 30} for i in range(100)]
    path = tmp_path / "dups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = small_config(input={"partition_bytes": 2_000}, tokenizer={"vocab_size": 300})
    result = run([str(path)], tmp_path / "out", config, progress=False)
    assert result.summary["partitions"] > 5
    assert result.summary["quarantined"] == {"duplicate_id": 60}
    ids = pq.read_table(tmp_path / "out" / "shards", columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(f"d{i}" for i in range(40))
    # The first occurrence is the one kept.
    texts = pq.read_table(tmp_path / "out" / "shards", columns=["id", "text"]).to_pylist()
    assert all(t["text"].startswith(f"document number {t['id'][1:]} ") for t in texts)


def test_fsspec_input_and_output(plain_sample, reference, tmp_path):
    memory = fsspec.filesystem("memory")
    for name in ("corpus.jsonl", "messy.jsonl"):
        memory.pipe(f"/in/{name}", (plain_sample / name).read_bytes())
    config = small_config(input={"partition_bytes": 1 << 30})
    result = run(["memory://in/"], "memory://out", config, progress=False, work_dir=tmp_path / "work")
    assert result.output_dir == tmp_path / "work"
    published = sorted(memory.find("/out"))
    assert "/out/manifest.json" in published and not any("/staging/" in p or "/markers/" in p for p in published)
    assert memory.cat("/out/manifest.json") == (reference.output_dir / "manifest.json").read_bytes()
    shards = sorted(p for p in published if p.startswith("/out/shards/"))
    assert [memory.cat(p) for p in shards] == shard_bytes(reference.output_dir)
    # file:// URLs and globs go through fsspec as well.
    again = run([f"file://{plain_sample}/*.jsonl"], tmp_path / "local", config, progress=False)
    assert shard_bytes(again.output_dir) == shard_bytes(reference.output_dir)
