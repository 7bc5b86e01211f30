"""DataTrove's Trafilatura extractor over a WARC: the peer baseline for web main-text extraction.

Runs in its own venv (DataTrove pins its own dependencies), never imported by the project:

    python3.11 -m venv bench/.venv-datatrove
    bench/.venv-datatrove/bin/pip install 'datatrove[processing]==0.10.1' trafilatura lxml_html_clean \
        warcio orjson faust-cchardet python-magic
    bench/.venv-datatrove/bin/python bench/peers/datatrove_extract.py --input bench/data/web.warc.gz \
        --output DIR [--workers 1] [--limit N]

(datatrove[processing] pins trafilatura<1.12, so Trafilatura is 1.11.0 here; lxml 6 needs
lxml_html_clean; WarcReader imports warcio, cchardet and magic, which are DataTrove's [io] extra.)

Pipeline: WarcReader(input) -> Trafilatura(timeout=1.0) -> JsonlWriter(DIR), DataTrove's defaults
everywhere (Trafilatura: favour_precision=True, deduplicate=True, include_comments=False; the
per-document timeout is DataTrove's default, 1 s, given explicitly). WarcReader keeps ``response``
(and WET ``conversion``) records whose WARC-Identified-Payload-Type (or, without one, libmagic's
guess) is text/html or application/xhtml+xml; it does not look at the HTTP status, and it decodes
as UTF-8, else as cchardet guesses, ignoring the HTTP charset. One task per input file (one WARC:
one task, whatever --workers is), DataTrove's LocalPipelineExecutor; --limit caps the documents
each task reads. DIR is emptied first; logs go to DIR/logs, documents to DIR/00000.jsonl.gz as
{"text", "id" (the WARC-Record-ID, "<urn:uuid:...>"), "media", "metadata": {"url", "date",
"file_path"}}.

Prints one JSON object: wall seconds (executor.run() only, which includes its process start-up and
the extractor's sandbox process), docs_in (documents WarcReader produced), docs_out (documents
written), the extractor's counters (extracted, timeout, dropped, errors), and the versions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from importlib.metadata import version
from pathlib import Path

TIMEOUT_S = 1.0  # DataTrove's own default for Trafilatura(timeout=...), given explicitly


def _value(stat) -> int:
    """DataTrove writes a counter either as a number or as {"total": n, ...}."""
    return int(stat["total"] if isinstance(stat, dict) else stat)


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="a .warc.gz file, or a folder of them")
    parser.add_argument("--output", type=Path, required=True, help="output folder (emptied first)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=-1, help="at most N documents per task (DataTrove's limit)")
    args = parser.parse_args()

    if args.input.is_dir():
        folder, pattern = args.input, "*.warc*"
    elif args.input.is_file():
        folder, pattern = args.input.parent, args.input.name
    else:
        raise SystemExit(f"no such input: {args.input}")
    files = sorted(folder.glob(pattern))
    if not files:
        raise SystemExit(f"no WARC files in {args.input}")
    if args.output.exists() and any(args.output.iterdir()) and not (args.output / "logs").is_dir():
        raise SystemExit(f"{args.output} is not empty and holds no logs/ of an earlier run: not emptying it")
    shutil.rmtree(args.output, ignore_errors=True)
    logs = args.output / "logs"
    tasks = len(files)  # DataTrove does not split one WARC between tasks
    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(str(folder), glob_pattern=pattern, recursive=False, limit=args.limit),
            Trafilatura(timeout=TIMEOUT_S),
            JsonlWriter(str(args.output)),
        ],
        tasks=tasks, workers=min(args.workers, tasks), logging_dir=str(logs),
    )
    t0 = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - t0

    steps = json.loads((logs / "stats.json").read_text())
    by_kind = {}
    for step in steps:
        name = step.get("name", "?").upper()
        kind = next((k for k, word in (("reader", "WARC"), ("extractor", "TRAFILATURA"), ("writer", "JSONL"))
                     if word in name), name)
        by_kind[kind] = {k: _value(v) for k, v in step.get("stats", {}).items() if isinstance(v, (int, float, dict))
                         and (not isinstance(v, dict) or "total" in v)}
    reader, extractor, writer = by_kind.get("reader", {}), by_kind.get("extractor", {}), by_kind.get("writer", {})
    print(json.dumps({
        "seconds": round(seconds, 3),
        "docs_in": reader.get("documents"),
        "docs_out": writer.get("total", extractor.get("forwarded", 0)),
        "tool": f"datatrove {version('datatrove')}",
        "trafilatura": version("trafilatura"),
        "timeout_s": TIMEOUT_S,
        "workers": min(args.workers, tasks), "tasks": tasks, "limit": args.limit,
        "files": [f.name for f in files],
        "extractor": {k: extractor.get(k, 0) for k in ("total", "extracted", "forwarded", "dropped", "timeout",
                                                       "clean_error", "broken_process")},
        "html_chars_in": reader.get("doc_len"), "text_chars_out": writer.get("doc_len", extractor.get("doc_len")),
        "raw_stats": steps,
    }))


if __name__ == "__main__":  # the local executor spawns workers that re-import this file
    main()
