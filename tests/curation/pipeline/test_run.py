"""End-to-end runs on sample_data: shards, token counts, manifest, determinism, quarantine."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from curation.config import load_config
from curation.errors import CurationError
from curation.pipeline import run

from helpers import MESSY, SAMPLE, small_config


def test_outputs_exist(sample_run):
    out = sample_run.output_dir
    for name in ("manifest.json", "summary.json", "config.json", "tokenizer/tokenizer.json", "budget.json", "budget.md"):
        assert (out / name).is_file(), name
    assert not (out / "staging").exists()
    assert list((out / "shards").glob("*.tmp")) == []


def test_token_counts_are_exact(sample_run):
    out = sample_run.output_dir
    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    checked = 0
    for shard in sorted((out / "shards").glob("shard-*.parquet")):
        table = pq.read_table(shard, columns=["text", "token_count"])
        for text, count in zip(table.column("text").to_pylist(), table.column("token_count").to_pylist()):
            assert count == len(tok.encode(text).ids)
            checked += 1
    assert checked == sample_run.manifest["total_documents"] > 1000


def test_shards_count_the_next_batch_while_this_one_is_written():
    """The shard step counts a batch's tokens on a thread while the one before is written (both
    without the GIL): every batch comes back in order with its own texts' counts, and a failing
    count fails the step."""
    import threading

    import numpy as np
    import pyarrow as pa

    from curation.pipeline.steps import _counted

    class Counter:
        def __init__(self, fail_at=None):
            self.threads, self.fail_at = [], fail_at

        def count(self, texts):
            self.threads.append(threading.current_thread().name)
            if texts[0] == self.fail_at:
                raise RuntimeError("tokenizer broke")
            return np.array([len(t) for t in texts])

    batches = [pa.record_batch({"text": [f"{b}" * (i + 1) for i in range(b + 1)]}) for b in range(1, 6)]
    counter = Counter()
    seen = []
    for table, counts in _counted(iter(batches), counter):
        # The next batch is being counted (or done) while the caller holds this one.
        seen.append((table.column("text").to_pylist(), counts.tolist()))
    assert seen == [(b.column("text").to_pylist(), [len(t) for t in b.column("text").to_pylist()]) for b in batches]
    assert len(counter.threads) == 5 and all(name.startswith("count-tokens") for name in counter.threads)
    with pytest.raises(RuntimeError, match="tokenizer broke"):
        list(_counted(iter(batches), Counter(fail_at="3")))


def test_duckdb_and_manifest_agree(sample_run):
    out = sample_run.output_dir
    manifest = json.loads((out / "manifest.json").read_text())
    (total, rows), = duckdb.sql(f"SELECT sum(token_count), count(*) FROM '{out}/shards/*.parquet'").fetchall()
    assert total == manifest["total_tokens"] and rows == manifest["total_documents"]
    assert len(manifest["shards"]) >= 2  # target_tokens=1M in the fixture splits the sample
    for shard in manifest["shards"]:
        meta = pq.ParquetFile(out / shard["path"]).metadata
        assert meta.num_rows == shard["rows"]
        assert meta.row_group(0).column(0).compression == "ZSTD"
        # A shard closes after the batch that reaches the target (a 1,000-doc batch is ~1.1M tokens here).
        assert shard["tokens"] < 1_000_000 + 1_200_000
    assert all(s["tokens"] >= 1_000_000 for s in manifest["shards"][:-1])
    schema = pq.read_schema(out / manifest["shards"][0]["path"])
    assert schema.names[:4] == ["id", "text", "source", "token_count"]


def test_intermediates_are_written_with_the_configured_codec(tmp_path):
    """staging/ and curated/ are uncompressed unless output.intermediate_compression asks for zstd;
    the codec changes no byte of what the run ships."""
    from curation.io.files import sha256_file

    def codecs(folder: Path) -> set[str]:
        files = sorted(folder.glob("*.parquet"))
        assert files, folder
        return {pq.ParquetFile(f).metadata.row_group(0).column(c).compression
                for f in files for c in range(pq.ParquetFile(f).metadata.num_columns)}

    shipped = {}
    for codec, expected in (("none", {"UNCOMPRESSED"}), ("zstd", {"ZSTD"})):
        out = tmp_path / codec
        config = small_config(stages=["length", "dedup"], output={"intermediate_compression": codec})
        run([str(SAMPLE)], out, config, progress=False, keep_intermediate=True)
        assert codecs(out / "staging") == codecs(out / "curated") == expected
        assert codecs(out / "shards") == {"ZSTD"}
        shipped[codec] = {p.relative_to(out).as_posix(): sha256_file(p) for split in ("shards", "heldout", "removed")
                          for p in sorted((out / split).glob("*.parquet"))}
    assert shipped["none"] == shipped["zstd"] and any(k.startswith("removed/") for k in shipped["none"])


def test_the_heldout_split_is_its_own_shards(sample_run):
    from curation.tokenizer import is_heldout

    out, manifest = sample_run.output_dir, sample_run.manifest
    train = pq.read_table(out / "shards", columns=["id", "token_count"])
    heldout = pq.read_table(out / "heldout", columns=["id", "token_count"])
    fraction = manifest["heldout"]["fraction"]
    assert fraction == 0.005 and 0 < heldout.num_rows < train.num_rows / 50
    assert all(is_heldout(i, fraction) for i in heldout.column("id").to_pylist())
    assert not any(is_heldout(i, fraction) for i in train.column("id").to_pylist())
    listed = manifest["heldout"]
    assert (listed["total_documents"], listed["total_tokens"]) == (heldout.num_rows,
                                                                    sum(heldout.column("token_count").to_pylist()))
    assert [s["path"] for s in listed["shards"]] == ["heldout/shard-00000.parquet"]
    # The tokenizer never trained on them: its own held-out set (1%) holds them.
    assert sample_run.summary["tokenizer"]["holdout_documents"] >= heldout.num_rows


def test_quarantine_and_removed_are_accounted(sample_run):
    out = sample_run.output_dir
    summary = json.loads((out / "summary.json").read_text())
    quarantine = pq.read_table(out / "quarantine").to_pylist()
    assert sorted({q["reason"] for q in quarantine}) == sorted(summary["quarantined"])
    assert {q["id"] for q in quarantine} >= {"messy-null", "messy-number", "messy-empty", "messy-ok"}
    removed = pq.read_table(out / "removed")
    assert set(removed.column("stage").to_pylist()) == {"length"}
    read, length = summary["stages"]
    assert read["docs_in"] == read["docs_out"] + len(quarantine)
    assert length["docs_in"] == read["docs_out"]
    assert length["docs_in"] - length["docs_out"] == removed.num_rows == sum(length["reasons"].values())
    # Their texts were redacted for removed/, timed apart from the stage's own seconds.
    assert length["redacted"] == removed.num_rows and length["redact_seconds"] > 0
    assert f"removed/ text: {removed.num_rows:,} dropped documents redacted in" in sample_run.report()
    assert length["docs_out"] == summary["total_documents"] + summary["heldout_documents"]
    assert length["tokens_dropped"] > 0 and length["tokens_out"] == summary["total_tokens"] + summary["heldout_tokens"]


def test_two_runs_are_byte_identical(sample_run, tmp_path):
    config = small_config(shards={"target_tokens": 1_000_000})
    again = run([str(SAMPLE), str(MESSY)], tmp_path / "again", config, progress=False)
    a, b = sample_run.output_dir, again.output_dir
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    shards = sorted(p.name for p in (a / "shards").iterdir())
    assert shards == sorted(p.name for p in (b / "shards").iterdir())
    for name in shards:
        assert (a / "shards" / name).read_bytes() == (b / "shards" / name).read_bytes()
    assert (a / "tokenizer/tokenizer.json").read_bytes() == (b / "tokenizer/tokenizer.json").read_bytes()


def test_reuse_tokenizer_and_yaml_config(sample_run, tmp_path):
    given = sample_run.output_dir / "tokenizer" / "tokenizer.json"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"tokenizer:\n  path: {given}\nstages:\n  - length: {{min_words: 200}}\n")
    config = load_config(cfg)
    result = run([str(SAMPLE)], tmp_path / "out", config, progress=False)
    assert result.summary["tokenizer"]["source"].startswith("given")
    assert result.manifest["tokenizer"]["sha256"] == sample_run.manifest["tokenizer"]["sha256"]
    assert json.loads((tmp_path / "out" / "config.json").read_text())["stages"][0]["params"] == {"min_words": 200}
    assert result.manifest["total_documents"] < sample_run.manifest["total_documents"]


def test_no_documents_is_an_error(tmp_path):
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text('{"id": 1}\n{broken\n')
    with pytest.raises(CurationError, match=r"no documents to shard: 2 records read; 2 quarantined \(malformed_json 1, "
                       r"missing_text 1; see .*quarantine\)$"):
        run([str(only_bad)], tmp_path / "out", small_config(), progress=False)
    assert len(pq.read_table(tmp_path / "out" / "quarantine")) == 2


def test_config_errors_are_clear(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[tokenizer]\nvocab_sise = 100\n")
    with pytest.raises(CurationError, match="invalid config .*c.toml: tokenizer.vocab_sise: Extra inputs"):
        load_config(bad)
    with pytest.raises(CurationError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_rerun_into_same_folder_replaces_outputs(tmp_path):
    out = tmp_path / "out"
    run([str(MESSY), str(SAMPLE)], out, small_config(shards={"target_tokens": 500_000}), progress=False)
    first = len(list((out / "shards").iterdir()))
    result = run([str(SAMPLE)], out, small_config(), progress=False)
    assert first > 1 and len(list((out / "shards").iterdir())) == len(result.manifest["shards"]) == 1
    shutil.rmtree(out)


def test_budget_is_written_for_the_corpus(sample_run):
    out = sample_run.output_dir
    budget = json.loads((out / "budget.json").read_text())
    tokens = sample_run.manifest["total_tokens"]
    assert budget["tokens"] == tokens
    assert budget["compute_optimal"]["params"] == round(tokens / 20)
    markdown = (out / "budget.md").read_text()
    assert "70B" in markdown and "H100" in markdown.upper()


def test_worker_processes_give_byte_identical_output(tmp_path):
    config = small_config(stages=["length", "heuristics", "language"], input={"batch_size": 200})
    one = run([str(SAMPLE), str(MESSY)], tmp_path / "one", config, progress=False, workers=1)
    two = run([str(SAMPLE), str(MESSY)], tmp_path / "two", config, progress=False, workers=2)
    assert (tmp_path / "one/manifest.json").read_bytes() == (tmp_path / "two/manifest.json").read_bytes()
    for sub in ("removed", "quarantine", "shards"):
        names = sorted(p.name for p in (tmp_path / "one" / sub).iterdir())
        assert names and names == sorted(p.name for p in (tmp_path / "two" / sub).iterdir())
        for name in names:
            assert (tmp_path / "one" / sub / name).read_bytes() == (tmp_path / "two" / sub / name).read_bytes()
    assert [s["docs_out"] for s in one.summary["stages"]] == [s["docs_out"] for s in two.summary["stages"]]
    assert one.summary["stages"][2]["counters"] == two.summary["stages"][2]["counters"]


EXIT_SCRIPT = """
import atexit, gc, sys
from curation.pipeline.local import freeze_at_exit
atexit.register(lambda: open(sys.argv[1], "w").write(str(gc.get_freeze_count() > 0)))  # runs after it
freeze_at_exit()
keep = [[i] for i in range(100_000)]
"""


def test_pool_workers_and_the_command_skip_the_last_garbage_collection(tmp_path):
    """Every pool's workers freeze the collector at exit (the pools' shutdown waited ~0.6 s per
    worker for that last pass), and the exit handlers registered before it still run."""
    import subprocess
    import sys

    from flows.curate import curate, runner
    from curation.pipeline.local import LocalRunner, _start_worker

    with LocalRunner(workers=2) as local:
        assert local._pool._initializer is _start_worker  # freeze_at_exit, then any warm-up
    for task_runner in (runner("process"), curate.task_runner):
        with task_runner.duplicate() as entered:
            assert entered.pool._initializer is _start_worker
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(tmp_path / "ran")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ran").read_text() == "True"


FROZEN_SCRIPT = """
import gc, sys
if sys.argv[1] == "preload":
    import curation.pipeline.preload  # the fork server's warm-up of the default chain
else:
    from curation.pipeline.local import _start_worker
    _start_worker(None, None)
print(gc.get_freeze_count(), len(gc.get_objects()), int(gc.get_threshold()[0] > 0 and gc.isenabled()))
"""


def test_the_fork_server_and_pool_workers_keep_what_they_loaded_from_the_collector():
    """The fork server freezes what its preload loaded (workers forked from it inherit that), and a
    worker what it holds once started: their full collections walked ~230 k objects of modules and
    models again and again (0.33 of 4.0 s of the stages' work on 6,000 bench documents)."""
    import subprocess
    import sys

    from helpers import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for what, least in (("preload", 100_000), ("worker", 5_000)):
        done = subprocess.run([sys.executable, "-c", FROZEN_SCRIPT, what], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        frozen, tracked, collecting = map(int, done.stdout.split())
        assert frozen > least and tracked < 1_000 and collecting, (what, frozen, tracked)


GROWN_SCRIPT = """
import gc, sys
from curation.pipeline.local import freeze_loaded, pause_collector
pause_collector()
loaded = [[i] for i in range(100_000)]  # what a process loads for its life
if sys.argv[1] == "frozen":
    freeze_loaded()
else:  # as before: the thresholds restored after the freeze
    gc.freeze()
    gc.set_threshold(700, 10, 10)
full = []
gc.callbacks.append(lambda phase, info: phase == "start" and info["generation"] == 2 and full.append(1))
grown = [[i] for i in range(300_000)]  # what it builds afterwards (a run's command: ~160 k objects)
print(len(full))
"""


def test_a_process_that_grows_after_its_freeze_walks_its_heap_in_full_rarely():
    """After the freeze, CPython's hold on full passes (until a quarter of what the last one kept
    was promoted since) compares with nothing, no full pass having run while loading: every tenth
    middle pass was a full one as the process grew. ``freeze_loaded`` makes them ten times rarer."""
    import subprocess
    import sys

    from helpers import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full = {}
    for how in ("frozen", "restored"):
        done = subprocess.run([sys.executable, "-c", GROWN_SCRIPT, how], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        full[how] = int(done.stdout)
    assert full["frozen"] == 0 and full["restored"] >= 3, full


def test_iter_texts_keeps_the_chosen_documents_in_order(tmp_path):
    """The tokenizer's samples: only the kept ids' texts, in order, whole batches kept or skipped."""
    import pyarrow as pa

    from curation.pipeline.outcomes import FileRecord
    from curation.pipeline.tables import iter_texts

    ids = [f"d{i}" for i in range(25)]
    path = tmp_path / "part.parquet"
    pq.write_table(pa.table({"id": ids, "text": [f"text of {i}" for i in ids]}), path)
    files = [FileRecord(str(path), path.stat().st_size, "", rows=25)]
    keep = {"d1", "d3", "d4", "d20"}.__contains__  # batches of 5: the 3rd and 4th keep nothing
    batches = list(iter_texts(files, 5, keep=keep))
    assert batches == [(["d1", "d3", "d4"], ["text of d1", "text of d3", "text of d4"]), (["d20"], ["text of d20"])]
    every = [(i, t) for b_ids, b_texts in iter_texts(files, 5) for i, t in zip(b_ids, b_texts)]
    assert [p for b_ids, b_texts in batches for p in zip(b_ids, b_texts)] == [(i, t) for i, t in every if keep(i)]


def test_a_warm_pool_starts_its_workers_with_the_first_steps_stages_loaded(tmp_path):
    """``warm_pool``: for a run of several partitions, every worker has built (and run once) the
    stages the first step builds, under the key that step looks them up by, and loaded the redactor
    of dropped text, before any task; one for a run of one partition, none on one worker. A warm-up that
    fails leaves a working pool (the step reports the error, in its own context)."""
    import multiprocessing

    from classifiers.default import fill_default_model
    from curation.config import PipelineConfig
    from curation.io.readers import resolve_inputs
    from curation.partition import partition_inputs
    from curation.pipeline.local import first_pass_workers, warm_pool, warm_up

    from helpers import sample_slice, warm_state

    def plan_partitions(inputs, config):
        return partition_inputs(resolve_inputs(inputs), config.input.partition_bytes)

    data = [str(sample_slice(tmp_path / "slice.jsonl", 1000))]
    config = PipelineConfig.model_validate({"input": {"partition_bytes": 1 << 20}})  # the default chain
    fill_default_model(config)
    assert first_pass_workers(data, small_config(), 2) == 1  # one partition: one forked worker
    assert warm_pool(data, config, 1) is None
    pool = warm_pool(data, config, 2)
    assert pool is not None
    try:
        with multiprocessing.Manager() as manager:  # each probe waits for the other: one per worker
            barrier = manager.Barrier(2, timeout=120)
            states = [f.result(timeout=180) for f in [pool.submit(warm_state, config, barrier) for _ in range(2)]]
    finally:
        pool.shutdown()
    assert len({s["pid"] for s in states}) == 2
    assert [(s["new_builds"], s["redactors"], s["loaded"]) for s in states] == [(0, 1, True)] * 2
    # More workers than partitions: as many warm up as the first pass has partitions; the others
    # (started when dedup's phases fan out wider) load only what their tasks use (a forked one has
    # what its server preloaded for the default chain, none of this run's models).
    parts = len(plan_partitions(data, config))
    pool = warm_pool(data, config, parts + 1)
    try:
        with multiprocessing.Manager() as manager:
            barrier = manager.Barrier(parts + 1, timeout=120)
            futures = [pool.submit(warm_state, config, barrier) for _ in range(parts + 1)]
            states = [f.result(timeout=180) for f in futures]
    finally:
        pool.shutdown()
    assert sorted((s["new_builds"], s["loaded"]) for s in states) == [(0, True)] * parts + [(1, False)]
    broken = small_config(stages=[{"length": {"min_words": "many"}}], input={"partition_bytes": 1 << 20})
    with pytest.raises(CurationError, match="bad parameters"):
        warm_up(broken)
    pool = warm_pool(data, broken, 2)
    try:
        assert pool.submit(sum, [1, 2]).result(timeout=60) == 3
    finally:
        pool.shutdown()


def test_pool_workers_fork_from_a_preloaded_server_with_the_callers_environment(monkeypatch):
    """Where the platform has a fork server, pool workers are forked from it with the default chain
    loaded (modules, models, the redactor of dropped text: ~2 s a spawned worker spent on its own),
    and each gets the environment of the process that made its pool, not the server's (started
    earlier: a later ``XDG_CACHE_HOME`` would be missed)."""
    import multiprocessing

    from curation.pipeline.local import pool_context, process_pool

    from helpers import worker_state

    if "forkserver" not in multiprocessing.get_all_start_methods():
        assert pool_context().get_start_method() == "spawn"
        pytest.skip("no fork server on this platform")
    assert pool_context().get_start_method() == "forkserver"
    names = ["CURATION_PROBE_SET", "CURATION_PROBE_GONE"]
    monkeypatch.setenv("CURATION_PROBE_GONE", "server")
    with process_pool(1) as pool:  # the server is running (this test's or an earlier one's)
        assert pool.submit(worker_state, names).result(timeout=180)["env"]["CURATION_PROBE_GONE"] == "server"
    monkeypatch.setenv("CURATION_PROBE_SET", "later")
    monkeypatch.delenv("CURATION_PROBE_GONE")
    with process_pool(2) as pool:
        states = [f.result(timeout=180) for f in [pool.submit(worker_state, names) for _ in range(2)]]
    for state in states:
        assert state["env"] == {"CURATION_PROBE_SET": "later", "CURATION_PROBE_GONE": None}
        assert state["imported"] == ["curation.pii.recognizers", "presidio_analyzer", "spacy"]
        assert state["redactors"] == 1  # the default pii parameters' redactor, loaded
        assert state["frozen"] > 100_000  # the server's, out of the worker's collections
        assert state["ppid"] != os.getpid()  # the server's child, not this process's


PRELOAD_SCRIPT = """
import json, os, sys
from pathlib import Path
from curation.config import PipelineConfig
from curation.pipeline.local import PRELOAD_CONFIG, process_pool, start_pool_server
from helpers import preloaded

if sys.argv[1].startswith("run:"):  # the library's run() on a corpus, its server started by it
    from curation.pipeline import run
    from helpers import sample_slice
    config = PipelineConfig.model_validate_json(sys.argv[2])
    folder = sys.argv[1][4:]
    run([str(sample_slice(Path(folder) / "in.jsonl", 300))], Path(folder) / "out", config, workers=2)
else:
    start_pool_server(PipelineConfig.model_validate_json(sys.argv[1]) if sys.argv[1] else None)
left = os.environ.get(PRELOAD_CONFIG)
with process_pool(1) as pool:
    print(json.dumps({"left": left, **pool.submit(preloaded, sys.argv[2:]).result(timeout=180)}))
"""


def test_the_fork_server_preloads_the_runs_chain(tmp_path):
    """The server warms up the chain its starter names (``curate run`` and the library's ``run``
    name the run's config), not the default one: a run of another chain loaded the default's NER
    model and Presidio there for nothing, then its own in each worker. Nothing named: the default
    chain. The caller's environment is left as it was."""
    import subprocess
    import sys

    from curation.config import PipelineConfig
    from curation.pipeline.local import pool_context

    from helpers import ROOT

    if pool_context().get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    mine = small_config(output={"removed_text": "raw", "quarantine_text": "raw"},
                        input={"partition_bytes": 1 << 18}).model_dump_json()
    default = PipelineConfig().model_dump_json()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    states = []
    for named in (mine, "", f"run:{tmp_path}"):
        result = subprocess.run([sys.executable, "-c", PRELOAD_SCRIPT, named, mine, default], capture_output=True,
                                text=True, cwd=ROOT, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        states.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert states[0] == {"left": None, "imported": [], "built": [True, False]}
    assert states[1] == {"left": None, "imported": ["curation.pii.recognizers", "presidio_analyzer", "spacy"],
                         "built": [False, True]}
    assert states[2] == states[0]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["partitions"] > 1


def test_a_failing_preload_leaves_the_fork_server_working(monkeypatch):
    """Multiprocessing stops a fork server whose preload raises anything but an ImportError: the
    preload keeps its failure to itself (a worker loads what it uses, and reports errors there)."""
    import importlib

    from curation.pipeline import local, preload

    def broken() -> None:
        raise RuntimeError("no model here")

    monkeypatch.setattr(local, "warm_preload", broken)
    importlib.reload(preload)


def test_what_later_steps_load_from_no_document_loads_in_a_thread_beside_pass_1(tmp_path, monkeypatch):
    """The decontamination fit's items and index, a given tokenizer's counter and the report's
    imports (~1 s together) load in a thread started with the run, while the process waits for the
    partitions' tasks: after them they were the run's serial path. The steps then find them
    loaded, and the outputs are the ones a run without the thread writes."""
    import threading

    from curation.decontam import stage as decontam
    from curation.pipeline import graph
    from curation.tokenizer import TokenCounter

    item = "return the data type OID for an argument of a statement prepared by"  # in the sample
    config = small_config(stages=["length", {"decontaminate": {"benchmarks": [], "texts": {"mine": [item]}}}])
    run([str(SAMPLE)], tmp_path / "first", config, progress=False)  # trains the tokenizer to give
    given = small_config(stages=config.model_dump()["stages"], tokenizer={"path": str(tmp_path / "first/tokenizer/tokenizer.json")})
    threads: dict[str, list[str]] = {"items": [], "counter": [], "imports": []}
    items, counter_init = decontam.Decontaminate.items, TokenCounter.__init__

    def spy_items(self):
        threads["items"].append(threading.current_thread().name)
        return items(self)

    def spy_counter(self, *args, **kwargs):
        threads["counter"].append(threading.current_thread().name)
        counter_init(self, *args, **kwargs)

    monkeypatch.setattr(decontam.Decontaminate, "items", spy_items)
    monkeypatch.setattr(TokenCounter, "__init__", spy_counter)
    monkeypatch.setattr(graph, "import_ahead", lambda: threads["imports"].append(threading.current_thread().name))
    monkeypatch.setattr(decontam, "_INDEXED", {})
    monkeypatch.setattr("curation.tokenizer._SHARED_COUNTERS", {})
    ahead = run([str(SAMPLE)], tmp_path / "ahead", given, progress=False)
    assert threads == {"items": ["prepare-ahead"], "counter": ["prepare-ahead"], "imports": ["prepare-ahead"]}
    monkeypatch.setattr(graph, "prepare_ahead", lambda plan: None)
    monkeypatch.setattr(decontam, "_INDEXED", {})
    monkeypatch.setattr("curation.tokenizer._SHARED_COUNTERS", {})
    threads = {"items": [], "counter": [], "imports": []}
    run([str(SAMPLE)], tmp_path / "plain", given, progress=False)
    assert threads["items"] == threads["counter"] == ["MainThread"]
    assert ahead.summary["stages"][2]["reasons"] == {"contaminated": 1}
    files = sorted(p.relative_to(tmp_path / "ahead") for p in (tmp_path / "ahead").rglob("*") if p.is_file())
    assert Path("removed/late-00000-00000.parquet") in files
    for name in files:
        if name.name not in ("summary.json", "report.md", "report.html", ".curation.lock"):  # times, a pid
            assert (tmp_path / "ahead" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name
