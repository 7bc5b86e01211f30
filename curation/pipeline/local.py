"""The library's own runner: this process, or a local process pool; and ``run``, the whole pipeline
as one call with no Prefect at all (``curate run --runner library``)."""

from __future__ import annotations

import atexit
import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from curation.config import PipelineConfig
from curation.errors import CurationError
from curation.pipeline.graph import Step, execute
from curation.pipeline.plan import locked, plan_run
from curation.pipeline.result import RunResult
from curation.stage import MapFn


# The collector's thresholds as this module finds them (CPython's own unless a caller changed
# them; its long-standing defaults if it was paused), restored by freeze_loaded.
COLLECTOR_THRESHOLDS = gc.get_threshold() if gc.get_threshold()[0] else (700, 10, 10)
# After freeze_loaded, a full pass comes once per this many middle passes (CPython: 10). CPython also
# holds a full pass back until what was promoted since the last one is a quarter of what that one
# kept, and no full pass ran while the collector was paused: every tenth middle pass became a full
# one, walking the process's growing heap again (4 a run in the command's process, 0.18 s of a
# library run's and 0.3 s of a Prefect run's on the 4,000-document slice).
FULL_PASS_EVERY = 100


def pause_collector() -> None:
    """Stop the cyclic collector's automatic passes while a process loads what it keeps for its
    whole life (modules, models): each full pass walked the growing heap again, 0.35 of the fork
    server's 2.1 s preload. A threshold of 0, not ``gc.disable()``: srsly enables the collector
    again after each msgpack load of spaCy's model."""
    gc.set_threshold(0)


def freeze_loaded() -> None:
    """Move every object this process holds now out of the collector's sight, and resume it, for
    a process that keeps what it loaded as long as it lives (the fork server, a pool worker, the
    command's own process): its full passes walked them all again and again (0.33 of 4.0 s of
    heuristics, language ID and PII on 6,000 bench documents; 0.08 s frozen), and wrote to every
    page they sit on, which forked workers otherwise share. Garbage is still freed as its last
    reference goes; cycles among these objects, if they ever become garbage, are not, nor the
    cycles already garbage: loading the default chain with the collector paused leaves ~6,300
    (~200 k objects), kept for the process's life, where one more full pass to free them would
    cost ~0.16 s of the start's critical path. Full passes come less often afterwards
    (:data:`FULL_PASS_EVERY`)."""
    gc.freeze()
    young, middle, full = COLLECTOR_THRESHOLDS
    gc.set_threshold(young, middle, max(full, FULL_PASS_EVERY))


def freeze_at_exit() -> None:
    """Skip the garbage collector's last pass when this process exits.

    A process with the models loaded spent ~0.6 s exiting, most of it in that pass walking every
    object to free memory the system takes back anyway (0.17 s with it skipped): the pool's
    shutdown waits for its workers, the command for itself. Exit handlers still run, and objects
    are still freed as their last reference goes; what is skipped is finding reference cycles.
    Every output is closed, checked and recorded before a process gets there.
    """
    atexit.register(gc.freeze)


def compile_kernels() -> None:
    """Compile (or load from Numba's cache) every loop of :mod:`curation.kernels` with the argument
    types the stages pass, by running those stages on three tiny documents.

    Numba compiles a loop the first time a process calls it with new argument types (~4 s for all)
    and caches the machine code next to the module; ``make`` runs this once after installing, so
    that no run or test pays it (a test checks that a run compiles nothing more).
    """
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.decontam.ngrams import NgramIndex, tokenize
    from curation.dedup import DedupConfig, deduplicate
    from curation.document import Document
    from curation.pii.lines import line_runs
    from curation.quality.heuristics import Heuristics

    near = "the quick brown fox jumps over the lazy dog and then some more words follow here"
    texts = [near + " cafe\u0301", near + " and tea", "a b a b a b c d c d\n\n- a\n- a..."]  # a near pair
    Heuristics()([Document(str(i), t) for i, t in enumerate(texts)])  # every rule's statistics
    line_runs(texts + ["Dear Ann,\nJean de Vries, 12 Main Street\n\u0663 s/n 555-123-4567"])  # where PII is looked for
    words, hashes = tokenize(texts)
    NgramIndex.build(texts[:1], 8, 4)[0].matches(hashes, words.offsets)  # decontamination's index and scan
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part-00000.parquet"
        pq.write_table(pa.table({"id": ["a", "b", "c"], "text": texts}), part)
        if not deduplicate([part], Path(tmp) / "dedup", DedupConfig(threshold=0.5)).verified_pairs:
            raise AssertionError("compile_kernels: the near pair was not verified")


def call_each(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``fn`` on each item: several pieces of a phase in one task. Here, not beside the Prefect
    runner, so that a pool worker unpickling it imports no Prefect."""
    return [fn(item) for item in items]


def process_pool(workers: int, warm: PipelineConfig | None = None, warm_workers: int | None = None
                 ) -> ProcessPoolExecutor:
    """The pool steps run on: ``workers`` processes from :func:`pool_context`, each skipping the
    collector's last pass (:func:`freeze_at_exit`) and given this process's environment. Given a
    config to ``warm`` for, the first ``warm_workers`` (default: all) to start load what the run's
    first step loads (:func:`warm_up`) as they start. Workers start on the first submit."""
    context = pool_context()
    left = context.Value("i", workers if warm_workers is None else warm_workers) if warm is not None else None
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(warm, left, dict(os.environ)))


def pool_context() -> multiprocessing.context.BaseContext:
    """Where pool workers come from: forked from Python's fork server (``forkserver``, the default
    start method on Linux from Python 3.14), which first imports :mod:`curation.pipeline.preload`
    (the modules, compiled loops and models of the run's chain, :func:`start_pool_server`, or the
    default chain's); spawned where the platform has none.

    A spawned worker spent ~2.2 s of CPU importing and loading those before its first document,
    every worker of every pool; the server spends it once, beside this process's own start, and a
    worker forked from it shares the loaded pages. Nothing is forked from a process holding threads
    or open outputs: the server is a fresh interpreter that only imports. Like a spawned worker, a
    forked one imports the caller's ``__main__`` again and runs with its ``sys.path`` and working
    directory (multiprocessing's own preparation), and :func:`_start_worker` gives it the caller's
    environment, not the one the server started with.

    The preload list is the fork server's, one per process: set here before it starts, as
    multiprocessing documents; a server already running (another library's) keeps its own list,
    and its workers load what they use on their first batch. Multiprocessing keeps the server for
    the next pool until the calling process ends: in a long-lived one (a notebook) it holds what it
    preloaded, ~370 MB resident, after the run.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["curation.pipeline.preload"])
    return context


def _start_worker(warm: PipelineConfig | None, left: Any, environ: dict[str, str] | None = None) -> None:
    """A pool worker's start: the caller's ``environ`` (a forked worker has its server's, from when
    that started: a test's or a caller's later ``XDG_CACHE_HOME`` would be missed),
    :func:`freeze_at_exit`, then :func:`warm_up` while ``left`` (a shared counter, None without
    ``warm``) says more workers may warm up; the collector paused meanwhile, then what the worker
    holds frozen (:func:`freeze_loaded`)."""
    if environ is not None and environ != os.environ:
        os.environ.clear()
        os.environ.update(environ)
    freeze_at_exit()
    pause_collector()
    try:
        if warm is None:
            return
        with left.get_lock():  # a worker started later (dedup's phases fan out wider) loads only what it uses
            if left.value <= 0:
                return
            left.value -= 1
        try:
            warm_up(warm)
        except Exception:  # noqa: BLE001 - the step that needs it fails with its own context
            pass
    finally:
        freeze_loaded()  # modules, models and stages loaded by now live as long as the worker


# A plain paragraph that the default filters keep, so every stage does its whole work on it.
WARM_TEXT = (
    "The committee met on Tuesday morning to review the quarterly report and to discuss the budget for the "
    "coming year. Several members asked how the new library would be funded, and the treasurer explained that "
    "the city council had agreed to cover most of the building costs.\n\n"
    "After a short break, the group turned to the schedule. Work on the site will begin in March, once the "
    "final drawings are approved, and the opening is planned for the following spring. Volunteers will help "
    "to move the old collection, sort the donated books and plan a series of reading events for children and "
    "adults.\n\n"
    "Before closing the meeting, the chair thanked everyone for their time and asked for written comments on "
    "the draft plan by the end of the month.")


def warm_up(config: PipelineConfig) -> None:
    """Load, in this process, what the first pass over a partition loads on its first batch: the
    chain's stages up to the first corpus-level one (cached per process, so the step finds them
    built), their models and compiled loops (each stage runs once on one paragraph, nothing kept),
    and the redactor of dropped text. A stage that cannot run here (the quality classifier without
    a model) is skipped; its step reports why."""
    from curation.document import Document
    from curation.pipeline.chain import cached_stages
    from curation.pipeline.plan import split_index
    from curation.pipeline.privacy import TextGuard

    docs = [Document("warm-up", WARM_TEXT)]
    for stage in cached_stages(config.stages[:split_index(config)]):
        try:
            result = stage(docs)
        except CurationError:
            continue
        # A document a stage drops goes on (as it left that stage): every stage loads what it needs.
        docs = result.kept or [d.doc for d in result.dropped] or docs
    TextGuard.for_config(config).load()


# The config a fork server warms up, as JSON, in the environment it starts with (start_pool_server).
PRELOAD_CONFIG = "CURATION_PRELOAD_CONFIG"


def warm_preload() -> None:
    """:func:`warm_up` where the pool's fork server runs it (:mod:`curation.pipeline.preload`), for
    the run's config that :func:`start_pool_server` handed it, or else the default chain: what needs
    no document (modules, compiled loops, spaCy's model, Presidio's engines for the chain's pii
    parameters), and the steps' module every task unpickles."""
    # ~230 k objects that live as long as every worker forked from here.
    pause_collector()
    try:
        import curation.pipeline.steps  # noqa: F401

        given = os.environ.get(PRELOAD_CONFIG)
        warm_up(PipelineConfig.model_validate_json(given) if given else PipelineConfig())
    finally:
        freeze_loaded()


def warm_pool(inputs: Sequence[str], config: PipelineConfig, workers: int | None = None
              ) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` processes for a run of ``config`` over ``inputs``, as many as its first
    pass has partitions starting (in a thread: a forked one waits for its server's preload, ~2 s)
    and warming up (:func:`warm_up`) while the caller does work of its own; None where the run
    runs in the caller's process (:func:`first_pass_workers`).

    A Prefect flow run spends ~1.5 s importing Prefect and creating the flow run before its first
    task, on one core: the pool's start overlaps that instead of following it.
    """
    started = first_pass_workers(inputs, config, workers)
    if not started:
        return None
    workers = workers or os.cpu_count() or 1
    pool = process_pool(workers, warm=config, warm_workers=started)
    threading.Thread(target=_start_processes, args=(pool, started), name="pool-start", daemon=True).start()
    return pool


def first_pass_workers(inputs: Sequence[str], config: PipelineConfig, workers: int | None = None) -> int:
    """How many pool workers a local run's first pass keeps busy: as many as it has partitions, up
    to ``workers`` (default: the cores); 0 where it runs in the caller's process (one worker, or one
    partition where workers would be spawned), as :func:`run` and the flow's process pool do.

    One partition has nothing to share out, yet on a worker forked from the server that started
    beside the command (:func:`start_pool_server`) its chain loads while the command imports (and
    imports Prefect), where in the command's process the two followed each other on one core: the
    bundled sample's Prefect run 10.56 -> 10.14 s (8.47 -> 7.32 s with a given tokenizer), the
    library's unchanged, for ~2 CPU-s more on the idle core (bench/README.md, issue 17)."""
    workers = workers or os.cpu_count() or 1
    partitions = partition_count(inputs, config.input.partition_bytes)
    return 0 if runs_in_caller(partitions, workers) else min(workers, partitions)


def runs_in_caller(partitions: int, workers: int) -> bool:
    """Whether a local run of ``partitions`` on ``workers`` runs in the caller's process: one worker,
    or one partition where pool workers are spawned (they would import and load everything from
    nothing, after the caller's start, where a forked one has its server's preload)."""
    return workers < 2 or partitions < 1 or (partitions == 1 and pool_context().get_start_method() != "forkserver")


def partition_count(inputs: Sequence[str], partition_bytes: int) -> int:
    """How many partitions a run splits ``inputs`` into; 0 where they cannot be resolved (the run's
    plan says what is wrong)."""
    from curation.io.readers import resolve_inputs
    from curation.partition import partition_inputs

    try:
        return len(partition_inputs(resolve_inputs(list(inputs)), partition_bytes))
    except (CurationError, OSError):
        return 0


def start_pool_server(config: PipelineConfig | None = None) -> None:
    """Start the pool's fork server (:func:`pool_context`) now, so that its preload (~2 s of one
    core) runs beside the caller's own start; nothing where there is none or it is running.

    The server warms up ``config``'s chain (default: the default chain): a run of another chain
    loaded the default's models there for nothing (spaCy's NER and Presidio, ~1 CPU-s) and then
    its own in every worker. The config travels in the environment the server starts with, which
    is the caller's again once it has started. A server already running (an earlier run's, in a
    notebook) keeps what it preloaded: a chain it lacks loads in the workers, as before."""
    if pool_context().get_start_method() != "forkserver":
        return
    import multiprocessing.forkserver

    before = os.environ.get(PRELOAD_CONFIG)
    if config is not None:
        os.environ[PRELOAD_CONFIG] = config.model_dump_json()
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if before is None:
            os.environ.pop(PRELOAD_CONFIG, None)
        else:
            os.environ[PRELOAD_CONFIG] = before


def _start_processes(pool: ProcessPoolExecutor, count: int) -> None:
    """Start ``count`` of ``pool``'s processes: it starts one per submit while none is idle."""
    try:
        for _ in range(count):
            pool.submit(int)
    except RuntimeError:  # shut down before they started: the run was refused
        pass


class LocalRunner:
    """Steps in this process (``workers=1``) or a pool of ``workers`` processes (:func:`process_pool`)."""

    def __init__(self, workers: int = 1, progress: bool = False):
        self.progress = progress
        self._pool = process_pool(workers) if workers > 1 else None

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def map(self, step: Step, fn: Callable[[int], Any], items: Sequence[int]) -> list[Any]:
        results = self._pool.map(fn, items) if self._pool is not None else map(fn, items)
        bar = tqdm(results, total=len(items), unit="part", desc=step.name, disable=not self.progress, leave=False)
        return list(bar)

    def call(self, step: Step, fn: Callable[[], Any]) -> Any:
        return fn()

    def fanout(self, step: Step) -> MapFn:
        return self._pool.map if self._pool is not None else map


def run(inputs: list[str], output_dir: str | Path, config: PipelineConfig | None = None,
        progress: bool | None = None, workers: int = 1, fresh: bool = False,
        keep_intermediate: bool = False, work_dir: str | Path | None = None, notes: Sequence[str] = ()
        ) -> RunResult:
    """Run the whole pipeline in this process (``workers=1``) or a local process pool.

    Args:
        progress: progress bars; default "stderr is a terminal".
        workers: processes for the per-partition steps. The output is byte-identical for any value,
            so it is an argument of the run, not part of the (hashed) config.
        fresh: ignore an interrupted run's finished steps in ``output_dir``.
        keep_intermediate: keep staging/, curated/, work/ and markers/ after success.
        work_dir: where the steps write when ``output_dir`` is an fsspec URL (see :func:`plan_run`).
        notes: lines for the run's summary and report.
    """
    import time

    if workers < 1:
        raise CurationError(f"workers must be at least 1, got {workers}")
    started = time.time()
    progress = sys.stderr.isatty() if progress is None else progress
    with locked(inputs, output_dir, work_dir):
        plan = plan_run(inputs, output_dir, config, fresh, work_dir, notes)
        if runs_in_caller(len(plan.partitions), workers):
            workers = 1
        if workers > 1:
            start_pool_server(plan.config)  # preloading this run's chain (none if curate run started it)
        with LocalRunner(workers, progress) as runner:
            return execute(plan, runner, started, keep_intermediate)
