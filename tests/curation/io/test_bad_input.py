"""The bad-input battery: encodings, JSON edge cases, damaged streams, Parquet oddities, huge and
empty records, id collisions. For every case: no crash, and every record is accounted for (a
document or a quarantine row with a reason; a damaged stream ends with one ``unreadable_file`` row).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curation.config import InputConfig
from curation.io.readers import DocumentReader, resolve_inputs
from curation.partition import partition_inputs
from curation.pipeline import run

from helpers import kept_documents, small_config

TEXT = "A perfectly ordinary document with enough words in it to pass as text in these tests."


def read(paths, **config):
    """Read like a run does: partitions, then one reader over all of them."""
    cfg = InputConfig(**config)
    reader = DocumentReader(cfg)
    docs, bad = [], []
    for part in partition_inputs(resolve_inputs([str(p) for p in paths]), cfg.partition_bytes):
        for f in part.files:
            for batch in reader.read(f):
                docs += batch.docs
                bad += batch.quarantined
    return docs, bad


def lines(*records: str | bytes) -> bytes:
    return b"".join((r if isinstance(r, bytes) else r.encode()) + b"\n" for r in records)


def ok(i: int | str) -> str:
    return json.dumps({"id": f"ok{i}", "text": f"{TEXT} {i}"})


# (name, file name, bytes, expected documents, expected quarantine reasons in order)
JSONL_CASES = [
    ("utf8 bom", "bom.jsonl", b"\xef\xbb\xbf" + lines(ok(1), ok(2)), 2, []),
    ("crlf line ends", "crlf.jsonl", (ok(1) + "\r\n" + ok(2) + "\r\n").encode(), 2, []),
    ("latin-1 bytes", "latin1.jsonl", lines(ok(1), '{"id": "l", "text": "caf'.encode() + b"\xe9\"}"), 1,
     ["invalid_utf8"]),
    ("utf-16 file", "utf16.jsonl", (ok(1) + "\n").encode("utf-16"), 0, ["unsupported_encoding"]),
    ("overlong utf-8", "overlong.jsonl", lines(b'{"id": "o", "text": "\xc0\xaf"}', ok(1)), 1, ["invalid_utf8"]),
    ("escaped lone surrogate", "surrogate.jsonl", lines('{"id": "s", "text": "a \\udc00 b"}', ok(1)), 1,
     ["invalid_utf8"]),
    ("nul characters are text", "nul.jsonl", lines(json.dumps({"id": "n", "text": TEXT + "\x00"})), 1, []),
    ("5,000-digit integer field", "bigint.jsonl", lines('{"id": "b", "n": ' + "9" * 5000 + ', "text": "' + TEXT + '"}'),
     1, []),
    ("5,000-digit integer as text", "bigtext.jsonl", lines('{"id": "b", "text": ' + "9" * 5000 + "}"), 0,
     ["non_string_text"]),
    ("200,000 nested brackets", "deep.jsonl", lines("[" * 200_000, ok(1)), 1, ["malformed_json"]),
    ("deep object in a field", "deepfield.jsonl",
     lines('{"id": "d", "text": "' + TEXT + '", "meta": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}"), 0,
     ["malformed_json"]),
    ("truncated record", "cut.jsonl", lines('{"id": "c", "text": "half', ok(1)), 1, ["malformed_json"]),
    ("trailing garbage after object", "garbage.jsonl", lines(ok(1) + " xyz"), 0, ["malformed_json"]),
    ("NaN and Infinity", "nan.jsonl", lines('{"id": "n", "score": NaN, "x": Infinity, "text": "' + TEXT + '"}'), 1, []),
    ("duplicate keys: last wins", "dupkeys.jsonl", lines('{"id": "k", "text": "x", "text": "' + TEXT + '"}'), 1, []),
    ("array, string, number, null lines", "scalars.jsonl", lines("[1, 2]", '"text"', "42", "null"), 0,
     ["not_an_object"] * 4),
    ("empty object", "empty_obj.jsonl", lines("{}"), 0, ["missing_text"]),
    ("empty and whitespace text", "empty_text.jsonl", lines('{"id": "e", "text": ""}', '{"id": "w", "text": " \\n\\t"}'),
     0, ["empty_text", "empty_text"]),
    ("text is an object", "objtext.jsonl", lines('{"id": "o", "text": {"en": "hello"}}'), 0, ["non_string_text"]),
    ("null text and null id", "nulls.jsonl", lines('{"id": null, "text": null}', '{"id": null, "text": "' + TEXT + '"}'),
     1, ["null_text"]),
    ("only blank lines", "blank.jsonl", b"\n\n   \n\t\n", 0, []),
    ("empty file", "empty.jsonl", b"", 0, []),
    ("no newline at the end", "nonl.jsonl", (ok(1) + "\n" + ok(2)).encode(), 2, []),
    ("id of every JSON type", "ids.jsonl",
     lines(*(json.dumps({"id": v, "text": f"{TEXT} {i}"}) for i, v in enumerate([7, 1.5, True, [1], {"a": 1}]))),
     5, []),
    ("same id twice in one file", "dupid.jsonl", lines(ok(1), ok(1)), 1, ["duplicate_id"]),
]


@pytest.mark.parametrize("name, filename, data, n_docs, reasons", JSONL_CASES, ids=[c[0] for c in JSONL_CASES])
def test_jsonl_edge_cases(tmp_path, name, filename, data, n_docs, reasons):
    (tmp_path / filename).write_bytes(data)
    docs, bad = read([tmp_path / filename])
    assert len(docs) == n_docs
    assert [b.reason for b in bad] == reasons
    assert all(b.detail for b in bad)


def test_big_integer_field_is_kept_as_digits(tmp_path):
    (tmp_path / "b.jsonl").write_bytes(lines('{"id": "b", "n": ' + "9" * 5000 + ', "text": "' + TEXT + '"}'))
    docs, _ = read([tmp_path / "b.jsonl"], keep_fields=["n"])
    assert docs[0].attributes["n"] == "9" * 5000


def gz_records(n: int) -> bytes:
    return gzip.compress(lines(*(ok(i) for i in range(n))))


def flip(data: bytes, at: float) -> bytes:
    pos = int(len(data) * at)
    return data[:pos] + bytes(b ^ 0xFF for b in data[pos:pos + 8]) + data[pos + 8:]


STREAM_CASES = [
    ("gzip with flipped bytes mid-stream", "flip.jsonl.gz", lambda: flip(gz_records(3000), 0.5)),
    ("truncated gzip", "cut.jsonl.gz", lambda: gz_records(3000)[:-2000]),
    ("gzip with trailing garbage", "trail.jsonl.gz", lambda: gz_records(100) + b"not gzip at all"),
    ("plain text named .gz", "fake.jsonl.gz", lambda: lines(ok(1))),
    ("zstd with flipped bytes", "flip.jsonl.zst",
     lambda: flip(zstandard.ZstdCompressor().compress(lines(*(ok(i) for i in range(3000)))), 0.5)),
    ("truncated zstd", "cut.jsonl.zst",
     lambda: zstandard.ZstdCompressor().compress(lines(*(ok(i) for i in range(3000))))[:-500]),
    ("garbage named .parquet", "bad.parquet", lambda: b"PAR1 this is not a parquet file"),
    ("truncated parquet", "cut.parquet", lambda: _parquet_bytes()[:-100]),
]


def _parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(100)], "text": [TEXT] * 100}), sink)
    return sink.getvalue()


@pytest.mark.parametrize("name, filename, make", STREAM_CASES, ids=[c[0] for c in STREAM_CASES])
def test_damaged_streams_keep_what_was_read(tmp_path, name, filename, make):
    (tmp_path / filename).write_bytes(make())
    docs, bad = read([tmp_path / filename])
    # gzip checks its CRC only at the end of a member: records garbled before the check are
    # quarantined on their own merits; the stream itself always ends with one unreadable_file row.
    assert bad and bad[-1].reason == "unreadable_file" and bad[-1].detail
    assert [b.reason for b in bad].count("unreadable_file") == 1
    assert len({d.id for d in docs}) == len(docs)


def test_damage_late_in_a_stream_keeps_the_records_before_it(tmp_path):
    (tmp_path / "flip.jsonl.gz").write_bytes(flip(gz_records(3000), 0.9))
    docs, bad = read([tmp_path / "flip.jsonl.gz"])
    assert len(docs) > 1000 and [d.id for d in docs] == [f"ok{i}" for i in range(len(docs))]
    assert bad[-1].reason == "unreadable_file"


def test_unreadable_and_dangling_files_are_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fine.jsonl").write_bytes(lines(ok(1)))
    (folder / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    docs, bad = read([folder])
    assert [d.id for d in docs] == ["ok1"]
    assert [(Path(b.source_file).name, b.reason) for b in bad] == [("dangling.jsonl", "unreadable_file")]


PARQUET_CASES = [
    ("text as int64", pa.table({"id": ["a", "b"], "text": [1, 2]}), 0, ["non_string_text"] * 2),
    ("text as binary, one invalid", pa.table({"id": ["a", "b"], "text": pa.array([TEXT.encode(), b"\xff\xfe"])}),
     1, ["invalid_utf8"]),
    ("dictionary-encoded text", pa.table({"id": ["a", "b"], "text": pa.array([TEXT, TEXT + "!"]).dictionary_encode()}),
     2, []),
    ("large_string text", pa.table({"id": ["a"], "text": pa.array([TEXT], pa.large_string())}), 1, []),
    ("list text", pa.table({"id": ["a"], "text": pa.array([["x", "y"]])}), 0, ["non_string_text"]),
    ("null texts and null ids", pa.table({"id": [None, None], "text": [None, TEXT]}), 1, ["null_text"]),
    ("integer ids", pa.table({"id": [1, 2], "text": [TEXT, TEXT + "!"]}), 2, []),
    ("no text column", pa.table({"id": ["a"], "body": [TEXT]}), 0, ["missing_text_column"]),
    ("zero rows", pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), 0, []),
    ("timestamp keep field", pa.table({"id": ["a"], "text": [TEXT], "ts": pa.array([0], pa.timestamp("s"))}), 1, []),
]


@pytest.mark.parametrize("name, table, n_docs, reasons", PARQUET_CASES, ids=[c[0] for c in PARQUET_CASES])
def test_parquet_oddities(tmp_path, name, table, n_docs, reasons):
    pq.write_table(table, tmp_path / "t.parquet")
    docs, bad = read([tmp_path / "t.parquet"], keep_fields=["ts"])
    assert len(docs) == n_docs and [b.reason for b in bad] == reasons


def test_huge_parquet_value_is_quarantined_unread(tmp_path):
    pq.write_table(pa.table({"id": ["big", "ok"], "text": ["w " * 600_000, TEXT]}), tmp_path / "t.parquet")
    docs, bad = read([tmp_path / "t.parquet"], max_document_bytes=1 << 20)
    assert [d.id for d in docs] == ["ok"]
    assert [(b.id, b.reason, b.raw_bytes) for b in bad] == [("big", "too_large", 1_200_000)]
    assert len(bad[0].raw_preview) <= 1000


def test_huge_line_in_zstd_never_held_whole(tmp_path):
    # 64 MiB on one line, compressed to almost nothing: neither planning nor reading may hold it.
    line = b'{"id": "huge", "text": "' + b"a" * (64 << 20) + b'"}\n'
    data = zstandard.ZstdCompressor().compress(lines(ok(1)) + line + lines(ok(2)))
    (tmp_path / "h.jsonl.zst").write_bytes(data)
    tracemalloc.start()
    docs, bad = read([tmp_path / "h.jsonl.zst"], max_document_bytes=1 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [d.id for d in docs] == ["ok1", "ok2"]
    assert [(b.id, b.reason, b.line, b.raw_bytes) for b in bad] == [("huge", "too_large", 2, len(line))]
    assert peak < 12 << 20, peak  # the 1 MiB limit and 1 MiB scan blocks, not the 64 MiB line


def test_huge_line_in_plain_jsonl_split_across_partitions(tmp_path):
    line = b'{"id": "huge", "text": "' + b"b" * (5 << 20) + b'"}\n'
    (tmp_path / "p.jsonl").write_bytes(lines(*(ok(i) for i in range(100))) + line + lines(*(ok(i) for i in range(100, 200))))
    docs, bad = read([tmp_path / "p.jsonl"], max_document_bytes=1 << 20, partition_bytes=1 << 20)
    assert len(docs) == 200 and [(b.reason, b.line) for b in bad] == [("too_large", 101)]


@pytest.mark.parametrize("pieces", [2, 3, 7])
def test_a_plain_file_splits_into_equal_ranges_at_line_starts(tmp_path, pieces):
    """As many ranges as the power of two at or above ``ceil(size / partition_bytes)`` (2, 4, 8
    workers get equal shares), of about equal size (a fixed size and a remainder left one worker of
    two with 95 % of a 33.6 MB file), each starting at a line start, with the line numbers of its
    first record, together every record once."""
    data = lines(*(ok(i) for i in range(3000)))
    path = tmp_path / "p.jsonl"
    path.write_bytes(data)
    target = int(len(data) / (pieces - 0.5))  # `pieces` ranges; at `target` bytes each, the last one half
    parts = partition_inputs(resolve_inputs([str(path)]), target)
    assert len(parts) == {2: 2, 3: 4, 7: 8}[pieces]
    longest = max(len(line) + 1 for line in data.decode().splitlines())
    assert max(p.nbytes for p in parts) - min(p.nbytes for p in parts) <= 2 * longest  # each end moves <= a line
    starts = [p.files[0].start for p in parts]
    assert starts[0] == 0 and all(data[s - 1:s] == b"\n" for s in starts[1:])
    assert [p.files[0].first_record for p in parts] == [data[:s].count(b"\n") + 1 for s in starts]
    docs, bad = read([path], partition_bytes=target)
    assert [d.id for d in docs] == [f"ok{i}" for i in range(3000)] and not bad


def test_id_collisions_across_folders(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "part-0.jsonl").write_bytes(lines(*(json.dumps({"text": f"{TEXT} {folder}{i}"})
                                                                 for i in range(20))))
        (tmp_path / folder / "README.md").write_text(f"{TEXT} readme {folder}")
    docs, bad = read([tmp_path / "a", tmp_path / "b"])
    assert bad == [] and len(docs) == 42
    assert {d.id for d in docs} >= {"a/part-0.jsonl:1", "b/part-0.jsonl:20", "a/README.md", "b/README.md"}


def test_generated_ids_do_not_depend_on_how_inputs_are_named(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.jsonl").write_bytes(lines(json.dumps({"text": TEXT})))
    absolute, _ = read([tmp_path / "d" / "x.jsonl"])
    monkeypatch.chdir(tmp_path)
    relative, _ = read(["d/x.jsonl"])
    assert [d.id for d in absolute] == [d.id for d in relative] == ["x.jsonl:1"]


def test_a_run_over_the_whole_battery_accounts_for_every_record(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    expected: dict[str, int] = {}
    for _, filename, data, n_docs, reasons in JSONL_CASES:
        (folder / filename).write_bytes(data)
        expected[filename] = n_docs + len(reasons)
    (folder / "flip.jsonl.gz").write_bytes(flip(gz_records(3000), 0.5))
    pq.write_table(pa.table({"id": [1, 2], "text": [TEXT, None]}), folder / "t.parquet")
    expected["t.parquet"] = 2
    result = run([str(folder)], tmp_path / "out", small_config(stages=[{"length": {"min_words": 1}}]), progress=False)
    out = tmp_path / "out"
    quarantine = pq.read_table(out / "quarantine").to_pylist()
    kept = kept_documents(out, ["source"]).column("source").to_pylist()
    removed = pq.read_table(out / "removed").column("source").to_pylist() if (out / "removed").exists() else []
    read_stage = result.summary["stages"][0]
    # Every record is a document or a quarantine row; every document is in the shards (training or
    # held out) or removed/.
    assert read_stage["docs_in"] == read_stage["docs_out"] + len(quarantine)
    assert read_stage["docs_out"] == len(kept) + len(removed)
    for filename, records in expected.items():
        docs = sum(1 for source in kept + removed if source == filename)
        rows = sum(1 for q in quarantine if Path(q["source_file"]).name == filename)
        assert docs + rows == records, filename
    flipped = [q for q in quarantine if q["source_file"].endswith("flip.jsonl.gz")]
    assert flipped[-1]["reason"] == "unreadable_file"
    assert sum(1 for s in kept + removed if s == "flip.jsonl.gz") > 1000


def test_compressed_planning_counts_lines_as_the_reader_does(tmp_path):
    data = lines(*(ok(i) for i in range(999))) + ok(999).encode()  # no final newline
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(data))
    docs, bad = read([tmp_path / "c.jsonl.gz"], partition_bytes=10_000)
    assert [d.id for d in docs] == [f"ok{i}" for i in range(1000)] and bad == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions(tmp_path):
    (tmp_path / "locked.jsonl").write_bytes(lines(ok(1)))
    (tmp_path / "locked.jsonl").chmod(0)
    docs, bad = read([tmp_path / "locked.jsonl"])
    assert docs == [] and [b.reason for b in bad] == ["unreadable_file"]
