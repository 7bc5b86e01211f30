"""``python -m flows.train``, the documented command, as a user runs it: options, one temporary
Prefect server, a clean stderr, and SIGTERM stopping it within seconds with a checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT

TINY_FLAGS = ["--layers", "1", "--d-model", "32", "--heads", "2", "--seq-len", "32", "--batch-size", "4"]


def logged_steps(metrics: Path) -> list[int]:
    """Steps of the complete lines so far (the file is being appended to)."""
    text = metrics.read_text() if metrics.is_file() else ""
    return [json.loads(line)["step"] for line in text[:text.rfind("\n") + 1].splitlines()]


def test_flow_command_trains_then_stops_on_sigterm(sample_run, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("prefect")
    run_dir, out = Path(sample_run.output_dir), tmp_path / "flow"
    # The embedded server of this test's PREFECT_HOME, stopping once idle for 5 s (not the default
    # 10 minutes: it would idle beside the rest of the suite).
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "OMP_NUM_THREADS": "1",
           "CURATION_PREFECT_SERVER_IDLE": "5"}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "flows.train", str(run_dir), str(out), *TINY_FLAGS]

    # Prefect's logs shown (the command hides them by default): its server's too, where the lock was.
    done = subprocess.run([*command, "--max-steps", "5", "--format", "megatron"], capture_output=True, text=True,
                          env={**env, "PREFECT_LOGGING_LEVEL": "INFO"}, cwd=ROOT, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Flow run" in done.stderr and "Finished in state Completed" in done.stderr
    for noise in ("Traceback", "database is locked", "Error logging to API"):
        assert noise not in done.stderr, done.stderr[-3000:]
    summary = json.loads((out / "model" / "train_summary.json").read_text())
    assert summary["steps"] == 5 and summary["model"]["layers"] == 1 and summary["config"]["warmup_steps"] == 0
    exported = (out / "export" / "megatron" / "tokens.idx").read_bytes()
    assert int.from_bytes(exported[18:26], "little") == json.loads((run_dir / "manifest.json").read_text())[
        "total_documents"]  # the MMIDIDX sequence count
    assert "steps 5" in done.stdout

    # Resumed for many more steps, then SIGTERM: a checkpoint within seconds.
    proc = subprocess.Popen([*command, "--max-steps", "100000", "--log-every", "1", "--format"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while max(logged_steps(out / "model" / "metrics.jsonl"), default=0) <= 5:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
        assert time.monotonic() - sent < 10, stderr[-3000:]
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    import torch

    step = torch.load(out / "model" / "checkpoint.pt", weights_only=True)["step"]
    summary = json.loads((out / "model" / "train_summary.json").read_text())
    assert step > 5 and summary["steps"] == step and summary["stopped"] == "SIGTERM"
    assert summary["schedule_changed"] == {"max_steps": [5, 100000], "warmup_steps": [0, 100]}


def test_flow_command_help_and_bad_settings(tmp_path, capsys):
    pytest.importorskip("prefect")
    from flows.train import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--max-steps" in capsys.readouterr().out
    # One-line errors, before any Prefect server starts.
    assert main([str(tmp_path), str(tmp_path / "out"), "--warmup-steps", "50", "--max-steps", "10"]) == 2
    assert "warmup_steps (50) exceeds max_steps (10)" in capsys.readouterr().err
    assert main([str(tmp_path), str(tmp_path / "out"), "--max-steps", "10"]) == 2
    assert "not a curate run" in capsys.readouterr().err
