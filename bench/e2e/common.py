"""Shared by bench/e2e/e2e.py and bench/e2e/scale.py: inputs, the measured subprocess, the floor.

- ``prepare_input``: the bench corpus (built by bench/corpus.py, the one corpus builder), or its first
  N documents, as one JSONL for `curate run` and the same lines split into N files (corpus.split_jsonl)
  for DataTrove, which parallelizes over files only.
- ``run_measured``: runs a command and samples the resident memory of its whole process tree
  (psutil, every ``interval`` seconds, children and grandchildren included), from this process.
- ``hf_floor``: HF tokenizers ``encode_batch`` of texts already in memory: the floor of any run
  that counts every token.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
DATA = BENCH / "data"
RESULTS = BENCH / "results"
CORPUS = DATA / "corpus.jsonl"
TOKENIZER = DATA / "bench-tokenizer.json"
CURATE = ROOT / ".venv" / "bin" / "curate"
DATATROVE_PYTHON = BENCH / ".venv-datatrove" / "bin" / "python"
WORKERS = 2
HF_BATCH = 1000

sys.path.insert(0, str(BENCH))


def ensure_corpus() -> Path:
    """bench/data/corpus.jsonl, built by bench/corpus.py when missing (needs the Debian doc packages)."""
    if not CORPUS.is_file():
        import corpus  # bench/corpus.py

        corpus.main(["--output", str(CORPUS), "--workers", str(WORKERS), "--seed", "0"])
    return CORPUS


def jsonl_stats(path: Path) -> dict[str, int]:
    docs = text_bytes = 0
    with open(path, "rb") as fh:
        for line in fh:
            docs += 1
            text_bytes += len(json.loads(line)["text"].encode("utf-8"))
    return {"documents": docs, "text_bytes": text_bytes, "file_bytes": path.stat().st_size}


def prepare_input(limit: int | None, shards: int) -> dict[str, Any]:
    """bench/data/e2e/{full,limit-N}/corpus.jsonl plus corpus-00000.jsonl ... (``shards`` files).

    The corpus is already shuffled with a fixed seed, so its first N documents are a random sample.
    Rebuilt only when the source corpus, ``limit`` or ``shards`` changed.
    """
    import corpus  # bench/corpus.py: its split is the one the other DataTrove benchmarks read

    source = ensure_corpus()
    base = DATA / "e2e" / (f"limit-{limit}" if limit else "full")
    stamp = {"source": str(source), "source_bytes": source.stat().st_size,
             "source_mtime_ns": source.stat().st_mtime_ns, "limit": limit, "shards": shards}
    meta = base / "input.json"
    if meta.is_file():
        info = json.loads(meta.read_text())
        if info.get("stamp") == stamp:
            return info
    base.mkdir(parents=True, exist_ok=True)
    path = base / "corpus.jsonl"
    if path.is_symlink() or path.exists():
        path.unlink()
    if limit:
        with open(source, "rb") as src, open(path, "wb") as dst:
            for n, line in enumerate(src):
                if n == limit:
                    break
                dst.write(line)
    else:
        path.symlink_to(source)  # the split below is written beside the link, not beside the corpus
    parts = corpus.split_jsonl(path, shards)
    info = {"stamp": stamp, "dir": str(base), "jsonl": str(path), "glob": "corpus-[0-9]*.jsonl",
            "parts": [p.name for p in parts], **jsonl_stats(path)}
    meta.write_text(json.dumps(info, indent=2) + "\n")
    return info


def _sample_tree(root, cpu: dict[int, float]) -> tuple[int, int]:
    """Summed RSS and process count of ``root`` and its descendants; records each one's CPU seconds."""
    import psutil

    total = count = 0
    try:
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            with p.oneshot():
                total += p.memory_info().rss
                t = p.cpu_times()
            cpu[p.pid] = max(cpu.get(p.pid, 0.0), t.user + t.system)
            count += 1
        except psutil.Error:
            pass
    return total, count


def run_measured(cmd: list[str], log: Path, interval: float = 0.2, env: dict[str, str] | None = None,
                 cwd: Path = ROOT) -> dict[str, Any]:
    """Run ``cmd`` (stdout and stderr to ``log``); wall seconds, CPU seconds and peak RSS of its tree.

    peak_rss_bytes: the largest sum, over one sample, of the RSS of the process and all of its
    descendants (pages shared between processes count once per process, as in `ps`).
    cpu_seconds: user + system time of the tree: the larger of getrusage(RUSAGE_CHILDREN) before and
    after (exact, but blind to descendants nobody waited for, such as DataTrove's pool workers) and
    the sum of each process's CPU time at its last sample (misses at most ``interval`` per process).
    load_average: the 1-minute load average at start and end; well above 2 means something else ran.
    """
    import psutil

    log.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, **(env or {})})
        root = psutil.Process(proc.pid)
        peak = procs = samples = 0
        sampled_cpu: dict[int, float] = {}
        load_start = os.getloadavg()[0]
        while proc.poll() is None:
            rss, n = _sample_tree(root, sampled_cpu)
            if rss > peak:
                peak = rss
            procs = max(procs, n)
            samples += 1
            try:
                proc.wait(timeout=interval)
            except subprocess.TimeoutExpired:
                pass
        wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = max((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), sum(sampled_cpu.values()))
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}); log {log}:\n{text[-4000:]}")
    return {"wall_seconds": round(wall, 3), "peak_rss_bytes": peak, "max_processes": procs,
            "rss_samples": samples, "cpu_seconds": round(cpu, 2),
            "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)], "log": str(log), "output": text}


def read_shard_texts(shards: Path) -> list[str]:
    import pyarrow.parquet as pq

    texts: list[str] = []
    for path in sorted(shards.glob("*.parquet")):
        texts += pq.read_table(path, columns=["text"]).column("text").to_pylist()
    return texts


def hf_floor(texts: list[str], tokenizer: Path, repeats: int = 1) -> dict[str, Any]:
    """HF `encode_batch` of ``texts`` (already in memory), batches of 1,000, best of ``repeats``.

    Same settings as bench/tokenize_shard.py, whose token totals equal `curate run`'s: special-token
    strings inside a document are encoded as text, no special tokens added. HF's thread pool is
    capped at the contenders' 2 workers (RAYON_NUM_THREADS, read when tokenizers first encodes).
    """
    os.environ.setdefault("RAYON_NUM_THREADS", str(WORKERS))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.encode_special_tokens = True
    best, tokens, all_seconds = float("inf"), 0, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tokens = 0
        for i in range(0, len(texts), HF_BATCH):
            tokens += sum(len(e.ids) for e in tok.encode_batch(texts[i:i + HF_BATCH], add_special_tokens=False))
        seconds = time.perf_counter() - t0
        all_seconds.append(round(seconds, 3))
        best = min(best, seconds)
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return {"seconds": round(best, 3), "all_seconds": all_seconds, "documents": len(texts),
            "text_bytes": text_bytes, "tokens": tokens, "mb_per_s": round(text_bytes / 1e6 / best, 2)}


def curate_outcome(out: Path) -> dict[str, Any]:
    """What a `curate run` output folder says about itself: funnel, stage seconds, tokens."""
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    classifier = {}
    for card in sorted((out / "classifier").glob("*.json")) if (out / "classifier").is_dir() else []:
        classifier[card.name] = json.loads(card.read_text()).get("train_seconds")
    return {
        "pipeline_seconds": summary.get("seconds"),
        "stages": [{"stage": s["stage"], "docs_in": s["docs_in"], "docs_out": s["docs_out"],
                    "seconds": round(s["seconds"], 3), "redacted": s.get("redacted", 0),
                    "redact_seconds": round(s.get("redact_seconds", 0.0), 3), "dropped": s.get("reasons") or {}}
                   for s in summary["stages"]],
        "tokenizer": {k: summary["tokenizer"].get(k) for k in ("source", "seconds", "counter", "vocab_size",
                                                                "holdout_bytes_per_token")},
        "kept_documents": manifest["total_documents"], "tokens": manifest["total_tokens"],
        "kept_text_bytes": manifest.get("total_text_bytes"),
        "shard_bytes": sum(p.stat().st_size for p in (out / "shards").glob("*.parquet")),
        "quarantined": summary.get("quarantined"),
        "classifier_train_seconds": classifier or None,
    }


def mib(n: int | float) -> str:
    return f"{n / 2**20:,.0f} MiB"
