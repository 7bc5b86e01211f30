"""``curate train`` and ``python -m curation.training``: the same arguments, parsed at the edge.

Importing this module does not import PyTorch, so ``curate`` starts as fast as before.
"""

from __future__ import annotations

import argparse
import json
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

The output folder gets checkpoint.pt (resumed when present), metrics.jsonl (training and validation
loss), loss.png, train_summary.json (tokens/s, MFU against the GPU's peak from curation/budget.py and
the planner's assumed MFU, validation loss, perplexity and bits per byte on the run's heldout/,
samples) and tokenizer/; then: curate evaluate DIR, curate sample DIR, curate export-model DIR -o hf/.
"""

# Flag -> TrainConfig field, for the flags given on the command line.
_FIELDS = ("layers", "d_model", "heads", "seq_len", "dropout", "batch_size", "grad_accum", "lr", "min_lr_ratio",
           "warmup_steps", "max_steps", "weight_decay", "grad_clip", "seed", "num_workers", "device", "precision",
           "log_every", "checkpoint_every", "max_seconds", "gpu", "peak_flops", "eval_every", "eval_tokens", "samples",
           "sample_prompts", "sample_max_new_tokens")


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
    evaluation = parser.add_argument_group("validation (on the run's heldout/) and samples")
    evaluation.add_argument("--eval-every", type=int, metavar="N",
                            help=f"steps between validations; 0: at the end only (default {shown['eval_every']})")
    evaluation.add_argument("--eval-tokens", type=int, metavar="N",
                            help=f"held-out tokens per validation; 0: none (default {shown['eval_tokens']:,})")
    evaluation.add_argument("--samples", type=int, metavar="N",
                            help=f"texts sampled at the end from a document start (default {shown['samples']})")
    evaluation.add_argument("--sample-prompt", dest="sample_prompts", action="append", metavar="TEXT",
                            help="a prompt continued at the end (repeatable)")
    evaluation.add_argument("--sample-max-new-tokens", type=int, metavar="N",
                            help=f"tokens per sample (default {shown['sample_max_new_tokens']}; 0: no samples)")
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


def add_model_parsers(subparsers: Any) -> None:
    """``curate evaluate``, ``curate sample`` and ``curate export-model`` on a trained model's folder."""
    evaluate = subparsers.add_parser(
        "evaluate", help="validation loss, perplexity and bits per byte of a trained model on a run's held-out split",
        description="Evaluate a curate train output folder on the held-out split (heldout/) of a curate run: the "
                    "one it trained on by default, or another (bits per byte compare across tokenizers).")
    evaluate.add_argument("model", metavar="MODEL_DIR", help="curate train's --output folder")
    evaluate.add_argument("--run", metavar="RUN_DIR", help="whose held-out split (default: the one trained on)")
    evaluate.add_argument("--max-tokens", type=int, default=1 << 20, metavar="N",
                          help="held-out tokens to read, whole documents (default 1,048,576)")
    evaluate.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    one_line_errors(evaluate)
    sample = subparsers.add_parser(
        "sample", help="continue prompts with a trained model",
        description="Sample from a curate train output folder with Hugging Face generate's order of settings "
                    "(temperature, then top-k, then top-p); temperature 0 is greedy; the same seed gives the same "
                    "text. Without --prompt, samples start a document.")
    sample.add_argument("model", metavar="MODEL_DIR", help="curate train's --output folder")
    sample.add_argument("--prompt", "-p", action="append", default=[], metavar="TEXT", help="a prompt (repeatable)")
    sample.add_argument("--num-samples", "-n", type=int, default=1, metavar="N", help="samples per prompt (default 1)")
    from curation.training.sample import SamplingConfig  # no PyTorch import: the defaults only

    d = SamplingConfig()
    sample.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens, metavar="N",
                        help=f"default {d.max_new_tokens}")
    sample.add_argument("--temperature", type=float, default=d.temperature, metavar="T",
                        help=f"default {d.temperature:g}; 0: greedy")
    sample.add_argument("--top-k", type=int, default=d.top_k, metavar="K", help=f"default {d.top_k}; 0: off")
    sample.add_argument("--top-p", type=float, default=d.top_p, metavar="P", help=f"default {d.top_p:g} (off)")
    sample.add_argument("--seed", type=int, default=0, help="sample i uses seed + i (default 0)")
    sample.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    one_line_errors(sample)
    export = subparsers.add_parser(
        "export-model", help="a trained model as a transformers GPT-2 checkpoint",
        description="Write a curate train output folder as config.json + model.safetensors (GPT2LMHeadModel) with "
                    "the run's tokenizer: AutoModelForCausalLM.from_pretrained(DIR) and pipeline('text-generation', "
                    "model=DIR) load it.")
    export.add_argument("model", metavar="MODEL_DIR", help="curate train's --output folder")
    export.add_argument("--output", "-o", required=True, metavar="DIR", help="the checkpoint's folder")
    one_line_errors(export)


def run_evaluate(args: argparse.Namespace) -> int:
    from curation.training.data import RunData
    from curation.training.evaluate import HeldOut, evaluate, figures
    from curation.training.sample import Trained

    trained = Trained.load(args.model, args.device)
    run_dir = args.run
    if run_dir is None:
        summary = Path(args.model) / "train_summary.json"
        run_dir = json.loads(summary.read_text()).get("run") if summary.is_file() else None
        if run_dir is None:
            raise CurationError(f"{args.model} does not say which run it trained on: give --run RUN_DIR")
    held = RunData.open(run_dir, split="heldout")
    if not held.total_documents:
        raise CurationError(f"{run_dir} has no held-out documents (shards.heldout_fraction in its config)")
    if trained.eos_id is None:
        raise CurationError(f"{args.model}'s tokenizer has no end-of-text token to separate documents")
    # The text as the model reads it: its own tokenizer's ids, whichever run the text comes from.
    heldout = HeldOut.read(held, args.max_tokens, tokenizer=(trained.tokenizer_path, trained.eos_id))
    result = figures(*evaluate(trained.model, heldout, trained.vocab_size), heldout)
    result |= {"documents": heldout.documents, "text_bytes": heldout.text_bytes, "unigram_bpb": heldout.unigram_bpb()}
    print(json.dumps(result, indent=2))
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from curation.training.sample import SamplingConfig, Trained

    trained = Trained.load(args.model, args.device)
    try:
        settings = [SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                   top_k=args.top_k, top_p=args.top_p, seed=args.seed + i)
                    for i in range(args.num_samples)]
    except ValueError as exc:
        raise CurationError(str(exc)) from None
    for prompt in args.prompt or [""]:
        for config in settings:
            text, _ = trained.complete(prompt, config)
            print(f"--- seed {config.seed}" + (f", prompt {prompt!r}" if prompt else ""))
            print(prompt + text)
    return 0


def run_export_model(args: argparse.Namespace) -> int:
    from curation.training.hf import export_transformers

    print(f"wrote {export_transformers(args.model, args.output)}")
    return 0
