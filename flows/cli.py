"""The installed ``curate`` command: the library's CLI, with ``curate run`` executed as the Prefect flow."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gc
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from curation.errors import CurationError
from flows.embedded import SharedServer, TemporaryServer, local_server, prefect_api

if TYPE_CHECKING:
    from curation.config import PipelineConfig


def run_flow(args: argparse.Namespace, config: Any, progress: bool, notes: list[str],
             server: TemporaryServer | SharedServer | None = None, own_process: bool = False) -> str:
    """``curate run`` through the flow ``curate`` (process pool or Ray), against ``PREFECT_API_URL``
    or one temporary server for every process of the run (``server``: one :func:`main` started
    while the CLI checked the config, inputs and output). ``own_process``: this is the command's
    process, whose modules may be frozen (:func:`curation.pipeline.local.freeze_loaded`)."""
    if args.runner == "ray" and args.ray_address:
        check_reachable(args.ray_address)
    # Prefect is imported only now, after the checks: a run of several partitions first starts
    # the pool's workers, which load the stages and models while this process imports Prefect
    # and creates the flow run (~1.5 s of one core, the other idle).
    from curation.pipeline.local import freeze_loaded, pause_collector, warm_pool

    pool = warm_pool(args.input, config, args.workers) if args.runner == "process" else None
    if own_process:
        pause_collector()  # until Prefect's modules are in
    try:
        with prefect_api(wait=False, server=server) as api:
            from flows.curate import curate, runner

            if own_process:
                freeze_loaded()
            task_runner = runner(args.runner, args.ray_address, args.workers, pool=pool)
            api.wait()
            try:
                done = curate.with_options(task_runner=task_runner)(
                    input=list(args.input), output=args.output, config=config, fresh=args.fresh,
                    keep_intermediate=args.keep_intermediate, work_dir=args.work_dir, progress=progress,
                    notes=notes)
            except CurationError:
                raise
            except Exception as exc:
                if args.runner == "ray" and _is_connection_error(exc):
                    where = args.ray_address or "a local Ray"
                    raise CurationError(f"cannot start or reach {where}: {str(exc).strip().splitlines()[0][:300]}"
                                        ) from None
                raise
    finally:
        if pool is not None:
            pool.shutdown()
    return done["report"]


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``ray://HOST:PORT`` or ``HOST:PORT`` address answers a TCP connect, before any server starts
    (Ray's own client retries for half a minute before it says no)."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise CurationError(f"cannot start or reach {address}: {exc}") from None


def _is_connection_error(exc: BaseException) -> bool:
    """Ray reports an unreachable cluster as ConnectionError, or as a RuntimeError/ValueError from
    its client; any of those raised before the first task is the cluster's, not the pipeline's."""
    chain: list[BaseException] = []
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return any(isinstance(e, ConnectionError) or type(e).__module__.startswith("ray") for e in chain)


def main(argv: list[str] | None = None) -> int:
    # Task-state lines for every partition would drown the run's summary, and this command prints
    # its own one-line errors; set PREFECT_LOGGING_LEVEL to see Prefect's logs.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    ended = None
    if argv is None:  # the command's own process, not a caller's
        atexit.register(gc.freeze)  # if it raises (curation.pipeline.local.freeze_at_exit)
        ended = end_after_exit_handlers()
    argv = sys.argv[1:] if argv is None else list(argv)
    if ended is not None and argv[:1] == ["run"]:
        from curation.pipeline.local import pause_collector  # a run imports it at once anyway

        pause_collector()  # while the command imports and loads: ready_to_run resumes it
    config = pool_config(argv)
    if config is not None:
        from curation.pipeline.local import start_pool_server

        start_pool_server(config)  # its preload runs beside this process's imports and checks
    # A flow run needs its temporary server (~2-3 s to boot): start it before the CLI's own imports
    # and checks, which then cost nothing; a run the checks refuse stops it unused.
    with local_server() if runs_flow(argv) else contextlib.nullcontext() as server:
        from classifiers.cli import TRAIN_CLASSIFIER
        from classifiers.default import fill_default_model
        from curation import cli

        own = ended is not None
        code = cli.main(argv, flow_runner=functools.partial(run_flow, server=server, own_process=own),
                        default_model=fill_default_model, commands=(TRAIN_CLASSIFIER,),
                        ready=ready_to_run if own else None)
    if ended is not None:
        ended.append(code)
    return code


def ready_to_run(args: argparse.Namespace, config: Any) -> None:
    """The command's own process, once a run's checks passed: where the run's partitions run in
    this process (one worker), load the first pass's chain now, as a pool
    worker's server does (what its first batch would load, with the same stages cached), so that
    :func:`~curation.pipeline.local.freeze_loaded` takes the models with the modules. :func:`main`
    paused the collector for a run's imports and loads (its full passes over the growing heap:
    ~0.1 s of the imports, ~0.35 s of loading the default chain); it resumes here."""
    from curation.pipeline.local import first_pass_workers, freeze_loaded, warm_up

    try:
        if args.runner != "ray" and not first_pass_workers(args.input, config, args.workers):
            warm_up(config)
    except Exception:  # noqa: BLE001 - as a pool worker's warm-up: the step that needs it fails in context
        pass
    freeze_loaded()


def end_after_exit_handlers() -> list[int]:
    """Let this process end, once its threads are joined and every exit handler has run, without
    the interpreter's teardown; returns the list to append the exit code to (a command that raised
    appends none and ends the usual way).

    After a run, 0.46-0.72 s passed between the last exit handler and the process's end: CPU with no
    system call in it (strace), the interpreter's finalization and the loaded libraries' C exit
    handlers and destructors, for memory and files the system takes back at once. Registered
    first, the handler runs last: after Prefect's, multiprocessing's and any other handler. It does
    what the teardown would still have done for us: close logging's handlers (whose exit handler
    was registered at import, before this one) and flush the standard streams.
    """
    code: list[int] = []

    def end() -> None:
        if code:
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
                    stream.flush()
            os._exit(code[0])

    atexit.register(end)
    return code


def pool_config(argv: list[str]) -> PipelineConfig | None:
    """The config of ``argv`` if it is a ``curate run`` of readable inputs on several local workers
    (the pool's processes, not Ray's), else None: looked at
    before the CLI's own imports and checks, to start the workers' fork server beside them with
    the run's chain. A wrong answer changes when the server starts and what it preloads, never the
    run (an invalid command is refused later, with its reason)."""
    if argv[:1] != ["run"] or {"-h", "--help"} & set(argv):
        return None
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--input", "-i", nargs="+", default=[])
    parser.add_argument("--config", "-c")
    parser.add_argument("--workers", "-w", default=str(os.cpu_count() or 1))
    parser.add_argument("--runner", default="process")
    for flag in ("--text-field", "--id-field", "--tokenizer", "--preset"):
        parser.add_argument(flag)
    try:
        args = parser.parse_known_args(argv[1:])[0]
    except argparse.ArgumentError:
        return None
    if args.runner == "ray" or not args.workers.isdigit() or int(args.workers) < 2:
        return None
    from curation.config import load_config, run_overrides
    from curation.io.storage import is_url
    from curation.pipeline.local import partition_count

    if not args.input or any(is_url(p) for p in args.input):
        return None  # listing remote folders twice costs more than the server's start saves
    try:
        config = load_config(args.config, run_overrides(args.text_field, args.id_field, args.tokenizer, args.preset))
    except Exception:  # noqa: BLE001 - the CLI reports a bad config itself
        return None
    return config if partition_count(args.input, config.input.partition_bytes) > 0 else None


def runs_flow(argv: list[str]) -> bool:
    """Whether ``argv`` is a ``curate run`` on a Prefect runner (not ``--runner library``, not help)."""
    if argv[:1] != ["run"] or {"-h", "--help"} & set(argv):
        return False
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runner")
    return parser.parse_known_args(argv[1:])[0].runner != "library"


if __name__ == "__main__":
    sys.exit(main())
