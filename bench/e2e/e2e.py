"""End to end (issue 9): the whole `curate run` vs DataTrove's closest chain, 2 cores each, same corpus.

    flock /tmp/bench.lock .venv/bin/python bench/e2e/e2e.py                  # the 209 MB bench corpus
    flock /tmp/bench.lock .venv/bin/python bench/e2e/e2e.py --limit 2000     # its first 2,000 documents

Contenders, each a fresh subprocess started from this script, alternated round by round
(ours_given, datatrove, ours_train, ours_given, datatrove, ...), best of --repeats each:

  ours_given   `curate run --input corpus.jsonl --output DIR --workers 2 --tokenizer bench/data/bench-tokenizer.json`:
               the default chain (heuristics -> language ID -> quality classifier -> threshold -> exact + MinHash
               dedup -> PII), token counting with a given tokenizer, shards, manifest, budget. The default
               quality model comes from the user cache (trained once per machine from sample_data/).
               ANCHORS.md compares this one to the DataTrove chain.
  ours_train   the same, training the BPE tokenizer on the curated text (no --tokenizer).
  ours_library, ours_ray   ours_given with `--runner library` (no Prefect) or `--runner ray` (a local Ray
               through prefect-ray): the runners of issue 17, side by side with the default (Prefect).
  ours_cold    ours_given with a Prefect server of its own (CURATION_PREFECT_SERVER=run): the first run of a
               session. The other Prefect runs use the user's shared server, started before the first round.
  ours_same_stages   ours_given (Prefect) with --config bench/e2e/datatrove_stages.yaml: only the stages the
               DataTrove chain runs (heuristics, exact + MinHash dedup, PII patterns), the like-for-like
               figure; the default chain adds language ID, the classifier, decontamination and the name
               and address finders, which DataTrove's chain does not run.
  datatrove    bench/e2e/datatrove_chain.py in bench/.venv-datatrove: JsonlReader -> GopherRepetition ->
               GopherQuality -> C4Quality (terminal-punctuation rule off) -> FineWebQuality -> MinHash
               signatures / buckets / cluster / filter (5-grams, 14 x 8) -> PIIFormatter -> TokensCounter
               (the same bench-tokenizer.json) -> ParquetWriter; --shards input files, 2 workers.

Wall time is the subprocess's, start to exit (interpreter start, imports and model loads included);
peak RSS is the largest sum of RSS over the subprocess and all its descendants, sampled every 0.2 s
from this process; CPU seconds are user + system of the whole tree. docs/s and MB/s are over the
input (documents read, UTF-8 text bytes read).

Floor: HF tokenizers `encode_batch` (RAYON_NUM_THREADS=2, batches of 1,000) of the texts ours_given kept (its
output shards, loaded into memory first), with the same tokenizer; its token total must equal the
manifest's. Goals (issue 9): ours >= 5x DataTrove's docs/s; ours' wall time <= 2x the floor.
Results: bench/results/e2e.json, or e2e-limit-N.json with --limit (git ignores bench/results/).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (CURATE, DATATROVE_PYTHON, RESULTS, ROOT, TOKENIZER, WORKERS, curate_outcome,  # noqa: E402
                    hf_floor, mib, prepare_input, read_shard_texts, run_measured)

HERE = Path(__file__).resolve().parent
DATATROVE_SCRIPT = HERE / "datatrove_chain.py"
CONTENDERS = ("ours_given", "datatrove", "ours_train", "ours_library", "ours_ray", "ours_cold", "ours_same_stages")
OURS = tuple(c for c in CONTENDERS if c != "datatrove")
RUNNER_ARGS = {"ours_library": ["--runner", "library"], "ours_ray": ["--runner", "ray"],  # issue 17
               "ours_same_stages": ["--config", str(HERE / "datatrove_stages.yaml")]}
# ours_cold: the default run with a Prefect server of its own, booted and stopped with it (the first
# run of a session); the other Prefect runs use the shared server, warmed before the first round.
RUNNER_ENV = {"ours_cold": {"CURATION_PREFECT_SERVER": "run"}}
GOAL_X_DATATROVE = 5.0      # issue 9
ANCHOR_X_GIVEN = 20.0       # ANCHORS.md: given tokenizer vs the DataTrove chain
ANCHOR_X_TRAIN = 10.0       # ANCHORS.md: including tokenizer training
GOAL_X_FLOOR = 2.0          # issue 9: end-to-end time <= 2x the tokenization-alone floor
GOAL_PREFECT_OVER_LIBRARY = 1.15  # issue 17: the default (Prefect) run within 1.15x the library runner
GOAL_X_SLICE = 10.0         # issue 17 / ANCHORS.md: the default run on the first 4,000 docs vs DataTrove


def run_ours(name: str, inp: dict[str, Any], work: Path, extra: list[str]) -> dict[str, Any]:
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)  # the default classifier is cached per output folder: start clean
    cmd = [str(CURATE), "run", "--input", inp["jsonl"], "--output", str(out), "--workers", str(WORKERS),
           "--no-progress"]
    if name != "ours_train":
        cmd += ["--tokenizer", str(TOKENIZER)]
    cmd += RUNNER_ARGS.get(name, []) + extra
    measured = run_measured(cmd, work / f"{name}.log", env=RUNNER_ENV.get(name))
    measured.pop("output")
    return {**measured, **curate_outcome(out), "command": cmd, "output_dir": str(out)}


def run_datatrove(inp: dict[str, Any], work: Path, extra: list[str]) -> dict[str, Any]:
    if not DATATROVE_PYTHON.is_file():
        raise SystemExit(f"no DataTrove venv at {DATATROVE_PYTHON}: python3.11 -m venv bench/.venv-datatrove && "
                         "bench/.venv-datatrove/bin/pip install 'datatrove[processing]' orjson spacy pyarrow")
    cmd = [str(DATATROVE_PYTHON), str(DATATROVE_SCRIPT), "--input", inp["dir"], "--glob", inp["glob"],
           "--tokenizer", str(TOKENIZER), "--work", str(work / "work-datatrove"), "--workers", str(WORKERS)] + extra
    measured = run_measured(cmd, work / "datatrove.log")
    lines = [line for line in measured.pop("output").splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"DataTrove printed no result; see {measured['log']}")
    peer = json.loads(lines[-1])
    if peer["documents"] != inp["documents"]:
        raise SystemExit(f"DataTrove read {peer['documents']} documents, expected {inp['documents']}")
    return {**measured, "pipeline_seconds": peer["total_seconds"], "stage_seconds": peer["seconds"],
            "kept_documents": peer["written"], "tokens": peer["tokens"], "kept_chars": peer["written_chars"],
            "read_chars": peer["read_chars"], "after_filters": peer["after_filters"],
            "dedup_dropped": peer["dedup_dropped"], "filters": peer["filters"],
            "step_cpu_seconds": peer["step_cpu_seconds"], "output_bytes": peer["output_bytes"], "command": cmd}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N documents of the (shuffled) bench corpus; default: all of it")
    parser.add_argument("--shards", type=int, default=8, help="input files for DataTrove (ANCHORS.md: 8)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each contender (best is reported)")
    parser.add_argument("--datatrove-repeats", type=int, default=None,
                        help="runs of DataTrove (default: --repeats; 0 skips it)")
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS),
                        help="run only these contenders")
    parser.add_argument("--floor-repeats", type=int, default=2, help="runs of the encode_batch floor")
    parser.add_argument("--curate-args", default="",
                        help="extra arguments for `curate run`, one string (e.g. '--runner local')")
    parser.add_argument("--datatrove-args", default="",
                        help="extra arguments for datatrove_chain.py (e.g. '--c4-terminal-punct')")
    parser.add_argument("--keep-output", action="store_true", help="keep our output folders afterwards")
    parser.add_argument("--results", type=Path, default=None, help="JSON results file (default: bench/results/...)")
    args = parser.parse_args()
    dt_repeats = args.repeats if args.datatrove_repeats is None else args.datatrove_repeats
    if not TOKENIZER.is_file():
        raise SystemExit(f"{TOKENIZER} missing: `.venv/bin/python bench/tokenize_shard.py` trains it once")

    inp = prepare_input(args.limit, args.shards)
    work = Path(inp["dir"])
    docs, mb = inp["documents"], inp["text_bytes"] / 1e6
    print(f"input: {docs:,} documents, {mb:.1f} MB of text ({inp['jsonl']}; DataTrove: {len(inp['parts'])} files); "
          f"{WORKERS} workers, {os.cpu_count()} CPUs", flush=True)

    runners = {
        **{name: functools.partial(run_ours, name, inp, work, args.curate_args.split()) for name in OURS},
        "datatrove": lambda: run_datatrove(inp, work, args.datatrove_args.split()),
    }
    runs: dict[str, list[dict[str, Any]]] = {}
    if not os.environ.get("PREFECT_API_URL"):  # the shared embedded server up before any timing
        subprocess.run([sys.executable, "-c", "from flows.embedded import prefect_api\nwith prefect_api(): pass"],
                       cwd=ROOT, check=True)
    for r in range(max(args.repeats, dt_repeats)):
        for name in CONTENDERS:  # ours, theirs, ours, ...: drift hits both sides alike
            if name not in args.only or r >= (dt_repeats if name == "datatrove" else args.repeats):
                continue
            res = runners[name]()
            runs.setdefault(name, []).append(res)
            print(f"  round {r + 1}: {name:<11} {res['wall_seconds']:8.2f} s wall   {mib(res['peak_rss_bytes']):>10} "
                  f"peak RSS   {res['cpu_seconds']:7.1f} CPU-s   kept {res['kept_documents']:,} docs, "
                  f"{res['tokens']:,} tokens; load {res['load_average'][0]:.1f} -> {res['load_average'][1]:.1f}",
                  flush=True)

    best = {name: min(rs, key=lambda x: x["wall_seconds"]) for name, rs in runs.items()}
    rows: dict[str, dict[str, Any]] = {}
    for name, res in best.items():
        s = res["wall_seconds"]
        rows[name] = {"wall_seconds": s, "all_wall_seconds": [x["wall_seconds"] for x in runs[name]],
                      "docs_per_s": round(docs / s, 1), "mb_per_s": round(mb / s, 3),
                      "peak_rss_bytes": max(x["peak_rss_bytes"] for x in runs[name]),
                      "cpu_seconds": res["cpu_seconds"], "kept_documents": res["kept_documents"],
                      # ours: UTF-8 bytes of the shards' text; DataTrove: characters its writer counted
                      "kept_text_mb": round((res.get("kept_text_bytes") or res.get("kept_chars") or 0) / 1e6, 2),
                      "tokens": res["tokens"]}
        if "datatrove" in best:
            rows[name]["x_datatrove_docs_per_s"] = round(best["datatrove"]["wall_seconds"] / s, 2)

    floor = None
    if "ours_given" in best:
        texts = read_shard_texts(Path(best["ours_given"]["output_dir"]) / "shards")
        floor = hf_floor(texts, TOKENIZER, args.floor_repeats)
        del texts
        floor["tokens_equal_manifest"] = floor["tokens"] == best["ours_given"]["tokens"]
        for name in ("ours_given", "ours_train"):
            if name in rows:
                rows[name]["x_floor_seconds"] = round(rows[name]["wall_seconds"] / floor["seconds"], 3)
        print(f"  floor: HF encode_batch of the {floor['documents']:,} kept texts: {floor['seconds']:.2f} s "
              f"(tokens {'equal' if floor['tokens_equal_manifest'] else 'DIFFER from'} the manifest)", flush=True)
    if not args.keep_output:
        for name in OURS:
            shutil.rmtree(work / f"out-{name}", ignore_errors=True)

    goals = {}
    if "datatrove" in rows:
        for name, goal in (("ours_given", GOAL_X_DATATROVE), ("ours_train", GOAL_X_DATATROVE)):
            if name in rows:
                goals[f"{name} docs/s >= {goal:g}x DataTrove (issue 9)"] = rows[name]["x_datatrove_docs_per_s"] >= goal
        if "ours_given" in rows:
            goals[f"ours_given >= {ANCHOR_X_GIVEN:g}x DataTrove (ANCHORS.md)"] = \
                rows["ours_given"]["x_datatrove_docs_per_s"] >= ANCHOR_X_GIVEN
        if "ours_train" in rows:
            goals[f"ours_train >= {ANCHOR_X_TRAIN:g}x DataTrove (ANCHORS.md)"] = \
                rows["ours_train"]["x_datatrove_docs_per_s"] >= ANCHOR_X_TRAIN
    if "ours_given" in rows and "ours_library" in rows:
        ratio = rows["ours_given"]["wall_seconds"] / rows["ours_library"]["wall_seconds"]
        rows["ours_given"]["x_library_wall"] = round(ratio, 3)
        goals[f"ours_given wall <= {GOAL_PREFECT_OVER_LIBRARY:g}x ours_library (issue 17)"] = \
            ratio <= GOAL_PREFECT_OVER_LIBRARY
        if "ours_cold" in rows:
            cold = rows["ours_cold"]["wall_seconds"] / rows["ours_library"]["wall_seconds"]
            rows["ours_cold"]["x_library_wall"] = round(cold, 3)
            goals[f"ours_cold wall <= {GOAL_PREFECT_OVER_LIBRARY:g}x ours_library (issue 17)"] = \
                cold <= GOAL_PREFECT_OVER_LIBRARY
    if args.limit == 4000 and "datatrove" in rows and "ours_given" in rows:
        goals[f"ours_given >= {GOAL_X_SLICE:g}x DataTrove on the first 4,000 docs (issue 17)"] = \
            rows["ours_given"]["x_datatrove_docs_per_s"] >= GOAL_X_SLICE
    if floor:
        for name in ("ours_given", "ours_train"):
            if name in rows:
                goals[f"{name} wall <= {GOAL_X_FLOOR:g}x floor (issue 9)"] = rows[name]["x_floor_seconds"] <= GOAL_X_FLOOR

    result = {
        "date": time.strftime("%Y-%m-%d"), "input": {k: inp[k] for k in ("jsonl", "documents", "text_bytes", "parts")},
        "limit": args.limit, "workers": WORKERS, "cpus": os.cpu_count(), "repeats": args.repeats,
        "datatrove_repeats": dt_repeats, "tokenizer": str(TOKENIZER), "results": rows, "floor": floor,
        "goals": goals, "runs": runs,
    }
    path = args.results or RESULTS / ("e2e.json" if not args.limit else f"e2e-limit-{args.limit}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    report(result, best)
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


LABELS = {
    "ours_given": "**`curate run`**, given tokenizer",
    "ours_train": "**`curate run`**, tokenizer trained",
    "ours_library": "`curate run --runner library`, given tokenizer",
    "ours_ray": "`curate run --runner ray` (local Ray), given tokenizer",
    "ours_cold": "`curate run`, given tokenizer, its own Prefect server (`CURATION_PREFECT_SERVER=run`)",
    "ours_same_stages": "`curate run`, given tokenizer, DataTrove's stages only (`bench/e2e/datatrove_stages.yaml`)",
    "datatrove": "DataTrove 0.10.1 chain",
}


def report(result: dict[str, Any], best: dict[str, dict[str, Any]]) -> None:
    inp = result["input"]
    docs, mb = inp["documents"], inp["text_bytes"] / 1e6
    print(f"\n{result['date']}, {result['workers']} workers, {result['cpus']} CPUs, {docs:,} documents, {mb:.1f} MB of "
          f"text; best of {result['repeats']} (DataTrove {result['datatrove_repeats']}), alternated\n")
    print("| run | wall s | all runs | docs/s | MB/s | peak RSS, all processes | CPU s | kept docs | kept MB* | tokens "
          "| x DataTrove docs/s | x floor |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in result["results"].items():
        xd = row.get("x_datatrove_docs_per_s")
        xf = row.get("x_floor_seconds")
        print(f"| {LABELS[name]} | {row['wall_seconds']:.1f} | {', '.join(f'{s:.1f}' for s in row['all_wall_seconds'])} "
              f"| {row['docs_per_s']:,.0f} | {row['mb_per_s']:.2f} | {mib(row['peak_rss_bytes'])} | {row['cpu_seconds']:.0f} "
              f"| {row['kept_documents']:,} | {row['kept_text_mb']:.1f} | {row['tokens']:,} | {'' if xd is None else f'{xd:.1f}x'} "
              f"| {'' if xf is None else f'{xf:.2f}'} |")
    floor = result["floor"]
    if floor:
        print(f"| floor: HF `encode_batch` of ours_given's {floor['documents']:,} kept texts ({floor['text_bytes'] / 1e6:.1f} MB)"
              f", in memory | {floor['seconds']:.1f} | {', '.join(f'{s:.1f}' for s in floor['all_seconds'])} | | "
              f"{floor['mb_per_s']:.2f} | | | | | {floor['tokens']:,} | | 1.00 |")
    print("\n\\* kept MB: ours, UTF-8 bytes of the shards' text; DataTrove, characters counted by its writer")
    stage_table(best)
    if "datatrove" in best:
        b = best["datatrove"]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in b["stage_seconds"].items())
        print(f"\ndatatrove: stages (s): {stages}; read {inp['documents']:,} -> filters {b['after_filters']:,} -> "
              f"dedup -{b['dedup_dropped']:,} -> written {b['kept_documents']:,}")
        for f in b["filters"]:
            print(f"  {f['name']}: {f['in']:,} -> {f['forwarded']:,}")
    if result["goals"]:
        print()
        for goal, met in result["goals"].items():
            print(f"goal {goal}: {'met' if met else 'MISSED'}")
    same = result["results"].get("ours_same_stages", {}).get("x_datatrove_docs_per_s")
    if same is not None:  # no goal of its own: what the default chain's goals would read on DataTrove's work
        print(f"like for like: DataTrove's stages only, {same:.1f}x DataTrove (the default chain runs more stages)")


def stage_table(best: dict[str, dict[str, Any]]) -> None:
    """Where each of our runs spent its time: one column per runner, one row per stage.

    Stage rows are worker-seconds summed over the partitions (so with 2 workers they can add up to
    more than the wall; a corpus-level stage adds its fit's wall); "redacting removed/ text" is the
    PII stage's work again on the dropped documents' text, outside every stage's seconds;
    "outside the pipeline" is the command's wall less the pipeline's (interpreter, imports, the
    Prefect server and flow engine, Ray's start).
    """
    ours = [n for n in ("ours_given", "ours_cold", "ours_train", "ours_library", "ours_ray", "ours_same_stages")
            if n in best]
    if not ours:
        return
    names: list[str] = []
    for n in ours:
        names += [s["stage"] for s in best[n]["stages"] if s["stage"] not in names]
    header = {"ours_given": "Prefect (default)", "ours_cold": "Prefect, own server", "ours_train": "Prefect, tokenizer trained",
              "ours_library": "library", "ours_ray": "Ray (local)", "ours_same_stages": "DataTrove's stages"}
    print("\nWorker-seconds per stage (summed over partitions), and wall seconds around them:\n")
    print("| | " + " | ".join(header[n] for n in ours) + " |")
    print("|---|" + "---:|" * len(ours))
    for stage in names:
        cells = []
        for n in ours:
            found = [s["seconds"] for s in best[n]["stages"] if s["stage"] == stage]
            cells.append(f"{found[0]:.1f}" if found else "")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    rows = {"redacting removed/ text": lambda b: sum(s.get("redact_seconds", 0.0) for s in b["stages"]),
            "tokenizer (given: load and check; trained: training)": lambda b: b["tokenizer"]["seconds"],
            "pipeline (wall)": lambda b: b["pipeline_seconds"],
            "outside the pipeline (wall)": lambda b: b["wall_seconds"] - b["pipeline_seconds"],
            "command (wall)": lambda b: b["wall_seconds"]}
    for label, fn in rows.items():
        print(f"| {label} | " + " | ".join(f"{fn(best[n]):.1f}" for n in ours) + " |")


if __name__ == "__main__":
    main()
