"""A trained model as a ``transformers`` GPT-2 checkpoint, beside the run's tokenizer.

Our GPT is GPT-2's layout (pre-LayerNorm, learned positions, tanh-GELU MLP of 4x, tied output
projection, LayerNorm eps 1e-5), so the export is a renaming of weights: ``transformers``'
``GPT2LMHeadModel`` is built from a ``GPT2Config`` of the same shape, loaded with them, and saved
with its own ``save_pretrained`` (``config.json``, ``model.safetensors``, ``generation_config.json``
with ``curation.training.sample``'s defaults). The differences handled here:

- GPT-2's ``Conv1D`` stores a linear layer's weight as ``[in, out]``: ours (``nn.Linear``) are
  transposed.
- Our embedding is padded to a multiple of 64 rows for speed; the rows past the tokenizer's
  vocabulary are never targets, so the export keeps the real ones only (``vocab_size`` = the
  tokenizer's). The logits of the real tokens are unchanged; our sampler leaves the padded ones out too.

The folder gets the tokenizer's ``tokenizer.json`` and ``tokenizer_config.json``, so
``AutoTokenizer``, ``AutoModelForCausalLM`` and ``pipeline("text-generation")`` load it by path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.training.sample import SamplingConfig, Trained


def gpt2_state_dict(model: Any, vocab_size: int) -> dict[str, Any]:
    """Our GPT's weights under GPT-2's names and layouts (``GPT2LMHeadModel``'s ``transformer.*``)."""
    ours = model.state_dict()
    theirs = {"transformer.wte.weight": ours["tok.weight"][:vocab_size], "transformer.wpe.weight": ours["pos.weight"],
              "transformer.ln_f.weight": ours["ln_f.weight"], "transformer.ln_f.bias": ours["ln_f.bias"]}
    names = {"ln1": "ln_1", "ln2": "ln_2", "attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj",
             "fc": "mlp.c_fc", "proj": "mlp.c_proj"}
    for i in range(model.config.layers):
        for mine, gpt2 in names.items():
            for kind in ("weight", "bias"):
                tensor = ours[f"blocks.{i}.{mine}.{kind}"]
                if kind == "weight" and not mine.startswith("ln"):
                    tensor = tensor.t()  # nn.Linear [out, in] -> Conv1D [in, out]
                theirs[f"transformer.h.{i}.{gpt2}.{kind}"] = tensor.contiguous()
    theirs["lm_head.weight"] = theirs["transformer.wte.weight"]
    return theirs


def export_transformers(trained_dir: str | Path, output: str | Path) -> Path:
    """Write ``trained_dir``'s model (``curate train --output``) as a GPT-2 checkpoint into ``output``."""
    try:
        from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel
    except ImportError:
        raise CurationError("the export needs transformers: pip install 'curation[train]'") from None
    trained = Trained.load(str(trained_dir))
    shape = trained.model.config
    eos = trained.eos_id
    config = GPT2Config(
        vocab_size=trained.vocab_size, n_positions=shape.seq_len, n_embd=shape.d_model, n_layer=shape.layers,
        n_head=shape.heads, n_inner=4 * shape.d_model, activation_function="gelu_new",  # tanh GELU
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        bos_token_id=eos, eos_token_id=eos,
    )
    model = GPT2LMHeadModel(config)
    missing, unexpected = model.load_state_dict(gpt2_state_dict(trained.model, trained.vocab_size), strict=False)
    # Non-persistent buffers (the causal mask in some versions) are all transformers may build itself.
    if unexpected or any(not k.endswith((".attn.bias", ".attn.masked_bias")) for k in missing):
        raise CurationError(f"the GPT-2 weights do not line up: missing {missing}, unexpected {unexpected}")
    defaults = SamplingConfig()
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=defaults.temperature, top_k=defaults.top_k, top_p=defaults.top_p,
        max_new_tokens=defaults.max_new_tokens, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(Path(trained.tokenizer_path).parent / name, out / name)
    (out / "export.json").write_text(json.dumps({"from": str(trained_dir), "architecture": "GPT2LMHeadModel",
                                                 "vocab_size": trained.vocab_size}, indent=2) + "\n")
    return out
