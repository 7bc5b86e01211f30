"""The training stage fed by a curate run's shards (issue 8).

``data`` (numpy) streams, tokenizes and packs a run's documents; ``export`` writes the hand-off
formats (Megatron-LM indexed dataset, nanoGPT memmap). Both work without PyTorch. ``loader``
(a PyTorch ``IterableDataset``), ``model`` (a small GPT) and ``train`` (the loop: AdamW, warmup and
cosine, bf16, DDP, checkpoints) need the optional extra: ``pip install 'curation[train]'``.

Entry points: ``curate train RUN_DIR ...`` and ``python -m curation.training RUN_DIR ...``
(torchrun-ready); ``python -m curation.training.export RUN_DIR ...`` for the exports alone.
"""

from __future__ import annotations

from curation.errors import CurationError


def require_torch():
    """Import PyTorch or say plainly how to get it (it is an optional extra, STYLE.md 10)."""
    try:
        import torch
    except ImportError:
        raise CurationError("the training stage needs PyTorch: pip install 'curation[train]'") from None
    return torch
