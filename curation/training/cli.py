"""``curate train`` and ``python -m curation.training``: the same arguments, parsed at the edge.

Importing this module does not import PyTorch, so ``curate`` starts as fast as before.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from curation.errors import CurationError
from curation.budget_cli import one_line_errors

EXAMPLES = """\
examples:
  curate train out/ --output runs/tiny --layers 2 --d-model 128 --heads 2 --seq-len 256 --max-steps 200
  curate train out/ --output runs/budget --from-budget --max-steps 2000
  torchrun --nproc_per_node 8 -m curation.training out/ --output runs/gpt125m --max-steps 20000 --compile

The output folder gets checkpoint.pt (resumed when present), metrics.jsonl and train_summary.json
(tokens/s, MFU against the GPU's peak from curation/budget.py and the planner's assumed MFU).
"""

# Flag -> TrainConfig field, for the flags given on the command line.
_FIELDS = ("layers", "d_model", "heads", "seq_len", "dropout", "batch_size", "grad_accum", "lr", "min_lr_ratio",
           "warmup_steps", "max_steps", "weight_decay", "grad_clip", "seed", "num_workers", "device", "precision",
           "log_every", "checkpoint_every", "max_seconds", "gpu", "peak_flops")


def add_training_arguments(parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None
                           ) -> argparse.ArgumentParser:
    """``--config`` and the model, optimization and run flags, shared by ``curate train`` and the
    Prefect flow's command (``flows.train``). ``defaults``: settings that command uses instead of
    ``TrainConfig``'s, for the help text (``config_from_args`` applies them)."""
    from_config = {name: field.default for name, field in _train_config_fields().items()}
    from_config["warmup_steps"] = "a tenth of max-steps, at most 100"
    shown = {**from_config, **(defaults or {})}
    parser.add_argument("--config", "-c", metavar="FILE", help="YAML or TOML file of TrainConfig fields")
    shape = (f"{shown['layers']} layers, d_model {shown['d_model']}, {shown['heads']} heads"
             + ("; GPT-3 Small" if (shown["layers"], shown["d_model"]) == (12, 768) else ""))
    model = parser.add_argument_group(f"model (default: {shape})")
    model.add_argument("--layers", type=int, metavar="L")
    model.add_argument("--d-model", type=int, metavar="D")
    model.add_argument("--heads", type=int, metavar="H")
    model.add_argument("--from-budget", action="store_true",
                       help="size the model from the run's budget.json compute-optimal parameter count")
    model.add_argument("--seq-len", type=int, metavar="T", help=f"context length (default {shown['seq_len']})")
    model.add_argument("--dropout", type=float, metavar="P")
    opt = parser.add_argument_group("optimization")
    opt.add_argument("--batch-size", type=int, metavar="B",
                     help=f"sequences per device and micro-step (default {shown['batch_size']})")
    opt.add_argument("--grad-accum", type=int, metavar="K", help="micro-steps per optimizer step (default 1)")
    opt.add_argument("--lr", type=float, help=f"peak learning rate (default {shown['lr']:g})")
    opt.add_argument("--min-lr-ratio", type=float, metavar="R", help="cosine floor / peak (default 0.1)")
    opt.add_argument("--warmup-steps", type=int, metavar="N",
                     help=f"linear warmup steps (default {shown['warmup_steps']})")
    opt.add_argument("--max-steps", type=int, metavar="N",
                     help=f"optimizer steps; resuming with more extends the cosine (default {shown['max_steps']})")
    opt.add_argument("--weight-decay", type=float, metavar="W", help="AdamW decay on matmul weights (default 0.1)")
    opt.add_argument("--grad-clip", type=float, metavar="C", help="global gradient norm limit (default 1.0)")
    runtime = parser.add_argument_group("run")
    runtime.add_argument("--seed", type=int)
    runtime.add_argument("--workers", dest="num_workers", type=int, metavar="N",
                         help="DataLoader workers per process (default 2)")
    runtime.add_argument("--device", choices=["auto", "cpu", "cuda"])
    runtime.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="auto: bf16 autocast on CUDA")
    runtime.add_argument("--compile", action="store_true", help="torch.compile the model")
    runtime.add_argument("--log-every", type=int, metavar="N")
    runtime.add_argument("--checkpoint-every", type=int, metavar="N", help="steps between checkpoints (0: at the end)")
    runtime.add_argument("--max-seconds", type=float, metavar="S",
                         help="stop with a checkpoint after S seconds (SIGTERM does too)")
    runtime.add_argument("--no-resume", action="store_true",
                         help="start afresh even if the output folder has a checkpoint")
    runtime.add_argument("--gpu", metavar="KEY", help="GPU of curation/budget.py's table for MFU (default: detected)")
    runtime.add_argument("--peak-flops", type=float, metavar="F", help="peak FLOP/s per device for MFU")
    return parser


def _train_config_fields() -> dict[str, Any]:
    # TrainConfig lives with PyTorch's code but imports no PyTorch itself.
    from curation.training.train import TrainConfig

    return TrainConfig.model_fields


def _add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("run", metavar="RUN_DIR", help="a curate run's output folder (manifest.json, shards/)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="checkpoints, metrics and summary")
    return add_training_arguments(parser)


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on ``curate``'s subparsers; dispatch to ``run_train``."""
    parser = subparsers.add_parser(
        "train", help="train a small GPT on a run's shards (needs the [train] extra)",
        description="Train a decoder-only GPT on a curate run's shards: packed sequences, AdamW, warmup + cosine, "
                    "bf16 on CUDA, DDP under torchrun, resumable checkpoints; logs loss, tokens/s and MFU.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return one_line_errors(_add_arguments(parser))


def config_from_args(args: argparse.Namespace, defaults: dict[str, Any] | None = None):
    """A ``TrainConfig``: its defaults, then ``defaults``, then ``--config``'s file, then the flags given."""
    from curation.training.train import TrainConfig

    data: dict[str, Any] = dict(defaults or {})
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise CurationError(f"config file not found: {path}")
        try:
            data.update((tomllib.loads(path.read_text()) if path.suffix == ".toml"
                         else yaml.safe_load(path.read_text())) or {})
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise CurationError(f"cannot parse config {path}: {exc}".splitlines()[0]) from None
    data.update({field: getattr(args, field) for field in _FIELDS if getattr(args, field) is not None})
    for flag, field, value in (("from_budget", "from_budget", True), ("compile", "compile", True),
                               ("no_resume", "resume", False)):
        if getattr(args, flag):
            data[field] = value
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise CurationError(f"bad training setting {where}: {first['msg']}") from None


def run_train(args: argparse.Namespace) -> int:
    from curation.training import require_torch

    require_torch()
    from curation.training.train import CheckpointMismatch, stop_on_signals, train

    logging.getLogger("curation.training").setLevel(logging.INFO)
    config = config_from_args(args)
    # SIGTERM (a scheduler's or torchrun's stop) ends the run after a checkpoint, then the process.
    with stop_on_signals(signal.SIGTERM):
        try:
            summary = train(args.run, args.output, config)
        except CheckpointMismatch as exc:
            raise exc.for_flag("--no-resume") from None
    if os.environ.get("RANK", "0") != "0":  # under torchrun, one report is enough
        return 0
    if summary["mfu"] is not None:
        print(f"MFU {summary['mfu']:.1%} (planner assumes {summary['planner_mfu']:.0%})")
    loss = "n/a" if summary["final_loss"] is None else f"{summary['final_loss']:.4f}"
    print(f"steps {summary['steps']}  loss {loss}  "
          f"{summary['tokens_per_s'] or 0:,.0f} tokens/s  output: {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m curation.training RUN_DIR --output DIR ...``, e.g. under ``torchrun``."""
    parser = _add_arguments(argparse.ArgumentParser(
        prog="python -m curation.training", description="Train a small GPT on a curate run's shards.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_train(args)
    except CurationError as exc:
        print(f"curate train: error: {exc}", file=sys.stderr)
        return 2
