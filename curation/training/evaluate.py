"""Validation on the run's held-out split: loss, perplexity and bits per byte.

The held-out documents (``heldout/``, never in a training pass) are read in manifest order, each
followed by the end-of-text token, behind one leading end-of-text token: every document's tokens
and its closing EOS are predicted once, from the document start (windows of ``seq_len`` with no
overlap; the first tokens of a window see less context, as in training). With at most
``max_tokens``, whole documents are taken until the cap is reached.

- ``val_loss``: mean cross-entropy in nats per predicted token, the softmax over the real
  vocabulary (the padded rows, never targets, are left out, as the sampler and the ``transformers``
  export leave them out).
- ``val_ppl``: ``exp(val_loss)``.
- ``val_bpb``: total nats / ln 2 / the documents' UTF-8 bytes. Bytes do not depend on the tokenizer,
  so runs with other vocabularies compare (the measure of The Pile, Gao et al. 2020, and of
  OLMo's evaluations); EOS predictions count against the bytes of the text they close.
- ``unigram_bpb``: the same text under its own token frequencies, a baseline any model that
  learned something beats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.tokenizer import TokenCounter
from curation.training.data import Encoder, RunData


@dataclass(frozen=True)
class HeldOut:
    """The held-out token stream: EOS, doc 1, EOS, doc 2, EOS, ... and the documents' bytes."""

    ids: np.ndarray  # int64
    text_bytes: int
    documents: int

    @property
    def predicted(self) -> int:
        return max(int(self.ids.size) - 1, 0)

    @classmethod
    def read(cls, run: RunData, max_tokens: int | None = None, batch_rows: int = 256,
             tokenizer: tuple[Path, int] | None = None) -> HeldOut:
        """``run`` opened with ``split="heldout"``; whole documents up to ``max_tokens`` predicted
        tokens. ``tokenizer`` (path, EOS id): a model's own, when it was trained on another run."""
        encoder = TokenCounter(tokenizer[0]) if tokenizer else Encoder(run)
        eos_id = tokenizer[1] if tokenizer else run.eos_id
        parts, text_bytes, documents, total = [np.array([eos_id], np.int64)], 0, 0, 0
        for shard in run.shards:
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=batch_rows, columns=["text"]):
                texts = batch.column("text")
                flat, offsets = encoder.ids(texts.to_pylist())
                sizes = pc.binary_length(texts).to_numpy()
                for k in range(len(texts)):
                    if max_tokens is not None and documents and total >= max_tokens:
                        return cls(np.concatenate(parts), text_bytes, documents)
                    doc = flat[offsets[k]:offsets[k + 1]].astype(np.int64)
                    parts += [doc, np.array([eos_id], np.int64)]
                    total += doc.size + 1
                    text_bytes += int(sizes[k])
                    documents += 1
        return cls(np.concatenate(parts), text_bytes, documents)

    def unigram_bpb(self) -> float | None:
        """Bits per byte of the predicted tokens under their own unigram frequencies."""
        if not self.text_bytes:
            return None
        counts = np.bincount(self.ids[1:]).astype(np.float64)
        counts = counts[counts > 0]
        bits = -(counts * np.log2(counts / counts.sum())).sum()
        return float(bits / self.text_bytes)


def evaluate(model: Any, heldout: HeldOut, vocab_size: int, batch_size: int = 8, rank: int = 0,
             world_size: int = 1, autocast: Any = None) -> tuple[float, int]:
    """Summed cross-entropy (nats) and the number of predicted tokens of this rank's windows
    (window ``w`` goes to rank ``w % world_size``; sum both over ranks)."""
    import contextlib

    import torch
    import torch.nn.functional as F

    seq_len = model.config.seq_len
    device = next(model.parameters()).device
    starts = list(range(0, heldout.predicted, seq_len))[rank::world_size]
    ids = torch.from_numpy(heldout.ids)
    nats, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # Full windows in batches; the last, shorter one alone.
            full = [s for s in starts if s + seq_len <= heldout.predicted]
            groups = [full[i:i + batch_size] for i in range(0, len(full), batch_size)]
            groups += [[s] for s in starts if s + seq_len > heldout.predicted]
            for group in groups:
                length = min(seq_len, heldout.predicted - group[0])
                x = torch.stack([ids[s:s + length] for s in group]).to(device)
                y = torch.stack([ids[s + 1:s + length + 1] for s in group]).to(device)
                with autocast() if autocast else contextlib.nullcontext():
                    logits = model(x)
                loss = F.cross_entropy(logits[..., :vocab_size].float().reshape(-1, vocab_size), y.reshape(-1),
                                       reduction="sum")
                nats += float(loss)
                count += y.numel()
    finally:
        model.train(was_training)
    return nats, count


def figures(nats: float, count: int, heldout: HeldOut) -> dict[str, float | int]:
    """``val_loss``, ``val_ppl``, ``val_bpb`` from the summed cross-entropy of every rank."""
    loss = nats / count
    return {"val_loss": loss, "val_ppl": math.exp(min(loss, 700.0)),
            "val_bpb": nats / math.log(2) / heldout.text_bytes, "val_tokens": count}
