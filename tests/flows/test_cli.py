"""The ``curate`` command as a user runs it: help, errors without tracebacks, a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import MESSY, ROOT, sample_slice

CURATE = [sys.executable, "-m", "flows.cli"]  # what the installed `curate` runs


def curate(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_help_explains_the_command():
    result = curate("run", "--help")
    assert result.returncode == 0
    for word in ("--input", "--output", "--config", "--text-field", "--id-field", "examples:", "quarantine"):
        assert word in result.stdout


def test_missing_input_is_one_line_error(tmp_path):
    result = curate("run", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "input not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_input_without_documents_is_one_line_error(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    result = curate("run", "--input", str(empty), "--output", str(tmp_path / "o"))
    assert result.returncode == 2 and "no documents" in result.stderr and "Traceback" not in result.stderr


# The command, noting when it started the pool's server whether its CLI and Prefect were imported
# by then, and for each pool it warmed whether Prefect was.
SPY_SCRIPT = """
import json, sys
import curation.pipeline.local as local
import flows.cli

warm_pool, start_pool_server, seen = local.warm_pool, local.start_pool_server, []

def spy(*args, **kwargs):
    pool = warm_pool(*args, **kwargs)
    seen.append(["prefect" in sys.modules, pool is not None])
    return pool

def early(config):
    seen.append(["curation.cli" in sys.modules, "prefect" in sys.modules])
    start_pool_server(config)

local.warm_pool, local.start_pool_server = spy, early
code = flows.cli.main(sys.argv[1:])
import gc
print(json.dumps(seen + [gc.get_freeze_count()]))  # a caller's process (main(argv)): nothing frozen
sys.exit(code)
"""


def test_one_partition_loads_its_chain_on_a_worker_while_the_command_imports_prefect(tmp_path):
    """One partition has nothing to share out, yet its worker, forked from the server started before
    the command's imports, loads the chain while the command imports Prefect, where the command's
    own process did one after the other (bench/README.md: the sample's flow run 1.1 s faster). The
    same bytes as the run in the command's process (``-w 1``), the fit's phases on the pool too."""
    from helpers import fingerprint

    cfg = tmp_path / "c.toml"
    cfg.write_text('[tokenizer]\nvocab_size = 2000\n[[stages]]\nname = "length"\n[[stages]]\nname = "dedup"\n')
    data = sample_slice(tmp_path / "slice.jsonl", 300)
    seen = {}
    for workers in ("2", "1"):
        out = tmp_path / f"w{workers}"
        result = subprocess.run([sys.executable, "-c", SPY_SCRIPT, "run", "--input", str(data), "--output", str(out),
                                 "--config", str(cfg), "-w", workers], capture_output=True, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
        assert result.returncode == 0, result.stderr
        assert json.loads((out / "summary.json").read_text())["partitions"] == 1
        seen[workers] = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"2": [[False, False], [False, True], 0], "1": [[False, False], 0]}
    assert fingerprint(tmp_path / "w2") == fingerprint(tmp_path / "w1")


def test_run_prints_summary_and_writes_outputs(tmp_path):
    """A run of several partitions, as a user starts it: the workers' server starts (and preloads)
    before the command's own imports, the workers start (and load the stages) before it imports
    Prefect, and the run prints and writes what it should."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[tokenizer]\nvocab_size = 2000\n[input]\npartition_bytes = 1000000\n")
    out = tmp_path / "out"
    data = sample_slice(tmp_path / "slice.jsonl", 800)  # the default chain on a fifth of the sample: make run has it all
    result = subprocess.run([sys.executable, "-c", SPY_SCRIPT, "run", "--input", str(data), str(MESSY), "--output",
                             str(out), "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[False, False], [False, True], 0]
    assert json.loads((out / "summary.json").read_text())["partitions"] > 2
    assert "stage" in result.stdout and "quarantined (bad input)" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"tokens: {manifest['total_tokens']:,}" in result.stdout
    assert json.loads((out / "config.json").read_text())["tokenizer"]["vocab_size"] == 2000


def test_the_workers_server_starts_early_only_for_a_run_on_local_workers(tmp_path):
    """The command's guess, before its imports, at whether a run will use the process pool: readable
    inputs (one partition too) and several workers, not Ray's; a command it cannot read is left to
    the CLI to refuse. The guess is the run's config, flags included, whose chain the server
    preloads."""
    from flows.cli import pool_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[input]\npartition_bytes = 1000000\n[[stages]]\nname = "length"\n')
    data = str(sample_slice(tmp_path / "slice.jsonl", 800))
    split = ["run", "--input", data, "--output", str(tmp_path / "o"), "--config", str(cfg)]
    config = pool_config(split)
    assert config is not None and [s.name for s in config.stages] == ["length"]
    assert pool_config(split + ["-w", "2", "--runner", "library"]) == config
    flags = pool_config(split + ["--preset", "gopher", "--text-field", "body", "--tokenizer", "t.json"])
    assert [s.name for s in flags.stages][:2] == ["gopher_quality", "gopher_repetition"]
    assert (flags.input.text_field, flags.tokenizer.path) == ("body", "t.json")
    one = pool_config(split[:-2])  # the default partition size: one partition, on a worker too
    assert one is not None and one.input.partition_bytes == 32 << 20
    for more in (["-w", "1"], ["--workers", "x"], ["--runner", "ray"], ["--help"], ["--input"]):
        assert pool_config(split + more) is None, more
    assert pool_config(["plan"] + split[1:]) is None
    assert pool_config(split[:2] + [str(tmp_path / "missing.jsonl")] + split[3:]) is None
    bad = tmp_path / "bad.toml"
    bad.write_text("[input]\npartition_bytes = 'many'\n")
    assert pool_config(split[:-1] + [str(bad)]) is None


END_SCRIPT = """
import atexit, ctypes, logging, sys
import curation.cli
import flows.cli

# The C library's exit handlers run in the teardown (with C++ destructors and the like): this one
# aborts, so a process that got there ends by SIGABRT.
libc = ctypes.CDLL(None)
libc.__cxa_atexit(libc.abort, None, None)
command, log = curation.cli.main, sys.argv[1]

def main(argv, **kwargs):  # as Prefect and multiprocessing do: a handler registered during the command
    atexit.register(lambda: print("handler ran"))
    logging.getLogger("late").addHandler(logging.FileHandler(log, delay=True))
    logging.getLogger("late").warning("a line logging buffers until its handler closes")
    print("printed, not flushed", end="")
    return command(argv, **kwargs)

curation.cli.main = main
sys.argv = ["curate", *sys.argv[2:]]
sys.exit(flows.cli.main())
"""


def test_the_command_ends_after_every_handler_without_the_teardown(tmp_path):
    """The process ends by os._exit once threads and exit handlers are done: its exit code, a handler
    registered during the command, logging's files and the unflushed streams all come through; the
    teardown (~0.5 s after a run, no system call in it) does not happen."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "late.log"
    for args, code in ((["plan", "--flops", "1e21"], 0), (["run", "--input", str(tmp_path / "missing.jsonl"),
                                                             "--output", str(tmp_path / "o")], 2)):
        done = subprocess.run([sys.executable, "-c", END_SCRIPT, str(log), *args], capture_output=True, text=True,
                              env=env, timeout=120)
        assert done.returncode == code, done.stderr[-2000:]
        assert done.stdout.startswith("printed, not flushed") and done.stdout.rstrip().endswith("handler ran")
        assert log.read_text().count("a line logging buffers") == 1
        log.unlink()
    # A command that raises (argparse's --help exits by SystemExit) ends the usual way: torn down.
    done = subprocess.run([sys.executable, "-c", END_SCRIPT, str(log), "plan", "--help"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == -6 and "handler ran" in done.stdout  # SIGABRT


FREEZE_SCRIPT = """
import gc, json, sys
import flows.cli  # and nothing of the run's before the command: it pauses the collector first

calls = []
freeze = gc.freeze
gc.freeze = lambda: (calls.append(gc.get_freeze_count()), freeze())
if sys.argv[1] == "broken":  # a chain that fails to load ahead: the run's step reports it, in context
    import curation.pipeline.local as local

    def warm_up(config):
        raise RuntimeError("no model here")

    local.warm_up = warm_up
sys.argv = ["curate", *sys.argv[2:]]  # the command's own process, as `curate` runs
code = flows.cli.main()
from curation.pipeline.chain import _built
print(json.dumps({"calls": calls, "frozen": gc.get_freeze_count(), "models": "spacy" in sys.modules,
                  "tracked": len(gc.get_objects()), "built": _built.cache_info().currsize,
                  "collecting": gc.get_threshold()[0] > 0 and gc.isenabled()}))
sys.exit(code)
"""


def test_only_the_commands_own_process_keeps_its_loaded_objects_from_the_collector(tmp_path):
    """The command's process, once a run's checks pass, loads the chain of a run that goes in it (one
    worker) and freezes what it holds, and again after Prefect's import: the collector's full
    passes walked Prefect's and the models' objects again and again (0.86 s of a `make run`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data = sample_slice(tmp_path / "slice.jsonl", 60)
    runs = {}
    # A caller's process (main(argv)) freezes nothing: test_run_prints_summary_and_writes_outputs.
    for who, args in (("own", ["--runner", "library", "-w", "1"]), ("own-flow", ["-w", "1"]),
                      ("own-split", ["--runner", "library", "-w", "2", "--config", str(tmp_path / "c.toml")]),
                      ("own-one", ["--runner", "library", "-w", "2"]),
                      ("broken", ["--runner", "library", "-w", "1"])):
        (tmp_path / "c.toml").write_text("[input]\npartition_bytes = 4000\n")
        done = subprocess.run([sys.executable, "-c", FREEZE_SCRIPT, who.split("-")[0], "run", "--input", str(data),
                               "--output", str(tmp_path / who), "--no-progress", *args], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[who] = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(runs["broken"]["calls"]) == 1  # ran, and the run loaded its chain itself
    assert all(r["collecting"] for r in runs.values())  # paused only while loading
    assert len(runs["own"]["calls"]) == 1 and runs["own"]["frozen"] > 150_000  # spaCy's and Presidio's too
    # Several partitions, or one, run on the pool's workers: nothing of the chain is loaded here for them.
    for who in ("own-split", "own-one"):
        assert len(runs[who]["calls"]) == 1 and not runs[who]["models"], who
        assert runs[who]["built"] == 0 and 0 < runs[who]["frozen"] < runs["own"]["frozen"], who
    assert len(runs["own-flow"]["calls"]) == 2 and runs["own-flow"]["calls"][1] > runs["own"]["frozen"]  # and Prefect's
