"""The dedup stage inside the runner: fitted on the staged corpus, applied in pass 2 by ordinal."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest

from curation import Document
from curation.dedup.stage import Deduplicate
from curation.errors import CurationError
from curation.pipeline import run

from helpers import MESSY, SAMPLE, kept_documents, small_config


def test_dedup_in_a_run_removes_the_sample_duplicates(tmp_path):
    result = run([str(SAMPLE), str(MESSY)], tmp_path / "out", small_config(stages=["dedup"]), progress=False)
    removed = pq.read_table(tmp_path / "out" / "removed").to_pylist()
    kept_ids = set(kept_documents(tmp_path / "out", ["id"]).column("id").to_pylist())
    assert len(removed) == 301 and len(kept_ids) == 3495 + 1 - 301
    assert sum(r["reason"] == "exact_duplicate" for r in removed) == 105
    assert all(r["stage"] == "dedup" and r["duplicate_of"] in kept_ids and r["cluster_id"] is not None for r in removed)
    assert all(r["jaccard"] >= 0.6 for r in removed)
    with gzip.open(SAMPLE, "rt") as fh:
        exact_copies = {rec["id"] for rec in map(json.loads, fh) if rec["kind"] == "exact_dup"}
    assert exact_copies <= {r["id"] for r in removed}  # the original (smaller id) survives
    counters = result.summary["stages"][1]["counters"]
    assert counters["dedup/duplicates"] == 301 and counters["dedup/docs"] == 3495 + 1
    assert not (tmp_path / "out" / "work").exists() and not (tmp_path / "out" / "curated").exists()


def test_tokenizer_trains_on_the_final_text_not_the_staged_duplicates(tmp_path):
    result = run([str(SAMPLE)], tmp_path / "out", small_config(stages=["dedup"]), progress=False)
    tok = result.summary["tokenizer"]
    assert tok["train_fraction"] == 1.0  # the whole sample fits the training budget
    kept = result.manifest["total_documents"] + result.manifest["heldout"]["total_documents"]
    assert tok["train_documents"] + tok["holdout_documents"] == kept == 3495 - 301


def test_dedup_runs_after_the_quality_chain_and_is_deterministic(tmp_path):
    config = small_config(stages=["heuristics", "language", "dedup"])
    a = run([str(SAMPLE)], tmp_path / "a", config, progress=False, workers=2)
    b = run([str(SAMPLE)], tmp_path / "b", config, progress=False, workers=1)
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    assert a.summary["stages"][-1]["docs_in"] == a.summary["stages"][-2]["docs_out"]


def test_unfitted_dedup_refuses_to_guess():
    with pytest.raises(CurationError, match="fitted on the corpus"):
        Deduplicate()([Document("a", "text")])
