"""Every shell command in README.md, run as a user would, in order, in a fresh folder; then what
users look at, in a real browser: the run's report.html and the Prefect UI of `make serve`.

The folder holds what a checkout holds (sample_data/, Makefile, pyproject.toml) and this suite's
own .venv, so the commands read exactly as documented. The only changes are sizes, where a command
takes one (a training run of 2 steps on a 1-layer model instead of 200 on a bigger one; 2
processes instead of 8), the port of `make serve` (a free one instead of 4200), `make test` (run as
a dry run: this suite is what it runs), and make's set-up step (the suite's .venv is already
installed). A command that hangs, crashes or prints a traceback fails the test, and so does a
README command this file has no rule for.

The browser is headless Chromium (Debian's ``chromium``; CI installs it) driven by Playwright with
the system browser, since browser downloads cannot be reached; without it those two tests skip.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from helpers import ROOT, fingerprint

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium as root in a container, with nothing that phones home (the machine has no network).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]

README = (ROOT / "README.md").read_text()
TINY = "--layers 1 --d-model 32 --heads 2 --seq-len 32 --batch-size 2 --max-steps 2"
# The whole-chain smoke check's model: small enough for a CPU, big enough to learn the sample.
# Its 32,000-token vocabulary makes the output layer most of the work: ~2.5 minutes on 2 cores, and
# 500 steps end near 2.16 bits per byte against the held-out text's unigram 2.23 (bench/README.md).
# It trains in a process of its own while the README's later commands run (many of them wait on
# servers and start-up more than they compute); the test of it waits for it.
SMOKE = dict(layers=2, d_model=128, heads=2, seq_len=64, batch_size=16, lr=3e-3, warmup_steps=20, max_steps=500,
             num_workers=0, device="cpu", log_every=50, eval_every=250, checkpoint_every=0, sample_max_new_tokens=100)
# (pattern, replacement): sizes only. Each must match at least one README command.
SIZES = [
    (r"--layers 2 --d-model 128 --heads 2 --seq-len 256 --max-steps 200", TINY),
    (r"(curate train out/ --output runs/budget --from-budget)", rf"\1 --max-steps 2 --batch-size 2 --seq-len 32"),
    (r"--nproc_per_node 8 (-m curation.training out/ --output runs/gpt)", rf"--nproc_per_node 2 \1 {TINY}"),
    (r"(-m flows.train out/ runs/flow)", rf"\1 {TINY}"),
]


SMOKE_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    torch.set_num_threads(1)  # beside the README's commands: one core's worth, no OpenMP spinning
    from curation.training.sample import SamplingConfig, Trained
    from curation.training.train import TrainConfig, train
    run, out, config = sys.argv[1], sys.argv[2], TrainConfig(**json.loads(sys.argv[3]))
    train(run, out, config)
    # The same seed gives the same sample, from the checkpoint, as at the end of training.
    again = Trained.load(out).complete("", SamplingConfig(max_new_tokens=config.sample_max_new_tokens,
                                                          seed=config.seed))[0]
    open(out + "/again.json", "w").write(json.dumps({"text": again}))
""")
SMOKE_RUNS: dict[Path, subprocess.Popen] = {}  # checkout -> its smoke training, started by the README run


def readme_commands() -> list[str]:
    """Shell commands of every ```sh block, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("readme")
    for name in ("sample_data", "Makefile", "pyproject.toml", ".venv"):
        (home / name).symlink_to(ROOT / name)
    return home


def test_sample_config_is_the_readme_example():
    block = re.search(r"This is\s+`sample_data/curate.yaml`:\n\n```yaml\n(.*?)```", README, re.S).group(1)
    assert block == (ROOT / "sample_data" / "curate.yaml").read_text()


def test_every_size_rule_applies():
    text = "\n".join(readme_commands())
    for pattern, _ in SIZES:
        assert re.search(pattern, text), f"README no longer has {pattern!r}: update tests/test_readme.py"


@pytest.fixture(scope="module")
def ran(checkout) -> Path:
    """Every README command, run once for this module's tests; the folder they ran in. `make serve`'s
    server stays up until the module ends, for the browser tests of its UI."""
    yield from _run_every_command(checkout)


SERVED: dict[Path, dict] = {}  # checkout -> the served run: {"url", "run_id"}


RAY_TEMP: dict[Path, Path] = {}  # checkout -> the Ray temp folder of its `--runner ray` command (worker logs)


def _run_every_command(checkout: Path):
    # Ray's sockets live in its temp folder, and a Unix socket path has at most 107 bytes: a short one.
    RAY_TEMP[checkout] = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT),
            "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")),
            "RAY_TMPDIR": str(RAY_TEMP[checkout])}
    port = free_port()
    serve = None
    ran = []
    seconds: dict[str, float] = {}  # per command, in timings.json: where this module's minutes go
    try:
        for command in readme_commands():
            for pattern, replacement in SIZES:
                command = re.sub(pattern, replacement, command)
            command = command.replace("127.0.0.1:4200", f"127.0.0.1:{port}")
            words = shlex.split(command, comments=True)
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = value
                ran.append(command)
                continue
            if words[:2] == ["make", "test"]:
                dry = subprocess.run(["make", "-n", "-o", ".venv/.installed-stamp", "test"], cwd=checkout, env=env,
                                     capture_output=True, text=True, timeout=60)
                assert dry.returncode == 0 and "-m pytest" in dry.stdout, dry.stdout + dry.stderr
                ran.append(command)
                continue
            if words[0] == "make":
                words = ["make", "-o", ".venv/.installed-stamp", *words[1:]]
            if words[:4] == ["make", "-o", ".venv/.installed-stamp", "serve"]:
                serve_log = open(checkout / "serve.log", "w")  # noqa: SIM115 - closed with the process
                serve = subprocess.Popen([*words, f"PORT={port}"], cwd=checkout, env=env, start_new_session=True,
                                         stdout=serve_log, stderr=subprocess.STDOUT)
                _wait_for_deployment(checkout, env, port, serve)
                ran.append(command)
                continue
            started = time.monotonic()
            done = subprocess.run(words, cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
            seconds[command] = round(time.monotonic() - started, 1)
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{command}\n{output[-3000:]}"
            assert "Traceback" not in output, f"{command}\n{output[-3000:]}"
            if words[:3] == [".venv/bin/prefect", "deployment", "run"]:
                SERVED[checkout] = {"url": f"http://127.0.0.1:{port}",
                                    "run_id": re.search(r"UUID: ([0-9a-f-]{36})", done.stdout).group(1)}
            if words[0] == "make" and words[-1] == "run":  # later commands write out/ again: keep it
                shutil.copytree(checkout / "out", checkout / "out-make-run")
                with open(checkout / "smoke.log", "w") as log:
                    SMOKE_RUNS[checkout] = subprocess.Popen(
                        [str(checkout / ".venv" / "bin" / "python"), "-c", SMOKE_SCRIPT,
                         str(checkout / "out-make-run"), str(checkout / "smoke-model"), json.dumps(SMOKE)],
                        cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
            ran.append(command)
        (checkout / "timings.json").write_text(json.dumps(seconds, indent=1))
        assert len(ran) == len(readme_commands())
        yield checkout
    except BaseException:
        if checkout in SMOKE_RUNS:  # the module fails anyway: do not leave a training behind
            SMOKE_RUNS.pop(checkout).kill()
        raise
    finally:
        shutil.rmtree(RAY_TEMP.pop(checkout), ignore_errors=True)
        if serve is not None:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait()


def test_every_readme_command_runs(ran):
    checkout = ran
    # What the commands promise, checked on what they left behind.
    for out in ("out", "out-ray", "out-library", "out-served"):
        assert (checkout / out / "manifest.json").is_file(), out
    # The same bytes whatever runs the default chain: Ray, the library, a served deployment.
    library = fingerprint(checkout / "out-library")
    assert fingerprint(checkout / "out-ray") == library
    # The sample is one partition, and `--runner ray` ran its tasks on Ray's workers, not in the
    # flow's process: the runner the user chose.
    logs = "".join(f.read_text(errors="replace") for f in RAY_TEMP[checkout].glob("**/logs/worker-*.out"))
    assert ":task_name:filter-partition" in logs and ":task_name:late-partition" in logs
    assert fingerprint(checkout / "out-served") == library
    assert (checkout / "export" / "nanogpt" / "val.bin").stat().st_size > 0
    # The crawl: WARC pages in, their main text and URLs out, the bad records quarantined.
    import pyarrow.parquet as pq

    web = pq.read_table(checkout / "out-web" / "shards")
    assert web.num_rows >= 70 and {"url", "warc_date", "http_status", "extracted_ratio"} <= set(web.column_names)
    assert all(u.startswith(("https://docs.python.org/", "https://www.postgresql.org/")) for u in web["url"].to_pylist())
    assert not any("<div" in t or "Quick search" in t for t in web["text"].to_pylist())
    assert sorted(pq.read_table(checkout / "out-web" / "quarantine")["reason"].to_pylist()) == ["http_status", "not_html"]
    for run in ("tiny", "budget", "gpt", "flow/model"):
        assert (checkout / "runs" / run / "train_summary.json").is_file(), run


def _wait_for_deployment(checkout: Path, env: dict[str, str], port: int, serve: subprocess.Popen) -> None:
    client = env | {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    deadline = time.monotonic() + 180
    while subprocess.run([str(checkout / ".venv" / "bin" / "prefect"), "deployment", "inspect", "curate/main"],
                         env=client, capture_output=True).returncode != 0:
        assert serve.poll() is None, (checkout / "serve.log").read_text()
        assert time.monotonic() < deadline, "make serve registered no deployment in 180 s"
        time.sleep(1)


def test_readme_lists_every_deployment_parameter():
    import inspect

    from flows.curate import curate

    paragraph = re.search(r"The deployment's parameters are the flow's: (.*?)\n\n", README, re.S).group(1)
    listed = set(re.findall(r"`(\w+)`", paragraph))
    assert set(inspect.signature(curate.fn).parameters) <= listed


def test_make_run_output_opens_in_every_reader(ran, tmp_path, monkeypatch):
    """What `make run` wrote, opened with the tools our users load data with: the same rows and the
    same token total as the manifest, through each library's own API."""
    import duckdb
    import pandas as pd
    import polars as pl
    from datasets import load_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    out = ran / "out-make-run"
    manifest = json.loads((out / "manifest.json").read_text())
    expected = (manifest["total_documents"], manifest["total_tokens"])
    ds = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))  # the card's config: shards only
    assert (ds.num_rows, sum(ds["token_count"])) == expected
    held = load_dataset(str(out), split="validation", cache_dir=str(tmp_path / "hf"))  # heldout/
    assert (held.num_rows, sum(held["token_count"])) == (manifest["heldout"]["total_documents"],
                                                         manifest["heldout"]["total_tokens"]) and held.num_rows > 0
    stream = load_dataset(str(out), split="train", streaming=True)
    rows = tokens = 0
    for row in stream:
        rows, tokens = rows + 1, tokens + row["token_count"]
    assert (rows, tokens) == expected
    frame = pl.read_parquet(out / "shards" / "*.parquet")
    assert (frame.height, frame["token_count"].sum()) == expected
    pandas_frame = pd.read_parquet(out / "shards")
    assert (len(pandas_frame), int(pandas_frame["token_count"].sum())) == expected
    (count, total, emails), = duckdb.sql(f"SELECT count(*), sum(token_count), sum(pii_counts.EMAIL_ADDRESS) "
                                         f"FROM '{out}/shards/*.parquet'").fetchall()
    assert (count, total) == expected and emails > 0
    card = (out / "README.md").read_text()
    assert "path: shards/*.parquet" in card and "license: unknown" in card and "To fill in" in card
    assert f"num_examples: {manifest['total_documents']}" in card


def test_using_the_output_section_runs(ran, tmp_path, monkeypatch):
    block = re.search(r"## Using the output.*?```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(ran)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    scope: dict = {}
    exec(compile(block, "README.md (Using the output)", "exec"), scope)  # noqa: S102 - our own README
    manifest = json.loads((ran / "out" / "manifest.json").read_text())
    assert scope["ds"].num_rows == manifest["total_documents"]
    assert scope["held"].num_rows == manifest["heldout"]["total_documents"]
    assert scope["tokens"] == manifest["total_tokens"]
    assert scope["tok"].eos_token == "<|endoftext|>" and len(scope["train"]) > 0


def test_whole_chain_make_run_output_trains_a_model_that_learns(ran):
    """`make run`'s output, a tiny GPT trained on it on the CPU for a few hundred steps: validation
    bits per byte below the held-out text's own unigram entropy, nothing NaN, the same seed the
    same sample, and samples that are not one token over and over (distinct-2 reported). The
    training ran beside the README's later commands (see ``SMOKE_SCRIPT``)."""
    pytest.importorskip("torch")
    import math

    smoke = SMOKE_RUNS.pop(ran)
    try:
        assert smoke.wait(timeout=900) == 0, (ran / "smoke.log").read_text()[-3000:]
    finally:
        if smoke.poll() is None:
            smoke.kill()
    model = ran / "smoke-model"
    summary = json.loads((model / "train_summary.json").read_text())
    records = [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for r in records for k, v in r.items() if k in ("loss", "val_loss", "grad_norm"))
    assert summary["heldout_documents"] > 0 and summary["steps"] == SMOKE["max_steps"]
    assert summary["val_bpb"] < summary["unigram_bpb"], (summary["val_bpb"], summary["unigram_bpb"])
    samples = summary["samples"]
    assert len(samples) == 2 and all(s["tokens"] > 20 and s["distinct_2"] > 0.3 for s in samples), samples
    assert json.loads((model / "again.json").read_text())["text"] == samples[0]["text"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (CI installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    return page, errors


def test_report_renders_its_plots_and_the_runs_numbers(ran, browser, tmp_path):
    out = ran / "out-served"
    summary = json.loads((out / "summary.json").read_text())
    page, errors = open_page(browser, (out / "report.html").as_uri())
    images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) == len(list((out / "report").glob("*.png"))) >= 3  # length, quality, cluster sizes
    assert all(done and width > 100 and height > 100 for done, width, height in images)
    text = page.inner_text("body")
    assert f"{summary['total_documents']:,} documents, {summary['total_tokens']:,} tokens" in text
    for stage in summary["stages"]:
        assert f"{stage['stage']}\t{stage['docs_in']:,}\t{stage['docs_out']:,}" in text, stage["stage"]
    assert page.locator("table").count() >= 4  # funnel, drops, PII by entity, budget
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []


def test_prefect_ui_shows_the_served_run_completed_with_its_report(ran, browser, tmp_path):
    served = SERVED[ran]
    page, errors = open_page(browser, f"{served['url']}/runs/flow-run/{served['run_id']}")
    page.get_by_text("Completed").first.wait_for(timeout=30_000)
    assert "curate" in page.inner_text("body")
    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text("curation-report").first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
    # The UI's own icons it asks for and does not ship (favicon.ico, ico/undefined.svg) are not ours.
    assert [e for e in errors if "favicon.ico" not in e and "/ico/" not in e] == []
