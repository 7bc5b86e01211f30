"""The ``curate`` command as a user runs it: help, errors without tracebacks, a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import MESSY, ROOT, SAMPLE, sample_slice

CURATE = [sys.executable, "-m", "flows.cli"]  # what the installed `curate` runs


def curate(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_help_explains_the_command():
    result = curate("run", "--help")
    assert result.returncode == 0
    for word in ("--input", "--output", "--config", "--text-field", "--id-field", "examples:", "quarantine"):
        assert word in result.stdout


def test_missing_input_is_one_line_error(tmp_path):
    result = curate("run", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "input not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_input_without_documents_is_one_line_error(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    result = curate("run", "--input", str(empty), "--output", str(tmp_path / "o"))
    assert result.returncode == 2 and "no documents" in result.stderr and "Traceback" not in result.stderr


def test_run_prints_summary_and_writes_outputs(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[tokenizer]\nvocab_size = 2000\n")
    out = tmp_path / "out"
    data = sample_slice(tmp_path / "slice.jsonl", 800)  # the default chain on a fifth of the sample: make run has it all
    result = curate("run", "--input", str(data), str(MESSY), "--output", str(out), "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "stage" in result.stdout and "quarantined (bad input)" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"tokens: {manifest['total_tokens']:,}" in result.stdout
    assert json.loads((out / "config.json").read_text())["tokenizer"]["vocab_size"] == 2000
