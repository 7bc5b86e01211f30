"""Shared fixtures: one pipeline run over the bundled sample corpus per test session."""

from __future__ import annotations

import os

# The suite runs two test processes on two cores, and many tests start more (runs, training):
# OpenMP's and OpenBLAS's worker threads (torch, scikit-learn, Arrow's pool) would spin-wait for
# cores that are taken (a 2-step README training took 17 s beside two busy processes, 11 s with
# one thread). Set before anything loads them; every command a test starts inherits it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from curation.pipeline import RunResult, run  # noqa: E402
from helpers import MESSY, SAMPLE, small_config  # noqa: E402


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> RunResult:
    out = tmp_path_factory.mktemp("sample_run")
    return run([str(SAMPLE), str(MESSY)], out, small_config(shards={"target_tokens": 1_000_000}), progress=False)
