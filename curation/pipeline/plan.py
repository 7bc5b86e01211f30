"""The run's plan: what it reads, how it is split, where it writes; and the checks before any of it.

:func:`check_config` and :func:`claim_output` are everything a user can get wrong, checked before
anything starts; :func:`locked` holds the output's lock for the whole run (every runner's driver
takes it); :func:`plan_run` resolves and partitions the inputs and prepares the folder, keeping an
interrupted run's finished steps when the inputs are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curation.config import PipelineConfig, StageSpec
from curation.document import REMOVED_BASE_FIELDS, SHARD_BASE_FIELDS, STAGING_BASE_FIELDS
from curation.errors import CurationError
from curation.io import output as owned
from curation.io.files import read_json, remove_stale_tmp, write_json, write_text
from curation.io.formats import get_format
from curation.io.readers import InputFormat, resolve_inputs
from curation.io.storage import check_remote_owner, default_work_dir, is_url
from curation.partition import InputPartition, partition_inputs
from curation.registry import build_stage
from curation.stage import Stage
from curation.tokenizer import check_given_tokenizer

PLAN_VERSION = 1
# Markers first: once they are gone nothing can trust the rest, so a kill during cleanup leaves a
# run that simply recomputes.
INTERMEDIATE = ("markers", "staging", "curated", "work", "ids")
# The files a run writes in each output folder: the only ones it ever deletes there.
OUTPUT_FILES = {
    "shards": ("shard-*.parquet",),
    "heldout": ("shard-*.parquet",),
    "removed": ("early-*.parquet", "late-*.parquet"),
    "quarantine": ("part-*.parquet",),
    "tokenizer": ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
    "report": ("*.png",),
}
RESULT_FILES = ("manifest.json", "summary.json", "budget.json", "budget.md", "report.md", "report.html", "README.md")


@dataclass(frozen=True)
class RunPlan:
    """What a run reads and how it is split; every step takes it (it pickles, for any runner)."""

    output: Path  # where the steps write (a local or shared folder)
    config: PipelineConfig
    inputs: tuple[str, ...]
    partitions: tuple[InputPartition, ...]
    publish_to: str | None = None  # an fsspec URL the finished outputs are copied to
    notes: tuple[str, ...] = ()  # what the caller wants the run's summary to say (e.g. a demo model)

    @functools.cached_property
    def split(self) -> int:
        """Index of the first corpus-level stage: stages from it on run in pass 2."""
        return split_index(self.config)

    @property
    def early_specs(self) -> list[StageSpec]:
        return self.config.stages[:self.split]

    @property
    def late_specs(self) -> list[StageSpec]:
        return self.config.stages[self.split:]

    def stages(self) -> list[Stage]:
        """Fresh stage objects (cheap: models load lazily, on the first batch)."""
        return [build_stage(s.name, s.params) for s in self.config.stages]

    @functools.cached_property
    def schemas(self) -> dict[str, pa.Schema]:
        kinds = dict.fromkeys(f.kind for p in self.partitions for f in p.files)
        return schemas(self.config, self.stages(), [get_format(k) for k in kinds])

    def marker(self, step: str, index: int | None = None) -> Path:
        return self.output / "markers" / (f"{step}.json" if index is None else f"{step}-{index:05d}.json")

    def workdir(self, stage: str) -> Path:
        return self.output / "work" / stage


def split_index(config: PipelineConfig) -> int:
    """Index of ``config``'s first corpus-level stage (one that needs a fit over the whole corpus)."""
    return next((i for i, s in enumerate(config.stages) if build_stage(s.name, s.params).needs_fit),
                len(config.stages))


def schemas(config: PipelineConfig, stages: list[Stage], formats: Sequence[InputFormat] = ()
            ) -> dict[str, pa.Schema]:
    """The Arrow schemas of staging files, shards and removed/ rows for this chain, reading ``formats``.

    Raises:
        CurationError: two stages (or a stage and an input format) declare one column with different
            types, or a stage column clashes with a built-in one.
    """
    attributes = {f: pa.string() for f in config.input.keep_fields} | _union_columns([*formats, *stages], "attributes")
    return {"staging": _schema(STAGING_BASE_FIELDS, attributes),
            "shard": _schema(SHARD_BASE_FIELDS, attributes),
            "removed": _schema(REMOVED_BASE_FIELDS, _union_columns(stages, "removed_columns"))}


def check_config(config: PipelineConfig) -> None:
    """Everything about a config that can fail, checked before anything starts: every stage builds
    with its parameters, their columns do not clash, corpus-level stages stand together, and a given
    tokenizer loads and has the EOS token.

    Raises:
        CurationError: the first problem, in one line.
    """
    stages = [build_stage(s.name, s.params) for s in config.stages]
    schemas(config, stages)
    check_chain(stages)
    check_given_tokenizer(config.tokenizer)


def check_chain(stages: list[Stage]) -> None:
    """Corpus-level stages stand together: each is fitted on pass 1's output, so a per-document stage
    between two of them would change what the second one sees after it was fitted.

    Raises:
        CurationError: a per-document stage between two corpus-level ones.
    """
    fitted = [i for i, s in enumerate(stages) if s.needs_fit]
    between = [stages[i].name for i in range(fitted[0], fitted[-1]) if not stages[i].needs_fit] if fitted else []
    if between:
        raise CurationError(f"corpus-level stages ({', '.join(stages[i].name for i in fitted)}) must stand together "
                            f"in the chain; move {', '.join(between)} before or after them")


def local_output(output_dir: str | Path, work_dir: str | Path | None = None) -> Path:
    """The folder the steps write: ``output_dir``, or for a URL ``work_dir`` (default: a folder per
    URL in the user cache)."""
    if is_url(output_dir):
        return Path(work_dir) if work_dir is not None else default_work_dir(str(output_dir))
    return Path(output_dir)


def claim_output(inputs: Sequence[str], output_dir: str | Path, work_dir: str | Path | None = None) -> Path:
    """Check and claim the output before anything is written (see :mod:`curation.io.output`).

    Returns the local folder the steps write to (:func:`local_output`).

    Raises:
        CurationError: the output is a file, overlaps an input, or is a non-empty folder (local or
            at the URL) that no run of ours wrote. Nothing is changed then.
    """
    if is_url(output_dir):
        check_remote_owner(str(output_dir))
    return owned.claim(local_output(output_dir, work_dir), [str(i) for i in inputs])


@contextmanager
def locked(inputs: Sequence[str], output_dir: str | Path, work_dir: str | Path | None = None) -> Iterator[Path]:
    """Claim the output and hold its lock for a whole run: every runner's driver wraps its run in this."""
    out = claim_output(inputs, output_dir, work_dir)
    with owned.exclusive(out):
        yield out


def plan_run(inputs: Sequence[str], output_dir: str | Path, config: PipelineConfig | None = None,
             fresh: bool = False, work_dir: str | Path | None = None, notes: Sequence[str] = ()) -> RunPlan:
    """Resolve and partition the inputs and prepare the output folder (claimed and locked by the
    caller, see :func:`locked`).

    An interrupted run into the same folder with the same inputs is resumed (its finished steps are
    kept and skipped); otherwise the files of an earlier run there are deleted first, and only
    those. ``output_dir`` may be an fsspec URL (``s3://bucket/out``): the steps then write to
    ``work_dir`` (default: a folder per URL in the user cache) and the outputs are published at the end.

    Raises:
        CurationError: an input that does not exist or has an unknown format, or a bad config
            (before any write).
    """
    config = config or PipelineConfig()
    files = resolve_inputs(inputs)
    partitions = tuple(partition_inputs(files, config.input.partition_bytes))
    publish_to = str(output_dir) if is_url(output_dir) else None
    out = local_output(output_dir, work_dir)
    check_config(config)
    plan = RunPlan(out, config, tuple(str(i) for i in inputs), partitions, publish_to, tuple(notes))
    identity = {"version": PLAN_VERSION, "partitions": [p.key() for p in partitions]}
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp([out] + [out / sub for sub in INTERMEDIATE + tuple(OUTPUT_FILES)])
    try:
        same = read_json(out / "plan.json").get("identity") == identity
    except (OSError, ValueError, AttributeError):  # none, or torn: start over
        same = False
    # A run in progress must never look finished.
    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)
    if fresh or not same:
        remove_run_files(out)
    write_json(out / "plan.json", {"identity": identity, "partitions": [
        {"index": p.index, "bytes": p.nbytes, "files": p.identity["files"]} for p in partitions]})
    write_text(out / "config.json", config.to_json())
    return plan


def remove_run_files(out: Path) -> None:
    """Delete what a run wrote in ``out`` (intermediates, then outputs), nothing else."""
    for sub in INTERMEDIATE:
        owned.remove_tree(out / sub)
    for sub, patterns in OUTPUT_FILES.items():
        owned.remove_files(out / sub, patterns)


def _schema(base: list[tuple[str, pa.DataType]], extra: dict[str, pa.DataType]) -> pa.Schema:
    clash = {n for n, _ in base} & set(extra)
    if clash:
        raise CurationError(f"stage columns {sorted(clash)} clash with built-in columns")
    return pa.schema(base + sorted(extra.items()))


def _union_columns(owners: Sequence[Stage | InputFormat], attr: str) -> dict[str, pa.DataType]:
    merged: dict[str, tuple[pa.DataType, str]] = {}
    for owner in owners:
        for name, dtype in getattr(owner, attr).items():
            if name in merged and merged[name][0] != dtype:
                raise CurationError(f"column {name!r} declared as {merged[name][0]} by {merged[name][1]} and as "
                                    f"{dtype} by {owner.name}")
            merged.setdefault(name, (dtype, owner.name))
    return {name: dtype for name, (dtype, _) in merged.items()}
