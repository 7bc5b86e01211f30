"""A flow of no-op tasks for bench/orchestration.py (importable by pool workers, unlike __main__)."""

from __future__ import annotations

from prefect import flow, task
from prefect.task_runners import ProcessPoolTaskRunner


@task(persist_result=False, cache_policy=None)
def noop(i: int) -> int:
    return i


@flow(persist_result=False)
def _noops(n: int) -> int:
    return sum(f.result() for f in noop.map(range(n)))


def noop_flow(n: int, workers: int) -> int:
    return _noops.with_options(task_runner=ProcessPoolTaskRunner(max_workers=workers))(n)
