"""Token budget arithmetic: published figures (each test names its paper, table or figure), then edge cases.

Papers:
- Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", arXiv:2203.15556 (Chinchilla).
- Rajbhandari et al. 2019, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
  arXiv:1910.02054.
- Brown et al. 2020, "Language Models are Few-Shot Learners", arXiv:2005.14165 (GPT-3).
- Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models", arXiv:2307.09288.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from curation import budget
from curation.budget import (
    CHINCHILLA_FIT,
    COMPUTE_OPTIMAL,
    GPUS,
    OVER_TRAINED,
    UNDER_TRAINED,
    approach3_loss,
    approach3_optimal,
    budget_report,
    chinchilla_params,
    chinchilla_tokens,
    cost_usd,
    fits,
    format_count,
    format_plan_table,
    gpu_hours,
    memory_per_gpu_gb,
    optimal_20x,
    params_from_shape,
    parse_count,
    parse_quantity,
    pflop_days,
    plan,
    render_budget_markdown,
    resolve_gpu,
    training_flops,
    verdict,
    wall_clock_days,
    weights_memory_gb,
    zero_memory_per_gpu,
)

PUBLISHED = 0.02  # issue 6: published figures within 2%

# --- Published figures ---------------------------------------------------------------------------


def test_llama2_70b_compute_and_a100_gpu_hours():
    # Issue 6's seed example: Llama 2 70B on 2T tokens (Touvron et al. 2023, Table 1) is 8.4e23 FLOPs,
    # ~1.5M GPU-hours at the A100's 312 TFLOP/s dense BF16 and 50% MFU. (The paper's Table 2 reports
    # 1,720,320 A100 GPU-hours for it: 43.5% MFU by this arithmetic.)
    flops = training_flops(70e9, 2e12)
    assert flops == pytest.approx(8.4e23, rel=PUBLISHED)
    hours = gpu_hours(flops, GPUS["a100-80gb"], mfu=0.5)
    assert hours == pytest.approx(1.5e6, rel=PUBLISHED)
    assert hours == pytest.approx(8.4e23 / (312e12 * 0.5) / 3600, rel=1e-12)  # 1,495,726.5
    assert gpu_hours(flops, "a100-40gb", 0.5) == hours  # same chip, same peak
    assert gpu_hours(flops, 312e12, 0.5) == hours  # a bare peak works too


def test_gpt3_175b_size_compute_and_verdict():
    # Brown et al. 2020, Table 2.1: GPT-3 175B has 96 layers and d_model 12288; 12 L d^2 = 173.9B.
    assert params_from_shape(96, 12288) == 12 * 96 * 12288**2 == 173_946_175_488
    assert params_from_shape(96, 12288) == pytest.approx(175e9, rel=PUBLISHED)
    # With its 50,257-token embedding matrix it is Table D.1's 174,600M parameters.
    assert params_from_shape(96, 12288, vocab=50257) == pytest.approx(174.6e9, rel=0.001)
    # Table D.1: 300B training tokens, 3.14e23 FLOPs, 3.64e3 PF-days.
    assert training_flops(174.6e9, 300e9) == pytest.approx(3.14e23, rel=PUBLISHED)
    assert pflop_days(training_flops(174.6e9, 300e9)) == pytest.approx(3.64e3, rel=PUBLISHED)
    # 1.7 tokens per parameter: far under Chinchilla's 20 (Hoffmann et al. 2022, Table 1 and Table 3:
    # a 175B model wants 3.7T tokens).
    assert verdict(300e9 / 175e9) == UNDER_TRAINED


@pytest.mark.parametrize("model, params, tokens, expected", [
    # Hoffmann et al. 2022, Table 1: Chinchilla is the compute-optimal one, the 300B-token models are not.
    ("Chinchilla", 70e9, 1.4e12, COMPUTE_OPTIMAL),
    ("Gopher", 280e9, 300e9, UNDER_TRAINED),
    ("GPT-3", 175e9, 300e9, UNDER_TRAINED),
    ("Jurassic", 178e9, 300e9, UNDER_TRAINED),
    ("MT-NLG 530B", 530e9, 270e9, UNDER_TRAINED),
    ("LaMDA", 137e9, 168e9, UNDER_TRAINED),
])
def test_chinchilla_table1_verdicts(model, params, tokens, expected):
    assert verdict(tokens / params) == expected, model


def test_chinchilla_is_exactly_20_tokens_per_param():
    assert chinchilla_tokens(70e9) == 1.4e12 and chinchilla_params(1.4e12) == 70e9


# Hoffmann et al. 2022, Table 3 (Approach 1): parameters, FLOPs, tokens for a compute-optimal model.
TABLE_3 = [
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    # (67e9, 5.76e23, 1.5e12) left out: the printed 1.5T is rounded from 5.76e23 / (6 x 67B) = 1.43T,
    # so 6 N D with the printed tokens is 4.7% high.
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]


@pytest.mark.parametrize("params, flops, tokens", TABLE_3)
def test_chinchilla_table3_compute_is_6ND(params, flops, tokens):
    assert training_flops(params, tokens) == pytest.approx(flops, rel=PUBLISHED)


@pytest.mark.parametrize("params, flops, tokens", TABLE_3[:3])
def test_20x_rule_reproduces_table3_up_to_10b(params, flops, tokens):
    # Approach 1's exponent is 0.50 (Table 2), so the ratio creeps up with scale (21.6 at 10T); up to
    # 10B the 20x rule gives Table 3's compute-optimal model for its FLOPs within 2%.
    best = optimal_20x(flops)
    assert best.params == pytest.approx(params, rel=PUBLISHED)
    assert best.flops == pytest.approx(flops, rel=1e-12)
    assert chinchilla_tokens(params) == pytest.approx(tokens, rel=0.03)


def test_approach3_exponents_match_table2():
    # Hoffmann et al. 2022, Table 2, Approach 3: N_opt ~ C^0.46, D_opt ~ C^0.54. From the printed
    # alpha = 0.34 and beta = 0.28: a = 0.28 / 0.62 = 0.4516, b = 0.5484.
    a, b = CHINCHILLA_FIT.exponents
    assert a == pytest.approx(0.28 / 0.62, rel=1e-12) and b == pytest.approx(0.34 / 0.62, rel=1e-12)
    assert a == pytest.approx(0.46, rel=PUBLISHED) and b == pytest.approx(0.54, rel=PUBLISHED)


GOPHER_FLOPS = 5.76e23  # Hoffmann et al. 2022, Figure 2 caption and Table 3: Gopher's compute budget


def test_approach3_optimum_at_gopher_budget():
    # Eq. 4 written out independently with the constants of Eq. 10 (Appendix D.2).
    g = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    expected_n = g * (GOPHER_FLOPS / 6) ** (0.28 / 0.62)
    expected_d = (GOPHER_FLOPS / 6) ** (0.34 / 0.62) / g
    best = approach3_optimal(GOPHER_FLOPS)
    assert best.params == pytest.approx(expected_n, rel=1e-12)
    assert best.tokens == pytest.approx(expected_d, rel=1e-12)
    assert best.params == pytest.approx(32.19e9, rel=1e-3) and best.tokens == pytest.approx(2.982e12, rel=1e-3)
    assert best.flops == pytest.approx(GOPHER_FLOPS, rel=1e-12)
    # It is the minimum of L(N, D) along the iso-FLOP line C = 6 N D.
    at_best = approach3_loss(best.params, best.tokens)
    for factor in (0.9, 0.99, 1.01, 1.1):
        n = best.params * factor
        assert approach3_loss(n, GOPHER_FLOPS / (6 * n)) > at_best


def test_approach3_against_the_papers_40b():
    # Figure 4's caption projects 40B parameters for Gopher's budget. The printed constants give
    # 32.2B, 19.5% lower: the exponent a enters as (C/6)^a with C/6 ~ 1e23, so rounding alpha and
    # beta to two decimals (a = 0.4516 instead of Table 2's 0.46) moves N by a factor of ~1.5.
    # Besiroglu et al. 2024 (arXiv:2404.10102) trace the paper's Approach 3 inconsistencies to this
    # rounding and to the fit's optimizer. So this is not a 2% check: it pins the gap and its sign.
    params = approach3_optimal(GOPHER_FLOPS).params
    assert 0.78 < params / 40e9 < 0.83
    rounding_factor = (GOPHER_FLOPS / 6) ** (0.46 - 0.28 / 0.62)
    assert 1.4 < rounding_factor < 1.7
    # Section 3.4: "The third approach predicts even smaller models being optimal at larger compute
    # budgets" than Approach 1's 67B (Table 3); the 20x rule gives 69.3B.
    assert params < 67e9 < optimal_20x(GOPHER_FLOPS).params


def test_approach3_loss_prefers_chinchilla_to_gopher():
    # The paper's headline (Section 4): at the same compute Chinchilla (70B, 1.4T) beats Gopher
    # (280B, 300B). L = E + A / N^alpha + B / D^beta, written out.
    chinchilla = 1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28
    gopher = 1.69 + 406.4 / 280e9**0.34 + 410.7 / 300e9**0.28
    assert approach3_loss(70e9, 1.4e12) == pytest.approx(chinchilla, rel=1e-12) == pytest.approx(1.9366, abs=1e-4)
    assert approach3_loss(280e9, 300e9) == pytest.approx(gopher, rel=1e-12) == pytest.approx(1.9933, abs=1e-4)
    assert chinchilla < gopher


def test_zero_figure1_7_5b_on_64_gpus():
    # Rajbhandari et al. 2019, Figure 1: Psi = 7.5B, N_d = 64, K = 12. Baseline 120GB, P_os 31.4GB,
    # P_os+g 16.6GB, P_os+g+p 1.9GB (Table 1 prints it as 1.88GB).
    memory = memory_per_gpu_gb(7.5e9, 64)
    assert memory["ddp"] == pytest.approx(120, rel=PUBLISHED)
    assert memory["zero1"] == pytest.approx(31.4, rel=PUBLISHED)
    assert memory["zero2"] == pytest.approx(16.6, rel=PUBLISHED)
    assert memory["zero3"] == pytest.approx(1.88, rel=PUBLISHED) == pytest.approx(1.9, rel=PUBLISHED)


@pytest.mark.parametrize("params, n_d, published", [
    # Rajbhandari et al. 2019, Table 1: per-device model-state GB for P_os, P_os+g, P_os+g+p.
    (7.5e9, 1, (120, 120, 120)),
    (7.5e9, 4, (52.5, 41.3, 30)),
    (7.5e9, 16, (35.6, 21.6, 7.5)),
    (128e9, 64, (536, 284, 32)),
    (1e12, 64, (4187, 2218, 250)),
    (1e12, 1024, (4011, 2013, 15.6)),
])
def test_zero_table1(params, n_d, published):
    memory = memory_per_gpu_gb(params, n_d)
    assert [memory["zero1"], memory["zero2"], memory["zero3"]] == pytest.approx(list(published), rel=PUBLISHED)


def test_zero_section3_gpt2_and_trillion_parameter_examples():
    # Section 3.1: GPT-2 (1.5B) needs 3GB for its fp16 weights but at least 24GB to train with
    # mixed-precision Adam. Section 1: a trillion parameters need ~16TB of model states, 16GB per GPU
    # on 1024 GPUs with all three stages.
    assert weights_memory_gb(1.5e9, "fp16") == pytest.approx(3.0, rel=1e-12)
    assert zero_memory_per_gpu(1.5e9, 1, stage=0) == pytest.approx(24.0, rel=1e-12)
    assert zero_memory_per_gpu(1e12, 1, stage=0) == pytest.approx(16_000, rel=1e-12)
    assert zero_memory_per_gpu(1e12, 1024, stage=3) == pytest.approx(16, rel=0.025)


# --- Memory --------------------------------------------------------------------------------------


def test_zero_formulas_exactly():
    # (2+2+K) Psi; 2 Psi + 2 Psi + K Psi / N_d; 2 Psi + (2+K) Psi / N_d; (2+2+K) Psi / N_d.
    assert memory_per_gpu_gb(1e9, 8) == pytest.approx({"ddp": 16.0, "zero1": 5.5, "zero2": 3.75, "zero3": 2.0})
    assert memory_per_gpu_gb(1e9, 4, k=8) == pytest.approx({"ddp": 12.0, "zero1": 6.0, "zero2": 4.5, "zero3": 3.0})
    assert set(memory_per_gpu_gb(1e9, 1).values()) == {16.0}  # one GPU: nothing to shard
    with pytest.raises(ValueError, match="stage"):
        zero_memory_per_gpu(1e9, 8, stage=4)


def test_fits_against_gpu_memory():
    # Llama 2 70B on 64 H100s: 1120GB DDP, 293GB ZeRO-1, 155GB ZeRO-2, 17.5GB ZeRO-3 per GPU.
    p = plan(tokens=2e12, params=70e9, gpu="h100-sxm", n_gpus=64)
    assert p["memory_per_gpu_gb"] == pytest.approx({"ddp": 1120, "zero1": 293.125, "zero2": 155.3125, "zero3": 17.5})
    assert p["fits"] == {"ddp": False, "zero1": False, "zero2": False, "zero3": True}
    # ZeRO's 7.5B on 64 GPUs against a 40GB A100: only DDP's 120GB is too much.
    assert fits(memory_per_gpu_gb(7.5e9, 64), "a100-40gb") == {"ddp": False, "zero1": True, "zero2": True,
                                                               "zero3": True}
    assert fits({"edge": 80.0, "over": 80.001}, "a100-80gb") == {"edge": True, "over": False}
    assert fits({"x": 100.0}, "h200") == {"x": True}


def test_weights_memory_per_dtype():
    assert {d: weights_memory_gb(70e9, d) for d in ("fp32", "bf16", "fp16", "int8")} == {
        "fp32": 280.0, "bf16": 140.0, "fp16": 140.0, "int8": 70.0}
    with pytest.raises(ValueError, match="unknown dtype"):
        weights_memory_gb(70e9, "fp8")


# --- GPUs, time and cost -------------------------------------------------------------------------


def test_gpu_table_matches_datasheets():
    assert list(GPUS) == ["a100-40gb", "a100-80gb", "h100-sxm", "h200"]
    assert [(g.peak_bf16_flops, g.memory_gb) for g in GPUS.values()] == [
        (312e12, 40.0), (312e12, 80.0), (989.5e12, 80.0), (989.5e12, 141.0)]
    assert all("datasheet" in g.source for g in GPUS.values())
    assert resolve_gpu("H100-SXM") is GPUS["h100-sxm"]


def test_custom_peak_and_memory():
    custom = resolve_gpu("a100-80gb", peak_flops=400e12, memory_gb=96)
    assert (custom.peak_bf16_flops, custom.memory_gb) == (400e12, 96.0) and "custom" in custom.name
    assert gpu_hours(1.44e21, custom, 0.5) == pytest.approx(1.44e21 / 200e12 / 3600)  # 2,000 GPU-hours
    p = plan(tokens=2e12, params=70e9, gpu=custom, n_gpus=16)
    assert p["gpu"]["peak_bf16_flops"] == 400e12 and p["fits"]["zero3"] is True  # 70 GB <= 96 GB


def test_unknown_gpu_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown GPU 'v100'.*a100-40gb, a100-80gb, h100-sxm, h200"):
        resolve_gpu("v100")
    with pytest.raises(ValueError, match="unknown GPU"):
        plan(tokens=1e12, gpu="tpu")


def test_wall_clock_and_cost():
    assert wall_clock_days(2400, 10) == 10.0
    assert cost_usd(1000, 2.5) == 2500.0
    p = plan(tokens=2e12, params=70e9, n_gpus=2048, price_per_gpu_hour=2.0)
    assert p["wall_clock_days"] == pytest.approx(p["gpu_hours"] / 2048 / 24)
    assert p["cost_usd"] == pytest.approx(p["gpu_hours"] * 2.0)
    assert p["wall_clock_days"] == pytest.approx(30.43, abs=0.01)


# --- Verdict -------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio, expected", [
    (14.999, UNDER_TRAINED), (15.0, COMPUTE_OPTIMAL), (20.0, COMPUTE_OPTIMAL), (25.0, COMPUTE_OPTIMAL),
    (25.001, OVER_TRAINED), (0.001, UNDER_TRAINED), (1e6, OVER_TRAINED),
])
def test_verdict_band_edges_are_inclusive(ratio, expected):
    assert verdict(ratio) == expected


def test_verdict_custom_band():
    assert verdict(28.6, band=(10, 30)) == COMPUTE_OPTIMAL
    assert verdict(9.9, band=(10, 30)) == UNDER_TRAINED
    assert verdict(20, band=(20, 20)) == COMPUTE_OPTIMAL
    with pytest.raises(ValueError, match="band low must not exceed"):
        verdict(20, band=(25, 15))
    with pytest.raises(ValueError, match="pair"):
        verdict(20, band=(15,))


# --- plan() ---------------------------------------------------------------------------------------

REQUIRED_FIELDS = {"tokens", "params", "tokens_per_param", "verdict", "chinchilla_tokens", "chinchilla_params",
                   "training_flops", "gpu_hours", "wall_clock_days", "cost_usd", "memory_per_gpu_gb", "fits",
                   "optimal_params", "optimal_tokens", "approach3"}


def test_plan_fields_and_values():
    p = plan(tokens=2e12, params=70e9)
    assert REQUIRED_FIELDS <= set(p)
    assert set(p["memory_per_gpu_gb"]) == set(p["fits"]) == {"ddp", "zero1", "zero2", "zero3"}
    assert set(p["approach3"]) >= {"params", "tokens", "loss"}
    assert (p["tokens"], p["params"]) == (2_000_000_000_000, 70_000_000_000)
    assert p["tokens_per_param"] == pytest.approx(2e12 / 70e9)
    assert p["verdict"] == OVER_TRAINED  # 28.6 tokens/param
    assert (p["chinchilla_tokens"], p["chinchilla_params"]) == (1.4e12, 1e11)
    assert p["training_flops"] == pytest.approx(8.4e23)
    assert p["gpu_hours"] == pytest.approx(1_495_726.5, rel=1e-6)
    assert p["cost_usd"] == pytest.approx(1_495_726.5 * 1.8, rel=1e-6)
    json.dumps(p, allow_nan=False)  # JSON-ready


def test_plan_with_flops_only():
    p = plan(flops=GOPHER_FLOPS)
    assert p["optimal_params"] == pytest.approx(math.sqrt(GOPHER_FLOPS / 120), rel=1e-12)  # 69.3B
    assert p["optimal_tokens"] == pytest.approx(20 * math.sqrt(GOPHER_FLOPS / 120), rel=1e-12)
    assert p["params"] == round(p["optimal_params"]) and p["verdict"] == COMPUTE_OPTIMAL
    assert p["training_flops"] == GOPHER_FLOPS
    best3 = approach3_optimal(GOPHER_FLOPS)
    assert p["approach3"]["params"] == pytest.approx(best3.params)
    assert p["approach3"]["tokens"] == pytest.approx(best3.tokens)
    assert p["approach3"]["loss"] == pytest.approx(approach3_loss(best3.params, best3.tokens))


def test_plan_derives_the_missing_quantity():
    by_budget = plan(tokens=1e12, flops=6e22)  # the model 6e22 FLOPs affords on 1T tokens
    assert by_budget["params"] == 10_000_000_000 and by_budget["training_flops"] == 6e22
    assert plan(params=1e10, flops=6e22)["tokens"] == 1_000_000_000_000
    corpus_only = plan(tokens=1.4e12)  # the compute-optimal model for a corpus
    assert corpus_only["params"] == 70_000_000_000 and corpus_only["verdict"] == COMPUTE_OPTIMAL
    assert plan(params=7e9)["tokens"] == 140_000_000_000
    with pytest.raises(ValueError, match="at most two"):
        plan(tokens=1e12, params=1e10, flops=6e22)
    with pytest.raises(ValueError, match="nothing to plan"):
        plan()


@pytest.mark.parametrize("kwargs, message", [
    ({"tokens": 0}, "tokens must be a positive"),
    ({"tokens": -1e12}, "tokens must be a positive"),
    ({"tokens": math.nan}, "tokens must be a positive"),
    ({"tokens": math.inf}, "tokens must be a positive"),
    ({"tokens": "2T"}, "tokens must be a number"),
    ({"tokens": True}, "tokens must be a number"),
    ({"tokens": 1e12, "params": 0}, "params must be a positive"),
    ({"flops": -5}, "flops must be a positive"),
    ({"tokens": 1e12, "n_gpus": 0}, "gpus must be a positive"),
    ({"tokens": 1e12, "n_gpus": 1.5}, "gpus must be a whole number"),
    ({"tokens": 1e12, "mfu": 0}, "mfu must be a positive"),
    ({"tokens": 1e12, "mfu": 1.2}, r"mfu must be in \(0, 1\]"),
    ({"tokens": 1e12, "price_per_gpu_hour": 0}, "price per GPU-hour must be a positive"),
    ({"tokens": 1e12, "band": (0, 25)}, "band low must be a positive"),
])
def test_plan_rejects_bad_values_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        plan(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("call", [
    lambda: training_flops(0, 1e12), lambda: params_from_shape(0, 4096), lambda: params_from_shape(2, 4096.5),
    lambda: params_from_shape(2, 4096, vocab=-1), lambda: gpu_hours(1e20, -1.0),
    lambda: gpu_hours(1e20, "a100-80gb", 2),
    lambda: optimal_20x(0), lambda: approach3_optimal(-1), lambda: approach3_loss(1e9, 0), lambda: pflop_days(0),
    lambda: budget_report(0), lambda: budget_report(-5),
])
def test_functions_validate_eagerly(call):
    with pytest.raises(ValueError):
        call()


# --- The corpus budget report ---------------------------------------------------------------------


def test_budget_report_for_chinchillas_corpus():
    report = budget_report(1.4e12)
    assert report["tokens"] == 1_400_000_000_000
    assert report["compute_optimal"]["params"] == 70e9  # what the training stage reads
    rows = {r["name"]: r for r in report["models"]}
    assert list(rows) == ["125M", "350M", "1.3B", "7B", "13B", "70B"]
    big, small = rows["70B"], rows["7B"]
    assert (big["tokens_per_param"], big["verdict"]) == (20.0, COMPUTE_OPTIMAL)
    assert big["epochs_to_20_tokens_per_param"] == 1.0
    assert (small["tokens_per_param"], small["verdict"]) == (200.0, OVER_TRAINED)
    assert small["epochs_to_20_tokens_per_param"] == pytest.approx(0.1)
    assert big["training_flops"] == pytest.approx(5.88e23)
    assert big["gpu_hours"]["a100-80gb"] == pytest.approx(5.88e23 / 156e12 / 3600)  # 1,047,009
    assert big["gpu_hours"]["h100-sxm"] == pytest.approx(5.88e23 / 494.75e12 / 3600)  # 330,133
    assert big["cost_usd"]["a100-80gb"] == pytest.approx(big["gpu_hours"]["a100-80gb"] * 1.8)
    assert report["compute_optimal"]["gpu_hours"] == big["gpu_hours"]


def test_budget_report_for_a_small_corpus_flags_repetition():
    rows = {r["name"]: r for r in budget_report(2e9)["models"]}  # 2B tokens
    assert rows["125M"]["verdict"] == COMPUTE_OPTIMAL  # 16 tokens/param
    assert rows["350M"]["verdict"] == UNDER_TRAINED  # 5.7
    assert rows["1.3B"]["epochs_to_20_tokens_per_param"] == pytest.approx(13.0)
    assert rows["70B"]["epochs_to_20_tokens_per_param"] == pytest.approx(700.0)
    assert [r["repeats_beyond_useful_epochs"] for r in rows.values()] == [False, False, True, True, True, True]


def test_budget_report_is_json_and_deterministic():
    first, second = budget_report(123_456_789), budget_report(123_456_789)
    assert json.dumps(first, sort_keys=True, allow_nan=False) == json.dumps(second, sort_keys=True)


def _markdown_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| model"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_budget_markdown_table_rows():
    text = render_budget_markdown(budget_report(1.4e12))
    assert "Corpus: **1.40T tokens** (1,400,000,000,000)." in text
    assert "**70.0B parameters**" in text
    assert ("| model | tokens/param | verdict | epochs to 20 tokens/param | FLOPs (1 epoch) | A100 80GB SXM GPU-hours "
            "| A100 80GB SXM cost (USD) | H100 SXM 80GB GPU-hours | H100 SXM 80GB cost (USD) |") in text
    rows = _markdown_rows(text)
    assert list(rows) == ["125M", "350M", "1.3B", "7B", "13B", "70B"]
    a100, h100 = 5.88e23 / 156e12 / 3600, 5.88e23 / 494.75e12 / 3600
    assert rows["70B"] == ["70B", "20.0", "compute-optimal", "1.00", "5.88e+23", f"{a100:,.0f}", f"{a100 * 1.8:,.0f}",
                           f"{h100:,.0f}", f"{h100 * 1.8:,.0f}"]
    assert rows["70B"][5:] == ["1,047,009", "1,884,615", "330,133", "594,240"]
    assert rows["7B"][:4] == ["7B", "200", "over-trained", "0.100"]
    assert rows["125M"][:3] == ["125M", "11,200", "over-trained"]


def test_budget_markdown_marks_repeated_epochs():
    rows = _markdown_rows(render_budget_markdown(budget_report(2e9)))
    assert rows["125M"][3] == "1.25" and rows["350M"][3] == "3.50"  # within 4 epochs: no mark
    assert rows["1.3B"][3] == "13.0 *" and rows["70B"][3] == "700 *"


# --- Formatting and parsing -------------------------------------------------------------------------


@pytest.mark.parametrize("n, text", [
    (70e9, "70.0B"), (1.4e12, "1.40T"), (125e6, "125M"), (1.3e9, "1.30B"), (999.96e6, "1.00B"), (32_000, "32.0K"),
    (512, "512"), (0.5, "0.500"), (2.5e15, "2,500T"),
])
def test_format_count(n, text):
    assert format_count(n) == text


@pytest.mark.parametrize("n, text", [
    (1.5e9, "1.50B"), (1_234_500_000_000, "1.2345T"), (26_888_123, "26.888123M"), (7, "7.00"), (2.5e15, "2,500T"),
])
def test_format_count_exact_keeps_every_figure(n, text):
    assert format_count(n, exact=True) == text


@pytest.mark.parametrize("text, value", [
    ("1.5B", 1_500_000_000), ("1.2345T", 1_234_500_000_000), ("1,400,000", 1_400_000), ("1.5e3", 1500), ("7", 7),
    ("123456789012345678T", 123_456_789_012_345_678 * 10**12),  # exact beyond float precision
])
def test_parse_count(text, value):
    assert parse_count(text) == value and isinstance(parse_count(text), int)


@pytest.mark.parametrize("text, message", [
    ("1.5", "must be a whole number, got '1.5'; with a suffix, 1.5B"), ("1.0005K", "must be a whole number"),
    ("1e-3", "must be a whole number"), ("abc", "expected a number"),
])
def test_parse_count_rejects(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_count(text)


def test_plan_rejects_fractional_counts_instead_of_rounding():
    for kwargs in ({"tokens": 1.5}, {"tokens": 1e12, "params": 7.5}):
        with pytest.raises(ValueError, match="must be a whole number"):
            plan(**kwargs)
    assert plan(tokens=0.1 * 3e9)["tokens"] == 300_000_000  # float noise is still a whole count


def test_plan_table_has_units():
    text = format_plan_table(plan(tokens=2e12, params=70e9, gpu="h100-sxm", n_gpus=64))
    for unit in ("70.0B", "2.00T", "PFLOP-days", "GPU-hours", "days", "USD", "GB"):
        assert unit in text, unit
    assert "| tokens per parameter | 28.6 | over-trained (15-25 is compute-optimal) |" in text
    assert "| training compute | 8.40e+23 FLOPs | 9,722 PFLOP-days; 6 x params x tokens |" in text
    assert "| GPU time | 471,619 GPU-hours | at 50% MFU |" in text  # 8.4e23 / (989.5e12 x 0.5) / 3600
    assert "| memory per GPU, ZeRO-3 (P_os+g+p) | 17.5 GB | fits in 80 GB |" in text
    assert "| memory per GPU, DDP | 1,120 GB | does not fit in 80 GB |" in text


@pytest.mark.parametrize("text, value", [
    ("70e9", 70e9), ("2e12", 2e12), ("1.4T", 1.4e12), ("70B", 70e9), ("125M", 125e6), ("32K", 32e3), ("70b", 70e9),
    ("1,400,000", 1.4e6), ("1_000", 1e3), (" 5.76e23 ", 5.76e23), ("-5", -5.0), (".5", 0.5),
])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "1e400", "70X", "B", "1,2", "1.2.3", "--5"])
def test_parse_quantity_rejects(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_module_has_no_io_or_prefect():
    source = open(budget.__file__).read()
    assert "prefect" not in source.lower() and "open(" not in source and "print(" not in source
