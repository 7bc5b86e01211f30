"""Dedup scaling: wall time and peak RSS at 10k, 100k and 1M documents.

    .venv/bin/python bench/dedup_scale.py --sizes 10000 100000 1000000     # ~20 min, ~6 GB of disk

The corpora are synthesized from the real bench corpus (bench/data/corpus.jsonl) and kept under
bench/data/dedup_scale/ (not committed):

- every distinct line of >= 6 words of the bench corpus (984,939 lines, 83 characters on average)
  is a building block; a fresh document is 12-60 of them drawn uniformly, so fresh documents
  share at most a line or two (5-gram Jaccard < 0.05) however many are drawn;
- 8% of documents are byte-identical copies and 12% edited copies (bench/dedup_groundtruth.py's
  EDITS: word swaps, deletions, insertions, replacements, headers, footers) of one of the 100,000
  documents before them.

Document i is the same in every size, so the 10k corpus is a prefix of the 100k one. Staging files
hold ~256 MB of text each, like the pipeline's. Each size runs ``deduplicate`` with the default
config in a fresh process (one worker), and the peak RSS of that process is read from
``/proc/self/status`` (VmHWM) after the run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from dedup_groundtruth import EDITS, _edit  # noqa: E402

CORPUS = ROOT / "bench" / "data" / "corpus.jsonl"
OUT = ROOT / "bench" / "data" / "dedup_scale"
RESULTS = ROOT / "bench" / "results" / "dedup_scale.json"
SEED = 0
EXACT_RATE, NEAR_RATE = 0.08, 0.12
PART_TEXT_BYTES = 256 << 20  # the pipeline's STAGING_FILE_BYTES
WINDOW = 100_000


def _lines() -> list[str]:
    seen: dict[str, None] = {}
    for line in open(CORPUS):
        for raw in json.loads(line)["text"].split("\n"):
            text = " ".join(raw.split())
            if len(text.split()) >= 6:
                seen.setdefault(text)
    return list(seen)


def synthesize(n_docs: int, out: Path) -> list[Path]:
    """Write ``n_docs`` documents as staging Parquet parts under ``out``; skip if already there."""
    done = out / "done.json"
    if done.exists():
        return sorted(out.glob("part-*.parquet"))
    out.mkdir(parents=True, exist_ok=True)
    lines = _lines()
    rng = np.random.default_rng(SEED)
    edit_rng = random.Random(SEED)
    vocab = sorted({w for line in lines[:20000] for w in line.lower().split() if w.isalpha()})
    counts = rng.integers(12, 61, n_docs)
    picks = rng.integers(0, len(lines), int(counts.sum()))
    kind = rng.random(n_docs)
    sources = rng.random(n_docs)
    recent: list[str] = [""] * WINDOW  # copies come from the last WINDOW documents: memory stays bounded
    total_bytes = 0
    files, batch_ids, batch_texts, batch_bytes, start = [], [], [], 0, 0
    for i in range(n_docs):
        j = i - 1 - int(sources[i] * min(i, WINDOW))
        if i > 0 and kind[i] < EXACT_RATE:
            text, doc_id = recent[j % WINDOW], f"doc{i:07d}~exact-of-{j:07d}"
        elif i > 0 and kind[i] < EXACT_RATE + NEAR_RATE:
            op, rate = EDITS[i % len(EDITS)]
            text = _edit(recent[j % WINDOW], op, rate, edit_rng, vocab, f"doc{j}")
            doc_id = f"doc{i:07d}~near-of-{j:07d}"
        else:
            text, doc_id = "\n".join(lines[k] for k in picks[start:start + counts[i]]), f"doc{i:07d}"
        start += counts[i]
        recent[i % WINDOW] = text
        total_bytes += len(text.encode())
        batch_ids.append(doc_id)
        batch_texts.append(text)
        batch_bytes += len(text)
        if batch_bytes >= PART_TEXT_BYTES or i == n_docs - 1:
            path = out / f"part-{len(files):05d}.parquet"
            pq.write_table(pa.table({"id": batch_ids, "text": batch_texts}), path, compression="zstd",
                           compression_level=1, row_group_size=20000)
            files.append(path)
            batch_ids, batch_texts, batch_bytes = [], [], 0
    done.write_text(json.dumps({"docs": n_docs, "text_bytes": total_bytes, "parts": len(files)}))
    return files


RUNNER = r"""
import json, sys, time
from pathlib import Path
from curation.dedup import DedupConfig, deduplicate
files = sorted(Path(sys.argv[1]).glob("part-*.parquet"))
t0 = time.perf_counter()
r = deduplicate(files, sys.argv[2], DedupConfig(**json.loads(sys.argv[3])))
wall = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"wall_seconds": round(wall, 2), "peak_rss_bytes": int(hwm) * 1024, "result": r.to_dict()}))
"""

BASELINE = r"""
import curation.dedup, pyarrow.parquet, numpy, datasketch
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(int(hwm) * 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep-work", action="store_true", help="keep each size's dedup work directory")
    parser.add_argument("--budget-mib", type=int, default=None, help="memory_budget_bytes (default: the config's)")
    args = parser.parse_args()
    python = sys.executable
    baseline = int(subprocess.run([python, "-c", BASELINE], capture_output=True, text=True, check=True).stdout)
    rows = []
    for n in args.sizes:
        t0 = time.perf_counter()
        directory = OUT / f"{n}"
        files = synthesize(n, directory / "staging")
        synth = time.perf_counter() - t0
        work = directory / "work"
        overrides = {"memory_budget_bytes": args.budget_mib << 20} if args.budget_mib else {}
        proc = subprocess.run([python, "-c", RUNNER, str(directory / "staging"), str(work), json.dumps(overrides)],
                              capture_output=True, text=True, check=True, cwd=ROOT)
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        r = info["result"]
        meta = json.loads((directory / "staging" / "done.json").read_text())
        row = {"docs": n, "text_bytes": meta["text_bytes"], "parts": meta["parts"],
               "synthesize_seconds": round(synth, 1), "wall_seconds": info["wall_seconds"],
               "docs_per_second": round(n / info["wall_seconds"]), "peak_rss_bytes": info["peak_rss_bytes"],
               "rss_over_import_baseline": info["peak_rss_bytes"] - baseline, "duplicates": r["duplicates"],
               "exact": r["exact_duplicates"], "near": r["near_duplicates"], "candidate_pairs": r["candidate_pairs"],
               "seconds": r["seconds"], "memory": r["memory"]}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
        if not args.keep_work:
            subprocess.run(["rm", "-rf", str(work)], check=True)
    summary = {"import_baseline_rss_bytes": baseline, "memory_budget_mib": args.budget_mib or 512, "runs": rows}
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        growth = (b["wall_seconds"] / a["wall_seconds"]) / (b["docs"] / a["docs"])
        summary["time_growth_vs_linear"] = round(growth, 3)
        summary["marginal_rss_bytes_per_doc"] = round((b["peak_rss_bytes"] - a["peak_rss_bytes"])
                                                      / (b["docs"] - a["docs"]), 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = RESULTS.with_name(f"dedup_scale_budget{args.budget_mib}.json") if args.budget_mib else RESULTS
    results.write_text(json.dumps(summary, indent=2))
    print("| docs | text | wall s | docs/s | peak RSS | RSS over imports | duplicates (exact + near) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['docs']:,} | {r['text_bytes'] / 1e9:.2f} GB | {r['wall_seconds']:.1f} | "
              f"{r['docs_per_second']:,} | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | {r['rss_over_import_baseline'] / 2**20:,.0f} MiB | "
              f"{r['duplicates']:,} ({r['exact']:,} + {r['near']:,}) |")
    for k in ("time_growth_vs_linear", "marginal_rss_bytes_per_doc"):
        if k in summary:
            print(f"{k}: {summary[k]}")


if __name__ == "__main__":
    main()
