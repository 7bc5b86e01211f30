"""The run as steps over partitions: read -> stages -> dedup -> PII -> tokenizer -> shards -> manifest.

Every step below is a plain function of a :class:`RunPlan` (and a partition index), so any runner
can call it: :func:`run` calls them in this process or a process pool; ``flows/curate.py`` makes
each one a Prefect task (process pool or Ray). The plan depends only on the inputs and the config,
so the output is byte-identical whatever runs it.

Steps and what they write in ``DIR``:

1. :func:`plan_run`: the input partitions; ``config.json`` and ``plan.json``.
2. :func:`curate_partition` (per partition): reads it, runs the per-document stages, writes
   ``staging/``, ``removed/``, ``quarantine/`` and the ids it saw.
3. :func:`duplicate_id_skips`: ids already seen in an earlier partition; those partitions run
   step 2 again with the duplicates quarantined (rare: ids are usually unique per corpus).
4. :func:`fit_stage` (per corpus-level stage, e.g. dedup, whose phases fan out through ``map_fn``).
5. :func:`late_partition` (per partition): the rest of the chain into ``curated/``.
6. :func:`tokenizer_step`: trains (on an id-hash sample of the curated text) or copies the tokenizer.
7. :func:`write_shards`: counts every token and writes ``shards/`` in input order.
8. :func:`finalize`: ``manifest.json``, ``summary.json``, ``budget.*``, ``report.*``.

Resumable: each step writes under temporary names, renames, then writes a completion marker
(``markers/``) holding a hash of its inputs and of the config it depends on. A rerun skips a step
whose marker matches and recomputes the ones a config change affects (changing a PII option reruns
PII, the tokenizer and the shards, not the filters or dedup).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import multiprocessing
import platform
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
import contextlib
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from curation.budget import budget_report, render_budget_markdown
from curation.config import PipelineConfig, StageSpec
from curation.document import (QUARANTINE_SCHEMA, REMOVED_BASE_FIELDS, SHARD_BASE_FIELDS, STAGING_BASE_FIELDS,
                               Document)
from curation.errors import CurationError
from curation.io import output as owned
from curation.io.files import matches_record, read_json, remove_stale_tmp, sha256_file, write_atomic, write_json
from curation.io.parquet import FileInfo, RollingParquetWriter
from curation.io.readers import DocumentReader, QuarantineRecord, resolve_inputs
from curation.io.storage import check_remote_owner, default_work_dir, is_url, publish
from curation.partition import InputPartition, plan_partitions
from curation.registry import build_stage, resolve_stage
from curation.stage import Dropped, MapFn, Stage
from curation.summary import StageStats, format_reasons, format_table, utf8_bytes
from curation.tokenizer import (SampleSplit, TokenCounter, check_given_tokenizer, iter_holdout, load_tokenizer,
                                save_tokenizer, train_tokenizer, vocab_shortfall_note,
                                write_transformers_config)

log = logging.getLogger(__name__)

HOLDOUT_LIMIT_BYTES = 20 << 20  # bytes-per-token is stable to 3 digits well before 20 MB
MANIFEST_VERSION = 1
PLAN_VERSION = 1
VERSIONED_PACKAGES = ("curation", "pyarrow", "tokenizers", "fastokens", "numpy")
# Markers first: once they are gone nothing can trust the rest, so a kill during cleanup leaves a
# run that simply recomputes.
INTERMEDIATE = ("markers", "staging", "curated", "work", "ids")
# The files a run writes in each output folder: the only ones it ever deletes there.
OUTPUT_FILES = {
    "shards": ("shard-*.parquet",),
    "removed": ("early-*.parquet", "late-*.parquet"),
    "quarantine": ("part-*.parquet",),
    "tokenizer": ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
    "report": ("*.png",),
}
RESULT_FILES = ("manifest.json", "summary.json", "budget.json", "budget.md", "report.md", "report.html")


# ---------------------------------------------------------------------------------------------
# The plan


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
        return next((i for i, s in enumerate(self.stages()) if s.needs_fit), len(self.config.stages))

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
        stages = self.stages()
        attributes = {f: pa.string() for f in self.config.input.keep_fields} | _union_columns(stages, "attributes")
        return {"staging": _schema(STAGING_BASE_FIELDS, attributes),
                "shard": _schema(SHARD_BASE_FIELDS, attributes),
                "removed": _schema(REMOVED_BASE_FIELDS, _union_columns(stages, "removed_columns"))}

    def marker(self, step: str, index: int | None = None) -> Path:
        return self.output / "markers" / (f"{step}.json" if index is None else f"{step}-{index:05d}.json")

    def workdir(self, stage: str) -> Path:
        return self.output / "work" / stage


def check_config(config: PipelineConfig) -> None:
    """Everything about a config that can fail, checked before anything starts: every stage builds
    with its parameters, their columns do not clash, and a given tokenizer loads and has the EOS token.

    Raises:
        CurationError: the first problem, in one line.
    """
    stages = [build_stage(s.name, s.params) for s in config.stages]
    attributes = {f: pa.string() for f in config.input.keep_fields} | _union_columns(stages, "attributes")
    _schema(SHARD_BASE_FIELDS, attributes)
    _schema(REMOVED_BASE_FIELDS, _union_columns(stages, "removed_columns"))
    check_given_tokenizer(config.tokenizer)


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
    out = local_output(output_dir, work_dir)
    return owned.claim(out, [str(i) for i in inputs])


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
        CurationError: an input that does not exist or has an unknown format (before any write).
    """
    config = config or PipelineConfig()
    files = resolve_inputs(inputs)
    partitions = tuple(plan_partitions(files, config.input.partition_bytes))
    publish_to = str(output_dir) if is_url(output_dir) else None
    out = local_output(output_dir, work_dir)
    check_config(config)  # before any write
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
    write_atomic(out / "config.json", lambda fh: fh.write(config.to_json().encode()))
    return plan


def remove_run_files(out: Path) -> None:
    """Delete what a run wrote in ``out`` (intermediates, then outputs), nothing else."""
    for sub in INTERMEDIATE:
        owned.remove_tree(out / sub)
    for sub, patterns in OUTPUT_FILES.items():
        owned.remove_files(out / sub, patterns)


# ---------------------------------------------------------------------------------------------
# Pass 1: per partition


def curate_partition(plan: RunPlan, index: int, skip: Sequence[int] = ()) -> dict[str, Any]:
    """Read one partition, run the per-document stages and write what they kept, dropped and why.

    Args:
        skip: ordinals (among the partition's valid documents) whose ids an earlier partition has;
            they are quarantined as ``duplicate_id`` (see :func:`duplicate_id_skips`).

    Returns the step's outcome (also its marker): per-stage stats, quarantine reasons, files.
    """
    cfg = plan.config
    part = plan.partitions[index]
    key = _key("curate", part.key(), cfg.input, plan.early_specs, cfg.output, sorted(skip))
    if (done := _done(plan.marker("curate", index), key)) is not None:
        return done
    _forget(plan.marker("curate", index))
    out = plan.output
    schemas = plan.schemas
    name = f"part-{index:05d}"
    for sub, prefix in (("staging", name), ("removed", f"early-{index:05d}"), ("quarantine", name)):
        owned.remove_files(out / sub, [f"{prefix}-*.parquet"])
    staging = RollingParquetWriter(out / "staging", name, schemas["staging"], compression_level=1)
    removed = RollingParquetWriter(out / "removed", f"early-{index:05d}", schemas["removed"])
    quarantine = RollingParquetWriter(out / "quarantine", name, QUARANTINE_SCHEMA)
    stages = _cached_stages(plan.early_specs, ())
    guard = TextGuard.for_plan(plan)
    stats = [StageStats("read", bytes_in=None)] + [StageStats(s.name) for s in stages]
    reasons: Counter[str] = Counter()
    reader = DocumentReader(cfg.input, skip)
    try:
        for input_file in part.files:
            batches = reader.read(input_file)
            while True:
                t0 = time.perf_counter()
                batch = next(batches, None)
                stats[0].seconds += time.perf_counter() - t0
                if batch is None:
                    break
                if batch.quarantined:
                    quarantine.write(_quarantine_table(guard.quarantine(batch.quarantined)),
                                     sum(r.raw_bytes for r in batch.quarantined))
                    reasons.update(r.reason for r in batch.quarantined)
                nbytes = utf8_bytes([d.text for d in batch.docs])
                stats[0].docs_in += len(batch.docs) + len(batch.quarantined)
                stats[0].docs_out += len(batch.docs)
                stats[0].bytes_out += nbytes
                docs, nbytes, steps = run_chain(stages, batch.docs, nbytes)
                _record(stats[1:], steps, removed, schemas["removed"], guard)
                staging.write(_docs_table(docs, schemas["staging"]), nbytes)
    except BaseException:
        for writer in (staging, removed, quarantine):
            writer.abort()
        raise
    ids = out / "ids" / f"{name}.npy"
    write_atomic(ids, lambda fh: np.save(fh, np.array(reader.id_hashes, dtype=np.uint64), allow_pickle=False))
    outcome = {"key": key, "index": index, "stats": [s.to_dict() for s in stats], "quarantined": dict(reasons),
               "staging": _infos(staging.close()), "removed": _infos(removed.close()),
               "quarantine": _infos(quarantine.close()), "files": [_file_record(ids)]}
    write_json(plan.marker("curate", index), outcome)
    return outcome


def duplicate_id_skips(plan: RunPlan) -> dict[int, list[int]]:
    """Partitions holding ids that an earlier partition already had, and which of their documents.

    Each partition quarantines duplicates within itself; this finds the ones across partitions
    (the first occurrence in input order is kept, as a single reader would).
    """
    arrays = [np.load(plan.output / "ids" / f"part-{p.index:05d}.npy") for p in plan.partitions]
    if len(arrays) < 2:
        return {}
    hashes = np.concatenate(arrays)
    part = np.repeat(np.arange(len(arrays)), [len(a) for a in arrays])
    ordinal = np.concatenate([np.arange(len(a)) for a in arrays])
    _, first = np.unique(hashes, return_index=True)
    later = np.ones(len(hashes), bool)
    later[first] = False
    skips: dict[int, list[int]] = {}
    for p, o in zip(part[later].tolist(), ordinal[later].tolist()):
        skips.setdefault(p, []).append(o)
    return skips


# ---------------------------------------------------------------------------------------------
# Corpus-level stages and pass 2


def fit_stage(plan: RunPlan, position: int, curated: Sequence[dict[str, Any]], map_fn: MapFn = map) -> dict[str, Any]:
    """Fit the corpus-level stage at ``position`` of the chain on every partition's staged files.

    Its phases fan out through ``map_fn`` (dedup: one task per staging file, per band, per part).
    """
    spec = plan.config.stages[position]
    stage = build_stage(spec.name, spec.params)
    key = _key("fit", [c["key"] for c in curated], spec)
    marker = plan.marker(f"fit-{stage.name}")
    if (done := _done(marker, key)) is not None:
        return done
    _forget(marker)
    workdir = plan.workdir(stage.name)
    owned.remove_tree(workdir)  # files of another input or config must not mix in
    t0 = time.perf_counter()
    counters = stage.fit([Path(f["path"]) for c in curated for f in c["staging"]], workdir, map_fn) or {}
    outcome = {"key": key, "stage": stage.name, "position": position, "counters": counters,
               "seconds": time.perf_counter() - t0,
               "files": [_file_record(p) for p in sorted(workdir.iterdir()) if p.is_file()]}
    write_json(marker, outcome)
    return outcome


def late_partition(plan: RunPlan, index: int, early: dict[str, Any], fits: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Run the rest of the chain (dedup, PII, ...) over one partition's staged documents."""
    cfg = plan.config
    key = _key("late", early["key"], [f["key"] for f in fits], plan.late_specs, cfg.output)
    if (done := _done(plan.marker("late", index), key)) is not None:
        return done
    _forget(plan.marker("late", index))
    out = plan.output
    schemas = plan.schemas
    name = f"part-{index:05d}"
    for sub, prefix in (("curated", name), ("removed", f"late-{index:05d}")):
        owned.remove_files(out / sub, [f"{prefix}-*.parquet"])
    stages = _cached_stages(plan.late_specs, tuple(f["key"] for f in fits),
                            {f["stage"]: plan.workdir(f["stage"]) for f in fits})
    stats = [StageStats(s.name) for s in stages]
    guard = TextGuard.for_plan(plan)
    curated = RollingParquetWriter(out / "curated", name, schemas["staging"], compression_level=1)
    removed = RollingParquetWriter(out / "removed", f"late-{index:05d}", schemas["removed"])
    files = [FileInfo(Path(f["path"]), f["rows"], 0, f["text_bytes"], 0, "") for f in early["staging"]]
    try:
        for batch in _iter_parquet(files, schemas["staging"].names, cfg.input.batch_size):
            table = pa.Table.from_batches([batch])
            docs, nbytes, steps = run_chain(stages, _table_docs(table), utf8_bytes(table.column("text").to_pylist()))
            _record(stats, steps, removed, schemas["removed"], guard)
            curated.write(_docs_table(docs, schemas["staging"]), nbytes)
    except BaseException:
        curated.abort()
        removed.abort()
        raise
    outcome = {"key": key, "index": index, "stats": [s.to_dict() for s in stats],
               "staging": _infos(curated.close()), "removed": _infos(removed.close())}
    write_json(plan.marker("late", index), outcome)
    return outcome


# ---------------------------------------------------------------------------------------------
# Tokenizer, shards, results


def tokenizer_step(plan: RunPlan, final: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Train the tokenizer on a sample of the final text (or copy the given one); measure it on
    held-out documents. ``final``: each partition's last outcome (its ``staging`` files)."""
    cfg = plan.config.tokenizer
    given = sha256_file(Path(cfg.path)) if cfg.path else None
    key = _key("tokenizer", [f["key"] for f in final], cfg, given)
    directory = plan.output / "tokenizer"
    marker = plan.marker("tokenizer")
    if (done := _done(marker, key)) is not None:
        return done
    _forget(marker)
    owned.remove_files(directory, OUTPUT_FILES["tokenizer"])
    t0 = time.perf_counter()
    files = _final_files(final)
    split = SampleSplit.for_corpus(cfg, sum(f.text_bytes for f in files))
    batch_rows = plan.config.input.batch_size
    info: dict[str, Any]
    if cfg.path:
        tokenizer = load_tokenizer(cfg.path)
        data = Path(cfg.path).read_bytes()
        write_atomic(directory / "tokenizer.json", lambda fh: fh.write(data))
        write_transformers_config(directory, cfg)
        info = {"source": "given", "given_sha256": hashlib.sha256(data).hexdigest()}
    else:
        trained = {"documents": 0, "bytes": 0}

        def sample() -> Iterator[list[str]]:
            for ids, texts in _texts(files, batch_rows):
                chosen = [t for i, t in zip(ids, texts) if split.is_train(i)]
                trained["documents"] += len(chosen)
                trained["bytes"] += utf8_bytes(chosen)
                yield chosen

        tokenizer = train_tokenizer(sample(), cfg)
        save_tokenizer(tokenizer, directory, cfg)
        info = {"source": "trained", "train_documents": trained["documents"], "train_bytes": trained["bytes"],
                "train_fraction": round(split.train_fraction, 6), "vocab_note": vocab_shortfall_note(tokenizer, cfg)}
    path = directory / "tokenizer.json"
    counter = TokenCounter(path, backend=cfg.counter)
    holdout = list(iter_holdout(((i, t) for ids, texts in _texts(files, batch_rows) for i, t in zip(ids, texts)),
                                split, HOLDOUT_LIMIT_BYTES))
    holdout_tokens = int(counter.count(holdout).sum())
    info |= {
        "key": key,
        "path": "tokenizer/tokenizer.json",
        "sha256": sha256_file(path),
        "vocab_size": tokenizer.get_vocab_size(),
        "eos_token": cfg.special_tokens[0] if cfg.special_tokens else None,
        "counter": counter.backend,
        "holdout_documents": len(holdout),
        "holdout_bytes_per_token": round(utf8_bytes(holdout) / holdout_tokens, 4) if holdout_tokens else None,
        "seconds": round(time.perf_counter() - t0, 3),
        "files": [_file_record(p) for p in sorted(directory.iterdir()) if p.is_file()],
    }
    write_json(marker, info)
    return info


def write_shards(plan: RunPlan, final: Sequence[dict[str, Any]], removed: Sequence[dict[str, Any]],
                 tokenizer: dict[str, Any], progress: bool = False) -> dict[str, Any]:
    """Count every final document's tokens and write the shards, in input order; count the tokens
    each stage removed (on ``removed/`` texts, with the run's tokenizer)."""
    cfg = plan.config
    key = _key("shards", [f["key"] for f in final], tokenizer["sha256"], cfg.shards, cfg.tokenizer.counter,
               [r["key"] for r in removed])
    marker = plan.marker("shards")
    if (done := _done(marker, key)) is not None:
        return done
    _forget(marker)
    t0 = time.perf_counter()
    owned.remove_files(plan.output / "shards", OUTPUT_FILES["shards"])
    counter = TokenCounter(plan.output / "tokenizer" / "tokenizer.json", backend=cfg.tokenizer.counter)
    schema = plan.schemas["shard"]
    writer = RollingParquetWriter(
        plan.output / "shards", "shard", schema, target_bytes=cfg.shards.target_bytes,
        target_tokens=cfg.shards.target_tokens, row_group_bytes=cfg.shards.row_group_bytes,
        compression=cfg.shards.compression, compression_level=cfg.shards.compression_level,
    )
    files = _final_files(final)
    bar = tqdm(total=sum(f.rows for f in files), unit="doc", desc="tokenize+shard", disable=not progress, leave=False)
    try:
        for batch in _iter_parquet(files, plan.schemas["staging"].names, cfg.input.batch_size):
            table = pa.Table.from_batches([batch])
            texts = table.column("text").to_pylist()
            counts = counter.count(texts)
            table = table.append_column("token_count", pa.array(counts, pa.int64())).select(schema.names)
            row_bytes = pc.binary_length(table.column("text")).to_numpy().astype(np.int64)
            writer.write(table, int(row_bytes.sum()), int(counts.sum()), row_bytes, np.asarray(counts, np.int64))
            bar.update(len(texts))
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    shards = writer.close()
    dropped: Counter[str] = Counter()
    if cfg.output.removed_text != "none":
        removed_files = [FileInfo(Path(f["path"]), 0, 0, 0, 0, "") for r in removed for f in r["removed"]]
        for batch in _iter_parquet(removed_files, ["stage", "text"], cfg.input.batch_size):
            counts = counter.count(batch.column("text").to_pylist())
            for stage, n in zip(batch.column("stage").to_pylist(), counts.tolist()):
                dropped[stage] += n
    outcome = {"key": key, "shards": _infos(shards), "tokens_dropped": dict(dropped),
               "seconds": time.perf_counter() - t0}
    write_json(marker, outcome)
    return outcome


def finalize(plan: RunPlan, early: Sequence[dict[str, Any]], fits: Sequence[dict[str, Any]],
             late: Sequence[dict[str, Any]], tokenizer: dict[str, Any], shards: dict[str, Any],
             seconds: float, keep_intermediate: bool = False) -> RunResult:
    """Merge the steps' accounting and write manifest, summary, budget and report."""
    from curation.report import write_report

    out = plan.output
    stats = [StageStats("read", bytes_in=None)] + [StageStats(s.name) for s in plan.stages()]
    reasons: Counter[str] = Counter()
    for outcome in early:
        reasons.update(outcome["quarantined"])
        for total, part in zip(stats, outcome["stats"]):
            total.merge(StageStats.from_dict(part))
    for outcome in late:
        for total, part in zip(stats[1 + plan.split:], outcome["stats"]):
            total.merge(StageStats.from_dict(part))
    for fit in fits:
        total = stats[1 + fit["position"]]
        total.seconds += fit["seconds"]
        total.add_counters(Counter(fit["counters"]))
    counted = plan.config.output.removed_text != "none"
    for total in stats[1:]:
        total.tokens_dropped = shards["tokens_dropped"].get(total.stage, 0) if counted else None
    infos = [_info(s) for s in shards["shards"]]
    stats[-1].tokens_out = sum(s.tokens for s in infos)
    manifest = _manifest(plan, infos, tokenizer)
    budget = budget_report(manifest["total_tokens"])
    write_json(out / "budget.json", budget)
    write_atomic(out / "budget.md", lambda fh: fh.write(render_budget_markdown(budget).encode()))
    steps = [o for o in (*early, *fits, *late, tokenizer, shards)]
    summary = {
        "inputs": list(plan.inputs),
        "partitions": len(plan.partitions),
        "stages": [s.to_dict() for s in stats],
        "quarantined": dict(sorted(reasons.items())),
        "total_documents": manifest["total_documents"],
        "total_tokens": manifest["total_tokens"],
        "tokenizer": {k: v for k, v in tokenizer.items() if k not in ("key", "files", "resumed")},
        "resumed_steps": [_step_name(o) for o in steps if o.get("resumed")],
        "notes": list(plan.notes) + run_notes(plan, tokenizer),
        "seconds": round(seconds, 3),
    }
    write_json(out / "summary.json", summary)
    result = RunResult(out, manifest, summary, stats, reasons, published_to=plan.publish_to)
    result.report_markdown = write_report(result, budget)
    # Last: a reader that sees the manifest sees every file it lists.
    write_json(out / "manifest.json", manifest)
    if plan.publish_to:
        publish(out, plan.publish_to, output_files(plan, early, late, manifest))
    if not keep_intermediate:
        for sub in INTERMEDIATE:  # markers first (see INTERMEDIATE)
            owned.remove_tree(out / sub)
        if plan.publish_to:
            # The URL holds the outputs now; the local copy was only the steps' workspace.
            remove_run_files(out)
            for name in (*RESULT_FILES, "config.json", "plan.json", owned.OWNER_FILE, owned.LOCK_FILE):
                (out / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: something not ours is in it
                out.rmdir()
    return result


def output_files(plan: RunPlan, early: Sequence[dict[str, Any]], late: Sequence[dict[str, Any]],
                 manifest: dict[str, Any]) -> list[str]:
    """Every output file of the run, relative to its folder (what publishing uploads)."""
    out = plan.output
    listed = [s["path"] for s in manifest["shards"]]
    for outcome in (*early, *late):
        for name in ("removed", "quarantine"):
            listed += [Path(f["path"]).relative_to(out).as_posix() for f in outcome.get(name, [])]
    for sub in ("tokenizer", "report"):
        listed += [p.relative_to(out).as_posix() for p in sorted((out / sub).glob("*")) if p.is_file()
                   and not p.name.startswith(".")]
    listed += [name for name in (*RESULT_FILES, "config.json", "plan.json") if (out / name).is_file()]
    return listed


# Corpus-level stages every preset keeps (config.PRESETS), and what their absence means.
CORPUS_STAGES = {"dedup": "not deduplicated", "pii": "not PII-redacted"}


def run_notes(plan: RunPlan, tokenizer: dict[str, Any]) -> list[str]:
    """What a user should know about this run that no error stopped: one line each."""
    notes = []
    names = {s.name for s in plan.config.stages}
    missing = [name for name in CORPUS_STAGES if name not in names]
    if missing:
        notes.append(f"the config removed {' and '.join(missing)} from the chain: the shards are "
                     + " and ".join(CORPUS_STAGES[m] for m in missing))
    if tokenizer.get("vocab_note"):
        notes.append(tokenizer["vocab_note"])
    return notes


def _step_name(outcome: dict[str, Any]) -> str:
    if "stage" in outcome:
        return f"fit-{outcome['stage']}"
    if "index" in outcome:
        return f"{'filter' if 'quarantine' in outcome else 'late'}-{outcome['index']:05d}"
    return "tokenizer" if "vocab_size" in outcome else "shards"


# ---------------------------------------------------------------------------------------------
# Drivers


def execute(plan: RunPlan, map_fn: MapFn = map, progress: bool = False, keep_intermediate: bool = False,
            started: float | None = None) -> RunResult:
    """Run every step of ``plan`` in order, fanning per-partition steps out through ``map_fn``.

    ``flows/curate.py`` is the same sequence with each step a Prefect task.
    """
    started = time.perf_counter() if started is None else started
    indices = range(len(plan.partitions))
    bar = tqdm(total=len(indices), unit="part", desc="filter", disable=not progress, leave=False)

    early = []
    for outcome in map_fn(functools.partial(curate_partition, plan), indices):
        early.append(outcome)
        bar.update()
    bar.close()
    skips = duplicate_id_skips(plan)
    if skips:
        redo = dict(zip(skips, map_fn(_curate_with_skip, [(plan, i, s) for i, s in skips.items()])))
        early = [redo.get(i, e) for i, e in enumerate(early)]
    check_survivors(plan, early)
    fits = [fit_stage(plan, i, early, map_fn) for i, s in enumerate(plan.stages()) if s.needs_fit]
    final, late = early, []
    if plan.late_specs:
        late = list(map_fn(_late_task, [(plan, i, early[i], fits) for i in indices]))
        final = late
        check_survivors(plan, early, late)
    tokenizer = tokenizer_step(plan, final)
    shards = write_shards(plan, final, early + late, tokenizer, progress)
    return finalize(plan, early, fits, late, tokenizer, shards, time.perf_counter() - started, keep_intermediate)


def check_survivors(plan: RunPlan, early: Sequence[dict[str, Any]], final: Sequence[dict[str, Any]] | None = None
                    ) -> None:
    """Fail with a one-line account when no document is left to shard.

    Args:
        early: every partition's pass-1 outcome (reads and quarantine); ``final`` the last pass's.
    """
    final = early if final is None else final
    if any(f["rows"] for o in final for f in o["staging"]):
        return
    read = sum(o["stats"][0]["docs_in"] for o in early)
    quarantined: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for o in early:
        quarantined.update(o["quarantined"])
    for o in (*early, *(final if final is not early else ())):
        for st in o["stats"]:
            if st["stage"] != "read":
                dropped.update({f"{st['stage']}/{r}": n for r, n in st["reasons"].items()})
    parts = [f"no documents to shard: {read:,} records read"]
    if quarantined:
        parts.append(f"{sum(quarantined.values()):,} quarantined ({_top(quarantined)}; see {plan.output / 'quarantine'})")
    if dropped:
        parts.append(f"{sum(dropped.values()):,} dropped by the stages ({_top(dropped)}; see {plan.output / 'removed'})")
    raise CurationError("; ".join(parts))


def _top(counts: Counter[str], n: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} {v:,}" for k, v in ranked[:n])
    return shown + (", ..." if len(counts) > n else "")


def _curate_with_skip(args: tuple[RunPlan, int, list[int]]) -> dict[str, Any]:
    return curate_partition(*args)


def _late_task(args: tuple[RunPlan, int, dict[str, Any], list[dict[str, Any]]]) -> dict[str, Any]:
    return late_partition(*args)


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
    """
    if workers < 1:
        raise CurationError(f"workers must be at least 1, got {workers}")
    started = time.perf_counter()
    if progress is None:
        progress = sys.stderr.isatty()
    with locked(inputs, output_dir, work_dir):
        plan = plan_run(inputs, output_dir, config, fresh, work_dir, notes)
        if workers == 1 or len(plan.partitions) == 1:
            return execute(plan, map, progress, keep_intermediate, started)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return execute(plan, pool.map, progress, keep_intermediate, started)


# ---------------------------------------------------------------------------------------------
# Batches and accounting


@dataclass(slots=True)
class StepRecord:
    """What one stage did to one batch: the funnel, the drops, its counters and its time."""

    docs_in: int
    bytes_in: int
    docs_out: int
    bytes_out: int
    seconds: float
    dropped: list[Dropped]
    counters: Counter[str]


def run_chain(stages: list[Stage], docs: list[Document], nbytes: int) -> tuple[list[Document], int, list[StepRecord]]:
    """Run stages in order over one batch. Pure: accounting is returned, nothing is written."""
    steps = []
    for stage in stages:
        t0 = time.perf_counter()
        result = stage(docs)
        seconds = time.perf_counter() - t0
        kept_bytes = utf8_bytes([d.text for d in result.kept])
        steps.append(StepRecord(len(docs), nbytes, len(result.kept), kept_bytes, seconds, result.dropped,
                                result.counters))
        docs, nbytes = result.kept, kept_bytes
    return docs, nbytes, steps


def _record(stats: list[StageStats], steps: list[StepRecord], removed: RollingParquetWriter, schema: pa.Schema,
            guard: TextGuard) -> None:
    for stage_stats, step in zip(stats, steps):
        stage_stats.add_step(step)
        if step.dropped:
            texts = guard.removed(step.dropped)
            removed.write(_removed_table(step.dropped, texts, schema), utf8_bytes([t or "" for t in texts]))


# Built stages, per process: loading models (classifier, Presidio) once per worker rather than once
# per partition. A cache, not state: the key is everything that determines the stages' behaviour.
_STAGE_CACHE: dict[str, list[Stage]] = {}


def _cached_stages(specs: list[StageSpec], fit_keys: tuple[str, ...], workdirs: dict[str, Path] | None = None
                   ) -> list[Stage]:
    key = json.dumps([[s.name, s.params] for s in specs] + list(fit_keys), sort_keys=True, default=str)
    if key not in _STAGE_CACHE:
        if len(_STAGE_CACHE) >= 4:
            _STAGE_CACHE.clear()
        stages = [build_stage(s.name, s.params) for s in specs]
        for stage in stages:
            if stage.needs_fit:
                stage.load((workdirs or {})[stage.name])
        _STAGE_CACHE[key] = stages
    return _STAGE_CACHE[key]


@dataclass
class TextGuard:
    """Text written outside the shards (removed/, quarantine/), as ``config.output`` asks:
    redacted with the chain's ``pii`` stage (its defaults when the chain has none), raw, or none."""

    removed_policy: str
    quarantine_policy: str
    pii_params: dict[str, Any]

    @classmethod
    def for_plan(cls, plan: RunPlan) -> TextGuard:
        spec = next((s for s in plan.config.stages if s.name == "pii"), None)
        out = plan.config.output
        return cls(out.removed_text, out.quarantine_text, dict(spec.params) if spec else {})

    def _redact(self, texts: list[str]) -> list[str]:
        if not texts:
            return texts
        redactor = _cached_stages([StageSpec(name="pii", params=self.pii_params)], ("guard",))[0]
        return redactor.redact_texts(texts)  # type: ignore[attr-defined]

    def removed(self, dropped: list[Dropped]) -> list[str | None]:
        if self.removed_policy == "none":
            return [None] * len(dropped)
        texts = [d.doc.text for d in dropped]
        if self.removed_policy == "raw":
            return texts
        # The pii stage's own drops (pii_density) already carry the redacted text.
        todo = [i for i, d in enumerate(dropped) if d.stage != "pii"]
        for i, text in zip(todo, self._redact([texts[i] for i in todo])):
            texts[i] = text
        return texts

    def quarantine(self, records: list[QuarantineRecord]) -> list[QuarantineRecord]:
        if self.quarantine_policy == "raw":
            return records
        if self.quarantine_policy == "none":
            return [dataclasses.replace(r, raw_preview="") for r in records]
        redacted = self._redact([t for r in records for t in (r.raw_preview, r.detail)])
        return [dataclasses.replace(r, raw_preview=redacted[2 * i], detail=redacted[2 * i + 1])
                for i, r in enumerate(records)]


@dataclass
class RunResult:
    """What a run produced; ``summary`` is what ``DIR/summary.json`` holds."""

    output_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    stages: list[StageStats] = field(default_factory=list)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    published_to: str | None = None  # the output URL, when the outputs were published there
    report_markdown: str = ""  # report.md's text; its plots are linked as report/NAME.png

    def report(self) -> str:
        """The end-of-run text for a terminal."""
        s = self.summary
        drops = Counter({f"{st.stage}/{r}": n for st in self.stages for r, n in st.reasons.items()})
        tok = s["tokenizer"]
        bpt = tok.get("holdout_bytes_per_token")
        lines = [
            format_table(self.stages),
            "",
            format_reasons("quarantined (bad input)", self.quarantine_reasons),
            format_reasons("dropped (by stage/reason)", drops),
            "",
            f"documents: {self.manifest['total_documents']:,}   tokens: {self.manifest['total_tokens']:,}   "
            f"shards: {len(self.manifest['shards'])}   wall: {s['seconds']:.1f} s",
            f"tokenizer: {tok['source']}, vocab {tok['vocab_size']:,}, counter {tok['counter']}"
            + (f", {bpt:.3f} bytes/token on {tok['holdout_documents']:,} held-out docs" if bpt else ""),
            f"output: {self.published_to or self.output_dir}",
        ]
        if s.get("resumed_steps"):
            lines.append(f"resumed: {len(s['resumed_steps'])} finished steps of an interrupted run were kept "
                         f"({_brief(s['resumed_steps'])})")
        lines += [f"note: {n}" for n in s.get("notes", [])]
        return "\n".join(lines)


def _brief(names: list[str]) -> str:
    """``filter-00000, filter-00001, fit-dedup`` as ``filter x2, fit-dedup``."""
    kinds = Counter(n.rsplit("-", 1)[0] if n.rsplit("-", 1)[-1].isdigit() else n for n in names)
    return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in kinds.items())


def _key(*parts: Any) -> str:
    def plain(x: Any) -> Any:
        if hasattr(x, "model_dump"):
            return x.model_dump(mode="json")
        if isinstance(x, (list, tuple)):
            return [plain(i) for i in x]
        return x
    return hashlib.sha256(json.dumps(plain(list(parts)), sort_keys=True, default=str).encode()).hexdigest()


def _done(marker: Path, key: str) -> dict[str, Any] | None:
    """The marker's outcome if the step finished with this key and every file it lists is still
    the one it wrote (size and sha256); None for a missing, torn or stale marker."""
    try:
        outcome = read_json(marker)
    except (OSError, ValueError):  # missing, or torn by a crash: not done
        return None
    if not isinstance(outcome, dict) or outcome.get("key") != key:
        return None
    listed = [f for name in ("staging", "removed", "quarantine", "shards", "files") for f in outcome.get(name, [])]
    if not all(matches_record(Path(f["path"]), f.get("bytes"), f.get("sha256")) for f in listed):
        return None
    return outcome | {"resumed": True}


def _forget(marker: Path) -> None:
    """Before a step rewrites its files: its old marker must never vouch for the new ones."""
    marker.unlink(missing_ok=True)


def _file_record(path: Path) -> dict[str, Any]:
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _infos(files: list[FileInfo]) -> list[dict[str, Any]]:
    return [{"path": str(f.path), "rows": f.rows, "tokens": f.tokens, "text_bytes": f.text_bytes,
             "bytes": f.file_bytes, "sha256": f.sha256} for f in files]


def _info(d: dict[str, Any]) -> FileInfo:
    return FileInfo(Path(d["path"]), d["rows"], d["tokens"], d["text_bytes"], d["bytes"], d["sha256"])


def _final_files(final: Sequence[dict[str, Any]]) -> list[FileInfo]:
    return [_info(f) for outcome in final for f in outcome["staging"]]


def _texts(files: list[FileInfo], batch_rows: int) -> Iterator[tuple[list[str], list[str]]]:
    for batch in _iter_parquet(files, ["id", "text"], batch_rows):
        yield batch.column("id").to_pylist(), batch.column("text").to_pylist()


def _manifest(plan: RunPlan, shards: list[FileInfo], tokenizer_info: dict[str, Any]) -> dict[str, Any]:
    # No timestamps or absolute paths: two runs of the same input and config must match byte for byte.
    return {
        "format_version": MANIFEST_VERSION,
        "shards": [
            {"path": s.path.relative_to(plan.output).as_posix(), "rows": s.rows, "tokens": s.tokens,
             "text_bytes": s.text_bytes, "bytes": s.file_bytes, "sha256": s.sha256}
            for s in shards
        ],
        "total_documents": sum(s.rows for s in shards),
        "total_tokens": sum(s.tokens for s in shards),
        "total_text_bytes": sum(s.text_bytes for s in shards),
        "tokenizer": {k: tokenizer_info[k] for k in ("path", "sha256", "vocab_size", "eos_token")}
        | {"special_token_policy": "literal special-token strings in text are encoded as ordinary text"},
        "token_count": "len(tokenizer.encode(text, add_special_tokens=False).ids) with encode_special_tokens=True",
        "config_sha256": config_identity(plan.config),
        "versions": package_versions(),
    }


def config_identity(config: PipelineConfig) -> str:
    """The config's sha256 with every file it names (a stage's model, a given tokenizer) replaced by
    the file's sha256: the same input and config give the same manifest on every machine."""
    data = config.model_dump(mode="json")
    for spec in data["stages"]:
        for param in resolve_stage(spec["name"]).file_params:
            if spec["params"].get(param):
                spec["params"][param] = "sha256:" + sha256_file(spec["params"][param])
    if data["tokenizer"]["path"]:
        data["tokenizer"]["path"] = "sha256:" + sha256_file(data["tokenizer"]["path"])
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _schema(base: list[tuple[str, pa.DataType]], extra: dict[str, pa.DataType]) -> pa.Schema:
    names = {n for n, _ in base}
    clash = names & set(extra)
    if clash:
        raise CurationError(f"stage columns {sorted(clash)} clash with built-in columns")
    return pa.schema(base + sorted(extra.items()))


def _union_columns(stages: list[Stage], attr: str) -> dict[str, pa.DataType]:
    merged: dict[str, pa.DataType] = {}
    for stage in stages:
        for name, dtype in getattr(stage, attr).items():
            if name in merged and merged[name] != dtype:
                raise CurationError(f"column {name!r} declared as {merged[name]} and {dtype} by different stages")
            merged[name] = dtype
    return merged


def _docs_table(docs: list[Document], schema: pa.Schema) -> pa.Table:
    columns: dict[str, list[Any]] = {"id": [d.id for d in docs], "text": [d.text for d in docs],
                                     "source": [d.source for d in docs]}
    for name in schema.names:
        if name not in columns:
            columns[name] = [d.attributes.get(name) for d in docs]
    return pa.Table.from_pydict({n: columns[n] for n in schema.names}, schema=schema)


def _table_docs(table: pa.Table) -> list[Document]:
    """Staged rows back into Documents, for the stages that run in pass 2."""
    columns = table.to_pydict()
    ids, texts, sources = columns.pop("id"), columns.pop("text"), columns.pop("source")
    return [Document(ids[i], texts[i], sources[i], {k: v[i] for k, v in columns.items()}) for i in range(len(ids))]


def _removed_table(dropped: list[Dropped], texts: list[str | None], schema: pa.Schema) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "id": [d.doc.id for d in dropped], "source": [d.doc.source for d in dropped],
        "stage": [d.stage for d in dropped], "reason": [d.reason for d in dropped],
        "text": texts,
    }
    for name in schema.names:
        if name not in columns:
            columns[name] = [d.extra.get(name) for d in dropped]
    return pa.Table.from_pydict(columns, schema=schema)


def _quarantine_table(records: list[QuarantineRecord]) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: getattr(r, name) for name in QUARANTINE_SCHEMA.names} for r in records], schema=QUARANTINE_SCHEMA
    )


def _iter_parquet(files: Iterable[FileInfo], columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for info in files:
        yield from pq.ParquetFile(info.path).iter_batches(batch_size=batch_rows, columns=columns)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
