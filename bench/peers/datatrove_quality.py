"""DataTrove's heuristic quality filters over a folder of JSONL files: the peer baseline for
bench/quality_speed.py.

Runs in its own venv (DataTrove pins its own dependencies), never imported by the project:

    python3.11 -m venv bench/.venv-datatrove
    bench/.venv-datatrove/bin/pip install 'datatrove[processing]'     # 0.10.1 here
    bench/.venv-datatrove/bin/python bench/peers/datatrove_quality.py --input DIR --glob 'corpus-*.jsonl' \
        --work DIR [--workers 2] [--c4-terminal-punct]

Pipeline: JsonlReader -> GopherRepetitionFilter() -> GopherQualityFilter() -> C4QualityFilter(...),
DataTrove's defaults everywhere except C4's terminal-punctuation line rule, which is off unless
--c4-terminal-punct is given (FineWeb ran C4 that way, and so did the ANCHORS.md chain). No writer:
the filters alone. One task per input file, --workers processes, DataTrove's LocalPipelineExecutor.
Prints one JSON object: wall seconds (executor.run() only, which includes its process start-up),
documents read and kept, characters read and kept (kept text is measured after C4's line removal),
and each filter's drops by reason from the stats DataTrove writes to WORK/logs/stats.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def _value(stat) -> int:
    """DataTrove writes a counter either as a number or as {"total": n, ...}."""
    return int(stat["total"] if isinstance(stat, dict) else stat)


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="folder holding the JSONL files (id, text)")
    parser.add_argument("--glob", default="*.jsonl", help="which files of the folder to read")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (emptied first)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--c4-terminal-punct", action="store_true",
                        help="keep C4's rule removing lines without terminal punctuation (DataTrove's default)")
    args = parser.parse_args()
    files = sorted(args.input.glob(args.glob))
    if not files:
        raise SystemExit(f"no files match {args.glob} in {args.input}")
    shutil.rmtree(args.work, ignore_errors=True)
    logs = args.work / "logs"
    executor = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(args.input), glob_pattern=args.glob, text_key="text", id_key="id"),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=args.c4_terminal_punct),
        ],
        tasks=len(files), workers=args.workers, logging_dir=str(logs),
    )
    t0 = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - t0

    steps = json.loads((logs / "stats.json").read_text())
    read = kept = read_chars = kept_chars = None
    filters = []
    for step in steps:
        stats = step.get("stats", {})
        name = step.get("name", "?")
        if "READER" in name.upper():
            read = _value(stats["documents"])
            read_chars = _value(stats["doc_len"])
            continue
        if "dropped" not in stats and "forwarded" not in stats:
            continue
        row = {"name": name, "in": _value(stats.get("total", 0)), "forwarded": _value(stats.get("forwarded", 0)),
               "dropped": _value(stats.get("dropped", 0)),
               "reasons": {k.removeprefix("dropped_"): _value(v) for k, v in sorted(stats.items())
                           if k.startswith("dropped_")},
               "seconds_cpu": round(step.get("time_stats", {}).get("total", 0.0), 2)
               if isinstance(step.get("time_stats"), dict) else None}
        filters.append(row)
        kept = row["forwarded"]
        kept_chars = _value(stats["doc_len"]) if "doc_len" in stats else 0  # after C4's line removal
    print(json.dumps({
        "seconds": round(seconds, 3), "documents": read, "kept": kept, "read_chars": read_chars,
        "kept_chars": kept_chars, "workers": args.workers,
        "tasks": len(files), "files": [f.name for f in files],
        "c4_terminal_punctuation": args.c4_terminal_punct, "filters": filters, "raw_stats": steps,
    }))


if __name__ == "__main__":  # the local executor spawns workers that re-import this file
    main()
