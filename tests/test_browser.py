"""What users look at, in a real browser: the run's report.html, and the Prefect UI of `make serve`.

Headless Chromium (Debian's ``chromium``; CI installs it) driven by Playwright with the system browser,
since browser downloads cannot be reached. Elsewhere the test skips with a one-line reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import MESSY, ROOT, SAMPLE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium (CI installs it)")
BIN = Path(sys.executable).parent
# Chromium as root in a container, with nothing that phones home (the machine has no network).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_run(tmp_path_factory):
    """`make serve`'s server and deployment (UI on), one default run through `prefect deployment run`."""
    from flows.serve import stop

    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    with open(tmp / "serve.log", "w") as log:
        serve = subprocess.Popen([sys.executable, "-m", "flows.serve", "--start-server", "--port", str(port),
                                  "--prefect-home", str(tmp / "home"), "--workers", "2"], cwd=ROOT, env=env,
                                 start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    client = env | {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    try:
        deadline = time.monotonic() + 180
        while subprocess.run([BIN / "prefect", "deployment", "inspect", "curate/main"], env=client,
                             capture_output=True).returncode != 0:
            assert serve.poll() is None and time.monotonic() < deadline, (tmp / "serve.log").read_text()
            time.sleep(1)
        params = {"input": [str(SAMPLE), str(MESSY)], "output": str(tmp / "out")}
        done = subprocess.run([BIN / "prefect", "deployment", "run", "curate/main", "--watch", "--params",
                               json.dumps(params)], env=client, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout).group(1)
        yield {"url": f"http://127.0.0.1:{port}", "run_id": run_id, "out": tmp / "out"}
    finally:
        stop(serve)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    return page, errors


def test_report_renders_its_plots_and_the_runs_numbers(served_run, browser, tmp_path):
    out = served_run["out"]
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


def test_prefect_ui_shows_the_run_completed_with_its_report(served_run, browser, tmp_path):
    page, errors = open_page(browser, f"{served_run['url']}/runs/flow-run/{served_run['run_id']}")
    page.get_by_text("Completed").first.wait_for(timeout=30_000)
    assert "curate" in page.inner_text("body")
    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text("curation-report").first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
    # The UI's own icons it asks for and does not ship (favicon.ico, ico/undefined.svg) are not ours.
    assert [e for e in errors if "favicon.ico" not in e and "/ico/" not in e] == []
