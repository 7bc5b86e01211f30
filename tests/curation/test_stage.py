"""The stage interface: filters, counters, stage chaining by name, custom stages by module path."""

from __future__ import annotations

import pytest

from curation import Document
from curation.errors import CurationError
from curation.quality.length import LengthFilter
from curation.registry import build_stage
from custom_stages import Shouty


def test_length_filter_bounds_and_counters():
    docs = [Document("short", "one two three"), Document("ok", " ".join(["w"] * 50)),
            Document("long", " ".join(["w"] * 101))]
    result = LengthFilter(min_words=50, max_words=100)(docs)
    assert [d.id for d in result.kept] == ["ok"]
    assert [(d.doc.id, d.stage, d.reason) for d in result.dropped] == [
        ("short", "length", "too_few_words"), ("long", "length", "too_many_words")]
    assert result.counters == {"docs_in": 3, "docs_out": 1, "dropped/too_few_words": 1, "dropped/too_many_words": 1}


def test_length_filter_rejects_bad_bounds():
    with pytest.raises(ValueError):
        LengthFilter(min_words=10, max_words=5)


def test_custom_stages_by_module_path():
    stage = build_stage("custom_stages:Shouty", {})
    assert isinstance(stage, Shouty)
    result = stage([Document("a", "QUIET PLEASE"), Document("b", "Quiet please")])
    assert [d.reason for d in result.dropped] == ["all_caps"] and [d.id for d in result.kept] == ["b"]


def test_build_stage_errors_are_one_line():
    with pytest.raises(CurationError, match="unknown stage 'nope'"):
        build_stage("nope", {})
    with pytest.raises(CurationError, match="bad parameters for stage 'length'"):
        build_stage("length", {"min_chars": 3})
    with pytest.raises(CurationError, match="not a curation.Stage"):
        build_stage("curation.config:PipelineConfig", {})


def test_runner_chains_custom_stages_with_their_columns_and_counters(tmp_path):
    import pyarrow.parquet as pq

    from curation.config import PipelineConfig
    from curation.pipeline import run

    src = tmp_path / "in.jsonl"
    words = " ".join(["word"] * 60)
    src.write_text("\n".join(
        f'{{"id": "{i}", "text": "{words.upper() if i == "caps" else words}"}}' for i in ("a", "b-odd", "caps", "c")))
    config = PipelineConfig.model_validate({
        "stages": ["length", "custom_stages:Shouty", "custom_stages:Tagger"], "tokenizer": {"vocab_size": 300}})
    result = run([str(src)], tmp_path / "out", config, progress=False)
    shard = pq.read_table(tmp_path / "out" / "shards").to_pylist()
    assert [(r["id"], r["n_chars"]) for r in shard] == [("a", 299), ("c", 299)]
    removed = pq.read_table(tmp_path / "out" / "removed").to_pylist()
    assert [(r["id"], r["stage"], r["reason"], r["note"]) for r in removed] == [
        ("caps", "shouty", "all_caps", None), ("b-odd", "tagger", "odd_id", "id b-odd")]
    tagger = result.summary["stages"][3]
    assert tagger["stage"] == "tagger" and tagger["counters"] == {"chars_seen": 3 * 299}
