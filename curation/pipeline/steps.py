"""The run's steps: plain functions of a :class:`RunPlan` (and a partition index), so any runner can
call them, in this process, a process pool, a Prefect task or a Ray worker.

Each step resumes from its marker, returning the finished outcome if its inputs and config are
unchanged and its files are intact; otherwise the marker is forgotten, and the step deletes its own
old files, writes under temporary names, renames, and saves the new outcome as its marker. The order
in which they run is :mod:`curation.pipeline.graph`'s, and nowhere else.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.config import OutputConfig
from curation.document import QUARANTINE_SCHEMA
from curation.errors import CurationError
from curation.io import output as owned
from curation.io.files import sha256_file, write_atomic
from curation.io.parquet import RollingParquetWriter
from curation.io.readers import DocumentReader
import curation.pipeline.markers as markers
from curation.pipeline.chain import cached_stages, record, run_chain
from curation.pipeline.outcomes import FileRecord, FitOutcome, PartitionOutcome, ShardsOutcome, TokenizerOutcome
from curation.pipeline.plan import OUTPUT_FILES, RunPlan
from curation.pipeline.privacy import TextGuard
from curation.pipeline.tables import docs_table, iter_parquet, iter_texts, quarantine_table, table_docs
from curation.registry import build_stage
from curation.stage import MapFn
from curation.summary import StageStats, utf8_bytes
from curation.tokenizer import (SampleSplit, TokenCounter, is_heldout, iter_holdout, save_tokenizer, train_tokenizer,
                                vocab_shortfall_note, write_transformers_config)

HOLDOUT_LIMIT_BYTES = 20 << 20  # bytes-per-token is stable to 3 digits well before 20 MB


# ---------------------------------------------------------------------------------------------
# Pass 1: per partition


def intermediate_codec(output: OutputConfig) -> dict[str, Any]:
    """The Parquet codec of staging/ and curated/ (``output.intermediate_compression``)."""
    if output.intermediate_compression == "zstd":
        return {"compression": "zstd", "compression_level": 1}
    return {"compression": "none", "compression_level": None}


def filter_partition(plan: RunPlan, index: int, skip: Sequence[int] = ()) -> PartitionOutcome:
    """Read one partition, run the per-document stages and write what they kept, dropped and why.

    Args:
        skip: ordinals (among the partition's valid documents) whose ids an earlier partition has;
            they are quarantined as ``duplicate_id`` (see :func:`resolve_duplicate_ids`).
    """
    cfg = plan.config
    part = plan.partitions[index]
    key = markers.key("curate", part.key(), cfg.input, plan.early_specs, cfg.output, sorted(skip))
    marker = plan.marker("curate", index)
    if (done := markers.resume(marker, key, PartitionOutcome)) is not None:
        return done
    out = plan.output
    schemas = plan.schemas
    name = f"part-{index:05d}"
    for sub, prefix in (("staging", name), ("removed", f"early-{index:05d}"), ("quarantine", name)):
        owned.remove_files(out / sub, [f"{prefix}-*.parquet"])
    staging = RollingParquetWriter(out / "staging", name, schemas["staging"], **intermediate_codec(cfg.output))
    removed = RollingParquetWriter(out / "removed", f"early-{index:05d}", schemas["removed"])
    quarantine = RollingParquetWriter(out / "quarantine", name, QUARANTINE_SCHEMA)
    stages = cached_stages(plan.early_specs)
    guard = TextGuard.for_config(cfg)
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
                    quarantine.write(quarantine_table(guard.quarantine(batch.quarantined)),
                                     sum(r.raw_bytes for r in batch.quarantined))
                    reasons.update(r.reason for r in batch.quarantined)
                sizes = [len(d.text.encode("utf-8")) for d in batch.docs]
                stats[0].docs_in += len(batch.docs) + len(batch.quarantined)
                stats[0].docs_out += len(batch.docs)
                stats[0].bytes_out += sum(sizes)
                docs, nbytes, steps = run_chain(stages, batch.docs, sizes)
                record(stats[1:], steps, removed, schemas["removed"], guard)
                staging.write(docs_table(docs, schemas["staging"]), nbytes)
    except BaseException:
        for writer in (staging, removed, quarantine):
            writer.abort()
        raise
    ids = out / "ids" / f"{name}.npy"
    write_atomic(ids, lambda fh: np.save(fh, np.array(reader.id_hashes, dtype=np.uint64), allow_pickle=False))
    outcome = PartitionOutcome(
        key, files=(markers.file_record(ids),), index=index, stats=tuple(s.to_dict() for s in stats),
        staging=_records(staging.close()), removed=_records(removed.close()),
        quarantine=_records(quarantine.close()), quarantined=dict(reasons))
    markers.save(marker, outcome)
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


def resolve_duplicate_ids(plan: RunPlan, filtered: Sequence[PartitionOutcome], map_fn: MapFn = map
                          ) -> list[PartitionOutcome]:
    """Pass 1 as if one reader had read every partition: the partitions holding an id an earlier
    one had are filtered again (through ``map_fn``) with those documents quarantined. Fails with
    the funnel when no document is left."""
    skips = duplicate_id_skips(plan)
    early = list(filtered)
    if skips:
        redone = map_fn(_filter_with_skip, [(plan, i, s) for i, s in skips.items()])
        for i, outcome in zip(skips, redone):
            early[i] = outcome
    check_survivors(plan, early)
    return early


def _filter_with_skip(args: tuple[RunPlan, int, list[int]]) -> PartitionOutcome:
    return filter_partition(*args)


def check_survivors(plan: RunPlan, early: Sequence[PartitionOutcome],
                    final: Sequence[PartitionOutcome] | None = None) -> None:
    """Fail with a one-line account when no document is left to shard.

    Args:
        early: every partition's pass-1 outcome (reads and quarantine); ``final`` the last pass's.
    """
    final = early if final is None else final
    if any(o.rows for o in final):
        return
    read = sum(o.stats[0]["docs_in"] for o in early)
    quarantined: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for o in early:
        quarantined.update(o.quarantined)
    for o in (*early, *(final if final is not early else ())):
        for st in o.stats:
            if st["stage"] != "read":
                dropped.update({f"{st['stage']}/{r}": n for r, n in st["reasons"].items()})
    parts = [f"no documents to shard: {read:,} records read"]
    if quarantined:
        parts.append(f"{sum(quarantined.values()):,} quarantined ({_top(quarantined)}; "
                     f"see {plan.output / 'quarantine'})")
    if dropped:
        parts.append(f"{sum(dropped.values()):,} dropped by the stages ({_top(dropped)}; see {plan.output / 'removed'})")
    raise CurationError("; ".join(parts))


def _top(counts: Counter[str], n: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v:,}" for k, v in ranked[:n]) + (", ..." if len(counts) > n else "")


# ---------------------------------------------------------------------------------------------
# Corpus-level stages and pass 2


def fit_stages(plan: RunPlan, early: Sequence[PartitionOutcome], map_fn: MapFn = map) -> list[FitOutcome]:
    """Fit every corpus-level stage of the chain on pass 1's staged files, in chain order."""
    return [fit_stage(plan, position, early, map_fn) for position, stage in enumerate(plan.stages())
            if stage.needs_fit]


def fit_stage(plan: RunPlan, position: int, early: Sequence[PartitionOutcome], map_fn: MapFn = map) -> FitOutcome:
    """Fit the corpus-level stage at ``position`` of the chain on every partition's staged files.

    Its phases fan out through ``map_fn`` (dedup: one task per staging file, per band, per part).
    """
    spec = plan.config.stages[position]
    stage = build_stage(spec.name, spec.params)
    key = markers.key("fit", [c.key for c in early], spec)
    marker = plan.marker(f"fit-{stage.name}")
    if (done := markers.resume(marker, key, FitOutcome)) is not None:
        return done
    workdir = plan.workdir(stage.name)
    owned.remove_tree(workdir)  # files of another input or config must not mix in
    t0 = time.perf_counter()
    counters = stage.fit([Path(f.path) for c in early for f in c.staging], workdir, map_fn) or {}
    outcome = FitOutcome(key, files=tuple(markers.file_record(p) for p in sorted(workdir.iterdir()) if p.is_file()),
                         stage=stage.name, position=position, counters=dict(counters),
                         seconds=time.perf_counter() - t0)
    markers.save(marker, outcome)
    return outcome


def late_partition(plan: RunPlan, index: int, early: Sequence[PartitionOutcome], fits: Sequence[FitOutcome]
                   ) -> PartitionOutcome:
    """Run the rest of the chain (dedup, PII, ...) over one partition's staged documents."""
    cfg = plan.config
    mine = early[index]
    key = markers.key("late", mine.key, [f.key for f in fits], plan.late_specs, cfg.output)
    marker = plan.marker("late", index)
    if (done := markers.resume(marker, key, PartitionOutcome)) is not None:
        return done
    out = plan.output
    schemas = plan.schemas
    name = f"part-{index:05d}"
    for sub, prefix in (("curated", name), ("removed", f"late-{index:05d}")):
        owned.remove_files(out / sub, [f"{prefix}-*.parquet"])
    stages = cached_stages(plan.late_specs, {f.stage: (f.key, plan.workdir(f.stage)) for f in fits})
    stats = [StageStats(s.name) for s in stages]
    guard = TextGuard.for_config(cfg)
    curated = RollingParquetWriter(out / "curated", name, schemas["staging"], **intermediate_codec(cfg.output))
    removed = RollingParquetWriter(out / "removed", f"late-{index:05d}", schemas["removed"])
    try:
        for batch in iter_parquet(mine.staging, schemas["staging"].names, cfg.input.batch_size):
            table = pa.Table.from_batches([batch])
            # Arrow holds the texts as UTF-8 already: their sizes without encoding them again.
            sizes = pc.binary_length(table.column("text")).to_pylist()
            docs, nbytes, steps = run_chain(stages, table_docs(table), sizes)
            record(stats, steps, removed, schemas["removed"], guard)
            curated.write(docs_table(docs, schemas["staging"]), nbytes)
    except BaseException:
        curated.abort()
        removed.abort()
        raise
    outcome = PartitionOutcome(key, step="late", index=index, stats=tuple(s.to_dict() for s in stats),
                               staging=_records(curated.close()), removed=_records(removed.close()))
    markers.save(marker, outcome)
    return outcome


# ---------------------------------------------------------------------------------------------
# Tokenizer and shards


def tokenizer_step(plan: RunPlan, early: Sequence[PartitionOutcome], late: Sequence[PartitionOutcome]
                   ) -> TokenizerOutcome:
    """Train the tokenizer on a sample of the final text (or copy the given one); measure it on
    held-out documents. The final text is pass 2's (``late``), or pass 1's without corpus-level stages."""
    final = late or early
    check_survivors(plan, early, final)
    # The held-out split is never trained on, by the BPE either: its documents are in the tokenizer's.
    cfg = plan.config.tokenizer
    cfg = cfg.model_copy(update={"holdout_fraction": max(cfg.holdout_fraction, plan.config.shards.heldout_fraction)})
    given = sha256_file(Path(cfg.path)) if cfg.path else None
    key = markers.key("tokenizer", [f.key for f in final], cfg, given)
    directory = plan.output / "tokenizer"
    marker = plan.marker("tokenizer")
    if (done := markers.resume(marker, key, TokenizerOutcome)) is not None:
        return done
    owned.remove_files(directory, OUTPUT_FILES["tokenizer"])
    t0 = time.perf_counter()
    files = [f for outcome in final for f in outcome.staging]
    split = SampleSplit.for_corpus(cfg, sum(f.text_bytes for f in files))
    batch_rows = plan.config.input.batch_size
    note = None
    if cfg.path:
        data = Path(cfg.path).read_bytes()
        write_atomic(directory / "tokenizer.json", lambda fh: fh.write(data))
        write_transformers_config(directory, cfg)
        source, training = "given", {"given_sha256": given}
    else:
        trained = {"documents": 0, "bytes": 0}

        def sample() -> Iterator[list[str]]:
            for _, chosen in iter_texts(files, batch_rows, keep=split.is_train):
                trained["documents"] += len(chosen)
                trained["bytes"] += utf8_bytes(chosen)
                yield chosen

        tokenizer = train_tokenizer(sample(), cfg)
        save_tokenizer(tokenizer, directory, cfg)
        note = vocab_shortfall_note(tokenizer, cfg)
        source, training = "trained", {"train_documents": trained["documents"], "train_bytes": trained["bytes"],
                                       "train_fraction": round(split.train_fraction, 6)}
    path = directory / "tokenizer.json"
    sha256 = sha256_file(path)
    counter = TokenCounter.shared(path, cfg.counter, sha256)
    if cfg.path:
        tokenizer = counter.reference
    holdout = list(iter_holdout(((i, t) for ids, texts in iter_texts(files, batch_rows, keep=split.is_holdout)
                                 for i, t in zip(ids, texts)), split, HOLDOUT_LIMIT_BYTES))
    holdout_tokens = int(counter.count(holdout).sum())
    outcome = TokenizerOutcome(
        key, files=tuple(markers.file_record(p) for p in sorted(directory.iterdir()) if p.is_file()),
        path="tokenizer/tokenizer.json", sha256=sha256, vocab_size=tokenizer.get_vocab_size(),
        eos_token=cfg.special_tokens[0] if cfg.special_tokens else None, counter=counter.backend, source=source,
        holdout_documents=len(holdout),
        holdout_bytes_per_token=round(utf8_bytes(holdout) / holdout_tokens, 4) if holdout_tokens else None,
        seconds=round(time.perf_counter() - t0, 3), training=training, note=note)
    markers.save(marker, outcome)
    return outcome


def write_shards(plan: RunPlan, early: Sequence[PartitionOutcome], late: Sequence[PartitionOutcome],
                 tokenizer: TokenizerOutcome) -> ShardsOutcome:
    """Count every final document's tokens and write the shards, in input order; documents whose
    id hashes below ``shards.heldout_fraction`` go to ``heldout/`` instead (the validation split:
    decided here, after dedup, so no near-duplicate of one is left to train on). Count the tokens
    each stage removed (on ``removed/`` texts, with the run's tokenizer)."""
    cfg = plan.config
    final = late or early
    key = markers.key("shards", [f.key for f in final], tokenizer.sha256, cfg.shards, cfg.tokenizer.counter,
                      [r.key for r in (*early, *late)])
    marker = plan.marker("shards")
    if (done := markers.resume(marker, key, ShardsOutcome)) is not None:
        return done
    t0 = time.perf_counter()
    counter = TokenCounter.shared(plan.output / "tokenizer" / "tokenizer.json", cfg.tokenizer.counter, tokenizer.sha256)
    schema = plan.schemas["shard"]
    # A corpus of fewer than 1/fraction documents (200 at 0.5%) gets no held-out split: it would hold
    # out nothing or, by chance, a large part of a small corpus (all of a one-document one).
    fraction = cfg.shards.heldout_fraction
    if sum(o.rows for o in final) * fraction < 1:
        fraction = 0.0
    writers = {}
    for split in ("shards", "heldout"):
        owned.remove_files(plan.output / split, OUTPUT_FILES[split])
        writers[split] = RollingParquetWriter(
            plan.output / split, "shard", schema, target_bytes=cfg.shards.target_bytes,
            target_tokens=cfg.shards.target_tokens, row_group_bytes=cfg.shards.row_group_bytes,
            compression=cfg.shards.compression, compression_level=cfg.shards.compression_level,
        )
    batches = iter_parquet([f for o in final for f in o.staging], plan.schemas["staging"].names, cfg.input.batch_size)
    try:
        for table, counts in _counted(batches, counter):
            table = table.append_column("token_count", pa.array(counts, pa.int64())).select(schema.names)
            row_bytes = pc.binary_length(table.column("text")).to_numpy().astype(np.int64)
            heldout = (np.fromiter((is_heldout(i, fraction) for i in table.column("id").to_pylist()), bool,
                                   table.num_rows) if fraction else np.zeros(table.num_rows, bool))
            for split, rows in (("shards", ~heldout), ("heldout", heldout)):
                if rows.any():
                    writers[split].write(table.filter(pa.array(rows)), int(row_bytes[rows].sum()),
                                         int(counts[rows].sum()), row_bytes[rows], counts[rows])
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    shards, heldout_shards = writers["shards"].close(), writers["heldout"].close()
    dropped: Counter[str] = Counter()
    if cfg.output.removed_text != "none":
        removed = iter_parquet([f for o in (*early, *late) for f in o.removed], ["stage", "text"], cfg.input.batch_size)
        for table, counts in _counted(removed, counter):
            for stage, n in zip(table.column("stage").to_pylist(), counts.tolist()):
                dropped[stage] += n
    outcome = ShardsOutcome(key, shards=_records(shards), heldout=_records(heldout_shards),
                            tokens_dropped=dict(dropped), seconds=time.perf_counter() - t0)
    markers.save(marker, outcome)
    return outcome


def _counted(batches: Iterator[pa.RecordBatch], counter: TokenCounter) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Each batch as a table with its texts' token counts, the next batch counted on a thread while
    the caller writes this one: the counter (~1.5 cores) and the Parquet writer's compression both
    run without the GIL, and one after the other they were the run's serial tail."""
    with ThreadPoolExecutor(1, thread_name_prefix="count-tokens") as pool:
        pending = None
        for batch in batches:
            table = pa.Table.from_batches([batch])
            future = pool.submit(counter.count, table.column("text").to_pylist())
            if pending is not None:
                yield pending[0], np.asarray(pending[1].result(), np.int64)
            pending = (table, future)
        if pending is not None:
            yield pending[0], np.asarray(pending[1].result(), np.int64)


def _records(infos: list) -> tuple[FileRecord, ...]:
    return tuple(FileRecord.of(i) for i in infos)
