"""Scale (issue 9): the whole `curate run` at 10k, 100k and 1,000,000 synthesized documents.

    flock /tmp/bench.lock .venv/bin/python bench/e2e/scale.py                          # 10k, 100k, 1M
    flock /tmp/bench.lock .venv/bin/python bench/e2e/scale.py --sizes 2000 5000        # a quick check

Corpora: bench/dedup_scale.py's generator (imported, not copied), from the real bench corpus
(bench/data/corpus.jsonl, built by bench/corpus.py): a fresh document is 12-60 distinct real lines
of >= 6 words (~3 KB, 83 characters a line on average); 8 % of documents are byte-identical copies
and 12 % edited copies (word swaps, deletions, insertions, replacements, headers, footers) of one of
the 100,000 documents before them; ids say which (`doc0001234~near-of-0000987`). Document i is the
same at every size, so each corpus is a prefix of the larger ones. Text: ~30 MB at 10k, ~300 MB at
100k, ~3.0 GB at 1M, in Parquet parts (id, text) of ~256 MB of text. A size already synthesized by
bench/dedup_scale.py (bench/data/dedup_scale/N/staging) is reused, since it is the same data;
others go to bench/data/e2e/scale/N/staging. Synthesis is timed apart and not part of the run.

Each size: `curate run --input part-*.parquet --output DIR --workers 2` (the default chain: heuristics,
language ID, classifier, threshold, exact + MinHash dedup, PII, then BPE training on a sample of at
most 200 MiB of the curated text, shards with token counts, budget) in a fresh subprocess; --tokenizer
FILE gives it a tokenizer instead. Reported: wall time (subprocess start to exit), time per document,
docs/s, MB/s, peak RSS summed over all its processes (sampled every 0.2 s), CPU seconds, per-stage
seconds, planted vs removed duplicates. Growth = (time per document at the largest size) / (at the
next smaller one), i.e. 1M vs 100k by default. Goals (issue 9): the 1M run within 24 GiB;
growth <= 1.15. Results: bench/results/e2e_scale.json (e2e_scale-SIZES.json for other sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CURATE, DATA, RESULTS, ROOT, WORKERS, curate_outcome, ensure_corpus, mib, run_measured  # noqa: E402

DEFAULT_SIZES = [10_000, 100_000, 1_000_000]
OWN = DATA / "e2e" / "scale"
SHARED = DATA / "dedup_scale"  # bench/dedup_scale.py's corpora: the same generator, seed and documents
GOAL_GROWTH = 1.15
GOAL_RSS = 24 << 30


def staging(n: int, reuse: bool) -> tuple[Path, float, bool]:
    """The Parquet parts of the n-document corpus: (folder, seconds spent synthesizing, reused)."""
    shared = SHARED / str(n) / "staging"
    if reuse and (shared / "done.json").is_file():
        return shared, 0.0, True
    ensure_corpus()
    import dedup_scale  # bench/dedup_scale.py (bench/ is on sys.path via common)

    t0 = time.perf_counter()
    folder = OWN / str(n) / "staging"
    dedup_scale.synthesize(n, folder)  # skipped when folder/done.json exists
    return folder, time.perf_counter() - t0, False


def planted(folder: Path) -> dict[str, int]:
    """Exact and edited copies the generator planted, from the ids."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    exact = near = 0
    for part in sorted(folder.glob("part-*.parquet")):
        ids = pq.read_table(part, columns=["id"]).column("id")
        exact += pc.sum(pc.match_substring(ids, "~exact-of-")).as_py() or 0
        near += pc.sum(pc.match_substring(ids, "~near-of-")).as_py() or 0
    return {"exact": exact, "near": near}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="document counts, ascending")
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="give `curate run` this tokenizer.json instead of training one")
    parser.add_argument("--no-reuse", action="store_true",
                        help="synthesize into bench/data/e2e/scale even where bench/dedup_scale.py's corpus exists")
    parser.add_argument("--synthesize-only", action="store_true", help="write the corpora, run nothing")
    parser.add_argument("--curate-args", default="", help="extra arguments for `curate run`, one string")
    parser.add_argument("--keep-output", action="store_true", help="keep each size's output folder")
    parser.add_argument("--results", type=Path, default=None, help="JSON results file")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))

    rows: list[dict[str, Any]] = []
    for n in sizes:
        folder, synth_seconds, reused = staging(n, not args.no_reuse)
        meta = json.loads((folder / "done.json").read_text())
        if meta["docs"] != n:
            raise SystemExit(f"{folder} holds {meta['docs']} documents, expected {n}")
        parts = sorted(folder.glob("part-*.parquet"))
        print(f"{n:,} documents: {meta['text_bytes'] / 1e6:,.1f} MB of text in {len(parts)} parts "
              f"({'reused ' + str(folder.relative_to(ROOT)) if reused else f'synthesized in {synth_seconds:.1f} s'})",
              flush=True)
        if args.synthesize_only:
            continue
        out = OWN / str(n) / "out"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [str(CURATE), "run", "--input", *map(str, parts), "--output", str(out), "--workers", str(WORKERS),
               "--no-progress"]
        if args.tokenizer:
            cmd += ["--tokenizer", str(args.tokenizer)]
        cmd += args.curate_args.split()
        measured = run_measured(cmd, OWN / str(n) / "run.log")
        measured.pop("output")
        outcome = curate_outcome(out)
        dedup = next((s for s in outcome["stages"] if s["stage"] == "dedup"), None)
        wall = measured["wall_seconds"]
        row = {
            "docs": n, "text_bytes": meta["text_bytes"], "parts": len(parts), "staging": str(folder),
            "synthesize_seconds": round(synth_seconds, 1), **{k: v for k, v in measured.items() if k != "log"},
            "us_per_doc": round(wall / n * 1e6, 1), "docs_per_s": round(n / wall, 1),
            "mb_per_s": round(meta["text_bytes"] / 1e6 / wall, 2), "planted_duplicates": planted(folder),
            "removed_duplicates": dedup["dropped"] if dedup else None, **outcome, "command": cmd,
        }
        rows.append(row)
        print(f"  wall {wall:.1f} s, {row['us_per_doc']:,.0f} us/doc, peak RSS {mib(row['peak_rss_bytes'])}, "
              f"{row['cpu_seconds']:.0f} CPU-s, kept {row['kept_documents']:,}, load "
              f"{row['load_average'][0]:.1f} -> {row['load_average'][1]:.1f}", flush=True)
        if not args.keep_output:
            shutil.rmtree(out, ignore_errors=True)
    if args.synthesize_only:
        return

    summary: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "workers": WORKERS, "cpus": os.cpu_count(),
                               "tokenizer": str(args.tokenizer) if args.tokenizer else "trained", "runs": rows}
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        summary["growth"] = {"from": a["docs"], "to": b["docs"], "time_per_doc_ratio": round(b["us_per_doc"] / a["us_per_doc"], 3),
                             "peak_rss_bytes_per_doc": round((b["peak_rss_bytes"] - a["peak_rss_bytes"]) / (b["docs"] - a["docs"]), 1)}
    goals = {}
    if rows and rows[-1]["docs"] >= 1_000_000:
        goals["1M run peak RSS <= 24 GiB"] = rows[-1]["peak_rss_bytes"] <= GOAL_RSS
    if "growth" in summary:
        goals[f"time per doc growth {summary['growth']['from']:,} -> {summary['growth']['to']:,} <= {GOAL_GROWTH}"] = \
            summary["growth"]["time_per_doc_ratio"] <= GOAL_GROWTH
    summary["goals"] = goals
    path = args.results or RESULTS / ("e2e_scale.json" if sizes == DEFAULT_SIZES
                                      else f"e2e_scale-{'-'.join(map(str, sizes))}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    report(summary)
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def report(summary: dict[str, Any]) -> None:
    print(f"\n{summary['date']}, `curate run` default chain, {summary['workers']} workers, {summary['cpus']} CPUs, "
          f"tokenizer {summary['tokenizer']}\n")
    print("| docs | text MB | wall s | us/doc | docs/s | MB/s | peak RSS, all processes | CPU s | kept docs | tokens "
          "| duplicates removed (exact + near) / planted |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in summary["runs"]:
        rem, pl = r["removed_duplicates"] or {}, r["planted_duplicates"]
        print(f"| {r['docs']:,} | {r['text_bytes'] / 1e6:,.0f} | {r['wall_seconds']:,.1f} | {r['us_per_doc']:,.0f} "
              f"| {r['docs_per_s']:,.0f} | {r['mb_per_s']:.2f} | {mib(r['peak_rss_bytes'])} | {r['cpu_seconds']:,.0f} "
              f"| {r['kept_documents']:,} | {r['tokens']:,} | {rem.get('exact_duplicate', 0):,} + "
              f"{rem.get('near_duplicate', 0):,} / {pl['exact']:,} + {pl['near']:,} |")
    print()
    for r in summary["runs"]:
        stages = ", ".join(f"{s['stage']} {s['seconds']:.1f}" for s in r["stages"])
        print(f"{r['docs']:,}: pipeline {r['pipeline_seconds']} s; stages (s): {stages}; tokenizer "
              f"{r['tokenizer']['source']} {r['tokenizer']['seconds']} s")
    if "growth" in summary:
        g = summary["growth"]
        print(f"\ntime per document, {g['to']:,} vs {g['from']:,}: {g['time_per_doc_ratio']:.3f}x; peak RSS growth "
              f"{g['peak_rss_bytes_per_doc']:,.0f} bytes per added document")
    for goal, met in summary["goals"].items():
        print(f"goal {goal}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
