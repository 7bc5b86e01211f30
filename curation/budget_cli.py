"""``curate plan``: the token budget planner's command line.

Parses arguments and reads the manifest at the edge; the arithmetic lives in ``curation.budget``.
Bad input is one line and exit code 2: argparse type errors through the parser's ``error`` (made
one line here), everything else as ``CurationError`` for ``curate``'s ``main()``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

from curation import budget
from curation.errors import CurationError

PLAN_EXAMPLES = """\
examples:
  curate plan --tokens 2T --params 70B                      # Llama-2-70B: 8.4e23 FLOPs, ~1.5M A100 GPU-hours
  curate plan --manifest out/ --gpu h100-sxm --gpus 64      # what model does our curated corpus support?
  curate plan --tokens 300B --layers 96 --d-model 12288     # GPT-3 175B: under-trained
  curate plan --flops 5.76e23 --json                        # the best model for Gopher's compute budget
  curate plan --tokens 1.4T --params 70B --gpu h200 --gpus 512 --price 3.5

Give one or two of tokens (--tokens or --manifest), model (--params or --layers/--d-model) and
compute (--flops); the rest follows from C = 6 N D. Tokens alone: the compute-optimal model for
them (tokens / 20). Compute alone: the best model and token count for it (N = sqrt(C / 120)).

Numbers: 70e9, 70000000000, 70B, 1.4T, 125M, 32K (K, M, B, T = 10^3, 10^6, 10^9, 10^12).
Token and parameter counts must come out whole: 1.5B, not 1.5.

Output: tokens per parameter and a verdict (under-trained / compute-optimal / over-trained
against the 20 tokens/param of Hoffmann et al. 2022), training FLOPs (6 N D), GPU-hours
(FLOPs / (peak * MFU) / 3600), wall-clock days, cost, and model-state memory per GPU for DDP and
ZeRO stages 1-3 (mixed-precision Adam, 16 bytes/param; Rajbhandari et al. 2019) with whether it
fits. Activations are not included. --json gives the same as one JSON object.

GPUs (dense BF16 peak, memory; vendor datasheets):
""" + "\n".join(f"  {key:<10} {gpu.peak_bf16_flops / 1e12:g} TFLOP/s, {gpu.memory_gb:g} GB"
                for key, gpu in budget.GPUS.items()) + "\n"


def _quantity(text: str) -> float:
    try:
        return budget.parse_quantity(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    value = _quantity(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _positive(text)
    if value != math.floor(value):
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}")
    return int(value)


def _positive_count(text: str) -> int:
    # Tokens and parameters: whole, parsed exactly (1.2345T is 1,234,500,000,000, not a float near it).
    _positive(text)
    try:
        return budget.parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _mfu(text: str) -> float:
    # "0.45" or "45%".
    stripped = text.strip()
    value = _positive(stripped[:-1]) / 100 if stripped.endswith("%") else _positive(stripped)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1] such as 0.5 or 50%, got {text!r}")
    return value


def _gpu(text: str) -> str:
    key = text.strip().lower()
    if key not in budget.GPUS:
        raise argparse.ArgumentTypeError(f"unknown GPU {text!r}; known: {', '.join(budget.GPUS)} "
                                         "(or keep one and give --peak-flops)")
    return key


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser``'s usage errors one line (still exit code 2). argparse prints the whole usage
    block first; issue 6 asks for one line. ``curate``'s top-level parser can take it too, for
    errors such as unrecognized arguments that argparse reports there."""
    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message} (see {parser.prog} --help)\n")
    parser.error = error  # type: ignore[method-assign]
    return parser


def add_plan_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``plan`` on an ``add_subparsers()`` object; dispatch to ``run_plan``."""
    plan = subparsers.add_parser(
        "plan", help="plan a training run: model size, compute, GPU-hours, cost and memory for a token count",
        description="Turn a token count into a training plan: tokens per parameter against Chinchilla's 20,\n"
                    "training FLOPs, GPU-hours, wall-clock days, cost, and per-GPU memory under DDP and ZeRO.",
        epilog=PLAN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    one_line_errors(plan)
    data = plan.add_argument_group("training data (one of)").add_mutually_exclusive_group()
    data.add_argument("--tokens", type=_positive_count, metavar="N", help="training tokens, e.g. 2T or 2e12")
    data.add_argument("--manifest", metavar="PATH",
                      help="a curate run's manifest.json (or its output folder): uses total_tokens")
    model = plan.add_argument_group("model (--params, or --layers with --d-model)")
    model.add_argument("--params", type=_positive_count, metavar="N", help="parameters, e.g. 70B or 7e9")
    model.add_argument("--layers", type=_positive_int, metavar="L", help="transformer layers (12 L d^2 parameters)")
    model.add_argument("--d-model", type=_positive_int, metavar="D", help="model width")
    model.add_argument("--vocab", type=_positive_int, metavar="V",
                       help="vocabulary size: adds V * d embedding parameters (tied)")
    plan.add_argument("--flops", type=_positive, metavar="C",
                      help="a compute budget in FLOPs instead of a model (or of tokens), e.g. 5.76e23")
    hw = plan.add_argument_group("hardware and price")
    hw.add_argument("--gpu", type=_gpu, default=budget.DEFAULT_GPU, metavar="NAME",
                    help=f"{', '.join(budget.GPUS)} (default {budget.DEFAULT_GPU})")
    hw.add_argument("--peak-flops", type=_positive, metavar="F",
                    help="custom dense peak FLOP/s per GPU instead of the datasheet's, e.g. 400e12 or 400T")
    hw.add_argument("--gpu-memory", type=_positive, metavar="GB", help="custom memory per GPU in GB")
    hw.add_argument("--gpus", type=_positive_int, default=1, metavar="N",
                    help="GPUs in the job: wall clock and ZeRO sharding (default 1)")
    hw.add_argument("--mfu", type=_mfu, default=budget.DEFAULT_MFU, metavar="F",
                    help=f"model FLOPs utilisation, 0.5 or 50%% (default {budget.DEFAULT_MFU:g})")
    hw.add_argument("--price", type=_positive, default=budget.DEFAULT_PRICE_PER_GPU_HOUR, metavar="USD",
                    help=f"USD per GPU-hour (default {budget.DEFAULT_PRICE_PER_GPU_HOUR:g})")
    plan.add_argument("--band", type=_positive, nargs=2, default=list(budget.COMPUTE_OPTIMAL_BAND),
                      metavar=("LOW", "HIGH"),
                      help="tokens per parameter counted as compute-optimal (default "
                           f"{budget.COMPUTE_OPTIMAL_BAND[0]:g} {budget.COMPUTE_OPTIMAL_BAND[1]:g})")
    plan.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return plan


def manifest_tokens(path: str | Path) -> int | float:
    """``total_tokens`` of a manifest file, or of ``PATH/manifest.json`` for a run's output folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise CurationError(f"manifest not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CurationError(f"cannot read manifest {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict) or "total_tokens" not in data:
        raise CurationError(f"manifest {path} has no total_tokens")
    tokens = data["total_tokens"]
    if (isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not math.isfinite(tokens)
            or tokens <= 0):
        raise CurationError(f"manifest {path}: total_tokens must be a positive number, got {tokens!r}")
    return tokens


def _model_params(args: argparse.Namespace) -> int | float | None:
    shape = (args.layers, args.d_model, args.vocab)
    if args.params is not None:
        if any(v is not None for v in shape):
            raise CurationError("give --params or --layers/--d-model, not both")
        return args.params
    if args.layers is None and args.d_model is None:
        if args.vocab is not None:
            raise CurationError("--vocab needs --layers and --d-model")
        return None
    if args.layers is None or args.d_model is None:
        raise CurationError("--layers and --d-model go together")
    return budget.params_from_shape(args.layers, args.d_model, args.vocab)


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan for parsed ``curate plan`` arguments; ``CurationError`` on bad input."""
    tokens = manifest_tokens(args.manifest) if args.manifest is not None else args.tokens
    params = _model_params(args)
    given = [tokens is not None, params is not None, args.flops is not None]
    if not any(given):
        raise CurationError("nothing to plan: give --tokens or --manifest, --params or --layers/--d-model, "
                            "or --flops")
    if all(given):
        raise CurationError("give at most two of tokens (--tokens/--manifest), model (--params/--layers) "
                            "and --flops: the third follows from C = 6 N D")
    try:
        gpu = budget.resolve_gpu(args.gpu, peak_flops=args.peak_flops, memory_gb=args.gpu_memory)
        result = budget.plan(tokens, params, args.flops, gpu=gpu, n_gpus=args.gpus, mfu=args.mfu,
                             price_per_gpu_hour=args.price, band=tuple(args.band))
    except ValueError as exc:
        raise CurationError(str(exc)) from None
    result["gpu"]["key"] = args.gpu
    print(json.dumps(result, indent=2) if args.json else budget.format_plan_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m curation.budget_cli ARGS``: the same command without the rest of ``curate``."""
    parser = one_line_errors(argparse.ArgumentParser(prog="curate"))
    add_plan_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plan", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_plan(args)
    except CurationError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
