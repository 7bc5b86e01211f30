"""Dedup speed and memory on the bench corpus, side by side with datasketch and DataTrove.

    .venv/bin/python bench/dedup.py                     # ~8 min; needs bench/.venv-datatrove for DataTrove
    .venv/bin/python bench/dedup.py --no-datatrove --repeats 1

Same corpus (bench/data/corpus-0000{0..3}.jsonl, the 4-way split of the 26,561-document bench
corpus), same machine, contenders alternated:

1. **Signatures, texts in memory, one process**: datasketch 2.0 ``MinHash.bulk`` (128 permutations,
   its default SHA-1 hash, word 5-grams built in Python from ``text.lower().split()``, the cheapest
   shingling one can write) vs ``MinHasher.batch`` (our normalization: NFC, lowercase, punctuation,
   whitespace; word 5-grams; the same 128 datasketch permutations), 2,000 documents per batch.
2. **LSH index memory**: datasketch ``MinHashLSH(threshold=0.8, num_perm=128)`` with every
   document's ``LeanMinHash`` inserted then queried (RSS growth of the process during insertion,
   per document, with the signatures already in memory) vs our bucket and cluster phases.
3. **End to end**: DataTrove's four MinHash stages (signatures, buckets, cluster, filter; 2 workers)
   vs ours: JSONL -> staging Parquet (pyarrow's JSON reader) -> ``deduplicate`` -> kept and removed
   Parquet, with 1 process and with a 2-process pool. Each in a fresh process; peak RSS is the
   largest VmHWM among the processes.
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
DATA = ROOT / "bench" / "data"
WORK = DATA / "dedup"
RESULTS = ROOT / "bench" / "results" / "dedup.json"
DATATROVE_PY = ROOT / "bench" / ".venv-datatrove" / "bin" / "python"
SPLIT = [DATA / f"corpus-{i:05d}.jsonl" for i in range(4)]

SIGNATURES = r"""
import json, sys, time
import pyarrow.parquet as pq
from datasketch import MinHash
from curation.dedup import DedupConfig, MinHasher
files = sys.argv[1].split(",")
texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
limit = int(sys.argv[2]) or len(texts)
texts = texts[:limit]
repeats = int(sys.argv[3])

def datasketch_bulk():
    shingles = []
    for text in texts:
        words = text.lower().split()
        shingles.append([" ".join(words[i:i + 5]).encode() for i in range(max(len(words) - 4, 1))])
    return MinHash.bulk(shingles, num_perm=128)

hasher = MinHasher(DedupConfig())
def ours():
    return [hasher.batch(texts[s:s + 2000]).signatures for s in range(0, len(texts), 2000)]

best = {"datasketch": float("inf"), "ours": float("inf")}
for _ in range(repeats):
    for name, fn in (("datasketch", datasketch_bulk), ("ours", ours)):
        t0 = time.perf_counter(); fn(); best[name] = min(best[name], time.perf_counter() - t0)
print(json.dumps({"docs": len(texts), "text_bytes": sum(len(t.encode()) for t in texts),
                  "seconds": {k: round(v, 3) for k, v in best.items()}}))
"""

LSH = r"""
import json, sys, time
import numpy as np
import pyarrow.parquet as pq
from datasketch import LeanMinHash, MinHashLSH
from curation.dedup import DedupConfig, MinHasher
def rss():
    return int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]) * 1024
files = sys.argv[1].split(",")
texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
hasher = MinHasher(DedupConfig())
sigs = np.concatenate([hasher.batch(texts[s:s + 2000]).signatures for s in range(0, len(texts), 2000)])
del texts
r0 = rss()
lean = [LeanMinHash(seed=1, hashvalues=s, scheme="affine32") for s in sigs]
r1 = rss()
lsh = MinHashLSH(threshold=0.8, num_perm=128)
t0 = time.perf_counter()
with lsh.insertion_session() as session:
    for i, m in enumerate(lean):
        session.insert(i, m)
t1 = time.perf_counter()
r2 = rss()
pairs = 0
for i, m in enumerate(lean):
    pairs += sum(1 for j in lsh.query(m) if j > i)
t2 = time.perf_counter()
n = len(lean)
print(json.dumps({"docs": n, "bands_rows": [lsh.b, lsh.r], "lean_minhash_bytes_per_doc": round((r1 - r0) / n),
                  "index_bytes_per_doc": round((r2 - r1) / n), "insert_seconds": round(t1 - t0, 3),
                  "query_seconds": round(t2 - t1, 3), "candidate_pairs": pairs}))
"""

OURS = r"""
import json, sys, time, resource
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np
import pyarrow as pa, pyarrow.json as pj, pyarrow.parquet as pq
from curation.dedup import DedupConfig, deduplicate
jsonl, work, workers = [Path(p) for p in sys.argv[1].split(",")], Path(sys.argv[2]), int(sys.argv[3])
def hwm():
    return int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) * 1024
def to_staging(i_path):
    i, path = i_path
    table = pj.read_json(path, read_options=pj.ReadOptions(block_size=64 << 20)).select(["id", "text"])
    out = work / "staging" / f"part-{i:05d}.parquet"
    pq.write_table(table, out, compression="zstd", compression_level=1)
    return out, table.num_rows
(work / "staging").mkdir(parents=True, exist_ok=True)
pool = ProcessPoolExecutor(workers) if workers > 1 else None
mapper = pool.map if pool else map
t0 = time.perf_counter()
staged = list(mapper(to_staging, enumerate(jsonl)))
t1 = time.perf_counter()
result = deduplicate([p for p, _ in staged], work / "dedup", DedupConfig(), map_fn=mapper)
t2 = time.perf_counter()
drop = pq.read_table(work / "dedup" / "duplicates.parquet", columns=["ordinal"]).column("ordinal").to_numpy()
first = 0
for path, rows in staged:  # pass 2 of the runner: stream staging, keep or remove by ordinal
    table = pq.read_table(path)
    mask = np.isin(np.arange(first, first + rows), drop)
    pq.write_table(table.filter(pa.array(~mask)), work / f"kept-{path.stem}.parquet")
    pq.write_table(table.filter(pa.array(mask)), work / f"removed-{path.stem}.parquet")
    first += rows
t3 = time.perf_counter()
if pool:
    pool.shutdown()
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"workers": workers, "seconds": {"jsonl_to_staging": round(t1 - t0, 3), "dedup": round(t2 - t1, 3),
                  "filter_write": round(t3 - t2, 3)}, "total_seconds": round(t3 - t0, 3),
                  "peak_rss_bytes": max(hwm(), children), "result": result.to_dict()}))
"""


def run_json(cmd: list[str], cwd: Path = ROOT) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd[:3])}...\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="signature timing: best of N, alternated")
    parser.add_argument("--signature-docs", type=int, default=0, help="signature timing on the first N docs (0: all)")
    parser.add_argument("--no-datatrove", action="store_true")
    args = parser.parse_args()
    missing = [p for p in SPLIT if not p.exists()]
    if missing:
        sys.exit(f"{missing[0]} is missing: build the bench corpus with --split 4 (bench/README.md)")
    python = sys.executable
    report: dict = {}

    # End to end first (it writes the staging files the other two read).
    for workers in (1, 2):
        work = WORK / f"ours-{workers}"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        report[f"ours_{workers}"] = run_json([python, "-c", OURS, ",".join(map(str, SPLIT)), str(work), str(workers)])
        print(f"ours, {workers} worker(s): {report[f'ours_{workers}']['total_seconds']} s", file=sys.stderr)
    staging = ",".join(str(p) for p in sorted((WORK / "ours-1" / "staging").glob("part-*.parquet")))
    if not args.no_datatrove and DATATROVE_PY.exists():
        inputs = WORK / "datatrove-input"
        inputs.mkdir(parents=True, exist_ok=True)
        for p in SPLIT:
            link = inputs / p.name
            if not link.exists():
                os.symlink(p, link)
        t0 = time.perf_counter()
        report["datatrove"] = run_json([str(DATATROVE_PY), str(ROOT / "bench" / "dedup_datatrove.py"), "--input",
                                        str(inputs), "--work", str(WORK / "datatrove"), "--workers", "2"])
        report["datatrove"]["wall_seconds"] = round(time.perf_counter() - t0, 3)
        print(f"datatrove: {report['datatrove']['total_seconds']} s", file=sys.stderr)
    report["signatures"] = run_json([python, "-c", SIGNATURES, staging, str(args.signature_docs), str(args.repeats)])
    report["lsh"] = run_json([python, "-c", LSH, staging])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print_report(report)


def print_report(r: dict) -> None:
    s = r["signatures"]
    n = s["docs"]
    ds, ours = s["seconds"]["datasketch"], s["seconds"]["ours"]
    print(f"Signatures ({n:,} docs, {s['text_bytes'] / 1e6:.1f} MB, one process, best of repeats):")
    print("| path | seconds | docs/s | MB/s | x datasketch |")
    print("|---|---:|---:|---:|---:|")
    for name, sec in (("datasketch `MinHash.bulk` + Python shingling", ds), ("ours: `MinHasher.batch`", ours)):
        print(f"| {name} | {sec:.2f} | {n / sec:,.0f} | {s['text_bytes'] / 1e6 / sec:.1f} | {ds / sec:.1f} |")
    print()
    lsh = r["lsh"]
    print(f"datasketch MinHashLSH (threshold 0.8 -> {lsh['bands_rows'][0]}x{lsh['bands_rows'][1]}): "
          f"index {lsh['index_bytes_per_doc']:,} B/doc (LeanMinHash objects {lsh['lean_minhash_bytes_per_doc']:,} "
          f"B/doc), insert {lsh['insert_seconds']} s, query {lsh['query_seconds']} s, "
          f"{lsh['candidate_pairs']:,} candidate pairs")
    print()
    print("| end to end (JSONL in, deduplicated output out) | seconds | docs/s | peak RSS | removed |")
    print("|---|---:|---:|---:|---:|")
    docs = r["ours_1"]["result"]["docs"]
    if "datatrove" in r:
        d = r["datatrove"]
        print(f"| DataTrove 0.10.1, 4 MinHash stages, 2 workers ({d['seconds']}) | {d['total_seconds']:.1f} | "
              f"{docs / d['total_seconds']:,.0f} | - | {d['removed']:,} |")
    for w in (1, 2):
        o = r[f"ours_{w}"]
        print(f"| ours, {w} process{'es' if w > 1 else ''} ({o['seconds']}) | {o['total_seconds']:.1f} | "
              f"{docs / o['total_seconds']:,.0f} | {o['peak_rss_bytes'] / 2**20:,.0f} MiB | "
              f"{o['result']['duplicates']:,} |")


if __name__ == "__main__":
    main()
