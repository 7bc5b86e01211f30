"""The ``curate`` command line. Parses arguments and files at the edge; the library does the work."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.plan import add_plan_parser, one_line_errors, run_plan

EXAMPLES = """\
examples:
  curate run --input sample_data/ --output out/
  curate run --input 'data/*.jsonl.zst' --output out/ --config curate.yaml
  curate run --input docs.parquet --output out/ --text-field content --id-field doc_id

Outputs in DIR: shards/*.parquet (id, text, source, token_count, ...), manifest.json,
budget.json and budget.md (what model the tokens can train, at what cost),
tokenizer/tokenizer.json, removed/*.parquet (dropped documents and why), quarantine/*.parquet
(bad input records and why), summary.json, config.json.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curate",
        description="Curate a pre-training corpus: filter, tokenize, and shard it with exact token counts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run", help="run the curation pipeline on a corpus",
        description="Read JSONL (.gz/.zst), Parquet or folders of .txt/.md files, run the configured stages, "
                    "train a BPE tokenizer (or reuse one) and write Parquet shards with token counts.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH",
                     help="input files, folders or glob patterns (quote globs)")
    run.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder (created; rewritten)")
    run.add_argument("--config", "-c", metavar="FILE", help="YAML or TOML file overriding the defaults")
    run.add_argument("--text-field", metavar="NAME", help="record field holding the text (default: text)")
    run.add_argument("--id-field", metavar="NAME", help="record field holding the id (default: id)")
    run.add_argument("--tokenizer", metavar="FILE", help="reuse this tokenizer.json instead of training one")
    run.add_argument("--no-progress", action="store_true", help="no progress bars even on a terminal")
    run.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    one_line_errors(run)
    add_plan_parser(sub)
    return one_line_errors(parser)


def _run(args: argparse.Namespace) -> int:
    from curation.config import load_config
    from curation.pipeline import run

    overrides: dict[str, Any] = {}
    input_overrides = {k: v for k, v in (("text_field", args.text_field), ("id_field", args.id_field)) if v}
    if input_overrides:
        overrides["input"] = input_overrides
    if args.tokenizer:
        if not Path(args.tokenizer).is_file():
            raise CurationError(f"tokenizer not found: {args.tokenizer}")
        overrides["tokenizer"] = {"path": args.tokenizer}
    config = load_config(args.config, overrides)
    progress = False if (args.no_progress or args.quiet) else None
    result = run(args.input, args.output, config, progress=progress)
    if not args.quiet:
        print(result.report())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"run": _run, "plan": run_plan}[args.command](args)
    except CurationError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("curate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
