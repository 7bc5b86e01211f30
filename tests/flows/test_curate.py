"""The flow ``curate`` for real: a served deployment, SIGKILL and resume, the report.

A successful deployment run and the Ray runner are compared with the library's output byte for byte
in tests/test_readme.py (``make serve``, ``--runner ray``) and tests/curation/pipeline/test_graph.py
(every runner, every preset). Every process a test starts (server, serve, curate) is stopped by it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import MESSY, ROOT, SAMPLE, small_config
from curation.pipeline import run

pytest.importorskip("prefect")
from flows.serve import stop  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(ROOT)} | extra


def same_outputs(a: Path, b: Path) -> None:
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    names = sorted(p.name for p in (a / "shards").iterdir())
    assert names == sorted(p.name for p in (b / "shards").iterdir())
    for name in names:
        assert (a / "shards" / name).read_bytes() == (b / "shards" / name).read_bytes()


def test_make_serve_ignores_the_shells_api_url_and_failures_say_why(tmp_path):
    """`make serve` in a shell whose PREFECT_API_URL points elsewhere: the deployment and its runs use
    the started server; a failed run's reason reaches `prefect deployment run --watch`."""
    port = free_port()
    home = tmp_path / "prefect-home"
    serve_log = tmp_path / "serve.log"
    with open(serve_log, "w") as log:
        serve = subprocess.Popen([sys.executable, "-m", "flows.serve", "--start-server", "--port", str(port),
                                  "--prefect-home", str(home), "--workers", "1"], cwd=ROOT,
                                 env=quiet_env(PREFECT_API_URL="http://127.0.0.1:9/api"), start_new_session=True,
                                 stdout=log, stderr=subprocess.STDOUT)
    env = quiet_env(PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    try:
        deadline = time.monotonic() + 180
        while subprocess.run([BIN / "prefect", "deployment", "inspect", "curate/main"], env=env,
                             capture_output=True).returncode != 0:
            assert serve.poll() is None, serve_log.read_text()
            assert time.monotonic() < deadline, "the deployment was not registered in 180 s"
            time.sleep(1)
        params = {"input": [str(tmp_path / "missing.jsonl")], "output": str(tmp_path / "out")}
        done = subprocess.run([BIN / "prefect", "deployment", "run", "curate/main", "--watch", "--params",
                               json.dumps(params)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and "Failed" in done.stdout
        assert "curate failed: CurationError: input not found" in " ".join(done.stdout.split())
        assert "is not used by this process" in serve_log.read_text()
    finally:
        stop(serve)
    assert serve.poll() is not None


def test_sigkill_mid_run_then_rerun_is_byte_identical(tmp_path):
    # The default chain (dedup, PII) so there is a corpus-level step to be killed around.
    config = small_config(preset="default", stages=None)
    cfg = tmp_path / "c.json"
    cfg.write_text(config.to_json())
    whole = tmp_path / "whole"
    args = [sys.executable, "-m", "flows.cli", "run", "--workers", "2", "--input", str(SAMPLE), str(MESSY),
            "--config", str(cfg), "--keep-intermediate", "--no-progress", "--quiet"]
    env = quiet_env()
    done = subprocess.run([*args, "--output", str(whole)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    killed = tmp_path / "killed"
    log = tmp_path / "killed.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*args, "--output", str(killed)], cwd=ROOT, env=env, start_new_session=True,
                                stdout=fh, stderr=subprocess.STDOUT)
    # Kill the whole process group (flow, workers, temporary server) once pass 1 has finished and
    # before the shards exist: dedup, PII or the tokenizer are then in flight.
    deadline = time.monotonic() + 300
    while not (killed / "markers" / "fit-dedup.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, f"ended before the kill: {log.read_text()}"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "manifest.json").exists()
    assert not (killed / "markers" / "shards.json").exists()
    before = {p.name: p.stat().st_mtime_ns for p in (killed / "staging").iterdir()}
    again = subprocess.run([*args, "--output", str(killed)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    # Pass 1 was not redone: its files are the ones written before the kill.
    assert {p.name: p.stat().st_mtime_ns for p in (killed / "staging").iterdir()} == before
    same_outputs(killed, whole)
    ids = pq.read_table(killed / "shards", columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == json.loads((whole / "manifest.json").read_text())["total_documents"]


def test_changed_config_recomputes_only_what_it_affects(tmp_path):
    out = tmp_path / "out"
    run([str(SAMPLE), str(MESSY)], out, small_config(), progress=False, keep_intermediate=True)
    markers = {p.name: p.stat().st_mtime_ns for p in (out / "markers").iterdir()}
    # Same config: every step is skipped.
    run([str(SAMPLE), str(MESSY)], out, small_config(), progress=False, keep_intermediate=True)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "markers").iterdir()} == markers
    # Only the shard size changes: the shards are rewritten, nothing before them.
    changed = run([str(SAMPLE), str(MESSY)], out, small_config(shards={"target_tokens": 1_000_000}),
                  progress=False, keep_intermediate=True)
    now = {p.name: p.stat().st_mtime_ns for p in (out / "markers").iterdir()}
    assert [n for n in markers if now[n] != markers[n]] == ["shards.json"]
    assert len(changed.manifest["shards"]) > 1
    # A stage parameter changes: pass 1 reruns (and everything after it).
    run([str(SAMPLE), str(MESSY)], out, small_config(stages=[{"length": {"min_words": 60}}]), progress=False,
        keep_intermediate=True)
    latest = {p.name: p.stat().st_mtime_ns for p in (out / "markers").iterdir()}
    assert all(latest[n] != now[n] for n in now if n.startswith("curate-"))


def test_report_shows_funnel_plots_pii_and_budget(tmp_path):
    config = small_config(stages=["length", "dedup", "pii"])
    result = run([str(SAMPLE), str(MESSY)], tmp_path / "out", config, progress=False)
    md = (result.output_dir / "report.md").read_text()
    for heading in ("## Stage funnel", "## Drops by reason", "## PII redacted, by entity", "## Dedup cluster sizes",
                    "## Document length", "Token budget"):
        assert heading in md, heading
    assert "| dedup | exact_duplicate |" in md and "| EMAIL_ADDRESS |" in md
    html = (result.output_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # length and clusters (no quality_score here)
    for png in ("length", "dedup-cluster_size"):
        assert (result.output_dir / "report" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


PROBE_SCRIPT = """
import functools, json, os, sys
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
from flows.embedded import prefect_api
with prefect_api():
    from prefect import flow
    from curation.pipeline import Step
    from flows.curate import PrefectRunner, runner
    from helpers import flaky_probe

    @flow(task_runner=runner("process", None, 2))
    def probe(marks):
        prefect_runner = PrefectRunner(max_tasks=4)
        step = Step("probe", "probe", flaky_probe, per_partition=True, run_name="probe-{index}")
        fn = functools.partial(flaky_probe, marks)
        return prefect_runner.map(step, fn, range(3)) + prefect_runner.fanout(step)(fn, range(3, 7))

    print(json.dumps({"flow_pid": os.getpid(), "results": probe(sys.argv[1])}))
"""


def test_the_work_runs_in_pool_workers_that_never_import_prefect_and_io_errors_are_retried(tmp_path):
    """The default task runner: task runs (and their retries) are Prefect's, in the flow's process;
    the steps run in the library's spawned workers, which import no Prefect (~1 s of CPU each, and
    ~85 ms a task, when Prefect's process pool ran the task engine there). A step's OSError (a flaky
    file system) is retried, for a per-partition step and for an orchestrated phase's pieces."""
    marks = tmp_path / "marks"
    marks.mkdir()
    done = subprocess.run([sys.executable, "-c", PROBE_SCRIPT, str(marks)], cwd=ROOT, capture_output=True, text=True,
                          env=quiet_env(PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    items, pids, imported = zip(*out["results"])
    assert list(items) == list(range(7))  # in order, each after its one failure
    assert sorted(p.name for p in marks.iterdir()) == [str(i) for i in range(7)]
    assert out["flow_pid"] not in pids and len(set(pids)) <= 2
    assert not any(imported)
