"""Shared fixtures: one pipeline run over the bundled sample corpus per test session."""

from __future__ import annotations

import pytest

from curation.pipeline import RunResult, run
from helpers import MESSY, SAMPLE, small_config


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> RunResult:
    out = tmp_path_factory.mktemp("sample_run")
    return run([str(SAMPLE), str(MESSY)], out, small_config(shards={"target_tokens": 1_000_000}), progress=False)
