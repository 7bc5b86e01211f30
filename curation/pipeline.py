"""The runner: read -> stages -> staging -> tokenizer -> shards -> manifest and summary.

Passes over bounded batches. Pass 1 reads every input, runs the per-document stages (in worker
processes) and writes the survivors to ``DIR/staging/``. Corpus-level stages (dedup, a top
fraction) are then fitted on the staged files and the rest of the chain runs into ``DIR/curated/``.
The tokenizer is trained on a sample of that final text (or loaded); the last pass counts the
tokens of every document and writes the shards.
Memory is set by the batch size and row-group size, not by corpus size.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import platform
import shutil
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from curation.budget import budget_report, render_budget_markdown
from curation.config import PipelineConfig
from curation.document import (QUARANTINE_SCHEMA, REMOVED_BASE_FIELDS, SHARD_BASE_FIELDS, STAGING_BASE_FIELDS,
                               Document)
from curation.errors import CurationError
from curation.io.parquet import FileInfo, RollingParquetWriter, sha256_file
from curation.io.readers import DocumentReader, QuarantineRecord, resolve_inputs
from curation.stage import Dropped, Stage, build_stage
from curation.summary import StageStats, format_reasons, format_table, utf8_bytes
from curation.tokenizer import (SampleSplit, TokenCounter, iter_holdout, load_tokenizer, save_tokenizer,
                                train_tokenizer)

log = logging.getLogger(__name__)

HOLDOUT_LIMIT_BYTES = 20 << 20  # bytes-per-token is stable to 3 digits well before 20 MB
STAGING_FILE_BYTES = 256 << 20
MANIFEST_VERSION = 1
VERSIONED_PACKAGES = ("curation", "pyarrow", "tokenizers", "fastokens", "numpy")


@dataclass
class RunResult:
    """What a run produced; ``summary`` is what ``DIR/summary.json`` holds."""

    output_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    stages: list[StageStats] = field(default_factory=list)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)

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
            f"output: {self.output_dir}",
        ]
        return "\n".join(lines)


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


def _docs_table(docs: list[Document], schema: pa.Schema, extra: dict[str, list[Any]] | None = None) -> pa.Table:
    columns: dict[str, list[Any]] = {"id": [d.id for d in docs], "text": [d.text for d in docs],
                                     "source": [d.source for d in docs], **(extra or {})}
    for name in schema.names:
        if name not in columns:
            columns[name] = [d.attributes.get(name) for d in docs]
    return pa.Table.from_pydict({n: columns[n] for n in schema.names}, schema=schema)


def _table_docs(table: pa.Table) -> list[Document]:
    """Staged rows back into Documents, for the stages that run in pass 2."""
    columns = table.to_pydict()
    ids, texts, sources = columns.pop("id"), columns.pop("text"), columns.pop("source")
    return [Document(ids[i], texts[i], sources[i], {k: v[i] for k, v in columns.items()}) for i in range(len(ids))]


def _removed_table(dropped: list[Dropped], schema: pa.Schema, keep_text: bool) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "id": [d.doc.id for d in dropped], "source": [d.doc.source for d in dropped],
        "stage": [d.stage for d in dropped], "reason": [d.reason for d in dropped],
        "text": [d.doc.text if keep_text else None for d in dropped],
    }
    for name in schema.names:
        if name not in columns:
            columns[name] = [d.extra.get(name) for d in dropped]
    return pa.Table.from_pydict(columns, schema=schema)


def _quarantine_table(records: list[QuarantineRecord]) -> pa.Table:
    return pa.Table.from_pylist(
        [{name: getattr(r, name) for name in QUARANTINE_SCHEMA.names} for r in records], schema=QUARANTINE_SCHEMA
    )


def _iter_parquet(files: list[FileInfo], columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
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


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


class Run:
    """One pipeline run into one output directory. Use :func:`run`."""

    def __init__(self, inputs: list[str], output_dir: str | Path, config: PipelineConfig, progress: bool = False,
                 workers: int = 1):
        if workers < 1:
            raise CurationError(f"workers must be at least 1, got {workers}")
        self.files = resolve_inputs(inputs)  # fails before anything is written
        self.workers = workers
        self.out = Path(output_dir)
        self.config = config
        self.progress = progress
        self.stages = [build_stage(s.name, s.params) for s in config.stages]
        attributes = {f: pa.string() for f in config.input.keep_fields} | _union_columns(self.stages, "attributes")
        self.staging_schema = _schema(STAGING_BASE_FIELDS, attributes)
        self.shard_schema = _schema(SHARD_BASE_FIELDS, attributes)
        self.removed_schema = _schema(REMOVED_BASE_FIELDS, _union_columns(self.stages, "removed_columns"))
        self.stats = [StageStats("read", bytes_in=None)] + [StageStats(s.name) for s in self.stages]
        # Stages from the first corpus-level one on run in pass 2, after fitting on the staged corpus.
        split = next((i for i, s in enumerate(self.stages) if s.needs_fit), len(self.stages))
        self.early = list(zip(self.stages[:split], self.stats[1:split + 1]))
        self.late = list(zip(self.stages[split:], self.stats[split + 1:]))
        self.quarantine_reasons: Counter[str] = Counter()

    def execute(self) -> RunResult:
        started = time.perf_counter()
        self._prepare_output()
        staging, quarantined_rows = self._curate()
        if not staging:
            self._removed.close()
            read = self.stats[0]
            raise CurationError(
                f"no documents to shard: {read.docs_out:,} read, {quarantined_rows:,} quarantined, "
                f"{read.docs_out - self.stats[-1].docs_out:,} dropped by stages (see {self.out})"
            )
        if self.late:
            # Corpus-level stages (and those after them) run before the tokenizer is trained, so it
            # learns from the final text: no duplicates, nothing unredacted.
            staging = self._curate_late(staging)
            if not staging:
                raise CurationError(f"no documents to shard: the corpus-level stages dropped them all (see {self.out})")
        t0 = time.perf_counter()
        tokenizer_info, counter = self._tokenizer(staging)
        tokenizer_seconds = time.perf_counter() - t0
        shards = self._shard(staging, counter)
        self._count_dropped_tokens(self._removed.close(), counter)
        for sub in ("staging", "curated", "work"):
            shutil.rmtree(self.out / sub, ignore_errors=True)
        manifest = self._manifest(shards, tokenizer_info)
        _write_json(self.out / "manifest.json", manifest)
        budget = budget_report(manifest["total_tokens"])
        _write_json(self.out / "budget.json", budget)
        (self.out / "budget.md").write_text(render_budget_markdown(budget))
        summary = {
            "inputs": [str(f.path) for f in self.files],
            "stages": [s.to_dict() for s in self.stats],
            "quarantined": dict(sorted(self.quarantine_reasons.items())),
            "total_documents": manifest["total_documents"],
            "total_tokens": manifest["total_tokens"],
            "tokenizer": {**tokenizer_info, "seconds": round(tokenizer_seconds, 3)},
            "seconds": round(time.perf_counter() - started, 3),
        }
        _write_json(self.out / "summary.json", summary)
        return RunResult(self.out, manifest, summary, self.stats, self.quarantine_reasons)

    def _prepare_output(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        # Files from an earlier run into the same folder would be mistaken for this run's.
        for sub in ("staging", "curated", "work", "shards", "removed", "quarantine"):
            shutil.rmtree(self.out / sub, ignore_errors=True)
        for name in ("manifest.json", "summary.json", "budget.json", "budget.md"):
            (self.out / name).unlink(missing_ok=True)
        (self.out / "config.json").write_text(self.config.to_json())

    def _curate(self) -> tuple[list[FileInfo], int]:
        """Pass 1: read, run the stage chain, write staging, removed and quarantine files."""
        cfg = self.config
        reader = DocumentReader(cfg.input)
        staging = RollingParquetWriter(self.out / "staging", "part", self.staging_schema,
                                       target_bytes=STAGING_FILE_BYTES, compression_level=1)
        removed = RollingParquetWriter(self.out / "removed", "removed", self.removed_schema, target_bytes=1 << 30)
        quarantine = RollingParquetWriter(self.out / "quarantine", "quarantine", QUARANTINE_SCHEMA,
                                          target_bytes=1 << 30)
        quarantined_rows = 0
        read_seconds = 0.0
        bar = tqdm(total=len(self.files), unit="file", desc="curate", disable=not self.progress, leave=False)
        early_stages = [stage for stage, _ in self.early]
        early_stats = [stats for _, stats in self.early]

        def finish(outcome: tuple[list[Document], int, list[StepRecord]]) -> None:
            docs, nbytes, steps = outcome
            self._record(early_stats, steps, removed)
            staging.write(_docs_table(docs, self.staging_schema), nbytes)

        pending: deque[Future] = deque()
        pool = None
        if self.workers > 1 and early_stages:
            # Stages are built once per worker (models load once); batches come back in input order.
            specs = [(s.name, s.params) for s in self.config.stages[:len(early_stages)]]
            pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(specs,))
        try:
            for input_file in self.files:
                batches = reader.read(input_file)
                while True:
                    t0 = time.perf_counter()
                    batch = next(batches, None)
                    read_seconds += time.perf_counter() - t0
                    if batch is None:
                        break
                    if batch.quarantined:
                        quarantine.write(_quarantine_table(batch.quarantined), sum(r.raw_bytes for r in batch.quarantined))
                        quarantined_rows += len(batch.quarantined)
                        self.quarantine_reasons.update(r.reason for r in batch.quarantined)
                    nbytes = utf8_bytes([d.text for d in batch.docs])
                    read = self.stats[0]
                    read.docs_in += len(batch.docs) + len(batch.quarantined)
                    read.docs_out += len(batch.docs)
                    read.bytes_out += nbytes
                    if pool is None:
                        finish(run_chain(early_stages, batch.docs, nbytes))
                    else:
                        pending.append(pool.submit(_chain_in_worker, batch.docs, nbytes))
                        if len(pending) >= 2 * self.workers:  # bounded: at most 2 batches per worker in flight
                            finish(pending.popleft().result())
                bar.update()
            while pending:
                finish(pending.popleft().result())
        except BaseException:
            for writer in (staging, removed, quarantine):
                writer.abort()
            raise
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        quarantine.close()
        self.stats[0].seconds = read_seconds  # reading, decoding, parsing and validating
        self._removed = removed  # pass 2 appends the late stages' drops
        return staging.close(), quarantined_rows

    def _apply(self, chain: list[tuple[Stage, StageStats]], docs: list[Document], nbytes: int,
               removed: RollingParquetWriter) -> tuple[list[Document], int]:
        """Run a chain of stages over one batch here, accounting and writing every drop."""
        docs, nbytes, steps = run_chain([stage for stage, _ in chain], docs, nbytes)
        self._record([stats for _, stats in chain], steps, removed)
        return docs, nbytes

    def _record(self, stats: list[StageStats], steps: list[StepRecord], removed: RollingParquetWriter) -> None:
        for stage_stats, step in zip(stats, steps):
            stage_stats.add_step(step)
            if step.dropped:
                table = _removed_table(step.dropped, self.removed_schema, self.config.output.keep_removed_text)
                removed.write(table, utf8_bytes([d.doc.text for d in step.dropped]))

    def _staged_texts(self, staging: list[FileInfo]) -> Iterator[tuple[list[str], list[str]]]:
        for batch in _iter_parquet(staging, ["id", "text"], self.config.input.batch_size):
            yield batch.column("id").to_pylist(), batch.column("text").to_pylist()

    def _tokenizer(self, staging: list[FileInfo]) -> tuple[dict[str, Any], TokenCounter]:
        """Train (on a sample of the curated text) or load the tokenizer; measure it on held-out text."""
        cfg = self.config.tokenizer
        directory = self.out / "tokenizer"
        split = SampleSplit.for_corpus(cfg, sum(f.text_bytes for f in staging))
        info: dict[str, Any]
        if cfg.path:
            tokenizer = load_tokenizer(cfg.path)
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cfg.path, directory / "tokenizer.json")
            info = {"source": f"given ({cfg.path})"}
        else:
            trained = {"documents": 0, "bytes": 0}

            def sample() -> Iterator[list[str]]:
                for ids, texts in self._staged_texts(staging):
                    chosen = [t for i, t in zip(ids, texts) if split.is_train(i)]
                    trained["documents"] += len(chosen)
                    trained["bytes"] += utf8_bytes(chosen)
                    yield chosen

            tokenizer = train_tokenizer(sample(), cfg)
            save_tokenizer(tokenizer, directory, cfg)
            info = {"source": "trained", "train_documents": trained["documents"], "train_bytes": trained["bytes"],
                    "train_fraction": round(split.train_fraction, 6)}
        path = directory / "tokenizer.json"
        counter = TokenCounter(path, backend=cfg.counter)
        holdout = list(iter_holdout(
            ((i, t) for ids, texts in self._staged_texts(staging) for i, t in zip(ids, texts)),
            split, HOLDOUT_LIMIT_BYTES))
        holdout_tokens = int(counter.count(holdout).sum())
        info |= {
            "path": "tokenizer/tokenizer.json",
            "sha256": sha256_file(path),
            "vocab_size": tokenizer.get_vocab_size(),
            "eos_token": cfg.special_tokens[0] if cfg.special_tokens else None,
            "counter": counter.backend,
            "holdout_documents": len(holdout),
            "holdout_bytes_per_token": round(utf8_bytes(holdout) / holdout_tokens, 4) if holdout_tokens else None,
        }
        return info, counter

    def _curate_late(self, staging: list[FileInfo]) -> list[FileInfo]:
        """Fit the corpus-level stages on the staged files, then run the late chain into curated/."""
        for stage, stats in self.late:
            if stage.needs_fit:
                t0 = time.perf_counter()
                stage.fit([f.path for f in staging], self.out / "work" / stage.name)
                stats.seconds += time.perf_counter() - t0
        curated = RollingParquetWriter(self.out / "curated", "part", self.staging_schema,
                                       target_bytes=STAGING_FILE_BYTES, compression_level=1)
        try:
            for batch in _iter_parquet(staging, self.staging_schema.names, self.config.input.batch_size):
                table = pa.Table.from_batches([batch])
                docs, nbytes = self._apply(self.late, _table_docs(table),
                                           utf8_bytes(table.column("text").to_pylist()), self._removed)
                curated.write(_docs_table(docs, self.staging_schema), nbytes)
        except BaseException:
            curated.abort()
            self._removed.abort()
            raise
        return curated.close()

    def _shard(self, staging: list[FileInfo], counter: TokenCounter) -> list[FileInfo]:
        """Pass 2: count every curated document's tokens and write the shards."""
        cfg = self.config.shards
        writer = RollingParquetWriter(
            self.out / "shards", "shard", self.shard_schema, target_bytes=cfg.target_bytes,
            target_tokens=cfg.target_tokens, row_group_bytes=cfg.row_group_bytes,
            compression=cfg.compression, compression_level=cfg.compression_level,
        )
        total_rows = sum(f.rows for f in staging)
        bar = tqdm(total=total_rows, unit="doc", desc="tokenize+shard", disable=not self.progress, leave=False)
        try:
            for batch in _iter_parquet(staging, self.staging_schema.names, self.config.input.batch_size):
                table = pa.Table.from_batches([batch])
                texts = table.column("text").to_pylist()
                counts = counter.count(texts)
                table = table.append_column("token_count", pa.array(counts, pa.int64())).select(
                    self.shard_schema.names)
                writer.write(table, utf8_bytes(texts), int(counts.sum()))
                bar.update(len(texts))
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
        shards = writer.close()
        final = self.stats[-1]
        final.tokens_out = sum(s.tokens for s in shards)
        return shards

    def _count_dropped_tokens(self, removed: list[FileInfo], counter: TokenCounter) -> None:
        """Tokens each stage removed, counted on removed/ texts (exact, with the run's tokenizer)."""
        if not self.config.output.keep_removed_text:
            return
        dropped: Counter[str] = Counter()
        for batch in _iter_parquet(removed, ["stage", "text"], self.config.input.batch_size):
            counts = counter.count(batch.column("text").to_pylist())
            for stage, n in zip(batch.column("stage").to_pylist(), counts.tolist()):
                dropped[stage] += n
        for stats in self.stats[1:]:
            stats.tokens_dropped = dropped.get(stats.stage, 0)

    def _manifest(self, shards: list[FileInfo], tokenizer_info: dict[str, Any]) -> dict[str, Any]:
        # No timestamps or absolute paths: two runs of the same input and config must match byte for byte.
        return {
            "format_version": MANIFEST_VERSION,
            "shards": [
                {"path": s.path.relative_to(self.out).as_posix(), "rows": s.rows, "tokens": s.tokens,
                 "text_bytes": s.text_bytes, "bytes": s.file_bytes, "sha256": s.sha256}
                for s in shards
            ],
            "total_documents": sum(s.rows for s in shards),
            "total_tokens": sum(s.tokens for s in shards),
            "total_text_bytes": sum(s.text_bytes for s in shards),
            "tokenizer": {k: tokenizer_info[k] for k in ("path", "sha256", "vocab_size", "eos_token")}
            | {"special_token_policy": "literal special-token strings in text are encoded as ordinary text"},
            "token_count": "len(tokenizer.encode(text, add_special_tokens=False).ids) with encode_special_tokens=True",
            "config_sha256": self.config.sha256(),
            "versions": package_versions(),
        }


def run(inputs: list[str], output_dir: str | Path, config: PipelineConfig | None = None,
        progress: bool | None = None, workers: int = 1) -> RunResult:
    """Run the whole pipeline; see the module docstring.

    Args:
        progress: progress bars; default "stderr is a terminal".
        workers: processes running the pass-1 stages. The output is byte-identical for any value,
            so it is an argument of the run, not part of the (hashed) config.
    """
    if progress is None:
        progress = sys.stderr.isatty()
    return Run(inputs, output_dir, config or PipelineConfig(), progress, workers).execute()


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


# Worker processes keep their stages here between batches (set once by the pool initializer).
_worker_stages: list[Stage] = []


def _init_worker(specs: list[tuple[str, dict[str, Any]]]) -> None:
    _worker_stages[:] = [build_stage(name, params) for name, params in specs]


def _chain_in_worker(docs: list[Document], nbytes: int) -> tuple[list[Document], int, list[StepRecord]]:
    return run_chain(_worker_stages, docs, nbytes)
