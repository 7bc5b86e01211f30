"""Peak memory is set by the config, not by the largest line: a run over a .jsonl.zst holding one
line of 256 MiB, 1 GiB or 2 GiB (a few KB compressed) beside the sample corpus.

    flock /tmp/bench.lock .venv/bin/python bench/bounded_memory.py            # ~3 min
    flock /tmp/bench.lock .venv/bin/python bench/bounded_memory.py --sizes 256 --limits 1 8 64

Each contender is `curate run --runner library --workers 1 --preset minimal` in a fresh process
(planning, reading, the stages, tokenizer and shards all count), with its peak resident memory
sampled over the whole process tree (bench/e2e/common.py's run_measured). The baseline is the same
run without the huge line, measured in the same run of this script. With lines read at most
``max_document_bytes + 1`` bytes at a time, the ratio stays near 1 for any line size; reading
lines whole (as before issue 14) needs at least the line's size.
Results: bench/results/bounded_memory.json and a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "e2e"))
from common import CURATE, RESULTS, run_measured  # noqa: E402

SAMPLE = ROOT / "sample_data" / "corpus.jsonl.gz"
MiB = 1 << 20


def write_input(path: Path, huge_bytes: int) -> None:
    """The sample's records, with one record of ``huge_bytes`` of text in the middle, as zstd."""
    with gzip.open(SAMPLE, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    middle = len(lines) // 2
    with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
        out.write(b"".join(lines[:middle]))
        if huge_bytes:
            out.write(b'{"id": "huge", "text": "')
            block = b"all work and no play " * (MiB // 21)
            left = huge_bytes
            while left > 0:
                out.write(block[:left])
                left -= len(block)
            out.write(b'"}\n')
        out.write(b"".join(lines[middle:]))


def measure(path: Path, out: Path, limit_mib: int) -> dict:
    cfg = out.with_suffix(".json")
    cfg.write_text(json.dumps({"input": {"max_document_bytes": limit_mib * MiB}, "tokenizer": {"vocab_size": 8000}}))
    cmd = [str(CURATE), "run", "--runner", "library", "--workers", "1", "--preset", "minimal", "--quiet",
           "--input", str(path), "--output", str(out), "--config", str(cfg)]
    # Sampled every 50 ms: reading a 2 GiB line whole would take far longer than that.
    result = run_measured(cmd, out.with_suffix(".log"), interval=0.05, env={"PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    summary = json.loads((out / "summary.json").read_text())
    return {"wall_s": result["wall_seconds"], "peak_rss_mib": round(result["peak_rss_bytes"] / MiB, 1),
            "quarantined": summary["quarantined"], "documents": summary["total_documents"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048], help="huge line sizes, MiB")
    parser.add_argument("--limits", type=int, nargs="+", default=[8], help="max_document_bytes values, MiB")
    parser.add_argument("--json", type=Path, default=RESULTS / "bounded_memory.json")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="curation-memory-"))
    rows = []
    try:
        for limit in args.limits:
            plain = base / "plain.jsonl.zst"
            write_input(plain, 0)
            baseline = measure(plain, base / f"out-base-{limit}", limit)
            rows.append({"line_mib": 0, "limit_mib": limit, **baseline, "ratio": 1.0})
            for size in args.sizes:
                path = base / f"huge-{size}.jsonl.zst"
                write_input(path, size * MiB)
                row = measure(path, base / f"out-{size}-{limit}", limit)
                row |= {"line_mib": size, "limit_mib": limit, "input_mib": round(path.stat().st_size / MiB, 2),
                        "ratio": round(row["peak_rss_mib"] / baseline["peak_rss_mib"], 3)}
                rows.append(row)
                path.unlink()
        print("| huge line | max_document_bytes | peak RSS | × without it | wall | quarantined |")
        print("|---:|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r['line_mib']:,} MiB | {r['limit_mib']} MiB | {r['peak_rss_mib']:,.0f} MiB | {r['ratio']:.2f} | "
                  f"{r['wall_s']:.1f} s | {r['quarantined']} |")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
