"""One temporary Prefect server for a whole embedded run.

Without ``PREFECT_API_URL`` every Prefect process starts its own temporary server: the flow, and
each process-pool or Ray worker, each pay ~5 s and lock one SQLite file against the others. An
embedded run starts one here and points every process at it through the environment (which
pool workers get, see curation.pipeline.local.process_pool).

The server is the command Prefect's own ``SubprocessASGIServer`` runs (uvicorn on
``prefect.server.api.server:create_app``, UI off, ephemeral: ``SERVER_MAIN``), started here
without importing that class: importing it imports the whole server into the caller (3.3 s
on 2 cores), and the caller never serves anything. Started before the caller imports Prefect, the
server boots while the caller imports the flow.

By default one such server is shared by the runs of a user (:class:`SharedServer`): the first run
starts it, later runs use it, and it stops itself once no run has used it for
``CURATION_PREFECT_SERVER_IDLE`` seconds (600). Booting one costs ~3 s of CPU and 2 s of a small
run's wall time. ``CURATION_PREFECT_SERVER=run`` gives every run a server of its own instead,
stopped with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import IO, Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# What Prefect's SubprocessASGIServer adds to the server's environment (prefect 3.9).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
              "PREFECT_SERVER_EPHEMERAL_ENABLED": "True"}
# Defaults of ours, under the user's environment: the triggers service evaluates automations, which
# nobody defines on a server without a UI that serves one user's command-line runs; it cost a third
# of an idle server's CPU (and the server idles for CURATION_PREFECT_SERVER_IDLE after each run).
QUIET_ENV = {"PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false"}


# `uvicorn --app-dir PREFECT_PARENT --factory prefect.server.api.server:create_app --host 127.0.0.1
# --port PORT --log-level error --lifespan on`, with the app built while the cyclic collector is
# paused and its objects then frozen: the server keeps them for its life, and the collector's full
# passes over its growing heap took ~0.6 of the ~9 CPU-s a server spent booting on a new database,
# and ~0.3 s more in its first run. Its background worker polls less (quiet_background_worker).
SERVER_MAIN = """
import gc, sys
sys.path[:0] = [sys.argv[1], sys.argv[3]]  # Prefect's own folder first, as --app-dir does; then ours
import uvicorn
from flows.embedded import quiet_background_worker

def app():
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        quiet_background_worker()
        from prefect.server.api.server import create_app
        return create_app()
    finally:
        gc.freeze()
        gc.set_threshold(*before)

uvicorn.run(app, factory=True, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", lifespan="on")
"""


def quiet_background_worker(every: float = 2.0) -> None:
    """Make the server's background worker (docket, on an in-memory Redis whose scripts run in
    Python) look for due work every ``every`` seconds instead of every 0.25 s: the services it runs
    for a server like this one (late runs, cancellation clean-up, vacuums) have periods of seconds
    to hours, and its polling cost a fifth of an idle server's CPU. Call before the app is built;
    a Prefect that builds its worker otherwise keeps its own defaults."""
    from datetime import timedelta

    try:
        import docket
        import prefect.server.api.background_workers as background
    except ImportError:
        return
    if getattr(background, "Worker", None) is not docket.Worker:
        return

    class Worker(docket.Worker):
        def __init__(self, *args: Any, **kwargs: Any):
            kwargs.setdefault("minimum_check_interval", timedelta(seconds=every))
            kwargs.setdefault("scheduling_resolution", timedelta(seconds=every))
            super().__init__(*args, **kwargs)

    background.Worker = Worker


@dataclass
class PrefectApi:
    """The API a run reports to; ``wait()`` returns once it answers (at once for a configured one)."""

    url: str
    server: TemporaryServer | SharedServer | None = None

    def wait(self) -> str:
        if self.server is not None:
            self.server.wait()
        return self.url


@contextmanager
def local_server() -> Iterator[TemporaryServer | SharedServer | None]:
    """The temporary server a run without ``PREFECT_API_URL`` reports to, started (not awaited) and
    stopped on exit; None where that variable names one. Imports no Prefect, so the server boots
    while the caller imports and checks whatever it needs before it imports Prefect."""
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    server: TemporaryServer | SharedServer = TemporaryServer()
    if os.environ.get("CURATION_PREFECT_SERVER", "shared") != "run" and sys.platform != "win32":
        server = SharedServer(shared_server_dir(), float(os.environ.get("CURATION_PREFECT_SERVER_IDLE", 600)))
    try:
        server.start()
    except OSError as exc:
        if not isinstance(server, SharedServer):
            raise
        # A read-only home, a cache on a file system without locks: the run still runs, on a
        # server of its own, and says why.
        server.stop()
        print(f"note: the shared Prefect server's folder {server.directory} cannot be used ({exc}); "
              "this run starts a server of its own", file=sys.stderr)
        server = TemporaryServer()
        server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def prefect_api(wait: bool = True, server: TemporaryServer | SharedServer | None = None) -> Iterator[PrefectApi]:
    """The API to use: the configured server's, or a temporary one's (stopped on exit).

    Args:
        wait: return once the temporary server answers; with False the caller calls
            ``api.wait()`` itself, after work that does not need the API (importing the flow).
        server: one :func:`local_server` started (the caller stops it); default: start one here.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield PrefectApi(configured)
        return
    with contextlib.nullcontext(server) if server is not None else local_server() as server:
        assert server is not None
        from prefect.context import refresh_global_settings_context
        from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        profile_url = PREFECT_API_URL.value()
        if profile_url:  # set in the active Prefect profile: that server, not ours
            server.stop()
            yield PrefectApi(profile_url)
            return
        os.environ["PREFECT_API_URL"] = server.api_url
        try:
            # Prefect's threads (the process pool's event forwarder among them) read the settings
            # Prefect built from the environment when it was imported, not the caller's context:
            # without this they found no API and started a temporary server of their own (3-5 s of
            # CPU per run), which then received the pool's task events.
            refresh_global_settings_context()
            api = PrefectApi(server.api_url, server)
            if wait:
                api.wait()
            # No flow-run heartbeats to a server of our own: no automation there watches for them,
            # and the engine's heartbeat thread sleeps in whole seconds, so ending a flow waited up
            # to 1 s for it to wake (1.2 s measured on the 4,000-document slice).
            with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                yield api
        finally:
            if server.ready:
                _drain()
            if os.environ.get("PREFECT_API_URL") == server.api_url:
                os.environ.pop("PREFECT_API_URL")
                if "prefect.context" in sys.modules:
                    sys.modules["prefect.context"].refresh_global_settings_context()


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

    def start(self, port: int | None = None) -> None:
        """Start it on ``port`` (reserved by the caller), or on a free port reserved here."""
        if port is None:
            self._reserved = _reserve_port()
            port = self._reserved.getsockname()[1]
        self.port = port
        spec = find_spec("prefect")
        assert spec is not None and spec.origin is not None
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER_MAIN, str(Path(spec.origin).parent.parent), str(self.port), _package_root()],
            env={**QUIET_ENV, **os.environ, **SERVER_ENV}, start_new_session=True, preexec_fn=_die_with_parent)

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


def _reserve_port() -> socket.socket:
    """A socket bound to a free loopback port with SO_REUSEADDR and never listening: it keeps the
    port from everyone else while uvicorn (which sets SO_REUSEADDR) can still bind it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def shared_server_dir() -> Path:
    """The shared server's folder: one per user, Prefect version, interpreter and Prefect database,
    so a run never reports to a server of another version or into another database."""
    key = json.dumps([version("prefect"), sys.executable] + [os.environ.get(k, "") for k in (
        "PREFECT_PROFILE", "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")])
    home = os.environ.get("PREFECT_HOME")  # Prefect's own folder when set (its database is there)
    base = Path(home) if home else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curation"
    return base / f"curation-prefect-server-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


@dataclass
class SharedServer:
    """A temporary server shared by every run of this user, stopped once idle.

    A supervisor process (``python -m flows.embedded serve``, in a session of its own) runs the
    server and writes ``server.json``. Each run holds a shared lock on ``lease`` while it uses the
    server; the supervisor stops it once it can take that lock exclusively and no run has held it
    for ``idle`` seconds, so it never stops under a run. ``start.lock`` makes concurrent runs agree
    on one server. What the folder holds is this module's, and only its own files are replaced.
    """

    directory: Path
    idle: float
    timeout: float = 60.0
    api_url: str = ""
    ready: bool = False
    _lease: IO[str] | None = field(default=None, repr=False)
    _start_lock: IO[str] | None = field(default=None, repr=False)
    _reserved: socket.socket | None = field(default=None, repr=False)
    _supervisor: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Take a lease and find the running server, or launch one (``wait`` waits for it)."""
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        self._lease = open(self.directory / "lease", "a")
        fcntl.flock(self._lease, fcntl.LOCK_SH)  # waits while a supervisor decides to stop
        os.utime(self.directory / "lease")
        self._start_lock = open(self.directory / "start.lock", "a")
        fcntl.flock(self._start_lock, fcntl.LOCK_EX)
        running = _running_server(self.directory)
        if running:
            self.api_url, self.ready = running, True
            self._unlock_start()
            return
        self._reserved = _reserve_port()
        port = self._reserved.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{port}/api"
        with open(self.directory / "server.log", "wb") as log:
            self._supervisor = subprocess.Popen(
                [sys.executable, "-m", "flows.embedded", "serve", str(self.directory), str(port), str(self.idle)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.directory, env={**os.environ, "PYTHONPATH": _import_path()})

    def wait(self) -> None:
        """Block until the server this run uses answers."""
        deadline = time.monotonic() + self.timeout
        while not self.ready:
            assert self._supervisor is not None
            if self._supervisor.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the shared Prefect server did not start (see {self.directory / 'server.log'}): "
                                   f"{log.strip() or 'no output'}")
            self.ready = _running_server(self.directory) == self.api_url
            if not self.ready:
                time.sleep(0.05)
        self._unlock_start()

    def _unlock_start(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        if self._start_lock is not None:
            self._start_lock.close()  # closing the file drops its lock
            self._start_lock = None

    def stop(self) -> None:
        """End this run's lease; the server stays up for the next run until it has been idle."""
        if not self.ready and self._supervisor is not None:
            self._supervisor.terminate()  # launched by this run and never used
        self._unlock_start()
        if self._lease is not None:
            with contextlib.suppress(OSError):  # also called when start() failed half-way
                os.utime(self.directory / "lease")  # idle from now
            self._lease.close()
            self._lease = None


def _package_root() -> str:
    """The folder ``flows`` is imported from (not a ``flows`` of the working folder's)."""
    return str(Path(__file__).resolve().parent.parent)


def _import_path() -> str:
    """Where ``flows`` is importable from, first: the supervisor runs from the shared folder."""
    return os.pathsep.join([_package_root(), *filter(None, [os.environ.get("PYTHONPATH")])])


def _running_server(directory: Path) -> str | None:
    """The URL in ``server.json`` if its supervisor lives and the server answers, else None."""
    import httpx

    try:
        state = json.loads((directory / "server.json").read_text())
        os.kill(int(state["pid"]), 0)
        if httpx.get(f"{state['url']}/health", timeout=5).status_code == 200:
            return str(state["url"])
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
        pass
    return None


def serve(directory: Path, port: int, idle: float, poll: float = 1.0) -> int:
    """The shared server's supervisor: run it, publish it, stop it once idle (see SharedServer)."""
    import fcntl

    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: stopping.append(signum))
    server = TemporaryServer()
    server.start(port)
    state = directory / "server.json"
    me = {"url": server.api_url, "pid": os.getpid()}
    try:
        server.wait()
        tmp = directory / f".server.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(me))
        os.replace(tmp, state)
        last_busy = time.time()
        with open(directory / "lease", "a") as lease:
            while not stopping and server.process is not None and server.process.poll() is None:
                time.sleep(poll)
                if _state(state) != me:
                    break  # another supervisor took over
                try:
                    fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    last_busy = time.time()  # a run holds a lease
                    continue
                # Exclusive: no run can start using the server until this decides.
                idle_since = max(last_busy, os.stat(directory / "lease").st_mtime)
                if time.time() - idle_since >= idle:
                    break
                fcntl.flock(lease, fcntl.LOCK_UN)
            # Still holding the lease exclusively when idle: no run finds this server between its
            # record going and the server stopping. The finally below is for the other ways out.
            if _state(state) == me:
                state.unlink(missing_ok=True)
            server.stop()
    finally:
        if _state(state) == me:
            state.unlink(missing_ok=True)
        server.stop()
    return 0


def _state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    import ctypes

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"] or len(sys.argv) != 5:
        sys.exit("usage: python -m flows.embedded serve DIRECTORY PORT IDLE_SECONDS")
    sys.exit(serve(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
