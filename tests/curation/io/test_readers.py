"""Readers: every format streams, and every kind of bad input is quarantined with a reason."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curation.config import InputConfig
from curation.errors import CurationError
from curation.io.readers import DocumentReader, resolve_inputs

from helpers import MESSY, read_inputs

TEXT = "A document with enough words to be a document in a test about readers."


def read_all(paths, **config):
    docs, bad, _ = read_inputs(paths, **config)
    return docs, bad


def write_jsonl(path: Path, records) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    elif path.name.endswith(".zst"):
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz", "c.jsonl.zst"])
def test_jsonl_variants(tmp_path, name):
    path = write_jsonl(tmp_path / name, [{"id": f"x{i}", "text": f"{TEXT} {i}", "source": "s"} for i in range(5)])
    docs, bad = read_all([path])
    assert [d.id for d in docs] == [f"x{i}" for i in range(5)]
    assert docs[3].text == f"{TEXT} 3" and docs[0].source == "s"
    assert bad == []


def test_parquet_and_custom_fields(tmp_path):
    table = pa.table({"doc_id": ["a", "b", "c"], "content": [TEXT, None, TEXT + "!"], "lang": ["en", "de", "fr"]})
    pq.write_table(table, tmp_path / "p.parquet")
    docs, bad = read_all([tmp_path / "p.parquet"], text_field="content", id_field="doc_id", keep_fields=["lang"])
    assert [d.id for d in docs] == ["a", "c"]
    assert docs[1].attributes == {"lang": "fr"}
    assert [(b.id, b.line, b.reason) for b in bad] == [("b", 1, "null_text")]


def test_parquet_invalid_utf8_and_missing_column(tmp_path):
    pq.write_table(pa.table({"id": ["a", "b"], "text": pa.array([TEXT.encode(), b"caf\xe9"], pa.binary())}),
                   tmp_path / "bin.parquet")
    pq.write_table(pa.table({"body": [TEXT]}), tmp_path / "nocol.parquet")
    docs, bad = read_all([tmp_path / "bin.parquet", tmp_path / "nocol.parquet"])
    assert [d.text for d in docs] == [TEXT]
    assert sorted(b.reason for b in bad) == ["invalid_utf8", "missing_text_column"]


def test_text_folder_and_glob(tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text(TEXT)
    (tmp_path / "docs" / "sub" / "b.md").write_text("# Title\n\n" + TEXT)
    (tmp_path / "docs" / "sub" / "bad.txt").write_bytes(b"\xff\xfe not utf-8")
    (tmp_path / "docs" / "ignored.bin").write_bytes(b"\x00")
    docs, bad = read_all([tmp_path / "docs"])
    assert [d.id for d in docs] == ["a.txt", "sub/b.md"]
    assert [(b.id, b.reason) for b in bad] == [("sub/bad.txt", "invalid_utf8")]
    docs, _ = read_all([str(tmp_path / "docs" / "**" / "*.md")])
    assert [d.id for d in docs] == ["b.md"]


def test_missing_and_unsupported_inputs(tmp_path):
    with pytest.raises(CurationError, match="input not found"):
        resolve_inputs([tmp_path / "nope.jsonl"])
    with pytest.raises(CurationError, match="input not found"):
        resolve_inputs([str(tmp_path / "*.jsonl")])
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(CurationError, match="unsupported input format"):
        resolve_inputs([tmp_path / "x.csv"])


def test_every_bad_record_in_messy_file_is_quarantined():
    docs, bad = read_all([MESSY])
    assert [d.id for d in docs] == ["messy-ok"]
    assert [(b.line, b.reason) for b in bad] == [
        (2, "malformed_json"), (3, "null_text"), (4, "missing_text"), (5, "non_string_text"), (6, "invalid_utf8"),
        (7, "empty_text"), (8, "duplicate_id"), (9, "invalid_utf8"), (10, "not_an_object"),
    ]
    assert all(b.source_file.endswith("messy.jsonl") and b.detail for b in bad)
    assert bad[4].raw_preview.startswith('{"id": "messy-latin1"')


def test_duplicate_id_across_files_and_generated_ids(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"id": "same", "text": TEXT}, {"text": TEXT + " no id"}])
    write_jsonl(tmp_path / "b.jsonl", [{"id": "same", "text": TEXT + " later"}, {"id": 7, "text": TEXT}])
    docs, bad = read_all([tmp_path])
    assert [d.id for d in docs] == ["same", "a.jsonl:2", "7"]
    assert [(Path(b.source_file).name, b.line, b.reason) for b in bad] == [("b.jsonl", 1, "duplicate_id")]


def test_huge_document_is_quarantined_without_copying_it(tmp_path):
    huge = "word " * (10 * 1024 * 1024)  # 50 MiB
    write_jsonl(tmp_path / "h.jsonl", [{"id": "huge", "text": huge}, {"id": "ok", "text": TEXT}])
    (tmp_path / "big.txt").write_text(huge)
    docs, bad = read_all([tmp_path / "h.jsonl", tmp_path / "big.txt"])
    assert [d.id for d in docs] == ["ok"]
    assert [(b.id, b.reason) for b in bad] == [("big.txt", "too_large"), ("huge", "too_large")]
    assert all(b.raw_bytes > 50_000_000 and len(b.raw_preview) <= 1000 for b in bad)


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    data = gzip.compress("".join(json.dumps({"id": f"t{i}", "text": f"{TEXT} {i}"}) + "\n" for i in range(2000)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    docs, bad = read_all([tmp_path / "cut.jsonl.gz"])
    assert 0 < len(docs) < 2000
    assert [b.reason for b in bad] == ["unreadable_file"]


def test_reading_streams_in_bounded_memory(tmp_path):
    # ~40 MB of JSONL read in batches of 200 documents must not hold the file in memory.
    record = json.dumps({"text": "x" * 2000})
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        for _ in range(20_000):
            fh.write(record + "\n")
    reader = DocumentReader(InputConfig(batch_size=200))
    tracemalloc.start()
    batches = 0
    for batch in reader.read(resolve_inputs([path])[0]):
        assert len(batch.docs) <= 200
        batches += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert batches == 100
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a 40 MB file"
