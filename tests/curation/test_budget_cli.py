"""``curate plan`` as a planner runs it: help, table and JSON output, the manifest, and bad input
as one line with exit code 2 and no traceback."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import pytest
from helpers import ROOT

from curation.errors import CurationError
from curation.budget_cli import add_plan_parser, main, manifest_tokens, run_plan


def parse(*argv: str) -> argparse.Namespace:
    """Parse as ``curate`` will once the lead wires ``plan`` in: a subcommand of a ``curate`` parser."""
    parser = argparse.ArgumentParser(prog="curate")
    add_plan_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["plan", *argv])


def plan_json(capsys, *argv: str) -> dict:
    assert run_plan(parse(*argv, "--json")) == 0
    return json.loads(capsys.readouterr().out)


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def assert_one_line_error(stderr: str, *words: str) -> None:
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert "error:" in stderr and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


# --- Output ------------------------------------------------------------------------------------------


def test_help_explains_inputs_outputs_and_examples(capsys):
    with pytest.raises(SystemExit) as info:
        parse("--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--tokens", "--manifest", "--params", "--layers", "--d-model", "--vocab", "--flops", "--gpu",
                 "--gpus", "--mfu", "--price", "--band", "--json", "--peak-flops", "examples:", "a100-40gb",
                 "a100-80gb", "h100-sxm", "h200", "70B", "1.4T", "ZeRO"):
        assert word in out, word


def test_llama2_70b_json(capsys):
    # Issue 6's seed: 70B parameters, 2T tokens -> 8.4e23 FLOPs, ~1.5M A100 GPU-hours at 50% MFU.
    p = plan_json(capsys, "--tokens", "2T", "--params", "70e9")
    assert {"tokens", "params", "tokens_per_param", "verdict", "chinchilla_tokens", "chinchilla_params",
            "training_flops", "gpu_hours", "wall_clock_days", "cost_usd", "memory_per_gpu_gb", "fits"} <= set(p)
    assert (p["tokens"], p["params"], p["verdict"]) == (2_000_000_000_000, 70_000_000_000, "over-trained")
    assert p["training_flops"] == pytest.approx(8.4e23, rel=0.02)
    assert p["gpu_hours"] == pytest.approx(1.5e6, rel=0.02)
    assert p["cost_usd"] == pytest.approx(p["gpu_hours"] * 1.8)
    assert (p["chinchilla_tokens"], p["chinchilla_params"]) == (1.4e12, 1e11)
    assert p["gpu"]["key"] == "a100-80gb" and p["gpus"] == 1 and p["mfu"] == 0.5


def test_gpt3_from_its_shape_is_under_trained(capsys):
    # Brown et al. 2020, Table 2.1 (96 layers, d_model 12288) and Table D.1 (174.6B, 300B tokens, 3.14e23).
    p = plan_json(capsys, "--tokens", "300B", "--layers", "96", "--d-model", "12288")
    assert p["params"] == 173_946_175_488 and p["verdict"] == "under-trained"
    p = plan_json(capsys, "--tokens", "300B", "--layers", "96", "--d-model", "12288", "--vocab", "50257")
    assert p["params"] == 174_563_733_504
    assert p["training_flops"] == pytest.approx(3.14e23, rel=0.02)
    assert p["pflop_days"] == pytest.approx(3.64e3, rel=0.02)


def test_chinchilla_is_compute_optimal(capsys):
    # Hoffmann et al. 2022, Table 1: 70B parameters on 1.4T tokens.
    p = plan_json(capsys, "--tokens", "1.4T", "--params", "70B")
    assert p["tokens_per_param"] == pytest.approx(20.0) and p["verdict"] == "compute-optimal"


def test_flops_path(capsys):
    p = plan_json(capsys, "--flops", "5.76e23")  # Gopher's budget (Hoffmann et al. 2022, Table 3)
    assert p["optimal_params"] == pytest.approx(math.sqrt(5.76e23 / 120), rel=1e-12)  # 69.3B
    assert p["optimal_tokens"] == pytest.approx(20 * math.sqrt(5.76e23 / 120), rel=1e-12)
    assert p["approach3"]["params"] == pytest.approx(32.19e9, rel=1e-3)
    assert p["approach3"]["tokens"] == pytest.approx(2.982e12, rel=1e-3)
    assert p["approach3"]["loss"] == pytest.approx(1.9307, abs=1e-4)
    assert p["training_flops"] == 5.76e23 and p["verdict"] == "compute-optimal"
    affordable = plan_json(capsys, "--flops", "6e22", "--tokens", "1T")
    assert affordable["params"] == 10_000_000_000


def test_table_has_units(capsys):
    assert run_plan(parse("--tokens", "2T", "--params", "70B", "--gpu", "h100-sxm", "--gpus", "64")) == 0
    out = capsys.readouterr().out
    for unit in ("2.00T", "70.0B", "FLOPs", "PFLOP-days", "GPU-hours", "days", "USD", "GB"):
        assert unit in out, unit
    assert "| tokens per parameter | 28.6 | over-trained (15-25 is compute-optimal) |" in out
    assert "| wall clock | 307 days | on 64 GPUs |" in out  # 471,619 GPU-hours / 64 / 24
    assert "| memory per GPU, ZeRO-3 (P_os+g+p) | 17.5 GB | fits in 80 GB |" in out
    assert "| memory per GPU, ZeRO-2 (P_os+g) | 155 GB | does not fit in 80 GB |" in out


@pytest.mark.parametrize("tokens, shown, exact", [
    ("1.5B", "1.50B", "1,500,000,000"), ("2.5T", "2.50T", "2,500,000,000,000"),
    ("1.2345T", "1.2345T", "1,234,500,000,000"),  # a typed count keeps its figures (3 would show 1.23T)
    ("26888123", "26.888123M", "26,888,123"), ("1.5e3", "1.50K", "1,500"),
])
def test_tokens_display_as_given(capsys, tokens, shown, exact):
    assert main(["--tokens", tokens]) == 0
    assert f"| training tokens | {shown} | {exact}; given |" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--tokens", "1.5"], ["--tokens", "1234567.5"], ["--params", "7.5", "--tokens", "1T"]])
def test_fractional_counts_are_rejected_not_rounded(capsys, argv):
    # "--tokens 1.5" used to print a plan for 2 tokens.
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, f"argument {argv[0]}: must be a whole number, got {argv[1]!r}",
                          f"{argv[1]}B is billions")


def test_gpus_shard_memory_and_wall_clock(capsys):
    p = plan_json(capsys, "--tokens", "300B", "--params", "7.5B", "--gpus", "64", "--gpu", "a100-40gb")
    # Rajbhandari et al. 2019, Figure 1: 120 / 31.4 / 16.6 / 1.9 GB for 7.5B on 64 GPUs.
    assert p["memory_per_gpu_gb"] == pytest.approx({"ddp": 120, "zero1": 31.4, "zero2": 16.6, "zero3": 1.88}, rel=0.02)
    assert p["fits"] == {"ddp": False, "zero1": True, "zero2": True, "zero3": True}
    assert p["wall_clock_days"] == pytest.approx(p["gpu_hours"] / 64 / 24)


def test_band_mfu_price_and_custom_gpu(capsys):
    assert plan_json(capsys, "--tokens", "2T", "--params", "70B", "--band", "10", "30")["verdict"] == "compute-optimal"
    p = plan_json(capsys, "--tokens", "2T", "--params", "70B", "--peak-flops", "400T", "--gpu-memory", "96",
                  "--mfu", "40%", "--price", "2.5", "--gpus", "16")
    assert p["gpu_hours"] == pytest.approx(8.4e23 / (400e12 * 0.4) / 3600)
    assert p["cost_usd"] == pytest.approx(p["gpu_hours"] * 2.5)
    assert p["gpu"]["memory_gb"] == 96 and p["fits"]["zero3"] is True  # 70 GB
    assert plan_json(capsys, "--tokens", "1T", "--gpu", "H200")["gpu"]["memory_gb"] == 141


# --- The manifest ------------------------------------------------------------------------------------


def test_manifest_file_or_folder(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps({"total_documents": 3, "total_tokens": 1_400_000_000_000}))
    p = plan_json(capsys, "--manifest", str(tmp_path))
    assert p["tokens"] == 1_400_000_000_000 and p["params"] == 70_000_000_000  # tokens / 20
    p = plan_json(capsys, "--manifest", str(tmp_path / "manifest.json"), "--params", "7B")
    assert p["verdict"] == "over-trained" and p["tokens_per_param"] == pytest.approx(200)


@pytest.mark.parametrize("content, message", [
    (json.dumps({"total_documents": 3}), "has no total_tokens"),
    (json.dumps([1, 2]), "has no total_tokens"),
    ("{not json", "cannot read manifest"),
    (json.dumps({"total_tokens": 0}), "total_tokens must be a positive number"),
    (json.dumps({"total_tokens": -5}), "total_tokens must be a positive number"),
    (json.dumps({"total_tokens": "2T"}), "total_tokens must be a positive number"),
    (json.dumps({"total_tokens": True}), "total_tokens must be a positive number"),
    (json.dumps({"total_tokens": None}), "total_tokens must be a positive number"),
])
def test_bad_manifest_is_one_line(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(CurationError, match=message) as info:
        run_plan(parse("--manifest", str(path)))
    assert "\n" not in str(info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(CurationError, match="manifest not found"):
        manifest_tokens(tmp_path / "nope.json")
    with pytest.raises(CurationError, match="manifest not found"):
        manifest_tokens(tmp_path)  # a folder without manifest.json


# --- Bad input -----------------------------------------------------------------------------------------

ARGPARSE_ERRORS = [
    (["--tokens", "0", "--params", "7B"], "--tokens: must be positive"),
    (["--tokens", "-5"], "--tokens: must be positive"),
    (["--tokens", "abc"], "--tokens: expected a number"),
    (["--tokens", "nan"], "--tokens: expected a number"),
    (["--params", "-1B"], "--params: expected one argument"),
    (["--params", "seven"], "--params: expected a number"),
    (["--flops", "0"], "--flops: must be positive"),
    (["--layers", "2.5", "--d-model", "64"], "--layers: must be a whole number"),
    (["--tokens", "1T", "--gpu", "v100"], "unknown GPU 'v100'"),
    (["--tokens", "1T", "--gpus", "0"], "--gpus: must be positive"),
    (["--tokens", "1T", "--gpus", "1.5"], "--gpus: must be a whole number"),
    (["--tokens", "1T", "--mfu", "0"], "--mfu: must be positive"),
    (["--tokens", "1T", "--mfu", "1.5"], "--mfu: must be a fraction"),
    (["--tokens", "1T", "--mfu", "150%"], "--mfu: must be a fraction"),
    (["--tokens", "1T", "--price", "-1"], "--price: must be positive"),
    (["--tokens", "1T", "--price", "free"], "--price: expected a number"),
    (["--tokens", "1T", "--band", "15"], "--band: expected 2 arguments"),
    (["--tokens", "1T", "--manifest", "m.json"], "not allowed with argument --tokens"),
]


@pytest.mark.parametrize("argv, message", ARGPARSE_ERRORS)
def test_argparse_errors_are_one_line_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, message)
    assert err.startswith("curate plan: error: argument")


COMBINATION_ERRORS = [
    ([], "nothing to plan"),
    (["--tokens", "1T", "--params", "1B", "--flops", "1e20"], "at most two"),
    (["--params", "7B", "--layers", "32"], "--params or --layers/--d-model, not both"),
    (["--layers", "32"], "--layers and --d-model go together"),
    (["--d-model", "4096"], "--layers and --d-model go together"),
    (["--vocab", "32000", "--tokens", "1T"], "--vocab needs --layers and --d-model"),
    (["--tokens", "1T", "--band", "25", "15"], "band low must not exceed band high"),
]


@pytest.mark.parametrize("argv, message", COMBINATION_ERRORS)
def test_inconsistent_input_is_a_one_line_curation_error(argv, message):
    with pytest.raises(CurationError, match=message) as info:
        run_plan(parse(*argv))
    assert "\n" not in str(info.value)


# --- As a process -----------------------------------------------------------------------------------------


def test_module_runs_the_command():
    result = run_module("curation.budget_cli", "--tokens", "2T", "--params", "70B", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["training_flops"] == pytest.approx(8.4e23)


@pytest.mark.parametrize("argv, message", [
    (["--tokens", "-5", "--params", "7B"], "must be positive"),
    (["--tokens", "abc"], "expected a number"),
    (["--tokens", "1T", "--gpu", "tpu-v9"], "unknown GPU"),
    (["--manifest", "/nonexistent/manifest.json"], "manifest not found"),
    (["--tokens", "1T", "--params", "1B", "--flops", "1e20"], "at most two"),
    (["--unknown-flag"], "unrecognized arguments"),
])
def test_process_bad_input_exit_2_one_line(argv, message):
    result = run_module("curation.budget_cli", *argv)
    assert result.returncode == 2 and result.stdout == ""
    assert_one_line_error(result.stderr, message)


def test_curate_plan_through_the_cli(tmp_path):
    result = run_module("curation.cli", "plan", "--tokens", "1.4T", "--params", "70B", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "compute-optimal"
    for argv, message in (
        (["--tokens", "0"], "must be positive"),
        (["--manifest", str(tmp_path / "missing.json")], "manifest not found"),
        (["--tokens", "1T", "--gpu", "tpu"], "unknown GPU"),
    ):
        result = run_module("curation.cli", "plan", *argv)
        assert result.returncode == 2, argv
        assert_one_line_error(result.stderr, message)
