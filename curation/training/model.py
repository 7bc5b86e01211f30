"""A small decoder-only GPT in plain PyTorch (GPT-2's layout: Radford et al. 2019).

Pre-LayerNorm blocks, learned positions, causal self-attention through
``F.scaled_dot_product_attention`` (flash kernels on GPUs), a 4x GELU MLP, and the output
projection tied to the token embedding (Press & Wolf 2017).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# GPT-2 (Radford et al. 2019, Section 2.3) and GPT-3 (Brown et al. 2020) initialise weights with
# N(0, 0.02) and scale residual projections by 1/sqrt(N) for N residual layers (2 per block).
INIT_STD = 0.02
# Padding the vocabulary to a multiple of 64 keeps the output matmul on fast tensor-core tiles
# (nanoGPT pads GPT-2's 50,257 to 50,304 for a ~25% speed-up); the extra rows are never targets.
VOCAB_MULTIPLE = 64
# Width per attention head: 64 in GPT-2/GPT-3 at every size up to 13B (Brown et al. 2020, Table 2.1).
HEAD_DIM = 64


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    seq_len: int
    layers: int
    d_model: int
    heads: int
    dropout: float = 0.0  # none for pre-training on data seen about once (as in PaLM, Chowdhery et al. 2022)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "layers", "d_model", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")

    @property
    def padded_vocab(self) -> int:
        return -(-self.vocab_size // VOCAB_MULTIPLE) * VOCAB_MULTIPLE

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def shape_for_params(params: float) -> tuple[int, int, int]:
    """``(layers, d_model, heads)`` whose non-embedding parameters ``12 * layers * d_model**2``
    (curation.budget's count) come closest to ``params``, with ``d_model = 64 * layers``: GPT-2 and
    GPT-3's small models keep d_model / layers near 64 (768/12, 1024/24 = 43, 2048/24 = 85).
    85M (GPT-3 Small's parameters less its embeddings) gives its 12 x 768; the sample's 143K gives 1 x 64."""
    if params <= 0:
        raise ValueError(f"params must be positive, got {params}")
    layers = max(1, round((params / (12 * HEAD_DIM**2)) ** (1 / 3)))
    d_model = HEAD_DIM * layers
    return layers, d_model, d_model // HEAD_DIM


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.fc = nn.Linear(config.d_model, 4 * config.d_model)
        self.proj = nn.Linear(4 * config.d_model, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh")))


class GPT(nn.Module):
    """``GPT(config)(ids)`` gives logits ``[batch, time, vocab]``; with ``targets`` it gives the
    mean cross-entropy instead (logits of padded vocabulary rows included, as they are never targets)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(config.padded_vocab, config.d_model)
        self.pos = nn.Embedding(config.seq_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.padded_vocab, bias=False)
        self.head.weight = self.tok.weight  # tied
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, INIT_STD / math.sqrt(2 * config.layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, INIT_STD)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.config.seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than the model's seq_len {self.config.seq_len}")
        x = self.drop(self.tok(ids) + self.pos(torch.arange(t, device=ids.device)))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits
        # Under bf16 autocast cross_entropy runs in fp32 by itself (autocast's fp32 op list).
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))

    def num_params(self) -> int:
        """Parameters, the tied embedding counted once."""
        return sum(p.numel() for p in self.parameters())

    def flops_params(self) -> int:
        """N of the 6N FLOPs-per-token estimate (Kaplan et al. 2020): every parameter that takes
        part in a matmul. The position table is a lookup, so it is left out; the tied embedding
        stays, as the output projection multiplies by it. Attention's own ``12 * layers * d_model *
        seq_len`` FLOPs per token are not in 6N, so MFU by 6N slightly understates the work done."""
        return self.num_params() - self.pos.weight.numel()

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay on matmul weights only; none on biases, norms and embeddings (whose
        rows a step mostly does not touch, so decay would shrink rare tokens for nothing)."""
        embeddings = {id(self.tok.weight), id(self.pos.weight)}
        decay = [p for p in self.parameters() if p.dim() >= 2 and id(p) not in embeddings]
        other = [p for p in self.parameters() if p.dim() < 2 or id(p) in embeddings]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
