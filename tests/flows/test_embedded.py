"""The embedded run's Prefect server: shared by a user's runs, stopped once idle, never under a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# One run's use of the API: print the URL and the supervisor's pid, hold the lease for HOLD seconds,
# check the server still answers at the end of it.
RUN = textwrap.dedent("""
    import json, os, sys, threading, time, httpx
    from flows.embedded import prefect_api, shared_server_dir
    with prefect_api() as api:
        from prefect.settings import get_current_settings
        state = shared_server_dir() / "server.json"
        pid = json.loads(state.read_text())["pid"] if state.exists() else None
        # Prefect's own threads (the process pool's event forwarder) must see this API too.
        seen = []
        thread = threading.Thread(target=lambda: seen.append(get_current_settings().api.url))
        thread.start(); thread.join()
        time.sleep(float(sys.argv[1]))
        ok = httpx.get(api.url + "/health", timeout=5).status_code == 200 and seen == [api.url]
        # No flow-run heartbeats to our own server (ending a flow waited up to 1 s for that thread).
        heartbeat = get_current_settings().flows.heartbeat_frequency
        served = httpx.get(api.url + "/admin/settings", timeout=5).json()["server"]["services"]
        print(json.dumps({"url": api.url, "pid": pid, "ok": ok, "heartbeat": heartbeat,
                          "triggers": served["triggers"]["enabled"]}))
""")


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CURATION_"))}
    tmp_path.mkdir(parents=True, exist_ok=True)
    # Prefect's own database (already migrated: a new one costs seconds per test), our folder.
    return base | {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT),
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}


def use(environ: dict[str, str], hold: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUN, str(hold)], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent, the first run, has exited).
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def server_dir(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "cache" / "curation").glob("curation-prefect-server-*")
    return found


def test_runs_share_one_server_that_stops_once_idle(tmp_path):
    environ = env(tmp_path, CURATION_PREFECT_SERVER_IDLE="2")
    # Two runs starting together agree on one server; the first to need it starts it.
    first, second = use(environ, hold=1), use(environ, hold=1)
    a, b = result(first), result(second)
    assert a["url"] == b["url"] and a["pid"] == b["pid"] and a["ok"] and b["ok"]
    assert a["heartbeat"] is None
    assert a["triggers"] is False  # no automations on a server without a UI: its service idles
    # A run that lasts longer than the idle time keeps it up: it stops only once idle.
    held = result(use(environ, hold=4))
    assert held["url"] == a["url"] and held["ok"]
    deadline = time.monotonic() + 30
    while (server_dir(tmp_path) / "server.json").exists() or alive(a["pid"]):
        assert time.monotonic() < deadline, "the idle server did not stop"
        time.sleep(0.2)


def test_the_servers_background_worker_polls_every_two_seconds(tmp_path):
    """What the server's script does before building its app: Prefect's docket worker, built as
    Prefect builds it, polls its in-memory Redis every 2 s instead of every 0.25 s (the polling cost
    a fifth of an idle server's CPU). Fails if Prefect stops building it this way."""
    script = textwrap.dedent("""
        import docket
        from flows.embedded import quiet_background_worker
        quiet_background_worker()
        import prefect.server.api.background_workers as background
        worker = background.Worker(docket.Docket(name="test", url="memory://quiet"))
        print(worker.minimum_check_interval.total_seconds(), worker.scheduling_resolution.total_seconds(),
              docket.Worker(docket.Docket(name="test", url="memory://other")).scheduling_resolution.total_seconds())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2.0", "2.0", "0.25"]


def test_a_stale_record_is_replaced_and_a_stopped_server_cleans_up(tmp_path):
    environ = env(tmp_path, CURATION_PREFECT_SERVER_IDLE="60")
    first = result(use(environ))
    state = server_dir(tmp_path) / "server.json"
    os.kill(first["pid"], 9)  # the supervisor killed: its server gets SIGTERM with it (PDEATHSIG)
    time.sleep(0.5)
    assert json.loads(state.read_text())["pid"] == first["pid"]  # left behind
    replaced = result(use(environ))  # the next run starts a new one
    assert replaced["ok"] and replaced["pid"] != first["pid"]
    os.kill(replaced["pid"], 15)  # stopped by hand: it cleans up after itself
    deadline = time.monotonic() + 30
    while state.exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)



def test_a_run_can_have_a_server_of_its_own(tmp_path, monkeypatch):
    """CURATION_PREFECT_SERVER=run: the run's own TemporaryServer (the one the supervisor runs, so
    booting it is tested above), nothing shared written."""
    from flows import embedded

    started = []

    def refuse(self, port=None):
        started.append(type(self).__name__)
        raise RuntimeError("not booted in this test")

    monkeypatch.setattr(embedded.TemporaryServer, "start", refuse)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CURATION_PREFECT_SERVER", "run")
    with pytest.raises(RuntimeError, match="not booted"):
        with embedded.prefect_api():
            pass
    assert started == ["TemporaryServer"] and not (tmp_path / "curation").exists()


def test_an_unusable_shared_folder_means_a_server_of_its_own(tmp_path):
    """A read-only home or a cache without locks must not stop a run: it gets a server of its own
    and says why."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    proc = use(env(tmp_path) | {"XDG_CACHE_HOME": str(blocked)})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["ok"]
    assert "note: the shared Prefect server's folder" in err and "a server of its own" in err
    assert blocked.read_text() == "a file where the cache folder would be"
