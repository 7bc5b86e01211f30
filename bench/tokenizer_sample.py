"""How much curated text the BPE needs: held-out bytes/token against the training sample's size.

    flock /tmp/bench.lock .venv/bin/python bench/tokenizer_sample.py                 # bench corpus
    flock /tmp/bench.lock .venv/bin/python bench/tokenizer_sample.py --sizes 8 16 32 64

Curates the bench corpus once (`curate run --runner library`, the given bench tokenizer, output
kept under bench/data/tokenizer-sample/run), then trains the default tokenizer config (32k byte-level
BPE, min_frequency 2) on the id-hash sample `curate run` would take with each `train_sample_bytes`
(MiB), and on all of the text, and measures each on the same held-out documents (the run's
tokenizer hold-out: 1 % by id hash, never trained on). A size is enough when its bytes/token is
within 0.5 % of training on everything (issue 17). Results: bench/results/tokenizer_sample.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.config import MiB, PipelineConfig, TokenizerConfig  # noqa: E402
from curation.tokenizer import SampleSplit, train_tokenizer  # noqa: E402

CORPUS = ROOT / "bench" / "data" / "corpus.jsonl"
TOKENIZER = ROOT / "bench" / "data" / "bench-tokenizer.json"
RUN = ROOT / "bench" / "data" / "tokenizer-sample" / "run"
RESULTS = ROOT / "bench" / "results" / "tokenizer_sample.json"
GOAL = 0.005  # issue 17: bytes/token within 0.5 % of training on all the text


def curated() -> tuple[list[str], list[str]]:
    """The curated documents (ids, texts) in output order: shards, then the held-out split."""
    if not (RUN / "manifest.json").is_file():
        subprocess.run([str(ROOT / ".venv" / "bin" / "curate"), "run", "--input", str(CORPUS), "--output", str(RUN),
                        "--runner", "library", "--workers", "2", "--tokenizer", str(TOKENIZER)], check=True,
                       stdout=subprocess.DEVNULL)
    ids: list[str] = []
    texts: list[str] = []
    for folder in ("shards", "heldout"):
        for path in sorted((RUN / folder).glob("*.parquet")):
            table = pq.read_table(path, columns=["id", "text"])
            ids += table.column("id").to_pylist()
            texts += table.column("text").to_pylist()
    return ids, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[4, 8, 16, 32, 64], help="sample sizes, MiB")
    args = parser.parse_args()
    ids, texts = curated()
    total = sum(len(t.encode()) for t in texts)
    defaults = PipelineConfig()
    # As tokenizer_step: the tokenizer's hold-out covers the shards' held-out split.
    holdout_fraction = max(defaults.tokenizer.holdout_fraction, defaults.shards.heldout_fraction)
    split0 = SampleSplit.for_corpus(TokenizerConfig(holdout_fraction=holdout_fraction), total)
    held = [t for i, t in zip(ids, texts) if split0.is_holdout(i)]
    held_bytes = sum(len(t.encode()) for t in held)
    print(f"curated: {len(texts):,} documents, {total / 1e6:.1f} MB; held out {len(held):,} documents, "
          f"{held_bytes / 1e6:.2f} MB", flush=True)
    rows = []
    for size in [*args.sizes, None]:
        cfg = TokenizerConfig(holdout_fraction=holdout_fraction,
                              train_sample_bytes=int(size * MiB) if size else total * 2)
        split = SampleSplit.for_corpus(cfg, total)
        chosen = [t for i, t in zip(ids, texts) if split.is_train(i)]
        t0 = time.perf_counter()
        tokenizer = train_tokenizer((chosen[s:s + 1000] for s in range(0, len(chosen), 1000)), cfg)
        seconds = time.perf_counter() - t0
        tokens = sum(len(e.ids) for e in tokenizer.encode_batch(held, add_special_tokens=False))
        row = {"sample_mib": size, "train_bytes": sum(len(t.encode()) for t in chosen), "train_documents": len(chosen),
               "seconds": round(seconds, 2), "vocab": tokenizer.get_vocab_size(),
               "heldout_bytes_per_token": round(held_bytes / tokens, 4)}
        rows.append(row)
        print(f"  {'all' if size is None else f'{size:g} MiB':>8}: trained on {row['train_bytes'] / 1e6:6.1f} MB in "
              f"{seconds:5.1f} s; held-out bytes/token {row['heldout_bytes_per_token']:.4f}", flush=True)
    full = rows[-1]["heldout_bytes_per_token"]
    for row in rows:
        row["vs_all"] = round(row["heldout_bytes_per_token"] / full - 1, 5)
        row["within_goal"] = abs(row["vs_all"]) < GOAL
    enough = next((r["sample_mib"] for r in rows if r["within_goal"] and r["sample_mib"]), None)
    print("\n| sample | trained on | seconds | held-out bytes/token | vs all the text |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        name = "all the text" if r["sample_mib"] is None else f"{r['sample_mib']:g} MiB"
        print(f"| {name} | {r['train_bytes'] / 1e6:.1f} MB | {r['seconds']:.1f} | {r['heldout_bytes_per_token']:.4f} "
              f"| {100 * r['vs_all']:+.2f} % |")
    print(f"\nsmallest sample within {100 * GOAL:g} % of all the text: {enough} MiB")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "curated_bytes": total,
                                   "heldout_documents": len(held), "heldout_bytes": held_bytes, "rows": rows,
                                   "smallest_within_goal_mib": enough}, indent=2) + "\n")


if __name__ == "__main__":
    main()
