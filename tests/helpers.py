"""What many tests share: the bundled sample corpus and the small config runner tests use.

Fixtures live in conftest.py; this is a plain module (``tests/`` is on pytest's pythonpath), so a test
imports it wherever it sits in the tree that mirrors the package.
"""

from __future__ import annotations

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
