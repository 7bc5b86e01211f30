"""Fault injection: the default run killed with SIGKILL at many moments, then rerun.

    flock /tmp/bench.lock .venv/bin/python bench/faults.py              # 35 kills, ~20 min
    flock /tmp/bench.lock .venv/bin/python bench/faults.py --per-phase 1  # 7 kills, a quick look

The run is what `make run` does (the Prefect flow on a process pool, default chain, sample_data),
with its output at a ``file://`` URL so that publishing is one of the phases a kill can hit. An
uninterrupted reference run is timed first: the moment each step's completion marker appears
splits it into phases (filter, dedup, late = PII, tokenizer, shards, finalize, publish). Then, for
each phase, ``--per-phase`` runs are started and killed with SIGKILL of their whole process group
(flow, workers, temporary server) at a random moment inside that phase: once the step before it has
finished, after a random share of the phase's reference duration. After every kill the same command
runs to completion, and its shards (training and held out) and manifest must be byte-identical to
the reference run's.

Printed, and written to bench/results/faults.json:
- kills survived / kills: reruns that finished with exit 0 and byte-identical shards and manifest;
- records accounted for / records in: every non-blank input line is exactly one shard row (shards/
  or the held-out split, heldout/), removed row or quarantine row of the final output;
- injected PII strings found in any output file outside the dataset, shards/ and heldout/ (of the
  types the PII stage redacts; names need an NER model), and leftovers: temporary files, a local work copy, a lock.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "sample_data" / "corpus.jsonl.gz"
MESSY = ROOT / "sample_data" / "messy.jsonl"
DATASET = ("shards", "heldout")  # the dataset: every kept document is in one of them, text redacted
RESULTS = ROOT / "bench" / "results"
# Phases by the marker (or file) whose appearance ends them, in run order.
# Publishing starts by claiming the URL (its owner file) and ends with the manifest there.
PHASES = [("filter", "markers/curate-*.json"), ("dedup", "markers/fit-dedup.json"), ("late", "markers/late-*.json"),
          ("tokenizer", "markers/tokenizer.json"), ("shards", "markers/shards.json"),
          ("finalize", "@.curation-output.json"), ("publish", "@manifest.json")]


def command(workdir: Path, published: Path) -> list[str]:
    return [str(BIN / "curate"), "run", "--input", str(SAMPLE), str(MESSY), "--output", f"file://{published}",
            "--work-dir", str(workdir), "--no-progress", "--quiet"]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}


def finished(workdir: Path, published: Path) -> dict[str, bool]:
    """Which phase ends have happened, by what is on disk."""
    state = {}
    for name, pattern in PHASES:
        if pattern.startswith("@"):
            state[name] = (published / pattern[1:]).exists()
        elif "*" in pattern:
            folder, glob = pattern.split("/")
            state[name] = any((workdir / folder).glob(glob))
        else:
            state[name] = (workdir / pattern).exists()
    return state


def phase_at(workdir: Path, published: Path) -> str:
    state = finished(workdir, published)
    if state["publish"]:
        return "cleanup"  # published; the local work copy is being removed
    if state["finalize"]:
        return "publish"
    for name, _ in PHASES:
        if not state[name]:
            return name
    return "cleanup"


def reference_run(base: Path) -> tuple[Path, dict[str, float]]:
    """An uninterrupted run; returns its output and when each phase ended (seconds from start)."""
    workdir, published = base / "ref-work", base / "reference"
    proc = subprocess.Popen(command(workdir, published), env=environment(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    ends: dict[str, float] = {}
    while proc.poll() is None:
        for name, done in finished(workdir, published).items():
            if done and name not in ends:
                ends[name] = time.monotonic() - t0
        time.sleep(0.0005)
    ends.setdefault("publish", time.monotonic() - t0)
    if proc.returncode:
        raise SystemExit(f"the reference run failed: {proc.stderr.read()[-2000:]}")
    return published, ends


def fingerprint(published: Path) -> dict[str, str]:
    files = [published / "manifest.json"] + [f for split in DATASET
                                              for f in sorted((published / split).glob("*.parquet"))]
    return {f.relative_to(published).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def records_in() -> int:
    with gzip.open(SAMPLE, "rb") as fh:
        count = sum(1 for line in fh if line.strip())
    return count + sum(1 for line in MESSY.read_bytes().splitlines() if line.strip())


def accounted(published: Path) -> int:
    """Input records that are exactly one row of shards/ or heldout/, removed/ or quarantine/."""
    shards = [i for split in DATASET if any((published / split).glob("*.parquet"))
              for i in pq.read_table(published / split, columns=["id"]).column("id").to_pylist()]
    removed = pq.read_table(published / "removed", columns=["id"]).column("id").to_pylist()
    quarantine = pq.read_table(published / "quarantine", columns=["source_file", "line"]).to_pylist()
    ids = shards + removed
    if len(ids) != len(set(ids)):
        return -1  # a document in two places
    return len(ids) + len({(q["source_file"], q["line"]) for q in quarantine})


def injected_pii() -> set[str]:
    with gzip.open(SAMPLE, "rt") as fh:
        return {p["value"] for line in fh for p in json.loads(line)["pii"] if p["type"] != "name"}


def leaks(published: Path, values: set[str]) -> int:
    found = 0
    for path in published.rglob("*"):
        if not path.is_file() or path.relative_to(published).parts[0] in DATASET or path.suffix == ".png":
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts = [v for n in table.column_names if str(table.schema.field(n).type) in ("string", "large_string")
                     for v in table.column(n).to_pylist() if v]
        else:
            texts = [path.read_text(errors="replace")]
        found += sum(1 for t in texts for v in values if v in t)
    return found


def leftovers(workdir: Path, published: Path) -> list[str]:
    found = [str(p) for p in published.rglob("*.tmp")]
    if workdir.exists() and any(workdir.iterdir()):
        found.append(f"{workdir} still holds {sorted(p.name for p in workdir.iterdir())}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-phase", type=int, default=5, help="kills per phase (7 phases; default 5 = 35 kills)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULTS / "faults.json")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="curation-faults-"))
    values = injected_pii()
    n_in = records_in()
    try:
        print("reference run ...", flush=True)
        reference, ends = reference_run(base)
        expected = fingerprint(reference)
        starts = {name: (ends[PHASES[i - 1][0]] if i else 0.0) for i, (name, _) in enumerate(PHASES)}
        print("phases (s from start): " + ", ".join(f"{n} {starts[n]:.2f}-{ends[n]:.2f}" for n, _ in PHASES))
        rows = []
        for i, (name, _) in enumerate(PHASES):
            for k in range(args.per_phase):
                workdir, published = base / f"work-{name}-{k}", base / f"out-{name}-{k}"
                proc = subprocess.Popen(command(workdir, published), env=environment(), start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                t0 = time.monotonic()
                previous = PHASES[i - 1][0] if i else None
                while previous and not finished(workdir, published)[previous] and proc.poll() is None:
                    time.sleep(0.0002)  # publishing lasts milliseconds on the sample
                time.sleep(rng.uniform(0, max(ends[name] - starts[name], 0.002)))
                hit = phase_at(workdir, published) if proc.poll() is None else "exited"
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
                killed_at = time.monotonic() - t0
                rerun = subprocess.run(command(workdir, published), env=environment(), capture_output=True, text=True)
                ok = rerun.returncode == 0 and fingerprint(published) == expected
                row = {"target": name, "hit": hit, "killed_at_s": round(killed_at, 3), "rerun_rc": rerun.returncode,
                       "identical": ok, "accounted": accounted(published) if rerun.returncode == 0 else 0,
                       "pii_outside_shards": leaks(published, values) if rerun.returncode == 0 else None,
                       "leftovers": leftovers(workdir, published)}
                if rerun.returncode:
                    row["error"] = rerun.stderr[-500:]
                rows.append(row)
                print(f"kill {len(rows):2d}: aimed at {name:9s} hit {hit:9s} at {killed_at:6.2f} s -> "
                      f"{'identical' if ok else 'DIFFERENT'}, {row['accounted']}/{n_in} records, "
                      f"{row['pii_outside_shards']} PII outside shards, leftovers {len(row['leftovers'])}", flush=True)
                shutil.rmtree(published, ignore_errors=True)
                shutil.rmtree(workdir, ignore_errors=True)
        survived = sum(r["identical"] for r in rows)
        fully = sum(r["accounted"] == n_in for r in rows)
        pii = sum(r["pii_outside_shards"] or 0 for r in rows) + leaks(reference, values)
        hits: dict[str, int] = {}
        for r in rows:
            hits[r["hit"]] = hits.get(r["hit"], 0) + 1
        summary = {"kills": len(rows), "survived": survived, "records_in": n_in,
                   "runs_accounting_for_every_record": fully, "reference_accounted": accounted(reference),
                   "pii_outside_shards": pii, "leftovers": sum(len(r["leftovers"]) for r in rows),
                   "kills_by_phase_hit": hits, "phases_s": {n: [round(starts[n], 3), round(ends[n], 3)] for n, _ in PHASES},
                   "rows": rows}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nkills survived: {survived} / {len(rows)}")
        print(f"records accounted for: {summary['reference_accounted']} / {n_in} (reference); every record in "
              f"{fully} / {len(rows)} reruns")
        print(f"injected PII strings outside shards/: {pii}")
        print(f"leftover temporary files or work copies: {summary['leftovers']}")
        print("kills by the phase they hit: " + ", ".join(f"{k} {v}" for k, v in hits.items()))
        return 0 if survived == len(rows) and fully == len(rows) and pii == 0 else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
