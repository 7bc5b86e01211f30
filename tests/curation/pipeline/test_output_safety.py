"""The output folder's promises: a run deletes only what it wrote, refuses a folder it does not own,
holds a lock, keeps PII out of everything beside the shards, trusts a marker only when its files
are the ones it recorded, and publishes exactly its outputs."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import fsspec
import fsspec.implementations.memory  # the test below patches it: imported, not left to an earlier test
import pyarrow.parquet as pq
import pytest

from curation.config import PipelineConfig
from curation.errors import CurationError
from curation.io import output as owned
from curation.pipeline import OUTPUT_FILES, run

from helpers import MESSY, SAMPLE, injected_pii, small_config

TEXT = "A perfectly ordinary document with enough words in it to pass as text in these tests."


def strings_in(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return [v for name in table.column_names if table.schema.field(name).type in ("string", "large_string")
                for v in table.column(name).to_pylist() if v]
    if path.suffix in (".png",):
        return []
    return [path.read_text(errors="replace")]


def leaks(out: Path, values: set[str]) -> list[tuple[str, str]]:
    """Injected values found in any file of ``out`` outside shards/."""
    found = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.relative_to(out).parts[0] == "shards":
            continue
        for text in strings_in(path):
            found += [(str(path.relative_to(out)), v) for v in values if v in text]
    return found


# ---------------------------------------------------------------------------------------------
# Ownership


def test_non_empty_folder_not_ours_is_refused_untouched(tmp_path):
    project = tmp_path / "project"
    (project / "tokenizer").mkdir(parents=True)
    (project / "tokenizer" / "tokenizer.json").write_text("my own tokenizer")
    (project / "shards").mkdir()
    (project / "shards" / "shard-00000.parquet").write_text("my own data")
    before = sorted((p.relative_to(project), p.read_bytes()) for p in project.rglob("*") if p.is_file())
    with pytest.raises(CurationError, match="not empty and was not written by curate"):
        run([str(SAMPLE)], project, small_config(), progress=False)
    assert sorted((p.relative_to(project), p.read_bytes()) for p in project.rglob("*") if p.is_file()) == before


def test_output_inside_or_around_an_input_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "c.jsonl").write_text(json.dumps({"id": "a", "text": TEXT}) + "\n")
    with pytest.raises(CurationError, match="inside the input"):
        run([str(data)], data / "out", small_config(), progress=False)
    with pytest.raises(CurationError, match="inside the input"):
        run([str(data)], data, small_config(), progress=False)
    with pytest.raises(CurationError, match="inside --output"):
        run([str(data / "c.jsonl")], tmp_path, small_config(), progress=False)
    assert sorted(p.name for p in data.iterdir()) == ["c.jsonl"]


def test_an_existing_file_as_output_is_refused(tmp_path):
    (tmp_path / "out.txt").write_text("mine")
    with pytest.raises(CurationError, match="is an existing file"):
        run([str(SAMPLE)], tmp_path / "out.txt", small_config(), progress=False)
    assert (tmp_path / "out.txt").read_text() == "mine"


def test_rerun_deletes_only_what_the_run_wrote(tmp_path):
    out = tmp_path / "out"
    run([str(SAMPLE)], out, small_config(shards={"target_tokens": 500_000}), progress=False)
    assert (out / owned.OWNER_FILE).is_file()
    # The user adds files of their own beside and inside the run's folders.
    (out / "notes.md").write_text("mine")
    (out / "shards" / "README.txt").write_text("mine too")
    (out / "tokenizer" / "extra.json").write_text("{}")
    run([str(MESSY), str(SAMPLE)], out, small_config(), progress=False)
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "shards" / "README.txt").read_text() == "mine too"
    assert (out / "tokenizer" / "extra.json").is_file()
    assert sorted(p.name for p in (out / "shards").glob("shard-*.parquet")) == ["shard-00000.parquet"]


def test_an_empty_folder_is_claimed(tmp_path):
    (tmp_path / "empty").mkdir()
    run([str(MESSY), str(SAMPLE)], tmp_path / "empty", small_config(), progress=False)
    assert (tmp_path / "empty" / "manifest.json").is_file()


# ---------------------------------------------------------------------------------------------
# One run at a time


def test_a_second_run_on_the_same_output_is_refused(tmp_path):
    out = tmp_path / "out"
    owned.claim(out)
    with owned.exclusive(out):
        with pytest.raises(CurationError, match="another run is writing to .* \\(process \\d+\\)"):
            run([str(SAMPLE)], out, small_config(), progress=False)
    # Released: the next run goes ahead.
    run([str(SAMPLE)], out, small_config(), progress=False)


def test_the_lock_is_held_for_the_whole_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen = []
    from curation.pipeline import graph

    original = graph.write_shards

    def probe(*args, **kwargs):
        try:
            with owned.exclusive(out):
                seen.append("free")
        except CurationError:
            seen.append("held")
        return original(*args, **kwargs)

    monkeypatch.setattr(graph, "write_shards", probe)
    # flock locks belong to open file descriptions: another thread's open() is another holder.
    thread = threading.Thread(target=run, args=([str(SAMPLE)], out, small_config()), kwargs={"progress": False})
    thread.start()
    thread.join()
    assert seen == ["held"]


# ---------------------------------------------------------------------------------------------
# Privacy


@pytest.fixture(scope="module")
def default_chain_run(tmp_path_factory):
    """The default chain (dedup, PII) on the sample, with a url keep-field holding credentials."""
    tmp = tmp_path_factory.mktemp("private")
    records = [json.loads(line) for line in gzip.open(SAMPLE, "rt")]
    for r in records[:50]:
        r["url"] = f"https://admin:hunter2secret@intranet.acme-corp.com/{r['id']}"
    data = tmp / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = small_config(preset="default", input={"keep_fields": ["url"]})
    from classifiers.default import fill_default_model

    fill_default_model(config)
    run([str(data), str(MESSY)], tmp / "out", config, progress=False)
    return tmp / "out"


def test_nothing_beside_the_shards_carries_pii(default_chain_run):
    out = default_chain_run
    assert pq.read_table(out / "removed").num_rows > 200  # duplicates of PII documents among them
    assert leaks(out, injected_pii()) == []


def test_string_keep_fields_are_redacted(default_chain_run):
    urls = pq.read_table(default_chain_run / "shards", columns=["url"]).column("url").to_pylist()
    assert sum(1 for u in urls if u) > 10
    assert not any("hunter2secret" in u for u in urls if u)


def test_raw_text_only_behind_the_switch(tmp_path):
    values = injected_pii()
    config = small_config(stages=[{"length": {"min_words": 400}}, "dedup", "pii"],
                          output={"removed_text": "raw", "quarantine_text": "raw"})
    raw = run([str(SAMPLE)], tmp_path / "raw", config, progress=False)
    assert leaks(tmp_path / "raw", values)  # the switch does what it says
    assert not any(s.redacted or s.redact_seconds for s in raw.stages) and "removed/ text" not in raw.report()
    config = small_config(stages=[{"length": {"min_words": 400}}, "dedup", "pii"])
    default = run([str(SAMPLE)], tmp_path / "default", config, progress=False)
    assert leaks(tmp_path / "default", values) == []
    texts = pq.read_table(tmp_path / "default" / "removed", columns=["text"]).column("text").to_pylist()
    assert all(texts) and any("<EMAIL>" in t for t in texts)
    # Every removed row was redacted by the guard (the pii stage dropped none here), and counted.
    redacted = {s.stage: s.redacted for s in default.stages}
    assert redacted["length"] > 0 and redacted["dedup"] > 0 and redacted["pii"] == 0
    assert sum(redacted.values()) == len(texts)


def test_quarantine_previews_are_redacted(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "x", "text": 5, "note": "mail jan.smit@gmx.de"}\n{"id": "y", "body": "call +31 20 794 6095"}\n'
                    + json.dumps({"id": "ok", "text": TEXT}) + "\n")
    run([str(path)], tmp_path / "out", small_config(stages=[{"length": {"min_words": 1}}]), progress=False)
    rows = pq.read_table(tmp_path / "out" / "quarantine").to_pylist()
    assert len(rows) == 2 and all("<" in r["raw_preview"] for r in rows)
    assert not any("jan.smit@gmx.de" in r["raw_preview"] or "794 6095" in r["raw_preview"] for r in rows)


def test_old_switch_name_is_a_clear_error():
    with pytest.raises(ValueError, match="keep_removed_text was replaced by removed_text"):
        PipelineConfig.model_validate({"output": {"keep_removed_text": False}})


# ---------------------------------------------------------------------------------------------
# Resume: markers are checked, not trusted


def markers(out: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "markers").glob("*.json")}


def test_a_tampered_file_is_recomputed(tmp_path):
    out = tmp_path / "out"
    config = small_config(stages=["length", "dedup"])
    run([str(SAMPLE)], out, config, progress=False, keep_intermediate=True)
    first = (out / "manifest.json").read_bytes()
    staging = sorted((out / "staging").glob("*.parquet"))[0]
    data = bytearray(staging.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the sha256 can tell
    staging.write_bytes(bytes(data))
    before = markers(out)
    run([str(SAMPLE)], out, config, progress=False, keep_intermediate=True)
    after = markers(out)
    assert after["curate-00000.json"] != before["curate-00000.json"]  # pass 1 recomputed
    assert (out / "manifest.json").read_bytes() == first


def test_torn_or_empty_marker_means_not_done(tmp_path):
    out = tmp_path / "out"
    config = small_config(stages=["length", "dedup"])
    run([str(SAMPLE)], out, config, progress=False, keep_intermediate=True)
    first = (out / "manifest.json").read_bytes()
    (out / "markers" / "fit-dedup.json").write_text("")
    (out / "markers" / "tokenizer.json").write_text('{"key": "abc", "pa')
    run([str(SAMPLE)], out, config, progress=False)
    assert (out / "manifest.json").read_bytes() == first


@pytest.mark.parametrize("gone", ["work", "markers"])
def test_cleanup_interrupted_halfway_is_recovered(tmp_path, gone):
    """A kill during cleanup leaves only some intermediate folders: the rerun must not fail."""
    out = tmp_path / "out"
    config = small_config(stages=["length", "dedup"])
    run([str(SAMPLE)], out, config, progress=False, keep_intermediate=True)
    first = (out / "manifest.json").read_bytes()
    owned.remove_tree(out / gone)
    run([str(SAMPLE)], out, config, progress=False)
    assert (out / "manifest.json").read_bytes() == first


def test_marker_is_removed_before_a_step_rewrites_its_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run([str(SAMPLE)], out, small_config(), progress=False, keep_intermediate=True)
    from curation.io.parquet import RollingParquetWriter

    seen = {}
    original = RollingParquetWriter.write

    def spy(self, *args, **kwargs):
        if self.prefix == "shard":
            seen.setdefault("marker", (out / "markers" / "shards.json").exists())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RollingParquetWriter, "write", spy)
    run([str(SAMPLE)], out, small_config(shards={"target_tokens": 500_000}), progress=False, keep_intermediate=True)
    assert seen == {"marker": False}


def test_no_temporary_file_is_left_and_names_are_unique(tmp_path):
    from curation.io.files import tmp_path as tmp_name

    a, b = tmp_name(tmp_path / "x.json"), tmp_name(tmp_path / "x.json")
    assert a != b and a.name.startswith(".x.json.") and a.name.endswith(".tmp")
    out = tmp_path / "out"
    out.mkdir()
    (out / "shards").mkdir()
    stale = out / "shards" / ".shard-00000.parquet.123-abcd.tmp"
    stale.write_text("left by a killed writer")
    (out / owned.OWNER_FILE).write_text("{}")
    run([str(SAMPLE)], out, small_config(), progress=False)
    assert not stale.exists() and not list(out.rglob("*.tmp"))


# ---------------------------------------------------------------------------------------------
# Publishing


def test_publish_uploads_exactly_the_outputs_and_removes_stale_ones(tmp_path):
    memory = fsspec.filesystem("memory")
    url = "memory://published-run"
    run([str(SAMPLE), str(MESSY)], url, small_config(shards={"target_tokens": 300_000}), progress=False,
        work_dir=tmp_path / "work")
    first = sorted(memory.find("/published-run"))
    assert len([p for p in first if "/shards/" in p]) > 2
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())  # no local copy left
    result = run([str(SAMPLE)], url, small_config(), progress=False, work_dir=tmp_path / "work")
    second = sorted(memory.find("/published-run"))
    listed = json.loads(memory.cat("/published-run/" + owned.OWNER_FILE))["files"]
    assert {"/published-run/" + f for f in listed} | {"/published-run/" + owned.OWNER_FILE} == set(second)
    manifest = json.loads(memory.cat("/published-run/manifest.json"))
    assert sorted(p for p in second if "/shards/" in p) == ["/published-run/" + s["path"] for s in manifest["shards"]]
    assert not any(part in p for p in second for part in ("/staging/", "/markers/", "/work/", "/ids/", ".lock"))
    assert "output: memory://published-run" in result.report()


def test_publish_refuses_a_location_that_is_not_ours(tmp_path):
    memory = fsspec.filesystem("memory")
    memory.pipe("/someone-else/data.csv", b"a,b\n")
    with pytest.raises(CurationError, match="not empty and was not written by curate"):
        run([str(SAMPLE)], "memory://someone-else", small_config(), progress=False, work_dir=tmp_path / "w")
    assert memory.find("/someone-else") == ["/someone-else/data.csv"]


def test_publish_writes_the_manifest_last(tmp_path, monkeypatch):
    from curation.io import storage

    order = []
    original = fsspec.implementations.memory.MemoryFileSystem.put_file

    def spy(self, lpath, rpath, *args, **kwargs):
        order.append(rpath.rsplit("/", 1)[-1])
        return original(self, lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(fsspec.implementations.memory.MemoryFileSystem, "put_file", spy)
    run([str(SAMPLE)], "memory://ordered", small_config(), progress=False, work_dir=tmp_path / "w")
    assert order[-1] == "manifest.json" and "shard-00000.parquet" in order
    assert storage.OWNER_FILE not in order  # written directly, not uploaded from the work folder


def test_output_file_patterns_cover_what_a_run_writes(tmp_path):
    out = tmp_path / "out"
    run([str(SAMPLE), str(MESSY)], out, small_config(stages=["length", "dedup", "pii"]), progress=False)
    for sub, patterns in OUTPUT_FILES.items():
        files = [p for p in (out / sub).iterdir()] if (out / sub).exists() else []
        assert all(any(p.match(pat) for pat in patterns) for p in files), (sub, files)
