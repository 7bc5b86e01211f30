"""DataTrove's closest equivalent of `curate run`'s default chain: the peer of bench/e2e/e2e.py.

Runs in its own venv (DataTrove pins its own dependencies), never imported by the project:

    python3.11 -m venv bench/.venv-datatrove
    bench/.venv-datatrove/bin/pip install 'datatrove[processing]' orjson spacy pyarrow   # 0.10.1 here
    bench/.venv-datatrove/bin/python bench/e2e/datatrove_chain.py --input DIR --glob 'corpus-*.jsonl' \
        --tokenizer bench/data/bench-tokenizer.json --work DIR [--workers 2]

The chain ANCHORS.md measured (333 s, 81 docs/s on the bench corpus), as four LocalPipelineExecutor runs,
one task per input file (DataTrove parallelizes over files only), --workers processes each:

  1 filter      JsonlReader -> GopherRepetitionFilter() -> GopherQualityFilter() ->
                C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter() ->
                JsonlWriter(WORK/filtered) -> MinhashDedupSignature(MinhashConfig())
                (the signatures are computed in the same pass as the filters, on the documents that
                survive them, as FineWeb's pipeline does between its filter and dedup steps)
  2 buckets     MinhashDedupBuckets, MinhashConfig().num_buckets tasks (14 x 8, word 5-grams)
  3 cluster     MinhashDedupCluster, 1 task
  4 output      JsonlReader(WORK/filtered) -> MinhashDedupFilter -> PIIFormatter() (e-mails and IPs) ->
                TokensCounter(--tokenizer, a given tokenizer.json: DataTrove trains none) ->
                ParquetWriter(WORK/output)

DataTrove's defaults everywhere except C4's terminal-punctuation line rule, which is off (FineWeb ran C4
that way, and so did ANCHORS.md's chain; --c4-terminal-punct turns it on). Each stage is timed around
executor.run() (its worker start-up included). Prints one JSON object on the last line of stdout:
per-stage seconds, documents read / after the filters / after dedup / written, characters read and
written, tokens counted, and the per-step stats DataTrove writes to WORK/logs/<stage>/stats.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def _value(stat) -> float:
    """DataTrove writes a counter either as a number or as {"total": n, ...}."""
    if isinstance(stat, dict):
        return stat.get("total", 0)
    return stat


def _steps(logs: Path) -> list[dict]:
    path = logs / "stats.json"
    return json.loads(path.read_text()) if path.is_file() else []


def _find(steps: list[dict], fragment: str) -> dict:
    for step in steps:
        if fragment.lower() in step.get("name", "").lower():
            return step.get("stats", {})
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, required=True, help="folder holding the JSONL files (id, text)")
    parser.add_argument("--glob", default="*.jsonl", help="which files of the folder to read (one task per file)")
    parser.add_argument("--tokenizer", type=Path, required=True, help="tokenizer.json for TokensCounter")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (emptied first)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--c4-terminal-punct", action="store_true",
                        help="keep C4's rule removing lines without terminal punctuation (DataTrove's default)")
    parser.add_argument("--keep-work", action="store_true", help="keep WORK (output shards included) afterwards")
    args = parser.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import TokensCounter
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    files = sorted(args.input.glob(args.glob))
    if not files:
        raise SystemExit(f"no files match {args.glob} in {args.input}")
    if not args.tokenizer.is_file():
        raise SystemExit(f"no tokenizer at {args.tokenizer}")
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    logs = work / "logs"
    config = MinhashConfig()
    tasks = len(files)

    stages = {
        "filter": lambda: LocalPipelineExecutor(
            pipeline=[
                JsonlReader(str(args.input), glob_pattern=args.glob, text_key="text", id_key="id"),
                GopherRepetitionFilter(),
                GopherQualityFilter(),
                C4QualityFilter(filter_no_terminal_punct=args.c4_terminal_punct),
                FineWebQualityFilter(),
                JsonlWriter(str(work / "filtered")),
                MinhashDedupSignature(output_folder=str(work / "signatures"), config=config),
            ],
            tasks=tasks, workers=args.workers, logging_dir=str(logs / "filter")),
        "buckets": lambda: LocalPipelineExecutor(
            pipeline=[MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                                          config=config)],
            tasks=config.num_buckets, workers=args.workers, logging_dir=str(logs / "buckets")),
        "cluster": lambda: LocalPipelineExecutor(
            pipeline=[MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                                          config=config)],
            tasks=1, workers=1, logging_dir=str(logs / "cluster")),
        "output": lambda: LocalPipelineExecutor(
            pipeline=[
                JsonlReader(str(work / "filtered"), glob_pattern="*.jsonl.gz", text_key="text", id_key="id"),
                MinhashDedupFilter(input_folder=str(work / "remove_ids")),
                PIIFormatter(),
                TokensCounter(tokenizer_name_or_path=str(args.tokenizer.resolve())),
                ParquetWriter(str(work / "output")),
            ],
            tasks=tasks, workers=args.workers, logging_dir=str(logs / "output")),
    }
    seconds: dict[str, float] = {}
    for name, make in stages.items():
        if name == "output":
            # MinhashDedupFilter pairs task i's remove list with the i-th filtered file: a task whose
            # documents were all filtered out writes no file and would shift the pairing.
            written = sorted((work / "filtered").glob("*.jsonl.gz"))
            if len(written) != tasks:
                raise SystemExit(f"{len(written)} filtered files for {tasks} tasks: a task kept no document")
        t0 = time.perf_counter()
        make().run()
        seconds[name] = round(time.perf_counter() - t0, 3)

    filt, out = _steps(logs / "filter"), _steps(logs / "output")
    reader = _find(filt, "reader")
    filters = []
    for step in filt:
        stats = step.get("stats", {})
        if "dropped" not in stats and "forwarded" not in stats:
            continue
        filters.append({"name": step.get("name"), "in": _value(stats.get("total", 0)),
                        "forwarded": _value(stats.get("forwarded", 0)), "dropped": _value(stats.get("dropped", 0)),
                        "reasons": {k.removeprefix("dropped_"): _value(v) for k, v in sorted(stats.items())
                                    if k.startswith("dropped_")},
                        "cpu_seconds": round(_value(step.get("time_stats", {})) or 0.0, 2)
                        if isinstance(step.get("time_stats"), dict) else None})
    step_cpu = {f"{stage}/{step.get('name')}": round(_value(step.get("time_stats", {})) or 0.0, 2)
                for stage in ("filter", "buckets", "cluster", "output") for step in _steps(logs / stage)
                if isinstance(step.get("time_stats"), dict)}
    dedup = _find(out, "minhash")
    counter = _find(out, "counter")
    writer = _find(out, "parquet")
    out_reader = _find(out, "reader")
    result = {
        "seconds": seconds, "total_seconds": round(sum(seconds.values()), 3),
        "documents": int(_value(reader.get("documents", 0))), "read_chars": int(_value(reader.get("doc_len", 0))),
        "after_filters": int(_value(out_reader.get("documents", 0))),
        "dedup_dropped": int(_value(dedup.get("dropped", 0))),
        "written": int(_value(writer.get("total", 0))),
        "written_chars": int(_value(writer.get("doc_len", 0))) if "doc_len" in writer else None,
        "tokens": int(_value(counter.get("tokens", 0))),
        "workers": args.workers, "tasks": tasks, "files": [f.name for f in files],
        "c4_terminal_punctuation": args.c4_terminal_punct, "minhash_config": str(config),
        "filters": filters, "step_cpu_seconds": step_cpu,
        "output_bytes": sum(f.stat().st_size for f in (work / "output").rglob("*") if f.is_file()),
    }
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":  # the local executor spawns workers that re-import this file
    main()
