"""One temporary Prefect server for a whole embedded run.

Without ``PREFECT_API_URL`` every Prefect process starts its own temporary server: the flow, and
each process-pool or Ray worker, each pay ~5 s and lock one SQLite file against the others. An
embedded run starts one here and points every process at it through the environment (which
spawned workers inherit).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@contextmanager
def prefect_api() -> Iterator[str]:
    """Yield the API URL to use: the configured server's, or a temporary one's (stopped on exit)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    server = _own_session_server()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def _own_session_server() -> Any:
    """Prefect's temporary server, started in a session of its own.

    In the caller's process group, a Ctrl-C or a SIGTERM to the group (systemd, a CI runner) killed
    the server first, and the run then spent minutes retrying a dead API before it could stop;
    outside the group it lives until ``prefect_api`` stops it, after the run has stopped. On Linux it
    also gets SIGTERM when the process that started it dies (a SIGKILL, say), so it never outlives it.
    """
    import subprocess

    from prefect.server.api import server as prefect_server

    class OwnSessionServer(prefect_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            popen = subprocess.Popen

            def own_session(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
                return popen(*args, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)

            prefect_server.subprocess.Popen = own_session  # type: ignore[misc]
            try:
                return super()._run_uvicorn_command()
            finally:
                prefect_server.subprocess.Popen = popen  # type: ignore[misc]

    return OwnSessionServer()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
