"""One temporary Prefect server for a whole embedded run.

Without ``PREFECT_API_URL`` every Prefect process starts its own temporary server: the flow, and
each process-pool or Ray worker, each pay ~5 s and lock one SQLite file against the others. An
embedded run starts one here and points every process at it through the environment (which
spawned workers inherit).

The server is the command Prefect's own ``SubprocessASGIServer`` runs (uvicorn on
``prefect.server.api.server:create_app``, UI off, ephemeral), started here without importing
that class: importing it imports the whole server into the caller (3.3 s on 2 cores), and the
caller never serves anything. Started before the caller imports Prefect, the server boots while
the caller imports the flow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# What Prefect's SubprocessASGIServer adds to the server's environment (prefect 3.9).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
              "PREFECT_SERVER_EPHEMERAL_ENABLED": "True"}


@dataclass
class PrefectApi:
    """The API a run reports to; ``wait()`` returns once it answers (at once for a configured one)."""

    url: str
    server: TemporaryServer | None = None

    def wait(self) -> str:
        if self.server is not None:
            self.server.wait()
        return self.url


@contextmanager
def prefect_api(wait: bool = True) -> Iterator[PrefectApi]:
    """The API to use: the configured server's, or a temporary one's (stopped on exit).

    Args:
        wait: return once the temporary server answers; with False the caller calls
            ``api.wait()`` itself, after work that does not need the API (importing the flow).
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield PrefectApi(configured)
        return
    server = TemporaryServer()
    server.start()  # before importing Prefect: it boots while we import
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        profile_url = PREFECT_API_URL.value()
        if profile_url:  # set in the active Prefect profile: that server, not ours
            server.stop()
            yield PrefectApi(profile_url)
            return
        os.environ["PREFECT_API_URL"] = server.api_url
        api = PrefectApi(server.api_url, server)
        if wait:
            api.wait()
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield api
    finally:
        if server.ready:
            _drain()
        if os.environ.get("PREFECT_API_URL") == server.api_url:
            os.environ.pop("PREFECT_API_URL")
        server.stop()


def _drain(timeout: float = 10.0) -> None:
    """Send the run's queued events and logs while the server still answers: left for the
    interpreter's exit, they are retried against a stopped server."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        worker.drain_all(timeout=timeout, at_exit=False)


@dataclass
class TemporaryServer:
    """Prefect's temporary API server in a child process, in a session of its own.

    In the caller's process group, a Ctrl-C or a SIGTERM to the group (systemd, a CI runner) killed
    the server first, and the run then spent minutes retrying a dead API before it could stop;
    outside the group it lives until ``prefect_api`` stops it, after the run has stopped. On Linux it
    also gets SIGTERM when the process that started it dies (a SIGKILL, say), so it never outlives it.
    """

    timeout: float = 60.0
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ready: bool = False
    # Holds the port from start to ready: bound with SO_REUSEADDR and never listening, so uvicorn
    # (which sets SO_REUSEADDR) can bind it and nothing else can take it meanwhile.
    _reserved: socket.socket | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        self._reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._reserved.bind(("127.0.0.1", 0))
        self.port = self._reserved.getsockname()[1]
        spec = find_spec("prefect")
        assert spec is not None and spec.origin is not None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parent.parent),
             "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, **SERVER_ENV}, start_new_session=True, preexec_fn=_die_with_parent)

    def wait(self) -> None:
        """Block until ``/health`` answers 200."""
        import httpx

        deadline = time.monotonic() + self.timeout
        with httpx.Client() as client:
            while not self.ready:
                assert self.process is not None
                status = self.process.poll()
                if status is not None:
                    raise RuntimeError(f"the temporary Prefect server exited with status {status}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the temporary Prefect server did not answer within {self.timeout:.0f} s")
                try:
                    self.ready = client.get(f"{self.api_url}/health").status_code == 200
                except httpx.TransportError:
                    pass
                if not self.ready:
                    time.sleep(0.05)
        self._release()

    def _release(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def stop(self) -> None:
        self._release()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    import ctypes

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
