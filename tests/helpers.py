"""What many tests share: the bundled sample corpus and the small config runner tests use.

Fixtures live in conftest.py; this is a plain module (``tests/`` is on pytest's pythonpath), so a test
imports it wherever it sits in the tree that mirrors the package.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "corpus.jsonl.gz"
MESSY = ROOT / "sample_data" / "messy.jsonl"


def small_config(**overrides) -> PipelineConfig:
    """The length-only chain (no dedup or PII) with a smaller vocabulary: runner tests stay a few
    seconds. The quality chain has its own tests (test_quality.py), and the CLI and preset tests run
    whole presets. A ``preset`` override gives that preset's whole chain."""
    data = {"stages": ["length"], "tokenizer": {"vocab_size": 4000}}
    if "preset" in overrides:
        data.pop("stages")
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return PipelineConfig.model_validate(data)


def injected_pii() -> set[str]:
    """The sample's injected PII values of every type the PII stage redacts (names need NER)."""
    import gzip
    import json

    with gzip.open(SAMPLE, "rt") as fh:
        return {p["value"] for line in fh for p in json.loads(line)["pii"] if p["type"] != "name"}


def kept_documents(out: Path, columns: list[str] | None = None) -> pa.Table:
    """Every document a run kept: its training shards, then its held-out split."""
    parts = [pq.read_table(out / split, columns=columns) for split in ("shards", "heldout")
             if any((out / split).glob("*.parquet"))]
    return pa.concat_tables(parts)


def warc_record(kind: str, uri: str, payload: bytes, record_id: str | None = None, status: int = 200,
                content_type: str = "text/html; charset=utf-8", date: str = "2026-01-02T03:04:05Z"):
    """One WARC record built with FastWARC's own writer classes: ``response`` (an HTTP response around
    ``payload``), ``conversion`` (WET text), or ``request``/``metadata``/``warcinfo`` as given."""
    import uuid

    from fastwarc import WarcRecordType
    from fastwarc.warc import WarcRecord

    record = WarcRecord()
    record.init_headers(getattr(WarcRecordType, kind), (record_id or f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, kind + uri)}").encode())
    record.headers["WARC-Date"] = date
    if kind != "warcinfo":
        record.headers.append("WARC-Target-URI", uri)
    if kind == "response":
        reason = {200: "OK", 404: "Not Found", 301: "Moved Permanently"}.get(status, "Other")
        payload = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                   f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
        record.headers.append("Content-Type", "application/http; msgtype=response")
    elif kind == "conversion":
        record.headers.append("Content-Type", "text/plain")
    record.set_bytes_content(payload)
    return record


def write_warc(path: Path, records, per_record_gzip: bool | None = None) -> list[int]:
    """Write ``records`` (FastWARC ``WarcRecord`` s) to ``path``: gzip-per-record for a ``.gz`` name
    (FastWARC's ``GzipWriter``, one member per record, as Common Crawl's files), plain otherwise.
    Returns each record's byte offset."""
    from fastwarc import GzipWriter

    gz = path.name.endswith(".gz") if per_record_gzip is None else per_record_gzip
    offsets = []
    with open(path, "wb") as fh:
        writer = GzipWriter(fh) if gz else fh
        for record in records:
            if gz:
                writer.flush()
            offsets.append(fh.tell())
            record.write(writer)
            if gz:
                writer.finish()  # ends this record's gzip member; the next write opens another
        if gz:
            writer.close()
    return offsets


def sample_slice(path: Path, documents: int) -> Path:
    """The first ``documents`` records of the sample corpus as a JSONL file at ``path``: for tests
    whose point is not the corpus's size (a command's output, a runner's bytes)."""
    import gzip

    with gzip.open(SAMPLE, "rt") as fh:
        path.write_text("".join(fh.readline() for _ in range(documents)))
    return path


def fingerprint(out: Path) -> dict[str, str]:
    """sha256 of what a run's output promises to be the same across runners and reruns: the
    manifest, the shards and removed/."""
    import hashlib

    files = [out / "manifest.json"] + sorted((out / "shards").glob("*.parquet")) + sorted((out / "removed").glob("*"))
    return {f.relative_to(out).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def read_inputs(paths, **config):
    """Every input path read by one DocumentReader: its documents, its quarantine rows, and the reader."""
    from curation.config import InputConfig
    from curation.io.readers import DocumentReader, resolve_inputs

    reader = DocumentReader(InputConfig(**config))
    docs, bad = [], []
    for f in resolve_inputs([str(p) for p in paths]):
        for batch in reader.read(f):
            docs += batch.docs
            bad += batch.quarantined
    return docs, bad, reader


def flaky_probe(marks: str, item: int) -> list:
    """For runner tests: the first call for ``item`` fails with an OSError (a flaky file system);
    the next returns ``[item, this process's id, whether Prefect is imported in it]``."""
    mark = Path(marks) / str(item)
    if not mark.exists():
        mark.touch()
        raise OSError(f"flaky file system (item {item})")
    return [item, os.getpid(), "prefect" in sys.modules]


def warm_state(config: PipelineConfig, barrier=None) -> dict:
    """In a pool worker: whether the first step will find its stages built (``new_builds`` 0 when
    it looks them up), what is cached, and whether the models loaded on a first batch (the
    classifier's, the name finder's) are loaded. With a ``barrier``, returns once as many workers have looked."""
    import json
    import os

    from curation.pipeline import chain, privacy
    from curation.pipeline.plan import split_index

    built = chain._built.cache_info().currsize
    misses = chain._built.cache_info().misses
    redactors = privacy._redactor.cache_info().currsize
    stages = chain.cached_stages(config.stages[:split_index(config)])
    classifier = next(s for s in stages if s.name == "quality_classifier")
    redactor = privacy._redactor(json.dumps(privacy.TextGuard.for_config(config).pii_params, sort_keys=True))
    loaded = (classifier._loaded is not None and redactor._engines is not None
              and redactor._engines["names"]._nlp is not None)
    if barrier is not None:
        barrier.wait()
    return {"pid": os.getpid(), "built": built, "new_builds": chain._built.cache_info().misses - misses,
            "redactors": redactors, "loaded": loaded}


def preloaded(configs: list[str]) -> dict:
    """For pool tests, in a worker before it runs anything else: what it has imported, and for
    each config (JSON), whether its first pass's chain was built before this call (the server's
    preload built it), building it now if not."""
    from curation.pipeline.chain import _built, cached_stages
    from curation.pipeline.plan import split_index

    imported = sorted(m for m in ("spacy", "presidio_analyzer", "curation.pii.recognizers") if m in sys.modules)
    built = []
    for config in map(PipelineConfig.model_validate_json, configs):
        hits = _built.cache_info().hits
        cached_stages(config.stages[:split_index(config)])
        built.append(_built.cache_info().hits > hits)
    return {"imported": imported, "built": built}


def worker_state(names: list[str]) -> dict:
    """For pool tests, in a worker before it runs anything else: its process ids, the environment
    variables ``names``, and what it has loaded without having run a step."""
    from curation.pipeline import privacy

    return {"pid": os.getpid(), "ppid": os.getppid(), "env": {n: os.environ.get(n) for n in names},
            "imported": sorted(m for m in ("spacy", "presidio_analyzer", "curation.pii.recognizers") if m in sys.modules),
            "redactors": privacy._redactor.cache_info().currsize, "frozen": gc.get_freeze_count()}
