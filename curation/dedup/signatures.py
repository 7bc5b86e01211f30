"""Phase 1, one task per staging file: exact hashes, MinHash signatures, band keys on disk.

Signatures are never kept: each batch's signatures become ``bands`` 64-bit keys per document,
appended to that band's partition, so what leaves this phase is 16 bytes per document and band
(DataTrove's buckets stage reads ~950 bytes per document of signatures; ANCHORS.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.dedup.config import DedupConfig
from curation.dedup.exact import exact_hashes
from curation.dedup.minhash import MinHasher, band_keys
from curation.dedup.normalize import tokenize_batch
from curation.dedup.workdir import (BAND_DTYPE, DOCS_SCHEMA, EXACT, EXACT_DTYPE, Layout, band_name, read_json,
                                    save_npy, save_parquet, write_json)

QUALITY_COLUMN = "quality_score"


def input_identity(path: Path) -> dict[str, Any]:
    st = Path(path).stat()
    return {"input": str(path), "input_bytes": st.st_size, "input_mtime_ns": st.st_mtime_ns}


def signature_partition(input_parquet: str | Path, part_index: int, first_ordinal: int, workdir: str | Path,
                        config: DedupConfig, resume: bool = False) -> dict[str, Any]:
    """Hash one staging Parquet file: its documents get ordinals ``first_ordinal, first_ordinal + 1, ...``.

    Reads the columns ``id``, ``text`` and, if present, ``quality_score``; writes
    ``docs/part-NNNNN.parquet``, one bucket file per band (and one for exact hashes) and, last,
    the marker ``parts/part-NNNNN.json`` whose content is returned.

    Args:
        input_parquet: One staging file.
        part_index: Its position among the staging files (0-based).
        first_ordinal: The number of documents in the staging files before it.
        workdir: The dedup work directory (created).
        config: The dedup configuration.
        resume: Return the existing marker instead of recomputing when it matches input and config.
    """
    started = time.perf_counter()
    layout = Layout(workdir)
    input_parquet = Path(input_parquet)
    identity = input_identity(input_parquet) | {"config": config.signature_sha256(), "part_index": part_index,
                                                "first_ordinal": first_ordinal}
    marker = layout.part_marker(part_index)
    if resume and marker.exists():
        old = read_json(marker)
        if all(old.get(k) == v for k, v in identity.items()):
            return old
    bands, rows = config.band_rows
    pf = pq.ParquetFile(input_parquet)
    names = pf.schema_arrow.names
    if "text" not in names or "id" not in names:
        raise ValueError(f"{input_parquet} lacks an 'id' or 'text' column")
    columns = ["id", "text"] + ([QUALITY_COLUMN] if QUALITY_COLUMN in names else [])
    hasher = MinHasher(config) if config.near else None

    docs_tables: list[pa.Table] = []
    band_parts: list[list[np.ndarray]] = [[] for _ in range(bands)]
    exact_parts: list[np.ndarray] = []
    ordinal = first_ordinal
    counts = {"tokens": 0, "shingles": 0, "docs_without_shingles": 0, "docs_empty_normalized": 0, "text_bytes": 0}
    for batch in pf.iter_batches(batch_size=config.batch_size, columns=columns):
        n = batch.num_rows
        if n == 0:
            continue
        ordinals = np.arange(ordinal, ordinal + n, dtype=np.int64)
        ordinal += n
        texts = batch.column("text")
        counts["text_bytes"] += int(pc.sum(pc.binary_length(texts)).as_py() or 0)
        tokens = tokenize_batch(texts, config.normalize, normalized=config.exact or config.shingle == "char")
        counts["tokens"] += int(tokens.offsets[-1])
        hi = lo = np.zeros(n, np.uint64)
        if config.exact:
            hi, lo, nonempty = exact_hashes(tokens.normalized)
            counts["docs_empty_normalized"] += int((~nonempty).sum())
            entries = np.empty(int(nonempty.sum()), EXACT_DTYPE)
            entries["hi"], entries["lo"], entries["ordinal"] = hi[nonempty], lo[nonempty], ordinals[nonempty]
            exact_parts.append(entries)
        shingle_counts = np.zeros(n, np.int64)
        if hasher is not None:
            shingles, offsets = hasher.shingles(tokens)
            signatures = hasher.signatures(shingles, offsets)
            shingle_counts = np.diff(offsets)
            has = shingle_counts > 0
            counts["shingles"] += int(shingles.size)
            counts["docs_without_shingles"] += int((~has).sum())
            keys = band_keys(signatures[has], bands, rows)
            for band in range(bands):
                entries = np.empty(keys.shape[0], BAND_DTYPE)
                entries["key"], entries["ordinal"] = keys[:, band], ordinals[has]
                band_parts[band].append(entries)
        quality = (batch.column(QUALITY_COLUMN).cast(pa.float64()) if QUALITY_COLUMN in columns
                   else pa.nulls(n, pa.float64()))
        docs_tables.append(pa.table({
            "ordinal": pa.array(ordinals), "id": batch.column("id").cast(pa.string()),
            "length": pc.utf8_length(texts.fill_null("")).cast(pa.int64()), "quality_score": quality,
            "exact_hi": pa.array(hi), "exact_lo": pa.array(lo), "shingles": pa.array(shingle_counts),
        }, schema=DOCS_SCHEMA))

    rows_read = ordinal - first_ordinal
    docs = pa.concat_tables(docs_tables) if docs_tables else DOCS_SCHEMA.empty_table()
    save_parquet(layout.docs(part_index), docs)
    if config.exact:
        save_npy(layout.bucket_file(EXACT, part_index),
                 np.concatenate(exact_parts) if exact_parts else np.empty(0, EXACT_DTYPE))
    if config.near:
        for band in range(bands):
            save_npy(layout.bucket_file(band_name(band), part_index),
                     np.concatenate(band_parts[band]) if band_parts[band] else np.empty(0, BAND_DTYPE))
    stats = identity | {
        "rows": rows_read, "has_quality_score": QUALITY_COLUMN in columns, "bands": bands, "rows_per_band": rows,
        **counts, "seconds": round(time.perf_counter() - started, 4),
    }
    write_json(marker, stats)
    return stats


def staging_parts(staging_files: list[str | Path]) -> list[tuple[Path, int, int]]:
    """``(path, part_index, first_ordinal)`` for each staging file, from the Parquet footers alone."""
    parts, first = [], 0
    for index, path in enumerate(staging_files):
        parts.append((Path(path), index, first))
        first += pq.ParquetFile(path).metadata.num_rows
    return parts
