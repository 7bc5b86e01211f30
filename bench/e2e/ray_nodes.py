"""Scale-out (issue 17): the same `curate run` on a Ray cluster of 1 and of 2 worker nodes, and the library's pool.

    flock /tmp/bench.lock .venv/bin/python bench/e2e/ray_nodes.py                # the whole bench corpus
    flock /tmp/bench.lock .venv/bin/python bench/e2e/ray_nodes.py --limit 4000   # its first 4,000 documents

Contenders, each `curate run --input corpus.jsonl --output DIR` (the default chain, the tokenizer
trained) in a fresh subprocess, one after another:

  library-1, library-2   `--runner library --workers 1|2`: the library's own process pool.
  ray-1-node, ray-2-nodes `--runner ray --ray-address ADDRESS` against a `ray.cluster_utils.Cluster`
                         started here: a head with no CPUs (it schedules nothing) and 1 or 2 worker
                         nodes of 1 CPU each, every node its own temp folder, all on 127.0.0.1 (as
                         tests/flows/test_ray_cluster.py). Cluster start-up is timed apart.

The whole corpus (209 MB) is 7 input partitions of 32 MiB; 4,000 documents (31 MB) are one, which
no number of nodes splits. This machine has 2 cores, so 2 worker nodes of 1 CPU are the most it can show: the ratio is how much
of a second node's CPU the flow uses, not a cluster's network or storage. Every output must be
byte-identical (manifest, shards, removed/). Results: bench/results/ray_nodes.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import CURATE, DATA, RESULTS, curate_outcome, prepare_input, run_measured

ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "RAY_USAGE_STATS_ENABLED": "0",
       "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keeps Ray's addresses on loopback


def fingerprint(out: Path) -> str:
    files = [out / "manifest.json"] + sorted((out / "shards").glob("*.parquet")) + sorted((out / "removed").glob("*"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(out).as_posix().encode() + hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def on_cluster(nodes: int, args: list[str], out: Path, log: Path) -> dict:
    from ray.cluster_utils import Cluster

    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Unix socket paths: at most 107 bytes
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False, "temp_dir": str(temp / "h")})
    try:
        for i in range(nodes):
            cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1", temp_dir=str(temp / f"w{i}"))
        cluster.wait_for_nodes()
        startup = time.perf_counter() - started
        result = run_measured([str(CURATE), "run", *args, "--output", str(out), "--runner", "ray",
                               "--ray-address", cluster.address], log, env=ENV)
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    return result | {"cluster_startup_seconds": round(startup, 2)}


def main() -> None:
    os.environ.update(ENV)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="the first N documents (default: all)")
    args = parser.parse_args()
    data = prepare_input(args.limit, 1)
    work = DATA / "e2e" / ("ray_nodes" + (f"-{args.limit}" if args.limit else ""))
    shutil.rmtree(work, ignore_errors=True)
    common = ["--input", data["jsonl"]]
    results: dict = {"input": {k: data[k] for k in ("jsonl", "documents", "text_bytes") if k in data}, "runs": {}}
    for name, run in [
        ("library-1", lambda out, log: run_measured([str(CURATE), "run", *common, "--output", str(out), "--runner",
                                                     "library", "--workers", "1"], log, env=ENV)),
        ("library-2", lambda out, log: run_measured([str(CURATE), "run", *common, "--output", str(out), "--runner",
                                                     "library", "--workers", "2"], log, env=ENV)),
        ("ray-1-node", lambda out, log: on_cluster(1, common, out, log)),
        ("ray-2-nodes", lambda out, log: on_cluster(2, common, out, log)),
    ]:
        out = work / name
        measured = run(out, work / f"{name}.log")
        outcome = curate_outcome(out)
        results["runs"][name] = {k: v for k, v in measured.items() if k not in ("output", "log")} | {
            "fingerprint": fingerprint(out), "kept_documents": outcome["kept_documents"], "tokens": outcome["tokens"],
            "stage_seconds": {s["stage"]: s["seconds"] for s in outcome["stages"]}}
        print(name, json.dumps({k: results["runs"][name][k] for k in ("wall_seconds", "cpu_seconds", "kept_documents")}
                               | ({"cluster_startup_seconds": measured["cluster_startup_seconds"]}
                                  if "cluster_startup_seconds" in measured else {})), flush=True)
    runs = results["runs"]
    results["identical_outputs"] = len({r["fingerprint"] for r in runs.values()}) == 1
    results["ray_2_nodes_speedup"] = round(runs["ray-1-node"]["wall_seconds"] / runs["ray-2-nodes"]["wall_seconds"], 2)
    results["library_2_workers_speedup"] = round(runs["library-1"]["wall_seconds"] / runs["library-2"]["wall_seconds"], 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("ray_nodes" + (f"-limit-{args.limit}" if args.limit else "") + ".json")).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in ("runs", "input")}))


if __name__ == "__main__":
    main()
