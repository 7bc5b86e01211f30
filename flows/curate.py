"""Flow ``curate``: the pipeline's steps as Prefect tasks, one library call per partition.

The sequence is :func:`curation.pipeline.execute`'s; here every step is a task, so the UI shows
each partition, retries transient I/O errors and a process pool or Ray runs them. All logic stays
in ``curation.pipeline``: a task body is one call.

    curate(input=["sample_data/"], output="out/")                       # embedded, process pool
    curate.with_options(task_runner=runner("ray", address))(...)        # on a Ray cluster
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.futures import as_completed
from prefect.logging.handlers import APILogHandler
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner
from tqdm import tqdm

from classifiers.default import fill_default_model
from curation import pipeline
from curation.config import PipelineConfig
from curation.pipeline import RunPlan


def transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O errors (a flaky shared filesystem or object store), never a bad config or bug."""
    try:
        state.result()
    except (OSError, TimeoutError):
        return True
    except BaseException:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


# Each task calls one library function. Results are not persisted by Prefect: the steps write
# their own outputs and completion markers, which is what resuming relies on.
TASK = dict(retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=transient, persist_result=False,
            cache_policy=None)


@task(name="default-classifier", **TASK)
def default_classifier_task(config: PipelineConfig) -> tuple[PipelineConfig, list[str]]:
    config = config.model_copy(deep=True)
    return config, fill_default_model(config)


@task(name="plan", **TASK)
def plan_task(inputs: list[str], output: str, config: PipelineConfig, fresh: bool, work_dir: str | None,
              notes: list[str]) -> RunPlan:
    return pipeline.plan_run(inputs, output, config, fresh, work_dir, notes)


@task(name="filter-partition", task_run_name="filter-{index}", **TASK)
def curate_partition_task(plan: RunPlan, index: int, skip: list[int] | None = None) -> dict[str, Any]:
    return pipeline.curate_partition(plan, index, skip or ())


@task(name="duplicate-ids", **TASK)
def duplicate_ids_task(plan: RunPlan) -> dict[int, list[int]]:
    return pipeline.duplicate_id_skips(plan)


@task(name="phase", **TASK)
def phase_task(fn: Callable[[Any], Any], chunk: list[Any]) -> list[Any]:
    """Independent pieces of a corpus-level stage's fit (dedup: signature parts, bands, ...)."""
    return _run_chunk(fn, chunk)


@task(name="late-partition", task_run_name="dedup+pii-{index}", **TASK)
def late_partition_task(plan: RunPlan, index: int, early: dict[str, Any], fits: list[dict[str, Any]]
                        ) -> dict[str, Any]:
    return pipeline.late_partition(plan, index, early, fits)


@task(name="train-tokenizer", **TASK)
def tokenizer_task(plan: RunPlan, final: list[dict[str, Any]]) -> dict[str, Any]:
    return pipeline.tokenizer_step(plan, final)


@task(name="tokenize-and-shard", **TASK)
def shards_task(plan: RunPlan, final: list[dict[str, Any]], removed: list[dict[str, Any]],
                tokenizer: dict[str, Any]) -> dict[str, Any]:
    return pipeline.write_shards(plan, final, removed, tokenizer)


@task(name="budget-and-report", **TASK)
def finalize_task(plan: RunPlan, early: list[dict[str, Any]], fits: list[dict[str, Any]], late: list[dict[str, Any]],
                  tokenizer: dict[str, Any], shards: dict[str, Any], seconds: float, keep_intermediate: bool
                  ) -> dict[str, Any]:
    result = pipeline.finalize(plan, early, fits, late, tokenizer, shards, seconds, keep_intermediate)
    # Plot links that work from the Prefect UI's machine: the published URL, or the local folder.
    base = result.published_to.rstrip("/") if result.published_to else "file://" + str(result.output_dir.resolve())
    return {"summary": result.summary, "manifest": result.manifest, "report": result.report(),
            "report_md": result.report_markdown.replace("](report/", f"]({base}/report/")}


def _gather(futures: Iterable[Any], desc: str, progress: bool) -> list[Any]:
    """Results in submission order, with a progress bar ticking as tasks finish."""
    futures = list(futures)
    with tqdm(total=len(futures), desc=desc, unit="task", disable=not progress, leave=False) as bar:
        for _ in as_completed(futures):
            bar.update()
    return [f.result() for f in futures]


def _run_chunk(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    return [fn(item) for item in items]


def _task_map(progress: bool, max_tasks: int) -> Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]:
    """A ``map`` for the library's fan-out points (dedup's signature, band and shingle phases): each
    task runs one or a few consecutive items, at most ``max_tasks`` tasks per phase, because a
    band partition of a small corpus is milliseconds of work and a Prefect task costs ~0.1 s."""
    def map_fn(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        items = list(items)
        size = max(1, -(-len(items) // max_tasks))
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        name = getattr(fn, "func", fn).__name__.strip("_").replace("_", "-")
        named = phase_task.with_options(name=name, task_run_name=name)
        return [r for chunk in _gather(named.map(unmapped(fn), chunks), name, progress) for r in chunk]
    return map_fn


@flow(name="curate", log_prints=True, persist_result=False,
      task_runner=ProcessPoolTaskRunner(max_workers=os.cpu_count()))
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
        return _curate(input, output, config, fresh, keep_intermediate, work_dir, tasks_per_phase, progress, notes)
    except Exception as exc:
        # One line in the run's log while it is still running, so `prefect deployment run --watch`
        # (which prints the run's logs, then only the final state's name) shows why it failed.
        get_run_logger().error(f"curate failed: {type(exc).__name__}: {str(exc).strip()}")
        APILogHandler().flush()  # sent before the Failed state, which ends the watch
        raise


def _curate(input: list[str], output: str, config: PipelineConfig, fresh: bool, keep_intermediate: bool,
            work_dir: str | None, tasks_per_phase: int | None, progress: bool, notes: list[str] | None
            ) -> dict[str, Any]:
    started = time.perf_counter()
    notes = list(notes or [])
    if any(s.name == "quality_classifier" and not s.params.get("model") for s in config.stages):
        config, filled = default_classifier_task(config)
        notes += filled
    # The lock is the flow process's, held for the whole run: tasks run in other processes.
    with pipeline.locked(input, output, work_dir):
        plan = plan_task(input, output, config, fresh, work_dir, notes)
        indices = list(range(len(plan.partitions)))
        early = _gather(curate_partition_task.map(unmapped(plan), indices), "filter", progress)
        skips = duplicate_ids_task(plan)
        if skips:
            redo = _gather(curate_partition_task.map(unmapped(plan), list(skips), list(skips.values())), "ids",
                           progress)
            early = [dict(zip(skips, redo)).get(i, e) for i, e in enumerate(early)]
        pipeline.check_survivors(plan, early)
        # Fitting is orchestration of the stage's own phases; each phase item is a task.
        fits = [pipeline.fit_stage(plan, i, early, _task_map(progress, tasks_per_phase or 4 * (os.cpu_count() or 1)))
                for i, s in enumerate(plan.stages()) if s.needs_fit]
        late: list[dict[str, Any]] = []
        final = early
        if plan.late_specs:
            late = _gather(late_partition_task.map(unmapped(plan), indices, early, unmapped(fits)), "dedup+pii",
                           progress)
            pipeline.check_survivors(plan, early, late)
            final = late
        tokenizer = tokenizer_task(plan, final)
        shards = shards_task(plan, final, early + late, tokenizer)
        done = finalize_task(plan, early, fits, late, tokenizer, shards, time.perf_counter() - started,
                             keep_intermediate)
    create_markdown_artifact(done["report_md"], key="curation-report", description=f"curate run into {output}")
    print(f"{done['summary']['total_documents']:,} documents, {done['summary']['total_tokens']:,} tokens -> {output}")
    return done


def runner(kind: str = "process", address: str | None = None, workers: int | None = None) -> TaskRunner:
    """The task runner for ``curate.with_options(task_runner=...)``: ``process`` or ``ray``."""
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=workers or os.cpu_count())
    if kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as exc:  # an optional extra
            raise RuntimeError(f"--runner ray needs the ray extra: pip install 'curation[ray]' ({exc})") from None
        # Workers must report to the same Prefect server as the flow (else each starts its own).
        env = {k: os.environ[k] for k in ("PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED") if k in os.environ}
        init_kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}}
        if address is None:
            # A local Ray: as many CPUs as asked, and no dashboard (nothing to reach it here).
            init_kwargs |= {"num_cpus": workers or os.cpu_count(), "include_dashboard": False}
        return RayTaskRunner(address=address, init_kwargs=init_kwargs)
    raise ValueError(f"unknown runner {kind!r}: process or ray")


__all__ = ["curate", "runner"]
