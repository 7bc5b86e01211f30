"""Benchmark: read -> tokenize -> shard, against its floors, measured side by side in one run.

    python bench/tokenize_shard.py                       # builds bench/data/corpus.jsonl if missing
    python bench/tokenize_shard.py --corpus FILE --repeats 3

Measured (all on the same texts, with the same tokenizer, alternating, best of --repeats):
  json_loads    read every line and json.loads it: the floor of any JSONL reader
  hf_encode     HF tokenizers `encode_batch` of the texts already in memory (2 threads)
  fastokens     fastokens `encode_batch_flat` of the same texts (our counter, alone)
  curate        the whole `curate run` path (read, validate, stage, count, write zstd shards, manifest)
                with no filter stages and a given tokenizer
The goal (issue 2): curate <= 1.3x hf_encode. Results go to bench/results/tokenize_shard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE / "data" / "corpus.jsonl"
TOKENIZER = HERE / "data" / "bench-tokenizer.json"
RESULTS = HERE / "results" / "tokenize_shard.json"
BATCH = 1000


def ensure_corpus(path: Path) -> Path:
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "corpus.py"), "--output", str(path)], check=True)
    return path


def load_texts(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        return [json.loads(line)["text"] for line in fh]


def ensure_tokenizer(texts: list[str]) -> Path:
    """One byte-level BPE 32k trained once (the same recipe as `curate run`) and cached."""
    if TOKENIZER.exists():
        return TOKENIZER
    from curation.config import TokenizerConfig
    from curation.tokenizer import train_tokenizer

    config = TokenizerConfig()
    t0 = time.perf_counter()
    tokenizer = train_tokenizer((texts[i:i + BATCH] for i in range(0, len(texts), BATCH)), config)
    print(f"trained bench tokenizer in {time.perf_counter() - t0:.1f} s")
    TOKENIZER.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(TOKENIZER))
    return TOKENIZER


def time_json_loads(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        for line in fh:
            json.loads(line)
    return time.perf_counter() - t0


def time_hf_encode(texts: list[str]) -> tuple[float, int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.encode_special_tokens = True
    t0 = time.perf_counter()
    tokens = 0
    for i in range(0, len(texts), BATCH):
        tokens += sum(len(e.ids) for e in tok.encode_batch(texts[i:i + BATCH], add_special_tokens=False))
    return time.perf_counter() - t0, tokens


def time_fastokens(texts: list[str]) -> tuple[float, int]:
    from curation.tokenizer import TokenCounter

    counter = TokenCounter(TOKENIZER, backend="fastokens")
    t0 = time.perf_counter()
    tokens = sum(int(counter.count(texts[i:i + BATCH]).sum()) for i in range(0, len(texts), BATCH))
    return time.perf_counter() - t0, tokens


def time_curate(path: Path) -> tuple[float, int, int]:
    from curation.config import PipelineConfig
    from curation.pipeline import run

    config = PipelineConfig.model_validate({"stages": [], "tokenizer": {"path": str(TOKENIZER)}})
    out = Path(tempfile.mkdtemp(prefix="bench-curate-"))
    try:
        t0 = time.perf_counter()
        result = run([str(path)], out, config, progress=False)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out)
    # Every document is in the shards or in the held-out split (heldout/, by id hash).
    heldout = result.manifest.get("heldout") or {}
    return (seconds, result.manifest["total_tokens"] + heldout.get("total_tokens", 0),
            result.manifest["total_documents"] + heldout.get("total_documents", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    corpus = ensure_corpus(args.corpus)
    mb = corpus.stat().st_size / 1e6
    texts = load_texts(corpus)
    text_mb = sum(len(t.encode()) for t in texts) / 1e6
    ensure_tokenizer(texts)
    best: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for r in range(args.repeats):  # alternate the contenders so drift hits them alike
        for name, fn in (("json_loads", lambda: (time_json_loads(corpus), None)),
                         ("hf_encode", lambda: time_hf_encode(texts)),
                         ("fastokens", lambda: time_fastokens(texts)),
                         ("curate", lambda: time_curate(corpus)[:2])):
            seconds, count = fn()
            best[name] = min(best.get(name, float("inf")), seconds)
            if count is not None:
                tokens[name] = count
            print(f"  repeat {r + 1}: {name:<10} {seconds:8.2f} s", flush=True)
    if len(set(tokens.values())) != 1:
        raise SystemExit(f"token totals differ: {tokens}")
    docs = len(texts)
    rows = {name: {"seconds": round(s, 3), "docs_per_s": round(docs / s, 1), "mb_per_s": round(text_mb / s, 2),
                   "x_hf_encode": round(s / best["hf_encode"], 3)} for name, s in best.items()}
    result = {
        "corpus": str(corpus), "documents": docs, "file_mb": round(mb, 1), "text_mb": round(text_mb, 1),
        "tokens": tokens["curate"], "cpus": os.cpu_count(), "repeats": args.repeats, "results": rows,
        "goal": "curate seconds <= 1.3 x hf_encode seconds",
        "goal_met": best["curate"] <= 1.3 * best["hf_encode"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{docs:,} documents, {text_mb:.1f} MB of text, {tokens['curate']:,} tokens (identical in all counters)")
    print(f"{'':<12}{'seconds':>9}{'docs/s':>11}{'MB/s':>9}{'x hf_encode':>13}")
    for name, row in rows.items():
        print(f"{name:<12}{row['seconds']:>9.2f}{row['docs_per_s']:>11,.0f}{row['mb_per_s']:>9.1f}{row['x_hf_encode']:>13.3f}")
    print(f"goal curate <= 1.3x hf_encode: {'met' if result['goal_met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
