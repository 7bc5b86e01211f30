"""Shared fixtures: the bundled sample corpus and one pipeline run over it per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.config import PipelineConfig
from curation.pipeline import RunResult, run

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "corpus.jsonl.gz"
MESSY = ROOT / "sample_data" / "messy.jsonl"


def small_config(**overrides) -> PipelineConfig:
    """The length-only chain (no dedup or PII) with a smaller vocabulary: runner tests stay a few
    seconds. The quality chain has its own tests (test_quality.py), and the CLI and preset tests run
    whole presets. A ``preset`` override gives that preset's whole chain."""
    data = {"stages": ["length"], "tokenizer": {"vocab_size": 4000}}
    if "preset" in overrides:
        data.pop("stages")
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return PipelineConfig.model_validate(data)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> RunResult:
    out = tmp_path_factory.mktemp("sample_run")
    return run([str(SAMPLE), str(MESSY)], out, small_config(shards={"target_tokens": 1_000_000}), progress=False)
