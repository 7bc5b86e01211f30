"""The installed ``curate`` command: the library's CLI, with ``curate run`` executed as the Prefect flow."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from curation import cli


def run_flow(args: argparse.Namespace, config: Any, progress: bool) -> str:
    """``curate run`` through the flow ``curate`` (process pool or Ray), against ``PREFECT_API_URL``
    or one temporary server for every process of the run."""
    from curation.io.readers import resolve_inputs

    resolve_inputs(args.input)  # a missing input is a one-line error before any server starts
    # Task-state lines for every partition would drown the run's summary, and this command prints
    # its own one-line errors; set PREFECT_LOGGING_LEVEL to see Prefect's logs.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    from flows.embedded import prefect_api

    with prefect_api():
        from flows.curate import curate, runner

        task_runner = runner(args.runner, args.ray_address, args.workers)
        done = curate.with_options(task_runner=task_runner)(
            input=list(args.input), output=args.output, config=config, fresh=args.fresh,
            keep_intermediate=args.keep_intermediate, work_dir=args.work_dir, progress=progress)
    return done["report"]


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, flow_runner=run_flow)


if __name__ == "__main__":
    sys.exit(main())
