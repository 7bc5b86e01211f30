"""What orchestration costs: the same run as a plain library call, on the flow's process pool, on Ray.

    flock /tmp/bench.lock .venv/bin/python bench/orchestration.py            # sample_data, ~4 min
    flock /tmp/bench.lock .venv/bin/python bench/orchestration.py --input bench/data/corpus.jsonl

Each contender is the installed command in a fresh process (``curate run``), so start-up (imports,
a temporary Prefect server, a local Ray) is counted, as a user sees it; the run's own wall time
from ``summary.json`` is reported beside it. The default quality model is trained into the user
cache first, so no contender pays for it. Then Prefect's cost per task: a flow mapping a no-op task
over ``--tasks`` items on the same process pool, minus the same calls made directly.
Results: bench/results/orchestration.json and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = [str(ROOT / "sample_data" / "corpus.jsonl.gz"), str(ROOT / "sample_data" / "messy.jsonl")]


def timed_run(name: str, extra: list[str], inputs: list[str], out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "RAY_USAGE_STATS_ENABLED": "0"}
    t0 = time.perf_counter()
    done = subprocess.run([str(BIN / "curate"), "run", "--input", *inputs, "--output", str(out), "--fresh",
                           "--quiet", *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    manifest = (out / "manifest.json").read_bytes()
    return {"name": name, "args": extra, "wall_s": round(wall, 2), "pipeline_s": summary["seconds"],
            "partitions": summary["partitions"], "documents": summary["total_documents"],
            "manifest_sha": __import__("hashlib").sha256(manifest).hexdigest()}


def task_overhead(n: int, workers: int) -> dict:
    """Seconds per task that Prefect adds on a process pool: a no-op mapped n times."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    sys.path.insert(0, str(ROOT))
    from flows.embedded import prefect_api

    with prefect_api():
        from bench._noop import noop_flow

        noop_flow(2, workers)  # warm: the pool's workers start and import Prefect once
        t0 = time.perf_counter()
        noop_flow(n, workers)
        flow_s = time.perf_counter() - t0
    return {"tasks": n, "workers": workers, "flow_s": round(flow_s, 3),
            "per_task_ms": round(1000 * flow_s / n, 1), "per_task_ms_per_worker": round(1000 * flow_s * workers / n, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", default=SAMPLE)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "data" / "orchestration")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "orchestration.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from classifiers.default import ensure_default_model

    ensure_default_model()
    contenders = [("library, 1 process", ["--runner", "library", "--workers", "1"]),
                  ("library, process pool (2)", ["--runner", "library", "--workers", "2"]),
                  ("flow, Prefect process pool (2)", ["--runner", "process", "--workers", "2"])]
    if not args.skip_ray:
        contenders.append(("flow, local Ray (2 CPUs)", ["--runner", "ray", "--workers", "2"]))
    rows = [timed_run(name, extra, args.input, args.work / f"run{i}") for i, (name, extra) in enumerate(contenders)]
    base = rows[0]["wall_s"]
    for row in rows:
        row["ratio_to_single_process"] = round(row["wall_s"] / base, 3)
    identical = len({r["manifest_sha"] for r in rows}) == 1
    overhead = task_overhead(args.tasks, 2)
    result = {"input": args.input, "runs": rows, "identical_manifests": identical, "task_overhead": overhead,
              "load_avg": os.getloadavg()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print("| run | wall s (command) | pipeline s | partitions | x single process |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['wall_s']:.1f} | {r['pipeline_s']:.1f} | {r['partitions']} | "
              f"{r['ratio_to_single_process']:.2f} |")
    print(f"\nmanifests identical: {identical}")
    print(f"Prefect per task on a 2-process pool: {overhead['per_task_ms']} ms wall "
          f"({overhead['per_task_ms_per_worker']} ms of a worker) over {overhead['tasks']} no-op tasks")


if __name__ == "__main__":
    main()
