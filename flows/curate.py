"""Flow ``curate``: the library's step graph on Prefect tasks, one task per step and partition.

The order of the steps is :func:`curation.pipeline.build_graph`'s; this file only maps Prefect onto
it (:class:`PrefectRunner`): a per-partition step becomes one task run per partition, a step that
runs once becomes one task, and a step that orchestrates pieces of its own (dedup's phases) runs in
the flow with a ``map`` whose pieces are tasks. The task runner decides where tasks run: the library's
process pool (:class:`LocalTaskRunner`), or Ray through prefect-ray.

    curate(input=["sample_data/corpus.jsonl.gz"], output="out/")       # embedded, process pool
    curate.with_options(task_runner=runner("ray", address))(...)        # on a Ray cluster
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext
from prefect.futures import as_completed
from prefect.logging.handlers import APILogHandler
from prefect.task_runners import ThreadPoolTaskRunner, TaskRunner
from tqdm import tqdm

from classifiers.default import fill_default_model
from curation import pipeline
from curation.config import PipelineConfig
from curation.pipeline import Step
from curation.pipeline.local import call_each, process_pool


def transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O errors (a flaky shared filesystem or object store), never a bad config or bug."""
    try:
        state.result()
    except (OSError, TimeoutError):
        return True
    except BaseException:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


# Results are not persisted by Prefect: the steps write their own outputs and completion markers,
# which is what resuming relies on.
TASK = dict(retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=transient, persist_result=False,
            cache_policy=None)


@task(name="step", **TASK)
def step_task(fn: Callable[..., Any], item: Any = None) -> Any:
    """One call of a step: ``fn(item)`` for a partition (or a chunk of an orchestrating step's
    pieces), ``fn()`` for a step that runs once."""
    return fn() if item is None else fn(item)


def with_default_model(config: PipelineConfig) -> tuple[PipelineConfig, list[str]]:
    """``config`` with the demo quality model filled in where none is configured, and the note."""
    config = config.model_copy(deep=True)
    return config, fill_default_model(config)


class LocalTaskRunner(ThreadPoolTaskRunner):
    """The embedded run's task runner: each task run's bookkeeping (its states, retries, logs) on a
    thread of the flow's process, its work in the library's process pool.

    Prefect's ``ProcessPoolTaskRunner`` runs the whole task engine in its workers: each imports
    Prefect and reports every task's states from there, ~1 s of CPU per worker and ~85 ms per task
    on the cores the work needs. A worker here runs the step alone, as under ``--runner library``,
    and a task run is the same task run in the UI.

    Args:
        max_workers: processes of the pool (default: one per core).
        pool: a pool of as many processes already started (:func:`curation.pipeline.local.warm_pool`),
            used instead of one of its own and left to its owner to shut down.
    """

    def __init__(self, max_workers: int | None = None, pool: ProcessPoolExecutor | None = None):
        self.processes = max_workers or os.cpu_count() or 1
        # Two threads per process: the next task's bookkeeping overlaps the work of the one before.
        super().__init__(max_workers=2 * self.processes)
        self.given = pool
        self.pool: ProcessPoolExecutor | None = None

    def duplicate(self) -> LocalTaskRunner:
        return type(self)(self.processes, self.given)

    def __enter__(self) -> LocalTaskRunner:
        super().__enter__()
        self.pool = self.given or process_pool(self.processes)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            if self.pool is not None and self.pool is not self.given:
                self.pool.shutdown()
            self.pool = None

    def __eq__(self, value: object) -> bool:
        return isinstance(value, LocalTaskRunner) and value.processes == self.processes

    def __getstate__(self) -> dict[str, Any]:  # pickled with the flow for a served run: no pool yet
        return {**super().__getstate__(), "pool": None, "given": None}


def _in_pool(pool: ProcessPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
    return pool.submit(fn, *args).result()


class PrefectRunner:
    """:class:`curation.pipeline.Runner` on Prefect: every call a named task of the current flow.

    Args:
        progress: progress bars on the flow's terminal.
        max_tasks: most tasks per orchestrated phase (dedup's signature, band and shingle phases): a
            band partition of a small corpus is milliseconds of work and a Prefect task costs ~0.1 s,
            so consecutive pieces share a task.
    """

    def __init__(self, progress: bool = False, max_tasks: int | None = None):
        self.progress = progress
        self.max_tasks = max_tasks or 4 * (os.cpu_count() or 1)

    def _remote(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` as a mapped task calls it: in the pool of a :class:`LocalTaskRunner`; as it is on
        a runner whose tasks run where the work does (Ray)."""
        pool = getattr(FlowRunContext.get().task_runner, "pool", None)
        return functools.partial(_in_pool, pool, fn) if pool is not None else fn

    def map(self, step: Step, fn: Callable[[int], Any], items: Sequence[int]) -> list[Any]:
        named = step_task.with_options(name=step.name, task_run_name=step.run_name.replace("{index}", "{item}"))
        return _gather(named.map(unmapped(self._remote(fn)), list(items)), step.name, self.progress)

    def call(self, step: Step, fn: Callable[[], Any]) -> Any:
        return step_task.with_options(name=step.name, task_run_name=step.name)(fn)

    def fanout(self, step: Step) -> Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]:
        def map_fn(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
            items = list(items)
            name = getattr(fn, "func", fn).__name__.strip("_").replace("_", "-")
            named = step_task.with_options(name=name, task_run_name=name)
            size = max(1, -(-len(items) // self.max_tasks))
            chunks = [items[i:i + size] for i in range(0, len(items), size)]
            done = _gather(named.map(unmapped(self._remote(functools.partial(call_each, fn))), chunks), name,
                           self.progress)
            return [r for chunk in done for r in chunk]
        return map_fn


def _gather(futures: Iterable[Any], desc: str, progress: bool) -> list[Any]:
    """Results in submission order, with a progress bar ticking as tasks finish."""
    futures = list(futures)
    with tqdm(total=len(futures), desc=desc, unit="task", disable=not progress, leave=False) as bar:
        for _ in as_completed(futures):
            bar.update()
    return [f.result() for f in futures]


@flow(name="curate", log_prints=True, persist_result=False,
      task_runner=LocalTaskRunner())
def curate(input: list[str], output: str, config: PipelineConfig | None = None, fresh: bool = False,
           keep_intermediate: bool = False, work_dir: str | None = None, tasks_per_phase: int | None = None,
           progress: bool = False, notes: list[str] | None = None) -> dict[str, Any]:
    """Curate ``input`` into ``output``: filter, dedup, redact, train a tokenizer, shard, budget.

    Args:
        input: files, folders or globs (JSONL[.gz|.zst], Parquet, .txt/.md folders).
        output: output folder or fsspec URL; an interrupted run there with the same input resumes.
        config: the pipeline config (the same typed model ``curate run --config`` reads).
        fresh: recompute everything even if an interrupted run left finished steps.
        keep_intermediate: keep staging/, curated/, work/ and markers/ after success.
        work_dir: where steps write when ``output`` is a URL (shared by all workers; default: user cache).
        tasks_per_phase: most tasks per dedup phase (default: 4 per core of this machine).
        progress: progress bars on the terminal (the CLI sets it).
        notes: lines for the run's summary and report (the CLI's, e.g. about a demo model).
    """
    # The body names PipelineConfig: served runs receive this function pickled by value, with only
    # the globals its body uses, and Prefect resolves the annotations above in those.
    config = config or PipelineConfig()
    try:
        return _curate(input, output, config, fresh, keep_intermediate, work_dir, tasks_per_phase, progress,
                       list(notes or []))
    except Exception as exc:
        # One line in the run's log while it is still running, so `prefect deployment run --watch`
        # (which prints the run's logs, then only the final state's name) shows why it failed.
        get_run_logger().error(f"curate failed: {type(exc).__name__}: {str(exc).strip()}")
        APILogHandler().flush()  # sent before the Failed state, which ends the watch
        raise


def _curate(input: list[str], output: str, config: PipelineConfig, fresh: bool, keep_intermediate: bool,
            work_dir: str | None, tasks_per_phase: int | None, progress: bool, notes: list[str]) -> dict[str, Any]:
    started = time.time()
    runner = PrefectRunner(progress, tasks_per_phase)
    if any(s.name == "quality_classifier" and not s.params.get("model") for s in config.stages):
        config, filled = runner.call(Step("default-classifier", "config", with_default_model),
                                     functools.partial(with_default_model, config))
        notes += filled
    # The lock is the flow process's, held for the whole run: tasks run in other processes.
    with pipeline.locked(input, output, work_dir):
        plan = runner.call(Step("plan", "plan", pipeline.plan_run), functools.partial(
            pipeline.plan_run, input, output, config, fresh, work_dir, notes))
        result = pipeline.execute(plan, runner, started, keep_intermediate)
    # Plot links that work from the Prefect UI's machine: the published URL, or the local folder.
    base = result.published_to.rstrip("/") if result.published_to else "file://" + str(result.output_dir.resolve())
    create_markdown_artifact(result.report_markdown.replace("](report/", f"]({base}/report/"),
                             key="curation-report", description=f"curate run into {output}")
    print(f"{result.summary['total_documents']:,} documents, {result.summary['total_tokens']:,} tokens -> {output}")
    return {"summary": result.summary, "manifest": result.manifest, "report": result.report()}


def runner(kind: str = "process", address: str | None = None, workers: int | None = None,
           pool: ProcessPoolExecutor | None = None) -> TaskRunner:
    """The task runner for ``curate.with_options(task_runner=...)``: ``process`` (on ``pool`` if
    given, see :class:`LocalTaskRunner`) or ``ray``."""
    if kind == "process":
        return LocalTaskRunner(workers, pool)
    if kind == "ray":
        if address is None:
            # A local Ray is this run's alone: Ray's own switch for a machine that is no cluster
            # node makes it bind loopback (it otherwise registers the node, and its daemons listen,
            # at the machine's private address). Read when Ray is imported, so set before.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as exc:  # an optional extra
            raise RuntimeError(f"--runner ray needs the ray extra: pip install 'curation[ray]' ({exc})") from None
        if address is None:
            # As many CPUs as asked, no dashboard (nothing to reach it here). Its workers inherit
            # this process's environment, the Prefect API included; a runtime_env would make Ray
            # start workers of their own for it instead of the ones it starts with.
            init_kwargs: dict[str, Any] = {"num_cpus": workers or os.cpu_count(), "include_dashboard": False}
        else:
            # Workers of a cluster must report to the same Prefect server as the flow (else each
            # starts its own).
            env = {k: os.environ[k] for k in ("PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED") if k in os.environ}
            init_kwargs = {"runtime_env": {"env_vars": env}}
            if address.split("://")[-1].rsplit(":", 1)[0] in ("127.0.0.1", "localhost"):
                # A cluster on this machine's loopback: the driver is a loopback node too (Ray would
                # otherwise register it at the machine's private address, where no raylet listens).
                init_kwargs["_node_ip_address"] = "127.0.0.1"
        return RayTaskRunner(address=address, init_kwargs=init_kwargs)
    raise ValueError(f"unknown runner {kind!r}: process or ray")


__all__ = ["LocalTaskRunner", "PrefectRunner", "curate", "runner"]
