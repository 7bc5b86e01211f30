"""The ``curate`` command line. Parses arguments and files at the edge; the library does the work."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any

from curation.errors import CurationError
from curation.plan import add_plan_parser, one_line_errors, run_plan
from curation.training.cli import add_train_parser, run_train

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
    train = sub.add_parser(
        "train-classifier", help="train the quality classifiers (fastText and a linear baseline)",
        description="Train a fastText (word bigrams, DCLM-style) and a scikit-learn linear quality classifier on "
                    "high-quality positives vs raw/junk negatives, evaluate both on a held-out split, and write "
                    "the models with JSON cards and MODEL_CARD.md. Use the model in a run with "
                    "stages: [..., {quality_classifier: {model: DIR/fasttext.bin}}, quality_threshold].",
    )
    train.add_argument("--positives", nargs="*", default=[], metavar="PATH", help="high-quality text (any input format)")
    train.add_argument("--negatives", nargs="*", default=[], metavar="PATH", help="raw or junk text")
    train.add_argument("--labelled", nargs="*", default=[], metavar="PATH",
                       help="or files with a label field (e.g. sample_data/corpus.jsonl.gz)")
    train.add_argument("--label-field", default="label", help="label field of --labelled files (default: label)")
    train.add_argument("--positive-label", default="human", help="label value of positives (default: human)")
    train.add_argument("--holdout", type=float, default=0.2, help="held-out fraction (default: 0.2)")
    train.add_argument("--output", "-o", required=True, metavar="DIR", help="where models and cards are written")
    one_line_errors(train)
    add_plan_parser(sub)
    add_train_parser(sub)
    return one_line_errors(parser)


FlowRunner = Callable[[argparse.Namespace, Any, bool], str]


def _run(args: argparse.Namespace, flow_runner: FlowRunner | None = None) -> int:
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
    if args.preset:
        overrides["preset"] = args.preset
        overrides.setdefault("stages", None)  # the preset wins over a file's stage list
    config = load_config(args.config, overrides)
    _default_quality_model(config, Path(args.output))
    progress = False if (args.no_progress or args.quiet) else sys.stderr.isatty()
    if args.runner == "library":
        report = run(args.input, args.output, config, progress=progress, workers=args.workers, fresh=args.fresh,
                     keep_intermediate=args.keep_intermediate, work_dir=args.work_dir).report()
    elif flow_runner is None:
        raise CurationError(f"--runner {args.runner} runs the Prefect flow: start curate from the installed "
                            "`curate` command (flows.cli), or use --runner library")
    else:
        report = flow_runner(args, config, progress)
    if not args.quiet:
        print(report)
    return 0


def _default_quality_model(config, output: Path) -> None:
    from classifiers.default import fill_default_model

    fill_default_model(config)


def _train_classifier(args: argparse.Namespace) -> int:
    from classifiers.train import load_labelled, train_classifiers

    if not (args.positives or args.negatives or args.labelled):
        raise CurationError("give --positives and --negatives, or --labelled files")
    data = load_labelled(args.positives, args.negatives, labelled=args.labelled, label_field=args.label_field,
                         positive_label=args.positive_label)
    output = Path(args.output)
    described = ", ".join(args.labelled + args.positives + args.negatives)
    train_classifiers(data, output, holdout_fraction=args.holdout, data_description=described)
    print((output / "MODEL_CARD.md").read_text())
    return 0


def main(argv: list[str] | None = None, flow_runner: FlowRunner | None = None) -> int:
    """The ``curate`` command. ``flow_runner`` runs ``curate run`` as a Prefect flow; the installed
    command (``flows.cli:main``) passes it, since this library never imports Prefect."""
    # Presidio imports transformers when it is installed, which then warns that PyTorch is missing.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        commands = {"run": functools.partial(_run, flow_runner=flow_runner), "plan": run_plan, "train-classifier": _train_classifier, "train": run_train}
        return commands[args.command](args)
    except CurationError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("curate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
