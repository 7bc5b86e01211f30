"""Prefect flow ``train``: a curate run's output folder in, hand-off exports and a trained model out.

Thin by design (STYLE.md 9): each task calls one library function; the work and its defaults live
in ``curation.training``. Run it with ``python -m flows.train RUN_DIR OUT_DIR [options]`` (``--help``:
``curate train``'s model and training flags, plus the exports), or serve/deploy ``train_flow``.
Training runs in the task's process (one device); for several GPUs launch ``torchrun -m
curation.training`` instead.

The command's defaults are a small model (``SMALL``: 2 layers, d_model 128, 200 steps; a few minutes
on a laptop CPU), not ``curate train``'s GPT-3 Small, which needs a GPU: the flags, ``--config`` or
``--from-budget`` ask for more. It talks to ``PREFECT_API_URL`` when set, else to one temporary
server for the whole run (``flows.embedded``). SIGTERM stops training after a checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # before Prefect reads its settings
    # As `curate run`: the command prints its progress and one-line errors itself, which Prefect's
    # task-state lines and tracebacks of those errors would bury; PREFECT_LOGGING_LEVEL shows them.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")

from prefect import flow, task

from curation.errors import CurationError
from curation.training.cli import add_training_arguments, config_from_args
from curation.training.data import RunData
from curation.training.export import FORMATS, NANOGPT_VAL_FRACTION, add_val_fraction_argument, export_run
from curation.training.train import CheckpointMismatch, TrainConfig, stop_on_signals, train

PROG = "python -m flows.train"
# The command line's defaults: a model a CPU trains in minutes (0.4M parameters besides the
# embeddings), where TrainConfig's GPT-3 Small takes 8 GB and minutes per step. Warmup is a tenth of
# the steps (at most TrainConfig's 100) unless set, so that any --max-steps is valid.
SMALL: dict[str, Any] = {"layers": 2, "d_model": 128, "heads": 2, "seq_len": 256, "batch_size": 8, "max_steps": 200}


@task(name="export")
def export_task(run_dir: str, out_dir: str, formats: tuple[str, ...],
                val_fraction: float = NANOGPT_VAL_FRACTION) -> dict[str, Any]:
    return export_run(run_dir, out_dir, formats, val_fraction)


@task(name="train-model")
def train_task(run_dir: str, out_dir: str, config: dict[str, Any]) -> dict[str, Any]:
    # SIGTERM (a cancelled deployment, a stopped container) ends training after a checkpoint, then
    # reaches Prefect's own handler, which ends the flow run as it would have at once.
    with stop_on_signals(signal.SIGTERM):
        return train(run_dir, out_dir, TrainConfig.model_validate(config))


@flow(name="train")
def train_flow(run_dir: str, output: str, config: dict[str, Any] | None = None,
               export_formats: tuple[str, ...] = FORMATS,
               val_fraction: float = NANOGPT_VAL_FRACTION) -> dict[str, Any]:
    """Export ``run_dir``'s tokens into ``output/export`` and train into ``output/model``.

    Args:
        run_dir: A ``curate run`` output folder.
        output: Folder for ``export/`` (Megatron-LM and nanoGPT files) and ``model/`` (checkpoint,
            metrics.jsonl, train_summary.json; a checkpoint there is resumed).
        config: ``TrainConfig`` fields (validated before anything runs).
        export_formats: Any of ``megatron``, ``nanogpt``; empty for none.
        val_fraction: Documents held out in nanoGPT's ``val.bin`` (at least one).
    """
    config = TrainConfig.model_validate(config or {}).model_dump()
    out = Path(output)
    exported = (export_task(run_dir, str(out / "export"), tuple(export_formats), val_fraction)
                if export_formats else {})
    summary = train_task(run_dir, str(out / "model"), config)
    return {"export": exported, "train": summary}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Prefect flow `train`: export a curate run's tokens (Megatron-LM, nanoGPT) into OUT_DIR/export,\n"
                    "then train a GPT on them into OUT_DIR/model (resumed from its checkpoint when there is one).\n"
                    "The defaults are a small model a CPU trains in minutes; the flags below ask for more.",
        epilog="examples:\n"
               "  python -m flows.train out/ runs/flow\n"
               "  python -m flows.train out/ runs/flow --layers 12 --d-model 768 --heads 12 --seq-len 1024 "
               "--max-steps 5000  # GPU\n"
               "  python -m flows.train out/ runs/flow --from-budget --format nanogpt --val-fraction 0.01\n\n"
               "PREFECT_API_URL: the Prefect server to record the run on (default: a temporary one).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN_DIR", help="a curate run's output folder (manifest.json, shards/)")
    p.add_argument("output", metavar="OUT_DIR", help="export/ and model/ (checkpoint, metrics, summary) go here")
    add_training_arguments(p, defaults=SMALL)
    export = p.add_argument_group("export")
    export.add_argument("--format", nargs="*", choices=FORMATS, default=list(FORMATS),
                        help="hand-off formats to write first (default: all; none: --format with no value)")
    add_val_fraction_argument(export)
    return p


def flow_config(args: argparse.Namespace) -> TrainConfig:
    """``SMALL``, then ``--config``'s file, then the flags (warmup: TrainConfig's, a tenth of max_steps)."""
    return config_from_args(args, defaults=SMALL)


def _terminate(signum: int, frame: Any) -> None:
    # Outside training (server start, export) or after its checkpoint: unwind, so that the temporary
    # server is stopped rather than left running.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("curation.training").setLevel(logging.INFO)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        config = flow_config(args)
        RunData.open(args.run)  # a bad run folder is a one-line error before any server starts
        from prefect.logging.handlers import APILogHandler

        from flows.embedded import prefect_api

        with prefect_api():
            try:
                result = train_flow(args.run, args.output, config.model_dump(), tuple(args.format), args.val_fraction)
            finally:
                # Send the flow run's queued logs while the server still runs: left for exit, they
                # are retried against a stopped temporary server for a minute.
                APILogHandler().flush()
    except CheckpointMismatch as exc:
        print(f"{PROG}: error: {exc.for_flag('--no-resume')}", file=sys.stderr)
        return 2
    except CurationError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    summary = result["train"]
    loss = "n/a" if summary["final_loss"] is None else f"{summary['final_loss']:.4f}"
    for name, written in result["export"].items():
        documents = written["documents"]
        print(f"export {name}: " + (f"{documents} documents" if name == "megatron"
                                    else f"{documents['train']} train and {documents['val']} val documents"))
    print(f"steps {summary['steps']}  loss {loss}  {summary['tokens_per_s'] or 0:,.0f} tokens/s  "
          f"model: {Path(args.output) / 'model'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
