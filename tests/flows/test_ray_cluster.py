"""Scale-out for real: the flow on a multi-node Ray cluster writes the local run's bytes.

`ray.cluster_utils.Cluster` starts a head (no CPUs: it schedules nothing) and two worker nodes on
this machine, each with its own CPU, custom resource and temp folder, all on 127.0.0.1; the output
is a folder every node sees, as a shared file system would be on a real cluster. `curate run
--runner ray --ray-address` drives the flow on it, and the tasks must have run on both workers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import MESSY, ROOT, SAMPLE, fingerprint

ray = pytest.importorskip("ray")
pytest.importorskip("prefect_ray")


def curate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_flow_on_a_two_node_cluster_writes_the_local_runs_bytes(tmp_path):
    from ray.cluster_utils import Cluster

    data = tmp_path / "slice.jsonl"
    with __import__("gzip").open(SAMPLE, "rt") as fh:
        data.write_text("".join(fh.readline() for _ in range(1200)))
    config = tmp_path / "c.yaml"
    config.write_text("preset: minimal\ninput: {partition_bytes: 400000}\ntokenizer: {vocab_size: 2000}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RAY_"))}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT),
            # Ray rewrites a 127.0.0.1 address to the machine's network address unless told this is
            # no multi-machine cluster; the test's traffic stays on loopback.
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    common = ["--input", str(data), str(MESSY), "--config", str(config)]
    local = curate(*common, "--output", str(tmp_path / "local"), "--runner", "library", env=env)
    assert local.returncode == 0, local.stderr[-3000:]

    # Ray's sockets live in its temp folder, and a Unix socket path has at most 107 bytes: short ones.
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False, "temp_dir": str(temp / "h")})
    try:
        nodes = [cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1", resources={f"worker_{i}": 1},
                                  temp_dir=str(temp / f"w{i}")) for i in range(2)]
        cluster.wait_for_nodes()
        done = curate(*common, "--output", str(tmp_path / "cluster"), "--runner", "ray", "--ray-address",
                      cluster.address, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        # Each worker node ran the flow's tasks: its workers log every task's name in its own folder.
        for node in nodes:
            logs = "".join(f.read_text() for f in (Path(node.get_session_dir_path()) / "logs").glob("worker-*.out"))
            assert ":task_name:filter-partition" in logs and ":task_name:late-partition" in logs, node.unique_id
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    summary = json.loads((tmp_path / "cluster" / "summary.json").read_text())
    assert summary["partitions"] >= 4
    assert fingerprint(tmp_path / "cluster") == fingerprint(tmp_path / "local")


LOCAL_RAY = """
import json, os, sys
os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
from flows.curate import runner
task_runner = runner("ray", workers=1)
import ray
ray.init(**task_runner.init_kwargs)
@ray.remote
def api():
    return os.environ.get("PREFECT_API_URL")
print(json.dumps({"nodes": [n["NodeManagerAddress"] for n in ray.nodes()], "api": ray.get(api.remote()),
                  "init": sorted(task_runner.init_kwargs)}))
ray.shutdown()
"""


def test_a_local_ray_stays_on_loopback_and_its_workers_see_the_runs_api():
    """`--runner ray` without an address starts a Ray of its own: its node is 127.0.0.1 (Ray would take
    the machine's network address), and its workers inherit the flow's environment, Prefect's API
    included, without a runtime_env (which would make Ray start other workers than its first ones)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RAY_"))}
    env |= {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", LOCAL_RAY], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["nodes"] == ["127.0.0.1"]
    assert seen["api"] == "http://127.0.0.1:9/api"
    assert "runtime_env" not in seen["init"]

