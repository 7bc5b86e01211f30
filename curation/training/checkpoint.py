"""The training checkpoint file: what ``train`` writes and resumes, and what sampling, evaluation
and the ``transformers`` export load a model from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.io.files import write_atomic

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(torch, path: Path, payload: dict[str, Any]) -> None:
    """Written under a temporary name, flushed to disk, renamed: a crash leaves the previous checkpoint whole."""
    write_atomic(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(torch, path: Path, device) -> dict[str, Any]:
    # weights_only: tensors and plain containers only; loading never runs code from the file.
    return torch.load(path, map_location=device, weights_only=True)
