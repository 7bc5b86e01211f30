"""Prefect flow ``train``: a curate run's output folder in, hand-off exports and a trained model out.

Thin by design (STYLE.md 9): each task calls one library function; the work and its defaults live
in ``curation.training``. Run it with ``python -m flows.train RUN_DIR OUT_DIR``, or serve/deploy
``train_flow``. Training runs in the task's process (one device); for several GPUs launch
``torchrun -m curation.training`` instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow, task

from curation.training.export import FORMATS, export_run
from curation.training.train import TrainConfig, train


@task(name="export")
def export_task(run_dir: str, out_dir: str, formats: tuple[str, ...]) -> dict[str, Any]:
    return export_run(run_dir, out_dir, formats)


@task(name="train-model")
def train_task(run_dir: str, out_dir: str, config: dict[str, Any]) -> dict[str, Any]:
    return train(run_dir, out_dir, TrainConfig.model_validate(config))


@flow(name="train")
def train_flow(run_dir: str, output: str, config: dict[str, Any] | None = None,
               export_formats: tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """Export ``run_dir``'s tokens into ``output/export`` and train into ``output/model``.

    Args:
        run_dir: A ``curate run`` output folder.
        output: Folder for ``export/`` (Megatron-LM and nanoGPT files) and ``model/`` (checkpoint,
            metrics.jsonl, train_summary.json; a checkpoint there is resumed).
        config: ``TrainConfig`` fields (validated before anything runs).
        export_formats: Any of ``megatron``, ``nanogpt``; empty for none.
    """
    config = TrainConfig.model_validate(config or {}).model_dump()
    out = Path(output)
    exported = export_task(run_dir, str(out / "export"), tuple(export_formats)) if export_formats else {}
    summary = train_task(run_dir, str(out / "model"), config)
    return {"export": exported, "train": summary}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m flows.train RUN_DIR OUT_DIR")
    train_flow(sys.argv[1], sys.argv[2])
