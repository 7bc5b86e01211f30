"""Text from a trained model, with the settings every playground has.

``temperature``, ``top_k`` and ``top_p`` are applied in Hugging Face ``generate``'s order
(temperature, then top-k, then top-p: its ``TemperatureLogitsWarper``, ``TopKLogitsWarper``,
``TopPLogitsWarper``) with the same tie and edge rules, so a setting means here what it means there:

- ``temperature`` divides the logits; 0 means greedy (the most likely token; nanoGPT's sampler
  divides by zero there).
- ``top_k`` keeps the k most likely tokens (every token tied with the k-th too); 0 or None: off.
- ``top_p`` keeps the smallest set of most likely tokens whose probability reaches p (at least one);
  1.0: off.

Sampling draws from a seeded ``torch.Generator`` on the CPU, so the same seed gives the same text on
any device. Generation stops at ``max_new_tokens`` or at the end-of-text token. Defaults:
``max_new_tokens`` 200, ``top_k`` 25, ``top_p`` 1.0, ``temperature`` 0.8 (the usual playground values;
nanoGPT's ``sample.py`` has 200 tokens, top-k 200, temperature 0.8).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curation.training import require_torch

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = 25
    top_p: float = 1.0
    seed: int = 0
    stop_at_eos: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy), got {self.temperature}")
        if self.top_k is not None and self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0: off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def top_k_mask(logits: torch.Tensor, k: int) -> torch.Tensor:
    """``logits`` with every token below the k-th largest set to -inf (ties with it kept)."""
    torch = require_torch()
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_mask(logits: torch.Tensor, p: float) -> torch.Tensor:
    """``logits`` with every token outside the nucleus set to -inf: sorted by probability, the
    tokens whose cumulative probability from the least likely up is at most ``1 - p`` are dropped,
    the most likely one never."""
    torch = require_torch()
    ascending, order = torch.sort(logits, dim=-1)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= 1 - p
    drop[..., -1:] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


def next_token_distribution(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """Probabilities of the next token from its logits ``[batch, vocab]`` (temperature > 0)."""
    logits = logits.float() / config.temperature
    if config.top_k:
        logits = top_k_mask(logits, config.top_k)
    if config.top_p < 1.0:
        logits = top_p_mask(logits, config.top_p)
    return logits.softmax(dim=-1)


def generate(model: Any, prompt: list[int], config: SamplingConfig, vocab_size: int,
             eos_id: int | None = None) -> list[int]:
    """The new token ids after ``prompt`` (the model sees at most its last ``seq_len`` tokens;
    padded vocabulary rows, never targets, are never drawn)."""
    torch = require_torch()
    if not prompt:
        raise ValueError("the prompt is empty: give at least one token (the end-of-text token starts a document)")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(config.seed)
    ids = list(prompt)
    new: list[int] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(config.max_new_tokens):
                context = torch.tensor([ids[-model.config.seq_len:]], device=device)
                logits = model(context)[:, -1, :vocab_size].float().cpu()
                if config.temperature == 0:
                    token = int(logits.argmax(dim=-1))
                else:
                    token = int(torch.multinomial(next_token_distribution(logits, config), 1, generator=generator))
                ids.append(token)
                new.append(token)
                if config.stop_at_eos and token == eos_id:
                    break
    finally:
        model.train(was_training)
    return new


def distinct_n(tokens: list[int], n: int = 2) -> float:
    """Distinct n-grams over all n-grams (Li et al. 2016): near 0 for a model stuck in a loop."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@dataclass(frozen=True)
class Trained:
    """A trained model's folder (``curate train``'s output): the model, its tokenizer and EOS."""

    model: Any
    tokenizer_path: Any
    eos_id: int | None
    vocab_size: int

    @classmethod
    def load(cls, directory: str, device: str = "cpu") -> Trained:
        import json
        from pathlib import Path

        from curation.errors import CurationError
        from curation.tokenizer import load_tokenizer
        from curation.training.model import GPT, GPTConfig
        from curation.training.checkpoint import CHECKPOINT, load_checkpoint

        torch = require_torch()
        folder = Path(directory)
        if not (folder / CHECKPOINT).is_file():
            raise CurationError(f"{folder} has no {CHECKPOINT}: give the --output folder of curate train")
        tokenizer_path = folder / "tokenizer" / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise CurationError(f"{tokenizer_path} is missing: train again with this version of curate train, "
                                "which keeps the run's tokenizer beside the model")
        state = load_checkpoint(torch, folder / CHECKPOINT, torch.device(device))
        model = GPT(GPTConfig(**state["model_config"])).to(device)
        model.load_state_dict(state["model"])
        model.eval()
        settings = json.loads((folder / "tokenizer" / "tokenizer_config.json").read_text())
        eos = settings.get("eos_token")
        eos_id = load_tokenizer(tokenizer_path).token_to_id(eos) if eos else None
        return cls(model, tokenizer_path, eos_id, int(state["model_config"]["vocab_size"]))

    @functools.cached_property
    def _codec(self) -> tuple[Any, Any]:
        """The tokenizer as the run counted with it (prompts) and as it decodes, loaded once."""
        from curation.tokenizer import TokenCounter, load_tokenizer

        return TokenCounter(self.tokenizer_path), load_tokenizer(self.tokenizer_path)

    def complete(self, prompt: str, config: SamplingConfig) -> tuple[str, list[int]]:
        """The text ``prompt`` continues with (a prompt starts a document, after EOS), and its ids."""
        counter, tokenizer = self._codec
        ids = ([self.eos_id] if self.eos_id is not None else []) + counter.ids([prompt])[0].tolist()
        new = generate(self.model, ids, config, self.vocab_size, self.eos_id)
        return tokenizer.decode(new), new
