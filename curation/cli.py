"""The ``curate`` command line. Parses arguments and files at the edge; the library does the work."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.budget_cli import add_plan_parser, one_line_errors, run_plan
from curation.training.cli import (add_model_parsers, add_train_parser, run_evaluate, run_export_model, run_sample,
                                   run_train)

EXAMPLES = """\
examples:
  curate run --input sample_data/corpus.jsonl.gz --output out/
  curate run --input 'data/*.jsonl.zst' --output out/ --config curate.yaml
  curate run --input 'crawl/*.warc.gz' --output out/ --config web.yaml   (web.yaml: preset: web)
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
                     help="input files, folders or glob patterns (quote globs); local or fsspec URLs (s3://...)")
    run.add_argument("--output", "-o", required=True, metavar="DIR",
                     help="output folder (created; rewritten) or fsspec URL (s3://bucket/out)")
    run.add_argument("--config", "-c", metavar="FILE", help="YAML or TOML file overriding the defaults")
    run.add_argument("--text-field", metavar="NAME", help="record field holding the text (default: text)")
    run.add_argument("--id-field", metavar="NAME", help="record field holding the id (default: id)")
    run.add_argument("--preset", metavar="NAME",
                     help="stage chain: default (calibrated heuristics, language ID, quality classifier), "
                          "gopher, c4, fineweb (the papers' thresholds) or minimal (length only)")
    run.add_argument("--tokenizer", metavar="FILE", help="reuse this tokenizer.json instead of training one")
    run.add_argument("--workers", "-w", type=int, default=os.cpu_count() or 1, metavar="N",
                     help="processes for the per-partition steps (default: all cores; the output does not "
                          "depend on it)")
    run.add_argument("--runner", choices=("process", "ray", "library"), default="process",
                     help="process: the Prefect flow 'curate' on a local process pool (default; uses "
                          "PREFECT_API_URL if set, else a temporary server); ray: the same flow on Ray "
                          "(prefect-ray); library: no Prefect, the library's own process pool")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="an existing Ray cluster (e.g. ray://head:10001 or auto); default: start a local Ray")
    run.add_argument("--fresh", action="store_true",
                     help="recompute everything (default: resume an interrupted run into the same DIR)")
    run.add_argument("--work-dir", metavar="DIR",
                     help="when --output is a URL (s3://..., any fsspec protocol): where the steps write before "
                          "the outputs are published (shared by every worker; default: a folder in ~/.cache)")
    run.add_argument("--keep-intermediate", action="store_true",
                     help="keep staging/, curated/, work/ and markers/ after the run")
    run.add_argument("--no-progress", action="store_true", help="no progress bars even on a terminal")
    run.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    one_line_errors(run)
    stages = sub.add_parser("stages", help="list every stage with its parameters, defaults and their sources",
                            description="Every built-in stage: what it does, its parameters, their defaults and "
                                        "where those come from; name stages to see only those.")
    stages.add_argument("name", nargs="*", help="stage names (default: all)")
    one_line_errors(stages)
    mix = sub.add_parser(
        "mix", help="a domain mixture of curated runs, sized to a token budget",
        description="Mix curated runs by share (e.g. BloombergGPT's 51% financial / 49% public) into a run-like "
                    "folder that curate train and the exports read: whole epochs repeat a source, the fraction is a "
                    "deterministic subsample; a source that cannot fill its share is an error. Recipe (YAML/TOML): "
                    "sources: {NAME: {path: RUN_DIR or SHARD_GLOB, share: 0.51, max_epochs: 4}, ...}, total_tokens "
                    "or params, seed; paths relative to the working directory.")
    mix.add_argument("recipe", metavar="RECIPE", help="the recipe file")
    mix.add_argument("--output", "-o", required=True, metavar="DIR", help="the mixture's folder")
    mix.add_argument("--params", metavar="N", help="total = Chinchilla's 20 tokens per parameter of this model (1.3B)")
    mix.add_argument("--tokens", metavar="N", help="the mixture's total tokens (2B), instead")
    mix.add_argument("--seed", type=int, help="the subsample's seed (default: the recipe's, else 0)")
    one_line_errors(mix)
    add_plan_parser(sub)
    add_train_parser(sub)
    add_model_parsers(sub)
    return one_line_errors(parser)


FlowRunner = Callable[[argparse.Namespace, Any, bool, list[str]], str]
DefaultModel = Callable[[Any], list[str]]
# (args, config) of a run whose checks passed, before it starts: the command's own process only.
Ready = Callable[[argparse.Namespace, Any], None]


@dataclass(frozen=True)
class Command:
    """A subcommand added by a package above this library (``classifiers/``, ``flows/``)."""

    name: str
    add_parser: Callable[[Any], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]


def _run(args: argparse.Namespace, flow_runner: FlowRunner | None = None,
         default_model: DefaultModel | None = None, ready: Ready | None = None) -> int:
    from curation.config import load_config, run_overrides
    from curation.io.readers import folder_notes, resolve_inputs
    from curation.pipeline import check_config, claim_output, run

    if args.tokenizer and not Path(args.tokenizer).is_file():
        raise CurationError(f"tokenizer not found: {args.tokenizer}")
    overrides = run_overrides(args.text_field, args.id_field, args.tokenizer, args.preset)
    if str(args.output).startswith("memory://"):
        raise CurationError(f"--output {args.output}: a memory:// folder lives only inside this process and would "
                            "vanish when curate exits; give a folder or a persistent URL")
    # Everything a user can get wrong is checked here, before any server, worker or file is started.
    config = load_config(args.config, overrides)
    check_config(config)
    resolve_inputs(args.input)
    claim_output(args.input, args.output, args.work_dir)
    # Shown with the run's report, and kept in summary.json and report.md.
    notes = (default_model(config) if default_model else []) + folder_notes(args.input)
    progress = False if (args.no_progress or args.quiet) else sys.stderr.isatty()
    if ready is not None:
        ready(args, config)
    if args.runner == "library":
        report = run(args.input, args.output, config, progress=progress, workers=args.workers, fresh=args.fresh,
                     keep_intermediate=args.keep_intermediate, work_dir=args.work_dir, notes=notes).report()
    elif flow_runner is None:
        raise CurationError(f"--runner {args.runner} runs the Prefect flow: start curate from the installed "
                            "`curate` command (flows.cli), or use --runner library")
    else:
        report = flow_runner(args, config, progress, notes)
    if not args.quiet:
        print(report)
    return 0


def _mix(args: argparse.Namespace) -> int:
    from curation.budget import parse_count
    from curation.mixture import load_recipe, render_markdown, write_mixture
    from curation.pipeline import locked

    overrides: dict[str, Any] = {} if args.seed is None else {"seed": args.seed}
    if args.tokens:  # a size on the command line replaces the recipe's, whichever kind it is
        try:
            overrides |= {"total_tokens": parse_count(args.tokens), "params": None}
        except ValueError as exc:
            raise CurationError(f"--tokens: {exc}") from None
    if args.params:
        overrides |= {"params": args.params, "total_tokens": None}
    recipe = load_recipe(args.recipe, overrides)
    with locked([s.path for s in recipe.sources.values()], args.output):
        mixture = write_mixture(recipe, Path(args.output))
    print(render_markdown(mixture, None))
    return 0


def _stages(args: argparse.Namespace) -> int:
    from curation.registry import describe_stages

    print(describe_stages(args.name))
    return 0


def main(argv: list[str] | None = None, flow_runner: FlowRunner | None = None,
         default_model: DefaultModel | None = None, commands: tuple[Command, ...] = (),
         ready: Ready | None = None) -> int:
    """The ``curate`` command. The installed command (``flows.cli:main``) passes what this library
    does not import: ``flow_runner`` runs ``curate run`` as a Prefect flow, ``default_model`` fills
    in the demo quality model, ``commands`` adds ``train-classifier``, ``ready`` prepares the
    command's own process for a run whose checks passed."""
    # Presidio imports transformers when it is installed, which then warns that PyTorch is missing.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in commands:
        one_line_errors(command.add_parser(sub))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        handlers = {"run": functools.partial(_run, flow_runner=flow_runner, default_model=default_model, ready=ready),
                    "plan": run_plan, "train": run_train, "stages": _stages, "mix": _mix, "evaluate": run_evaluate,
                    "sample": run_sample, "export-model": run_export_model}
        handlers |= {c.name: c.run for c in commands}
        return handlers[args.command](args)
    except CurationError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("curate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
