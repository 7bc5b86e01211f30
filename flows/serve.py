"""Serve the deployment ``curate/main`` (``make serve``), optionally starting a local server first.

    python -m flows.serve --start-server            # server on 127.0.0.1:4200 (SQLite) + deployment
    prefect deployment run curate/main --watch \\
        --params '{"input": ["sample_data/corpus.jsonl.gz"], "output": "out/"}'

With ``--start-server`` every process started here gets ``PREFECT_API_URL`` of that server
(analytics off); otherwise the configured ``PREFECT_API_URL`` is used. ``--runner ray
[--ray-address ADDRESS]`` serves the same flow on Ray.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def start_server(host: str, port: int, home: Path | None = None, timeout: float = 120) -> subprocess.Popen:
    """``prefect server start`` as a child process; returns once its health endpoint answers."""
    # Logs streamed out (off by default in Prefect): `prefect deployment run --watch` then shows the
    # run's log lines, the failure reason among them, not only the final state's name.
    # The UI ships inside the prefect wheel and needs no network: the "View at" links the runs print
    # lead to it.
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="true",
               PREFECT_UI_API_URL=f"http://{host}:{port}/api",  # else the UI asks port 4200 whatever the port
               PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED="true", PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED="true")
    if home is not None:
        env["PREFECT_HOME"] = str(home)  # its own SQLite database
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
                              env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    url = f"http://{host}:{port}/api/health"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    stop(server)
    raise RuntimeError(f"prefect server did not answer on {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="main", help="deployment name (default: main)")
    parser.add_argument("--runner", choices=("process", "ray"), default="process")
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: a local Ray per flow run)")
    parser.add_argument("--workers", type=int, help="processes or Ray CPUs (default: all cores)")
    parser.add_argument("--start-server", action="store_true", help="start a local Prefect server first")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    parser.add_argument("--prefect-home", type=Path, help="PREFECT_HOME of the started server (its database)")
    args = parser.parse_args(argv)
    server = None
    if args.start_server:
        shell_url = os.environ.get("PREFECT_API_URL")
        server = start_server(args.host, args.port, args.prefect_home)
        # One API URL for everything this process starts (the deployment, its runs, their tasks),
        # whatever the shell had: the started server's.
        url = f"http://{args.host}:{args.port}/api"
        os.environ["PREFECT_API_URL"] = url
        print(f"Prefect server on http://{args.host}:{args.port}; the deployment curate/{args.name} is served there.\n"
              f"In another shell:  export PREFECT_API_URL={url}\n"
              f"                   prefect deployment run curate/{args.name} --watch --params '{{...}}'", flush=True)
        if shell_url and shell_url.rstrip("/") != url:
            print(f"note: this shell's PREFECT_API_URL ({shell_url}) is not used by this process; a client still "
                  "pointing there would not see this deployment", file=sys.stderr, flush=True)
    elif not os.environ.get("PREFECT_API_URL"):
        print("note: PREFECT_API_URL is not set; each process would start its own temporary server. "
              "Use --start-server or point PREFECT_API_URL at a server.", file=sys.stderr)
    try:
        from flows.curate import curate, runner

        flow = curate.with_options(task_runner=runner(args.runner, args.ray_address, args.workers))
        flow.serve(name=args.name)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
