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

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@contextmanager
def prefect_api() -> Iterator[str]:
    """Yield the API URL to use: the configured server's, or a temporary one's (stopped on exit)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()
