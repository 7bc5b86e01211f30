"""Token budget arithmetic: what model a corpus supports, what training it costs, whether it fits.

Pure functions, no I/O. ``curate plan`` (``curation/budget_cli.py``) and the pipeline's
``DIR/budget.json`` / ``DIR/budget.md`` are thin layers over them.

Units: token and parameter counts are plain numbers; compute is in FLOPs (operations, not per
second); peaks are FLOP/s; memory is GB = 10^9 bytes, as GPU datasheets and the ZeRO paper write it.

Sources (cited again at each constant):

- Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361.
- Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (Chinchilla), arXiv:2203.15556.
- Rajbhandari et al. 2019, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
  arXiv:1910.02054.
- NVIDIA datasheets for the A100, H100 and H200.

Example:
    >>> p = plan(tokens=2e12, params=70e9)          # Llama-2-70B
    >>> p["verdict"], f"{p['training_flops']:.2e}", round(p["gpu_hours"], -4)
    ('over-trained', '8.40e+23', 1500000.0)
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

# --- Model size and compute -------------------------------------------------------------------

# Kaplan et al. 2020, Table 1: N ~ 2 d_model n_layer (2 d_attn + d_ff) = 12 n_layer d_model^2 with
# d_attn = d_model and d_ff = 4 d_model (attention 4 d^2 + MLP 8 d^2 per layer; biases, norms and
# embeddings left out).
PARAMS_PER_LAYER_D_MODEL_SQUARED = 12

# Kaplan et al. 2020, Table 1 / Section 2.1: a forward pass costs ~2N FLOPs per token and the
# backward pass twice that, so training costs C ~ 6 N D. Hoffmann et al. 2022 use the same
# approximation (Section 3.3, Appendix F: within a few % of their exact count, Table A4).
TRAINING_FLOPS_PER_PARAM_TOKEN = 6

# Hoffmann et al. 2022: Chinchilla (70B parameters, 1.4T tokens, Table 1) is 20 tokens per
# parameter, and Approach 1's compute-optimal projections (Table 3) run 20.0 (400M -> 8.0B tokens),
# 20.2 (1B -> 20.2B), 20.5 (10B -> 205.1B).
CHINCHILLA_TOKENS_PER_PARAM = 20.0

# Issue 6's default band: within 25% of 20 tokens/param counts as compute-optimal. Table 3's own
# ratios (20.0 at 400M to 21.6 at 10T) sit well inside it.
COMPUTE_OPTIMAL_BAND: tuple[float, float] = (15.0, 25.0)

UNDER_TRAINED = "under-trained"
COMPUTE_OPTIMAL = "compute-optimal"
OVER_TRAINED = "over-trained"

# 1 PFLOP/s-day = 10^15 FLOP/s for 86,400 s: the unit of Brown et al. 2020 (GPT-3), Table D.1.
FLOPS_PER_PFLOP_DAY = 1e15 * 86_400

# --- Hardware and price -----------------------------------------------------------------------

# Model FLOPs utilisation (achieved / peak). PaLM reached 46.2% on TPU v4 (Chowdhery et al. 2022,
# Table 3); issue 6 takes ~50% as what the best implementations reach.
DEFAULT_MFU = 0.5

# USD per GPU-hour: issue 6's default, an on-demand A100-80GB price; pass your own contract's.
DEFAULT_PRICE_PER_GPU_HOUR = 1.8

DEFAULT_GPU = "a100-80gb"


@dataclass(frozen=True)
class GPU:
    """One accelerator: dense BF16 tensor-core peak in FLOP/s and memory in GB.

    ``memory_gb`` is the datasheet figure compared as 10^9 bytes. The physical capacity is a little
    larger (an "80GB" A100 holds 80 GiB), but the CUDA context and the allocator's reserve take some
    of it back, so the datasheet number is the safer one to plan against.
    """

    name: str
    peak_bf16_flops: float
    memory_gb: float
    source: str


GPUS: dict[str, GPU] = {
    # NVIDIA A100 Tensor Core GPU datasheet: BF16 Tensor Core 312 TFLOPS (624 with sparsity);
    # 40GB HBM2 or 80GB HBM2e (SXM).
    "a100-40gb": GPU("NVIDIA A100 40GB SXM", 312e12, 40.0,
                     "NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS dense (624 with sparsity), 40GB HBM2"),
    "a100-80gb": GPU("NVIDIA A100 80GB SXM", 312e12, 80.0,
                     "NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS dense (624 with sparsity), 80GB HBM2e"),
    # NVIDIA H100 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS *with sparsity*; dense is half.
    "h100-sxm": GPU("NVIDIA H100 SXM 80GB", 989.5e12, 80.0,
                    "NVIDIA H100 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989.5 dense; 80GB HBM3"),
    # NVIDIA H200 datasheet (SXM): same tensor cores as H100 SXM, 141GB HBM3e.
    "h200": GPU("NVIDIA H200 SXM 141GB", 989.5e12, 141.0,
                "NVIDIA H200 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989.5 dense; 141GB HBM3e"),
}

# --- Memory -----------------------------------------------------------------------------------

# Bytes per parameter of each number format: IEEE 754 binary32 and binary16, bfloat16, int8.
BYTES_PER_PARAM: dict[str, int] = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}

# Rajbhandari et al. 2019, Section 3.1: mixed-precision Adam keeps fp16 parameters (2 bytes) and
# gradients (2 bytes) plus K = 12 bytes of optimizer state per parameter (fp32 copy of the
# parameters, momentum and variance, 4 bytes each): (2 + 2 + K) * Psi = 16 Psi bytes in all.
ADAM_MIXED_PRECISION_K = 12

# The keys of ``memory_per_gpu_gb`` and ``fits``: plain data parallelism, then ZeRO stages 1-3.
MEMORY_STRATEGIES = ("ddp", "zero1", "zero2", "zero3")

# --- Chinchilla Approach 3 ----------------------------------------------------------------------


@dataclass(frozen=True)
class ParametricLoss:
    """A fitted ``L(N, D) = E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022, Eq. 2)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str

    @property
    def exponents(self) -> tuple[float, float]:
        """``(a, b)`` with N_opt ~ C^a and D_opt ~ C^b (Eq. 4): ``a = beta / (alpha + beta)``,
        ``b = alpha / (alpha + beta)``."""
        total = self.alpha + self.beta
        return self.beta / total, self.alpha / total

    @property
    def G(self) -> float:
        """``G = (alpha A / (beta B)) ** (1 / (alpha + beta))`` of Eq. 4."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))


# Hoffmann et al. 2022, Appendix D.2, Eq. (10): E = 1.69, A = 406.4, B = 410.7, alpha = 0.34,
# beta = 0.28, as printed. Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt",
# arXiv:2404.10102) show these printed values are rounded enough to bias the predictions: at
# Gopher's 5.76e23 FLOPs they give a 32B-parameter optimum where the paper's Figure 4 says 40B.
CHINCHILLA_FIT = ParametricLoss(
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
    source="Hoffmann et al. 2022, Appendix D.2, Eq. (10)",
)


@dataclass(frozen=True)
class Allocation:
    """A split of a compute budget into parameters and training tokens."""

    params: float
    tokens: float

    @property
    def flops(self) -> float:
        return training_flops(self.params, self.tokens)

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params


# --- Validation ---------------------------------------------------------------------------------


def _positive(name: str, value: Any) -> float:
    # bool is an int subclass; True tokens is a bug, not a count.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _positive_int(name: str, value: Any) -> int:
    number = _positive(name, value)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _count(name: str, value: Any) -> float:
    # A given token or parameter count. Rounding 1.5 tokens to 2 showed a number nobody typed (and
    # hid a missing B or T); float noise such as 0.1 * 3e9 is still a whole count.
    number = _positive(name, value)
    if abs(number - round(number)) > 1e-9 * number:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return number


def _fraction(name: str, value: Any) -> float:
    number = _positive(name, value)
    if number > 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return number


def _band(band: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = band
    except (TypeError, ValueError):
        raise ValueError(f"band must be a (low, high) pair of tokens per parameter, got {band!r}") from None
    low, high = _positive("band low", low), _positive("band high", high)
    if low > high:
        raise ValueError(f"band low must not exceed band high, got {low:g} > {high:g}")
    return low, high


# --- Arithmetic -----------------------------------------------------------------------------------


def params_from_shape(layers: int, d_model: int, vocab: int | None = None) -> int:
    """Parameters of a standard decoder: ``12 * layers * d_model**2``, plus ``vocab * d_model``
    embedding parameters when ``vocab`` is given (one tied input/output matrix).

    GPT-3 175B (Brown et al. 2020, Table 2.1: 96 layers, d_model 12288, vocabulary 50257) gives
    173.9B, or 174.6B with its embeddings (Table D.1 lists 174,600M).
    """
    layers, d_model = _positive_int("layers", layers), _positive_int("d_model", d_model)
    params = PARAMS_PER_LAYER_D_MODEL_SQUARED * layers * d_model**2
    if vocab is not None:
        params += _positive_int("vocab", vocab) * d_model
    return params


def training_flops(params: float, tokens: float) -> float:
    """Training compute ``C = 6 N D`` in FLOPs (Kaplan et al. 2020, Table 1)."""
    return TRAINING_FLOPS_PER_PARAM_TOKEN * _positive("params", params) * _positive("tokens", tokens)


def pflop_days(flops: float) -> float:
    """FLOPs in PFLOP/s-days (10^15 FLOP/s for a day), GPT-3's unit."""
    return _positive("flops", flops) / FLOPS_PER_PFLOP_DAY


def chinchilla_tokens(params: float) -> float:
    """Compute-optimal training tokens for a model: 20 per parameter (Hoffmann et al. 2022)."""
    return CHINCHILLA_TOKENS_PER_PARAM * _positive("params", params)


def chinchilla_params(tokens: float) -> float:
    """Compute-optimal model size for a corpus: tokens / 20 (Hoffmann et al. 2022)."""
    return _positive("tokens", tokens) / CHINCHILLA_TOKENS_PER_PARAM


def verdict(tokens_per_param: float, band: tuple[float, float] = COMPUTE_OPTIMAL_BAND) -> str:
    """``under-trained`` below the band, ``over-trained`` above it, ``compute-optimal`` within (edges included).

    Over-trained is not a mistake: a smaller model trained longer costs less to serve (Llama 2 is
    ~29 tokens/param); it just spends more training compute than the loss it reaches needs.
    """
    ratio = _positive("tokens per parameter", tokens_per_param)
    low, high = _band(band)
    if ratio < low:
        return UNDER_TRAINED
    if ratio > high:
        return OVER_TRAINED
    return COMPUTE_OPTIMAL


def optimal_20x(flops: float) -> Allocation:
    """The compute-optimal split of ``flops`` by the 20 tokens/param rule.

    With D = 20 N and C = 6 N D = 120 N^2: ``N = sqrt(C / 120)``, ``D = 20 N``.
    """
    params = math.sqrt(_positive("flops", flops) / (TRAINING_FLOPS_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))
    return Allocation(params, CHINCHILLA_TOKENS_PER_PARAM * params)


def approach3_loss(params: float, tokens: float, fit: ParametricLoss = CHINCHILLA_FIT) -> float:
    """Predicted final training loss (nats/token on MassiveText) of ``params`` trained on ``tokens``:
    ``E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022, Eq. 10)."""
    n, d = _positive("params", params), _positive("tokens", tokens)
    return fit.E + fit.A / n**fit.alpha + fit.B / d**fit.beta


def approach3_optimal(flops: float, fit: ParametricLoss = CHINCHILLA_FIT) -> Allocation:
    """The split of ``flops`` that minimises ``approach3_loss`` under C = 6 N D (Hoffmann et al. 2022, Eq. 4):
    ``N_opt = G (C/6)^a``, ``D_opt = G^-1 (C/6)^b``."""
    per_token = _positive("flops", flops) / TRAINING_FLOPS_PER_PARAM_TOKEN
    a, b = fit.exponents
    return Allocation(fit.G * per_token**a, per_token**b / fit.G)


def resolve_gpu(gpu: str | GPU = DEFAULT_GPU, *, peak_flops: float | None = None,
                memory_gb: float | None = None) -> GPU:
    """A ``GPUS`` entry by key (case-insensitive) or a ``GPU`` as is, with an optional custom peak
    (dense FLOP/s per GPU) or memory replacing the datasheet's."""
    if isinstance(gpu, str):
        key = gpu.strip().lower()
        if key not in GPUS:
            raise ValueError(f"unknown GPU {gpu!r}; known: {', '.join(GPUS)} (or give a custom peak FLOP/s)")
        gpu = GPUS[key]
    if peak_flops is not None:
        gpu = replace(gpu, name=f"{gpu.name}, custom peak", peak_bf16_flops=_positive("peak FLOP/s", peak_flops),
                      source=f"peak: given; {gpu.source}")
    if memory_gb is not None:
        gpu = replace(gpu, name=f"{gpu.name}, custom memory", memory_gb=_positive("GPU memory (GB)", memory_gb),
                      source=f"memory: given; {gpu.source}")
    return gpu


def gpu_hours(flops: float, gpu: GPU | float = DEFAULT_GPU, mfu: float = DEFAULT_MFU) -> float:
    """GPU-hours to run ``flops``: ``C / (peak * MFU) / 3600``. ``gpu`` is a ``GPU``, a ``GPUS`` key
    or a peak in FLOP/s."""
    if isinstance(gpu, (str, GPU)):
        peak = resolve_gpu(gpu).peak_bf16_flops
    else:
        peak = _positive("peak FLOP/s", gpu)
    return _positive("flops", flops) / (peak * _fraction("mfu", mfu)) / 3600


def wall_clock_days(hours: float, n_gpus: int = 1) -> float:
    """Days for ``hours`` GPU-hours spread over ``n_gpus`` (MFU already prices in the scaling losses)."""
    return _positive("gpu_hours", hours) / _positive_int("gpus", n_gpus) / 24


def cost_usd(hours: float, price_per_gpu_hour: float = DEFAULT_PRICE_PER_GPU_HOUR) -> float:
    """``GPU-hours * price``."""
    return _positive("gpu_hours", hours) * _positive("price per GPU-hour", price_per_gpu_hour)


def weights_memory_gb(params: float, dtype: str = "bf16") -> float:
    """GB to hold the weights alone in ``dtype`` (fp32, bf16, fp16 or int8): inference, not training."""
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(BYTES_PER_PARAM)}")
    return _positive("params", params) * BYTES_PER_PARAM[dtype] / 1e9


def zero_memory_per_gpu(params: float, n_gpus: int, stage: int, k: float = ADAM_MIXED_PRECISION_K) -> float:
    """Model-state memory per GPU in GB for mixed-precision training over ``n_gpus`` data-parallel GPUs.

    Rajbhandari et al. 2019, Figure 1 and Section 5.1-5.3, with Psi parameters and N_d GPUs:

    - stage 0, plain data parallelism (DDP): ``(2 + 2 + K) Psi``, every GPU holds everything;
    - stage 1, P_os (optimizer states sharded): ``2 Psi + 2 Psi + K Psi / N_d``;
    - stage 2, P_os+g (and gradients): ``2 Psi + (2 + K) Psi / N_d``;
    - stage 3, P_os+g+p (and parameters): ``(2 + 2 + K) Psi / N_d``.

    Activations, temporary buffers and fragmentation (the paper's "residual states") come on top.
    """
    psi, n_d = _positive("params", params), _positive_int("gpus", n_gpus)
    k = _positive("K", k)
    if stage == 0:
        total = (2 + 2 + k) * psi
    elif stage == 1:
        total = 2 * psi + 2 * psi + k * psi / n_d
    elif stage == 2:
        total = 2 * psi + (2 + k) * psi / n_d
    elif stage == 3:
        total = (2 + 2 + k) * psi / n_d
    else:
        raise ValueError(f"ZeRO stage must be 0 (DDP), 1, 2 or 3, got {stage!r}")
    return total / 1e9


def memory_per_gpu_gb(params: float, n_gpus: int, k: float = ADAM_MIXED_PRECISION_K) -> dict[str, float]:
    """``zero_memory_per_gpu`` for DDP and ZeRO 1-3, keyed ``ddp``, ``zero1``, ``zero2``, ``zero3``."""
    return {name: zero_memory_per_gpu(params, n_gpus, stage, k) for stage, name in enumerate(MEMORY_STRATEGIES)}


def fits(memory_gb: dict[str, float], gpu: GPU | str = DEFAULT_GPU) -> dict[str, bool]:
    """Whether each strategy's model states fit in one GPU's memory (equal counts as fitting)."""
    capacity = resolve_gpu(gpu).memory_gb
    return {name: value <= capacity for name, value in memory_gb.items()}


# --- The plan -------------------------------------------------------------------------------------


def plan(tokens: float | None = None, params: float | None = None, flops: float | None = None, *,
         gpu: str | GPU = DEFAULT_GPU, n_gpus: int = 1, mfu: float = DEFAULT_MFU,
         price_per_gpu_hour: float = DEFAULT_PRICE_PER_GPU_HOUR,
         band: tuple[float, float] = COMPUTE_OPTIMAL_BAND, fit: ParametricLoss = CHINCHILLA_FIT) -> dict[str, Any]:
    """Everything a planner needs about training ``params`` on ``tokens``, as a JSON-ready dict.

    Give any one or two of ``tokens``, ``params`` and ``flops``; the rest is derived:

    - tokens: params = tokens / 20, the compute-optimal model for them;
    - params: tokens = 20 * params;
    - flops: the 20x optimum, N = sqrt(C / 120) and D = 20 N;
    - tokens and params: flops = 6 N D;
    - tokens and flops: params = C / (6 D), the model the budget affords on those tokens;
    - params and flops: tokens = C / (6 N).

    ``optimal_params``/``optimal_tokens`` (20x rule) and ``approach3`` (Hoffmann et al. 2022's
    parametric fit) say how the same compute would be best spent. ``memory_per_gpu_gb`` is
    model-state memory only (mixed-precision Adam), not activations.
    """
    given = {name for name, value in (("tokens", tokens), ("params", params), ("flops", flops)) if value is not None}
    if not given:
        raise ValueError("nothing to plan: give tokens, params or flops")
    if len(given) == 3:
        raise ValueError("give at most two of tokens, params and flops: the third follows from C = 6 N D")
    tokens = None if tokens is None else _count("tokens", tokens)
    params = None if params is None else _count("params", params)
    flops = None if flops is None else _positive("flops", flops)
    n_gpus, mfu = _positive_int("gpus", n_gpus), _fraction("mfu", mfu)
    price = _positive("price per GPU-hour", price_per_gpu_hour)
    band = _band(band)
    device = resolve_gpu(gpu)

    sources = {"tokens": "given", "params": "given"}
    if flops is not None and tokens is None and params is None:
        best = optimal_20x(flops)
        params, tokens = best.params, best.tokens
        sources = {"tokens": "20 x params, the 20x optimum for the flops",
                   "params": "sqrt(flops / 120), the 20x optimum"}
    elif flops is not None and params is None:
        params, sources["params"] = flops / (TRAINING_FLOPS_PER_PARAM_TOKEN * tokens), "flops / (6 x tokens)"
    elif flops is not None and tokens is None:
        tokens, sources["tokens"] = flops / (TRAINING_FLOPS_PER_PARAM_TOKEN * params), "flops / (6 x params)"
    elif params is None:
        params, sources["params"] = chinchilla_params(tokens), "tokens / 20, the compute-optimal model"
    elif tokens is None:
        tokens, sources["tokens"] = chinchilla_tokens(params), "20 x params, compute-optimal"
    # Counts are whole numbers; derived ones are rounded so the JSON reads as counts.
    tokens_out, params_out = max(1, round(tokens)), max(1, round(params))
    compute = flops if flops is not None else training_flops(params, tokens)
    ratio = tokens / params
    hours = gpu_hours(compute, device, mfu)
    memory = memory_per_gpu_gb(params, n_gpus)
    best20, best3 = optimal_20x(compute), approach3_optimal(compute, fit)
    return {
        "tokens": tokens_out,
        "params": params_out,
        "tokens_per_param": ratio,
        "verdict": verdict(ratio, band),
        "compute_optimal_band": list(band),
        "chinchilla_tokens": chinchilla_tokens(params),
        "chinchilla_params": chinchilla_params(tokens),
        "training_flops": compute,
        "pflop_days": pflop_days(compute),
        "gpu": {"key": gpu.strip().lower() if isinstance(gpu, str) else "custom", "name": device.name,
                "peak_bf16_flops": device.peak_bf16_flops, "memory_gb": device.memory_gb, "source": device.source},
        "gpus": n_gpus,
        "mfu": mfu,
        "gpu_hours": hours,
        "wall_clock_days": wall_clock_days(hours, n_gpus),
        "price_usd_per_gpu_hour": price,
        "cost_usd": cost_usd(hours, price),
        "memory_per_gpu_gb": memory,
        "fits": fits(memory, device),
        "weights_memory_gb": {dtype: weights_memory_gb(params, dtype) for dtype in ("fp32", "bf16", "int8")},
        "optimal_params": best20.params,
        "optimal_tokens": best20.tokens,
        "approach3": {"params": best3.params, "tokens": best3.tokens,
                      "loss": approach3_loss(best3.params, best3.tokens, fit), "source": fit.source},
        "inputs": {**sources, "flops": "given" if flops is not None else "6 x params x tokens"},
    }


# --- Formatting -----------------------------------------------------------------------------------


def _sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, keeping trailing zeros (1.40, 125, 0.0123)."""
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def format_count(n: float, exact: bool = False) -> str:
    """A count with K/M/B/T suffix to 3 significant figures: ``70.0B``, ``1.40T``, ``125M``.

    ``exact`` keeps as many more figures as a whole ``n`` needs to read back unchanged
    (``1.2345T``, not ``1.23T``): for a count the user typed, which must show as given.
    """
    digits = 3
    if exact and n == round(n):
        digits = min(15, max(3, len(str(abs(round(n))).rstrip("0"))))
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale * 0.9995:  # so 999.96M shows as 1.00B, not 1,000M
            return f"{_sig(n / scale, digits)}{suffix}"
    return _sig(n, digits)


def _number(x: float) -> str:
    # Thousands get separators and no decimals; small values keep 3 significant figures; tiny ones
    # (a toy corpus) go scientific rather than print a row of zeros.
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return _sig(x) if x == 0 or abs(x) >= 1e-3 else f"{x:.2e}"


def _usd(x: float) -> str:
    return f"{_number(x)} USD"


_STRATEGY_LABELS = {"ddp": "DDP", "zero1": "ZeRO-1 (P_os)", "zero2": "ZeRO-2 (P_os+g)", "zero3": "ZeRO-3 (P_os+g+p)"}


def format_plan_table(p: dict[str, Any]) -> str:
    """``plan()``'s result as a Markdown table with units, to paste into a planning doc."""
    low, high = p["compute_optimal_band"]
    gpu, inputs = p["gpu"], p["inputs"]
    gpus = f"{p['gpus']:,} GPU" + ("s" if p["gpus"] != 1 else "")
    rows = [
        ("training tokens", format_count(p["tokens"], exact=inputs["tokens"] == "given"),
         f"{p['tokens']:,}; {inputs['tokens']}"),
        ("model parameters", format_count(p["params"], exact=inputs["params"] == "given"),
         f"{p['params']:,}; {inputs['params']}"),
        ("tokens per parameter", _number(p["tokens_per_param"]),
         f"{p['verdict']} ({low:g}-{high:g} is compute-optimal)"),
        ("Chinchilla tokens for this model", format_count(p["chinchilla_tokens"]), "20 x parameters"),
        ("Chinchilla model for these tokens", format_count(p["chinchilla_params"]), "tokens / 20"),
        ("training compute", f"{p['training_flops']:.2e} FLOPs",
         f"{_number(p['pflop_days'])} PFLOP-days; {inputs['flops']}"),
        ("GPU", gpu["name"], f"{gpu['peak_bf16_flops'] / 1e12:g} TFLOP/s dense BF16, {gpu['memory_gb']:g} GB"),
        ("GPU time", f"{_number(p['gpu_hours'])} GPU-hours", f"at {p['mfu'] * 100:g}% MFU"),
        ("wall clock", f"{_number(p['wall_clock_days'])} days", f"on {gpus}"),
        ("cost", _usd(p["cost_usd"]), f"at {p['price_usd_per_gpu_hour']:g} USD per GPU-hour"),
    ]
    for name, label in _STRATEGY_LABELS.items():
        gb, ok = p["memory_per_gpu_gb"][name], p["fits"][name]
        note = f"{'fits' if ok else 'does not fit'} in {gpu['memory_gb']:g} GB"
        rows.append((f"memory per GPU, {label}", f"{_number(gb)} GB", note))
    rows += [
        ("weights alone (bf16)", f"{_number(p['weights_memory_gb']['bf16'])} GB", "inference, no optimizer"),
        ("best model for this compute (20x)", format_count(p["optimal_params"]),
         f"on {format_count(p['optimal_tokens'])} tokens"),
        ("best model for this compute (Approach 3)", format_count(p["approach3"]["params"]),
         f"on {format_count(p['approach3']['tokens'])} tokens; predicted loss {p['approach3']['loss']:.3f} "
         "nats/token (MassiveText)"),
    ]
    lines = ["| quantity | value | note |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append("")
    lines.append(f"Memory is model states per GPU over {gpus} (mixed-precision Adam, 16 bytes/param; "
                 "Rajbhandari et al. 2019); activations come on top. C = 6 N D; 20 tokens/param: "
                 "Hoffmann et al. 2022.")
    return "\n".join(lines)


# --- The corpus budget report (DIR/budget.json, DIR/budget.md) -------------------------------------

# Common sizes: GPT-3's 125M, 350M, 1.3B and 13B (Brown et al. 2020, Table 2.1) and Llama 2's 7B,
# 13B and 70B (Touvron et al. 2023). Nominal counts, as the papers name them.
COMMON_MODEL_SIZES: tuple[tuple[str, float], ...] = (
    ("125M", 125e6), ("350M", 350e6), ("1.3B", 1.3e9), ("7B", 7e9), ("13B", 13e9), ("70B", 70e9),
)
REPORT_GPUS = ("a100-80gb", "h100-sxm")

# Muennighoff et al. 2023 ("Scaling Data-Constrained Language Models", arXiv:2305.16264): up to ~4
# epochs of repeated data are worth almost as much as unique data; beyond that, returns fall off.
USEFUL_EPOCHS = 4.0


def budget_report(total_tokens: float, *, model_sizes: tuple[tuple[str, float], ...] = COMMON_MODEL_SIZES,
                  gpus: tuple[str, ...] = REPORT_GPUS, mfu: float = DEFAULT_MFU,
                  price_per_gpu_hour: float = DEFAULT_PRICE_PER_GPU_HOUR,
                  band: tuple[float, float] = COMPUTE_OPTIMAL_BAND) -> dict[str, Any]:
    """What a corpus of ``total_tokens`` supports, for ``DIR/budget.json``.

    ``compute_optimal.params`` (tokens / 20) is the model size the training stage reads. ``models``
    has one row per common size: tokens/param and verdict for one pass over the corpus, the epochs
    needed to reach 20 tokens/param, and FLOPs, GPU-hours and cost of one pass on each GPU.
    Deterministic (no timestamps), like the manifest.
    """
    tokens = _positive("total_tokens", total_tokens)
    mfu, price, band = _fraction("mfu", mfu), _positive("price per GPU-hour", price_per_gpu_hour), _band(band)
    devices = {key: resolve_gpu(key) for key in gpus}

    def costs(flops: float) -> tuple[dict[str, float], dict[str, float]]:
        hours = {key: gpu_hours(flops, device, mfu) for key, device in devices.items()}
        return hours, {key: cost_usd(h, price) for key, h in hours.items()}

    optimal = chinchilla_params(tokens)
    optimal_flops = training_flops(optimal, tokens)
    optimal_hours, optimal_cost = costs(optimal_flops)
    rows = []
    for name, params in model_sizes:
        params = _positive(f"model size {name}", params)
        flops = training_flops(params, tokens)
        hours, cost = costs(flops)
        epochs = chinchilla_tokens(params) / tokens
        rows.append({
            "name": name,
            "params": round(params),
            "tokens_per_param": tokens / params,
            "verdict": verdict(tokens / params, band),
            "epochs_to_20_tokens_per_param": epochs,
            "repeats_beyond_useful_epochs": epochs > USEFUL_EPOCHS,
            "training_flops": flops,
            "gpu_hours": hours,
            "cost_usd": cost,
        })
    return {
        "version": 1,
        "tokens": int(round(tokens)),
        "compute_optimal": {
            "params": max(1, round(optimal)),
            "tokens_per_param": CHINCHILLA_TOKENS_PER_PARAM,
            "training_flops": optimal_flops,
            "gpu_hours": optimal_hours,
            "cost_usd": optimal_cost,
        },
        "models": rows,
        "assumptions": {
            "flops": "C = 6 N D for one pass over the corpus (Kaplan et al. 2020)",
            "tokens_per_param": CHINCHILLA_TOKENS_PER_PARAM,
            "compute_optimal_band": list(band),
            "useful_epochs": USEFUL_EPOCHS,
            "mfu": mfu,
            "price_usd_per_gpu_hour": price,
            "gpus": {key: {"name": d.name, "peak_bf16_flops": d.peak_bf16_flops, "source": d.source}
                     for key, d in devices.items()},
        },
    }


def _short_gpu(name: str) -> str:
    return name.removeprefix("NVIDIA ")


def render_budget_markdown(report: dict[str, Any]) -> str:
    """``budget_report()``'s result as ``DIR/budget.md``: a summary and one table row per model size."""
    a = report["assumptions"]
    gpus = a["gpus"]
    low, high = a["compute_optimal_band"]
    best = report["compute_optimal"]
    per_gpu = "; ".join(f"{_number(best['gpu_hours'][k])} GPU-hours ({_usd(best['cost_usd'][k])}) on "
                        f"{_short_gpu(g['name'])}" for k, g in gpus.items())
    lines = [
        "# Token budget",
        "",
        f"Corpus: **{format_count(report['tokens'])} tokens** ({report['tokens']:,}).",
        "",
        f"Compute-optimal model for it: **{format_count(best['params'])} parameters** "
        f"({a['tokens_per_param']:g} tokens per parameter, Hoffmann et al. 2022). Training it on the corpus "
        f"takes {best['training_flops']:.2e} FLOPs: {per_gpu}.",
        "",
        f"Common model sizes trained on this corpus, one pass each, at {a['mfu'] * 100:g}% MFU and "
        f"{a['price_usd_per_gpu_hour']:g} USD per GPU-hour:",
        "",
    ]
    header = ["model", "tokens/param", "verdict", "epochs to 20 tokens/param", "FLOPs (1 epoch)"]
    for g in gpus.values():
        header += [f"{_short_gpu(g['name'])} GPU-hours", f"{_short_gpu(g['name'])} cost (USD)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|---:|---|---:|---:|" + "---:|" * (2 * len(gpus)))
    for row in report["models"]:
        epochs = _number(row["epochs_to_20_tokens_per_param"]) + (" *" if row["repeats_beyond_useful_epochs"] else "")
        cells = [row["name"], _number(row["tokens_per_param"]), row["verdict"], epochs, f"{row['training_flops']:.2e}"]
        for key in gpus:
            cells += [_number(row["gpu_hours"][key]), _number(row["cost_usd"][key])]
        lines.append("| " + " | ".join(cells) + " |")
    peaks = "; ".join(f"{_short_gpu(g['name'])} {g['peak_bf16_flops'] / 1e12:g} TFLOP/s dense BF16"
                      for g in gpus.values())
    lines += [
        "",
        f"- Verdict: below {low:g} tokens per parameter is under-trained, above {high:g} over-trained "
        "(more training compute than the loss needs, though a cheaper model to serve).",
        "- FLOPs, GPU-hours and cost are for one pass (C = 6 N D); multiply by the epochs column for a "
        "20 tokens/param run.",
        f"- \\* more than {a['useful_epochs']:g} epochs: repeated tokens are worth less than new ones "
        "(Muennighoff et al. 2023).",
        f"- Peaks: {peaks} (vendor datasheets).",
        "",
    ]
    return "\n".join(lines)


# --- Parsing numbers ------------------------------------------------------------------------------

_SUFFIX_EXPONENTS = {"k": 3, "m": 6, "b": 9, "t": 12}
_SUFFIXES = {k: 10.0 ** e for k, e in _SUFFIX_EXPONENTS.items()}
# Digits with optional thousands commas (1,400,000) or underscores (1_400_000), a fraction, an exponent.
_QUANTITY = re.compile(
    r"^\s*(?=[-+]?\.?[0-9])"  # something numeric must start it: not "", "B" or "e5"
    r"([-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9][0-9_]*)?(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
    r"\s*([kmbtKMBT]?)\s*$"
)


def parse_quantity(text: str) -> float:
    """``'70e9'``, ``'70B'``, ``'1.4T'``, ``'125M'``, ``'32K'``, ``'1,000,000'`` -> a float.

    Suffixes K, M, B, T are 10^3, 10^6, 10^9, 10^12 (B for billion, as model sizes are named).
    The sign is kept; callers check the range.
    """
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a number like 70e9, 70B, 1.4T or 125M, got {text!r}")
    number, suffix = match.groups()
    value = float(number.replace(",", "").replace("_", "")) * _SUFFIXES.get(suffix.lower(), 1.0)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text!r}")
    return value


def parse_count(text: str) -> int:
    """A whole count in ``parse_quantity``'s notation, exactly: ``'1.2345T'`` -> 1,234,500,000,000
    (no float rounding on the way). A fraction left over is an error, not rounded: ``--tokens 1.5``
    displayed as 2 tokens, and almost always means 1.5B or 1.5T.
    """
    parse_quantity(text)  # the grammar, finiteness and their messages
    number, suffix = _QUANTITY.match(text).groups()  # type: ignore[union-attr]
    value = Decimal(number.replace(",", "").replace("_", "")).scaleb(_SUFFIX_EXPONENTS.get(suffix.lower(), 0))
    if value != value.to_integral_value():
        hint = "" if suffix else f"; with a suffix, {text.strip()}B is billions and {text.strip()}T trillions"
        raise ValueError(f"must be a whole number, got {text!r}{hint}")
    return int(value)
