"""Benchmark (issue 3): quality filtering docs/s on 2 cores, ours vs DataTrove, side by side in one run.

    flock /tmp/bench.lock .venv/bin/python bench/quality_speed.py                  # ours x2, DataTrove x1
    flock /tmp/bench.lock .venv/bin/python bench/quality_speed.py --repeats 3 --datatrove-repeats 2

Every contender reads the same 26,561 documents (bench/data/corpus.jsonl; DataTrove reads its 4-way
split corpus-0000*.jsonl, the same lines) and uses 2 processes. Contenders, alternated round by
round (ours, DataTrove, ours, ...; best of the rounds each ran):

  ours_filter      the quality part of the `default` preset (heuristics -> language (CLD2) ->
                   quality_classifier (fastText) -> quality_threshold; the preset's corpus-level
                   dedup and its pii stage are left out) run as `curate run` runs its per-partition
                   step (pipeline.steps.filter_partition) without the writers: the input split into
                   partitions as curate run plans them (input.partition_bytes), a 2-process
                   spawn pool whose workers build the stages once, then each read their partitions
                   with our JSONL reader and run the stages batch by batch (pipeline.chain.run_chain).
                   Timed from planning the partitions (worker start-up, imports and model loads
                   included) until the last partition is back. No output is written.
  ours_run         the whole `curate run` (pipeline.run(..., workers=2)) with the same stages and a
                   given tokenizer (bench/data/bench-tokenizer.json): reading, the filter pass,
                   staging, token counting, zstd shards, removed/ and manifest. Nothing subtracted.
  ours_same_rules  for reference: our implementations of DataTrove's three rule sets
                   (gopher_repetition -> gopher_quality -> c4 without its terminal-punctuation rule)
                   through the same 2-process filter pass as ours_filter.
  datatrove        DataTrove 0.10.x in its own venv (bench/peers/datatrove_quality.py):
                   JsonlReader -> GopherRepetitionFilter() -> GopherQualityFilter() -> C4QualityFilter(
                   filter_no_terminal_punct=False) with LocalPipelineExecutor(tasks=4, workers=2);
                   timed around executor.run() (its worker start-up included, its interpreter start
                   and imports not). --c4-terminal-punct keeps DataTrove's default for that rule.

The default quality model is trained first (classifiers.default.ensure_default_model into
bench/data/quality-model, once) and that time is reported apart: it is not filtering time.
Results: bench/results/quality_speed.json (ignored by git).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
DEFAULT_CORPUS = DATA / "corpus.jsonl"
SPLIT_GLOB = "corpus-0*.jsonl"
TOKENIZER = DATA / "bench-tokenizer.json"
MODEL_DIR = DATA / "quality-model"
DATATROVE_PYTHON = HERE / ".venv-datatrove" / "bin" / "python"
DATATROVE_SCRIPT = HERE / "peers" / "datatrove_quality.py"
RESULTS = HERE / "results" / "quality_speed.json"
WORKERS = 2
GOAL = 20.0

# The quality filtering part of the default preset: what issue 3's goal measures.
QUALITY_STAGES = ("length", "heuristics", "language", "quality_classifier", "quality_threshold")
# Our versions of the three rule sets DataTrove runs, with the same switch on C4 (see module docstring).
SAME_RULES = [{"name": "gopher_repetition"}, {"name": "gopher_quality"},
              {"name": "c4", "params": {"terminal_punctuation": False}}]


def ensure_model() -> dict[str, Any]:
    """The default fastText quality model, trained once from sample_data (timed apart from filtering)."""
    from classifiers.default import ensure_default_model

    existed = (MODEL_DIR / "fasttext.bin").is_file()
    t0 = time.perf_counter()
    model = ensure_default_model(MODEL_DIR)
    seconds = time.perf_counter() - t0
    card = json.loads(model.with_name(model.name + ".json").read_text())
    return {"path": str(model), "trained_now": not existed, "seconds": round(seconds, 2),
            "card_train_seconds": card.get("train_seconds"), "sha256": card["sha256"],
            "held_out_metrics": card.get("held_out_metrics")}


def make_config(stages: list[dict[str, Any]] | None, model: str):
    from curation.config import PipelineConfig

    data: dict[str, Any] = {"preset": "default", "tokenizer": {"path": str(TOKENIZER)}}
    if stages is not None:
        data["stages"] = stages
    config = PipelineConfig.model_validate(data)
    config.stages = [spec for spec in config.stages if stages is not None or spec.name in QUALITY_STAGES]
    for spec in config.stages:
        if spec.name == "quality_classifier":
            spec.params["model"] = model
    return config


def corpus_stats(path: Path) -> dict[str, Any]:
    docs = text_bytes = 0
    by_source: dict[str, list[int]] = {}
    with open(path, "rb") as fh:
        for line in fh:
            record = json.loads(line)
            n = len(record["text"].encode("utf-8"))
            docs += 1
            text_bytes += n
            row = by_source.setdefault(record.get("source", ""), [0, 0])
            row[0] += 1
            row[1] += n
    return {"documents": docs, "text_bytes": text_bytes, "by_source": by_source}


def stage_report(stats) -> list[dict[str, Any]]:
    """Per stage: funnel, summed worker seconds, first-firing drop reasons, would-fire counters."""
    rows = []
    for s in stats:
        rows.append({
            "stage": s.stage, "docs_in": s.docs_in, "docs_out": s.docs_out, "bytes_in": s.bytes_in,
            "bytes_out": s.bytes_out, "worker_seconds": round(s.seconds, 3),
            "dropped": dict(sorted(s.reasons.items(), key=lambda kv: -kv[1])),
            "would_fire": {k.removeprefix("would_fire/"): v for k, v in sorted(s.counters.items(), key=lambda kv: -kv[1])
                           if k.startswith("would_fire/")},
            "counters": {k: v for k, v in sorted(s.counters.items()) if not k.startswith("would_fire/")},
        })
    return rows


_worker_stages: list = []


def _init_worker(specs: list[tuple[str, dict[str, Any]]]) -> None:
    from curation.registry import build_stage

    _worker_stages[:] = [build_stage(name, params) for name, params in specs]


def _filter_partition(part, input_config) -> tuple[list, list[tuple[str, str, str, int]], int, int]:
    """`curate run`'s per-partition step (pipeline.steps.filter_partition) without its writers: read the
    partition, run the stages batch by batch; return stage stats and (stage, reason, source, bytes)
    per dropped document."""
    from curation.io.readers import DocumentReader
    from curation.pipeline.chain import run_chain
    from curation.summary import StageStats, utf8_bytes

    stats = [StageStats(stage.name) for stage in _worker_stages]
    dropped = []
    kept_docs = kept_bytes = 0
    reader = DocumentReader(input_config)
    for input_file in part.files:
        for batch in reader.read(input_file):
            if batch.quarantined:
                raise RuntimeError(f"{len(batch.quarantined)} records quarantined in the bench corpus")
            docs, nbytes, steps = run_chain(_worker_stages, batch.docs, utf8_bytes([d.text for d in batch.docs]))
            for stage_stats, step in zip(stats, steps):
                stage_stats.add_step(step)
                dropped.extend((stage_stats.stage, d.reason, d.doc.source, len(d.doc.text.encode("utf-8")))
                               for d in step.dropped)
            kept_docs += len(docs)
            kept_bytes += nbytes
    return stats, dropped, kept_docs, kept_bytes


def time_filter_pass(corpus: Path, config) -> dict[str, Any]:
    """The filter pass of `curate run` without its writers: the input's partitions (as curate run plans
    them) over a 2-process pool, each worker reading its partitions and running the stages."""
    from curation.io.readers import resolve_inputs
    from curation.partition import partition_inputs
    from curation.summary import StageStats

    specs = [(s.name, s.params) for s in config.stages]
    stats = [StageStats(name) for name, _ in specs]
    by_reason: dict[str, list[int]] = {}
    by_source: dict[str, list[int]] = {}
    kept_docs = kept_bytes = 0
    t0 = time.perf_counter()
    partitions = partition_inputs(resolve_inputs([str(corpus)]), config.input.partition_bytes)
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(specs,)) as pool:
        for part_stats, dropped, docs, nbytes in pool.map(_filter_partition, partitions,
                                                          [config.input] * len(partitions)):
            for total, part in zip(stats, part_stats):
                total.merge(part)
            for stage, reason, source, n in dropped:
                for key, table in ((f"{stage}/{reason}", by_reason), (source, by_source)):
                    row = table.setdefault(key, [0, 0])
                    row[0] += 1
                    row[1] += n
            kept_docs += docs
            kept_bytes += nbytes
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "kept_docs": kept_docs, "kept_bytes": kept_bytes, "partitions": len(partitions),
            "stages": stage_report(stats),
            "dropped_by_reason": dict(sorted(by_reason.items(), key=lambda kv: -kv[1][1])),
            "dropped_by_source": by_source}


def time_curate_run(corpus: Path, config) -> dict[str, Any]:
    from curation.pipeline import run

    out = Path(tempfile.mkdtemp(prefix="bench-quality-run-"))
    try:
        t0 = time.perf_counter()
        result = run([str(corpus)], out, config, progress=False, workers=WORKERS)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    s = result.summary
    return {"seconds": seconds, "kept_docs": result.manifest["total_documents"],
            "kept_bytes": result.manifest["total_text_bytes"], "tokens": result.manifest["total_tokens"],
            "stages": [{"stage": st["stage"], "docs_in": st["docs_in"], "docs_out": st["docs_out"],
                        "seconds": round(st["seconds"], 3)} for st in s["stages"]],
            "tokenizer_seconds": s["tokenizer"]["seconds"]}


def time_datatrove(terminal_punct: bool) -> dict[str, Any]:
    if not DATATROVE_PYTHON.is_file():
        raise SystemExit(f"no DataTrove venv at {DATATROVE_PYTHON}: python3.11 -m venv bench/.venv-datatrove && "
                         "bench/.venv-datatrove/bin/pip install 'datatrove[processing]'")
    work = Path(tempfile.mkdtemp(prefix="bench-quality-datatrove-"))
    cmd = [str(DATATROVE_PYTHON), str(DATATROVE_SCRIPT), "--input", str(DATA), "--glob", SPLIT_GLOB,
           "--work", str(work), "--workers", str(WORKERS)] + (["--c4-terminal-punct"] if terminal_punct else [])
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        outer = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"DataTrove failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.pop("raw_stats", None)
    result["process_seconds"] = round(outer, 3)
    return result


def _by_reason(res: dict[str, Any] | None) -> dict[str, dict[str, int]] | None:
    if not res:
        return None
    return {k: {"docs": d, "bytes": b} for k, (d, b) in res["dropped_by_reason"].items()}


def _kept_by_source(res: dict[str, Any] | None, read: dict[str, list[int]]) -> dict[str, dict[str, Any]] | None:
    """Documents and text bytes kept per source (read minus dropped)."""
    if not res:
        return None
    out = {}
    for source, (docs, nbytes) in sorted(read.items(), key=lambda kv: -kv[1][1]):
        gone_docs, gone_bytes = res["dropped_by_source"].get(source, [0, 0])
        out[source] = {"docs": docs, "mb": round(nbytes / 1e6, 2), "kept_docs_share": round(1 - gone_docs / docs, 4),
                       "kept_bytes_share": round(1 - gone_bytes / nbytes, 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of our contenders (best is reported)")
    parser.add_argument("--datatrove-repeats", type=int, default=1,
                        help="rounds in which DataTrove also runs (it takes minutes); 0 skips it")
    parser.add_argument("--c4-terminal-punct", action="store_true",
                        help="run DataTrove's C4 filter with its terminal-punctuation rule on (its default)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ours_filter", "ours_run", "ours_same_rules"])
    parser.add_argument("--limit", type=int, help="only the first N documents, ours only (no DataTrove), results "
                        "to quality_speed-limit-N.json: for iterating")
    args = parser.parse_args()
    if args.corpus != DEFAULT_CORPUS:
        raise SystemExit("DataTrove reads bench/data/corpus-0*.jsonl: run on the default corpus")
    if not TOKENIZER.is_file():
        raise SystemExit(f"{TOKENIZER} missing: run bench/tokenize_shard.py once to train it")
    results_path, subset_dir = RESULTS, None
    if args.limit:
        args.datatrove_repeats = 0
        results_path = RESULTS.with_name(f"quality_speed-limit-{args.limit}.json")
        subset_dir = Path(tempfile.mkdtemp(prefix="bench-quality-limit-"))
        with open(args.corpus, "rb") as src, open(subset_dir / "corpus.jsonl", "wb") as dst:
            dst.writelines(itertools.islice(src, args.limit))
        args.corpus = subset_dir / "corpus.jsonl"
    try:
        measure(args, results_path)
    finally:
        if subset_dir is not None:
            shutil.rmtree(subset_dir, ignore_errors=True)


def measure(args: argparse.Namespace, results_path: Path) -> None:

    model = ensure_model()
    print(f"quality model: {model['path']} ({'trained now in ' + str(model['seconds']) + ' s' if model['trained_now'] else 'cached'};"
          f" fastText training itself {model['card_train_seconds']} s), not part of the filtering time", flush=True)
    corpus = corpus_stats(args.corpus)
    split = [corpus_stats(p) for p in sorted(DATA.glob(SPLIT_GLOB))] if args.datatrove_repeats else [corpus]
    if sum(s["documents"] for s in split) != corpus["documents"] or sum(s["text_bytes"] for s in split) != corpus["text_bytes"]:
        raise SystemExit("the split files do not hold the same documents as the corpus: rebuild with --split 4")
    docs, mb = corpus["documents"], corpus["text_bytes"] / 1e6
    print(f"corpus: {docs:,} documents, {mb:.1f} MB of text, {WORKERS} workers, {os.cpu_count()} CPUs", flush=True)

    default_config = make_config(None, model["path"])
    same_config = make_config(SAME_RULES, model["path"])
    contenders = {
        "ours_filter": lambda: time_filter_pass(args.corpus, default_config),
        "ours_run": lambda: time_curate_run(args.corpus, default_config),
        "ours_same_rules": lambda: time_filter_pass(args.corpus, same_config),
        "datatrove": lambda: time_datatrove(args.c4_terminal_punct),
    }
    best: dict[str, dict[str, Any]] = {}
    seconds: dict[str, list[float]] = {}
    for r in range(max(args.repeats, args.datatrove_repeats)):
        # ours, DataTrove, ours, ...: drift hits both sides alike.
        order = [n for n in ("ours_filter", "ours_run", "ours_same_rules") if n not in args.skip and r < args.repeats]
        if r < args.datatrove_repeats:
            order.insert(1, "datatrove")
        for name in order:
            result = contenders[name]()
            seconds.setdefault(name, []).append(round(result["seconds"], 3))
            if name not in best or result["seconds"] < best[name]["seconds"]:
                best[name] = result
            print(f"  round {r + 1}: {name:<16} {result['seconds']:8.2f} s", flush=True)

    if "datatrove" in best and best["datatrove"].get("documents") not in (None, docs):
        raise SystemExit(f"DataTrove read {best['datatrove']['documents']} documents, expected {docs}")
    rows = {}
    for name, res in best.items():
        s = res["seconds"]
        rows[name] = {"seconds": round(s, 3), "all_seconds": seconds[name], "docs_per_s": round(docs / s, 1),
                      "mb_per_s": round(mb / s, 3)}
    if "datatrove" in rows:
        for name, row in rows.items():
            row["x_datatrove_docs_per_s"] = round(best["datatrove"]["seconds"] / best[name]["seconds"], 2)
    kept = {}
    for name, res in best.items():
        if name == "datatrove":
            kept[name] = {"docs": res["kept"], "docs_share": round(res["kept"] / docs, 4),
                          "chars_share_after_c4_rewrite": round(res["kept_chars"] / res["read_chars"], 4)}
        else:
            kept[name] = {"docs": res["kept_docs"], "docs_share": round(res["kept_docs"] / docs, 4),
                          "bytes_share": round(res["kept_bytes"] / corpus["text_bytes"], 4)}
    result = {
        "corpus": str(args.corpus), "documents": docs, "text_mb": round(mb, 1), "cpus": os.cpu_count(),
        "workers": WORKERS, "repeats": args.repeats, "datatrove_repeats": args.datatrove_repeats,
        "quality_model": model, "datatrove_c4_terminal_punctuation": args.c4_terminal_punct,
        "results": rows, "kept": kept,
        "ours_default_stages": best.get("ours_filter", {}).get("stages"),
        "ours_default_dropped_by_reason": _by_reason(best.get("ours_filter")),
        "ours_default_kept_by_source": _kept_by_source(best.get("ours_filter"), corpus["by_source"]),
        "ours_same_rules_dropped_by_reason": _by_reason(best.get("ours_same_rules")),
        "ours_same_rules_kept_by_source": _kept_by_source(best.get("ours_same_rules"), corpus["by_source"]),
        "ours_run_stages": best.get("ours_run", {}).get("stages"),
        "ours_same_rules_stages": best.get("ours_same_rules", {}).get("stages"),
        "datatrove_filters": best.get("datatrove", {}).get("filters"),
        "goal": f"ours_filter docs/s >= {GOAL:g} x datatrove docs/s",
    }
    if "datatrove" in rows and "ours_filter" in rows:
        result["goal_met"] = rows["ours_filter"]["x_datatrove_docs_per_s"] >= GOAL
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(result, indent=2) + "\n")
    report(result)


def report(result: dict[str, Any]) -> None:
    docs = result["documents"]
    print(f"\n{docs:,} documents, {result['text_mb']} MB of text, {result['workers']} workers")
    print(f"{'':<17}{'seconds':>9}{'docs/s':>10}{'MB/s':>8}{'x DataTrove':>13}{'kept docs':>11}{'kept bytes':>11}")
    for name, row in result["results"].items():
        k = result["kept"][name]
        share = k.get("bytes_share", k.get("chars_share_after_c4_rewrite"))
        bytes_share = f"{share:.1%}" + ("" if "bytes_share" in k else "*")
        print(f"{name:<17}{row['seconds']:>9.2f}{row['docs_per_s']:>10,.0f}{row['mb_per_s']:>8.2f}"
              f"{row.get('x_datatrove_docs_per_s', float('nan')):>13.2f}{k['docs_share']:>11.1%}{bytes_share:>11}")
    if "datatrove" in result["kept"]:
        print("* DataTrove: share of characters, counted after C4 removed lines from the documents it kept")
    for key, title in (("ours_default_stages", "ours (default preset)"), ("ours_same_rules_stages", "ours (same rules)")):
        if not result.get(key):
            continue
        print(f"\n{title}: per stage, first-firing drops (would-fire counts in brackets)")
        for st in result[key]:
            print(f"  {st['stage']:<20} {st['docs_in']:>7,} -> {st['docs_out']:>7,}   {st['worker_seconds']:7.2f} worker-s")
            fired = set(st["dropped"]) | set(st["would_fire"])
            for reason in sorted(fired, key=lambda r: (-st["dropped"].get(r, 0), -st["would_fire"].get(r, 0))):
                wf = st["would_fire"].get(reason)
                print(f"      {reason:<34}{st['dropped'].get(reason, 0):>7,}" + (f"  ({wf:,})" if wf is not None else ""))
    for key, title in (("ours_default_dropped_by_reason", "ours (default preset)"),
                       ("ours_same_rules_dropped_by_reason", "ours (same rules)")):
        if result.get(key):
            print(f"\n{title}: dropped documents and text by first-firing reason")
            for reason, row in result[key].items():
                print(f"  {reason:<42}{row['docs']:>7,} docs {row['bytes'] / 1e6:>8.2f} MB")
    for key, title in (("ours_default_kept_by_source", "ours (default preset)"),
                       ("ours_same_rules_kept_by_source", "ours (same rules)")):
        if result.get(key):
            print(f"\n{title}: kept per source (documents, text bytes)")
            for source, row in result[key].items():
                print(f"  {source:<28}{row['docs']:>7,} docs {row['mb']:>8.2f} MB   "
                      f"{row['kept_docs_share']:>6.1%} {row['kept_bytes_share']:>6.1%}")
    if result.get("datatrove_filters"):
        print("\nDataTrove: per filter drops")
        for f in result["datatrove_filters"]:
            print(f"  {f['name']:<34} {f['in']:>7,} -> {f['forwarded']:>7,}   {f['seconds_cpu']:8.1f} CPU-s")
            for reason, n in sorted(f["reasons"].items(), key=lambda kv: -kv[1]):
                print(f"      {reason:<34}{n:>7,}")
    if "goal_met" in result:
        print(f"\ngoal {result['goal']}: {'met' if result['goal_met'] else 'MISSED'} "
              f"({result['results']['ours_filter']['x_datatrove_docs_per_s']:.1f}x)")


if __name__ == "__main__":
    main()
