"""The run's step graph, written once: every runner executes it, and none orders steps itself.

A :class:`Step` is data: its name (the Prefect task name, and the step's name in markers and
docs), the function it calls, whether it runs once per input partition or once, which earlier
results it takes, and whether it orchestrates pieces of its own (dedup's phases, the partitions a
duplicate id sends back through pass 1), in which case the runner lends it a ``map``. A
:class:`Runner` decides only *where* a step runs: :class:`curation.pipeline.local.LocalRunner`
(this process or a process pool) and ``flows.curate.PrefectRunner`` (Prefect tasks on a process
pool or on Ray) implement it.

    python -m curation.pipeline > curation/pipeline/README.md     # the page, with the graph
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from curation.config import PipelineConfig
from curation.pipeline.finalize import finalize, import_ahead
from curation.pipeline.plan import RunPlan
from curation.pipeline.result import RunResult
from curation.pipeline.steps import fit_stages, filter_partition, late_partition, resolve_duplicate_ids, \
    tokenizer_step, write_shards
from curation.stage import MapFn


@dataclass(frozen=True)
class Step:
    """One step of a run."""

    name: str  # the Prefect task name
    result: str  # the name later steps take its result by
    fn: Callable[..., Any]
    inputs: tuple[str, ...] = ()  # earlier results (and run parameters), passed by name
    per_partition: bool = False  # fn(plan, index, **inputs) per partition; else fn(plan, **inputs) once
    orchestrates: bool = False  # runs in the driver with the runner's map_fn for its own pieces
    run_name: str = ""  # per-partition task runs: "filter-{index}"
    writes: str = ""  # for the docs


class Runner(Protocol):
    """Where steps run. ``map`` runs a per-partition step's calls, ``call`` a step that runs once,
    ``fanout`` gives an orchestrating step the ``map`` for its pieces."""

    def map(self, step: Step, fn: Callable[[int], Any], items: Sequence[int]) -> list[Any]: ...

    def call(self, step: Step, fn: Callable[[], Any]) -> Any: ...

    def fanout(self, step: Step) -> MapFn: ...


# Results every run starts with: run parameters, and the empty results of steps a chain can lack.
PARAMETERS = ("started", "keep_intermediate")


def build_graph(plan: RunPlan) -> list[Step]:
    """The steps of ``plan``'s run, in order. Corpus-level stages add the fit and pass 2."""
    fitted = any(stage.needs_fit for stage in plan.stages())
    steps = [
        Step("filter-partition", "filtered", filter_partition, per_partition=True, run_name="filter-{index}",
             writes="staging/, removed/early-*, quarantine/, ids/ (read, validate, per-document stages)"),
        Step("duplicate-ids", "early", resolve_duplicate_ids, ("filtered",), orchestrates=True,
             writes="reruns filter-partition for partitions holding an id an earlier one had"),
    ]
    if fitted:
        steps.append(Step("fit", "fits", fit_stages, ("early",), orchestrates=True,
                          writes="work/STAGE/ (each corpus-level stage fitted on pass 1's output; dedup's "
                                 "signature, bucket and shingle phases fan out as tasks)"))
    if plan.late_specs:
        steps.append(Step("late-partition", "late", late_partition, ("early", "fits"), per_partition=True,
                          run_name="late-{index}", writes="curated/, removed/late-* (corpus-level stages onwards)"))
    steps += [
        Step("train-tokenizer", "tokenizer", tokenizer_step, ("early", "late"),
             writes="tokenizer/ (trained on an id-hash sample of the final text, or given)"),
        Step("tokenize-and-shard", "shards", write_shards, ("early", "late", "tokenizer"),
             writes="shards/ and heldout/ (exact token counts, input order; the held-out split by id hash)"),
        Step("budget-and-report", "result", finalize,
             ("early", "fits", "late", "tokenizer", "shards", "started", "keep_intermediate"),
             writes="summary.json, budget.*, report.*, manifest.json (last); publishes a URL output"),
    ]
    return steps


def prepare_ahead(plan: RunPlan) -> None:
    """Load what this process's later steps load that depends on no document, in a thread started
    with the run, while the process waits for pass 1: the corpus-level stages' fit inputs
    (:meth:`~curation.stage.CorpusStage.prepare`), a given tokenizer's counter, the report's
    imports (:func:`~curation.pipeline.finalize.import_ahead`); ~1 s together that was the run's
    serial path, every worker idle. A failure is left to the step, which reports it in context."""
    from curation.io.files import sha256_file
    from curation.registry import build_stage
    from curation.tokenizer import TokenCounter

    try:
        for spec in plan.config.stages:
            stage = build_stage(spec.name, spec.params)
            if stage.needs_fit:
                stage.prepare()
        given = plan.config.tokenizer
        if given.path:
            TokenCounter.shared(given.path, given.counter, sha256_file(Path(given.path)))
    except Exception:  # noqa: BLE001
        pass
    import_ahead()


def execute(plan: RunPlan, runner: Runner, started: float | None = None, keep_intermediate: bool = False
            ) -> RunResult:
    """Run ``plan``'s graph on ``runner``; return the last step's result."""
    results: dict[str, Any] = {"fits": [], "late": [], "started": time.time() if started is None else started,
                               "keep_intermediate": keep_intermediate}
    threading.Thread(target=prepare_ahead, args=(plan,), name="prepare-ahead").start()
    for step in build_graph(plan):
        kwargs = {name: results[name] for name in step.inputs}
        if step.per_partition:
            results[step.result] = runner.map(step, functools.partial(step.fn, plan, **kwargs),
                                              range(len(plan.partitions)))
        elif step.orchestrates:
            results[step.result] = step.fn(plan, map_fn=runner.fanout(step), **kwargs)
        else:
            results[step.result] = runner.call(step, functools.partial(step.fn, plan, **kwargs))
    return results["result"]


def describe(config: PipelineConfig | None = None) -> str:
    """The graph of a run with ``config`` (default: the default preset) as Markdown."""
    plan = RunPlan(Path("out"), config or PipelineConfig(), (), ())
    rows = ["| # | step (Prefect task) | runs | takes | function | writes |", "|---:|---|---|---|---|---|"]
    for i, step in enumerate(build_graph(plan), 1):
        runs = "per partition" if step.per_partition else ("once, fans out" if step.orchestrates else "once")
        takes = ", ".join(step.inputs) or "the plan"
        rows.append(f"| {i} | `{step.name}` | {runs} | {takes} | `{step.fn.__module__}.{step.fn.__name__}` | "
                    f"{step.writes} |")
    return "\n".join(rows) + "\n"


def render_readme() -> str:
    """``curation/pipeline/README.md``: the page is generated here, so its graph cannot go stale
    (``tests/curation/pipeline/test_graph.py`` compares the two)."""
    return README_TEMPLATE.replace("{{GRAPH}}", describe()).replace(
        "{{MINIMAL}}", describe(PipelineConfig.model_validate({"stages": ["length"]})))


README_TEMPLATE = """# How a run flows

<!-- Generated by `python -m curation.pipeline > curation/pipeline/README.md`; edit graph.py. -->

A run is a **plan** and a **graph of steps**. The plan (`plan.py`: `plan_run`) resolves the inputs,
cuts them into partitions (each input format says how its files split), checks the config and
claims the output folder; it depends only on the inputs and the config. The graph (`graph.py`:
`build_graph`) is the order of the steps, written once; `execute` walks it on a **runner**, which
decides only *where* a step runs, never *what follows what*:

| runner | where | used by |
|---|---|---|
| `LocalRunner` (`local.py`) | this process, or a local process pool | `curate run --runner library`, `curation.pipeline.run` |
| `PrefectRunner` (`flows/curate.py`) | one Prefect task per step and partition, on a process pool or on Ray (prefect-ray) | `curate run` (default), `--runner ray`, the deployment `curate/main` |

Every runner gives byte-identical shards, manifest and removed/ files (tested per preset).

## The steps of the default chain

{{GRAPH}}
"per partition" steps run once per input partition, in parallel; "once, fans out" steps run in
the driver and hand their own pieces to the runner (dedup's phases, the partitions a duplicate id
sends back through pass 1). Every step returns a typed outcome (`outcomes.py`) that is also its
completion marker (`markers.py`): a rerun skips a step whose inputs and config are unchanged and
whose files still have the size and sha256 it recorded.

Without corpus-level stages (`stages: [length]`) there is no fit and no second pass:

{{MINIMAL}}
## Where things go

Each of these is one file, plus one line in a registry; none touches the graph or a runner.

**A stage** is a class in a module of its own (`curation/quality/`, `curation/pii/`, or your
package), registered in `curation/registry.py` as `"no_shouting_v1": "mypkg.stages:NoShouting"` (or
named in a config as `mypkg.stages:NoShouting`, no line at all). A `Filter` decides per document; a
`Stage` rewrites or tags a batch; a `CorpusStage` fits on the whole corpus first (dedup):

```python
# example_stage.py
from curation.stage import Filter


class NoShouting(Filter):
    name = "no_shouting"

    def keep(self, doc):
        return not doc.text.isupper() or (False, "all_caps")
```

**An input format** is an `InputFormat` (`curation/io/readers.py`) in a module of its own in
`curation/io/formats/`, registered in `FORMATS` there. Its `records` yields documents and
quarantine rows through the reader, which validates them; `split` (optional) cuts a big file into
ranges that workers read alone:

```python
# example_format.py
import csv
import io

from curation.io.formats import FORMATS
from curation.io.readers import InputFormat


class CsvFormat(InputFormat):
    name = "csv"
    suffixes = (".csv",)

    def records(self, reader, source):
        with source.open() as fh:
            rows = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline=""))
            for line, row in enumerate(rows, start=2):
                yield reader.safe_document(row, source.display, line, source)


FORMATS["csv"] = "example_format:CsvFormat"  # the registry line
```

**A runner** implements `map`, `call` and `fanout` (the `Runner` protocol in `graph.py`): here one
that runs every step on threads.

```python
# example_runner.py
from concurrent.futures import ThreadPoolExecutor


class ThreadRunner:
    def __init__(self, workers=2):
        self.pool = ThreadPoolExecutor(workers)

    def map(self, step, fn, items):
        return list(self.pool.map(fn, items))

    def call(self, step, fn):
        return fn()

    def fanout(self, step):
        return self.pool.map
```

`execute(plan_run(inputs, out, config), ThreadRunner())` then runs the same graph
(`tests/curation/pipeline/test_graph.py` runs all three examples).

**A step** is a function of the plan in `steps.py` returning an outcome, and one `Step` in
`build_graph`.
"""
