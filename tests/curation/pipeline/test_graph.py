"""The step graph: one order for every runner, the page that documents it, and its examples run."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from curation.config import PipelineConfig
from curation.pipeline import LocalRunner, build_graph, execute, locked, plan_run, run
from curation.pipeline.graph import render_readme
from curation.pipeline.plan import RunPlan
from helpers import MESSY, ROOT, SAMPLE, fingerprint, sample_slice, small_config

PAGE = ROOT / "curation" / "pipeline" / "README.md"


def test_the_page_is_generated_from_the_graph():
    assert PAGE.read_text() == render_readme(), "regenerate it: python -m curation.pipeline > curation/pipeline/README.md"


def names(config: PipelineConfig) -> list[str]:
    return [s.name for s in build_graph(RunPlan(Path("out"), config, (), ()))]


def test_corpus_level_stages_add_the_fit_and_the_second_pass():
    assert names(PipelineConfig()) == ["filter-partition", "duplicate-ids", "fit", "late-partition",
                                       "train-tokenizer", "tokenize-and-shard", "budget-and-report"]
    assert names(small_config()) == ["filter-partition", "duplicate-ids", "train-tokenizer", "tokenize-and-shard",
                                     "budget-and-report"]
    # PII alone needs no fit but runs after pass 1's per-document stages all the same.
    assert "fit" not in names(small_config(stages=["length", "pii"]))


def test_corpus_level_stages_must_stand_together():
    from curation.errors import CurationError
    from curation.pipeline import check_config

    check_config(small_config(stages=["length", {"quality_classifier": {"model": "x"}},
                                      {"quality_threshold": {"keep_top_fraction": 0.8}}, "dedup", "pii"]))
    with pytest.raises(CurationError, match="must stand together in the chain; move length"):
        check_config(small_config(stages=[{"quality_threshold": {"keep_top_fraction": 0.8}}, "length", "dedup"]))


def test_the_pages_examples_are_one_file_each_and_run(tmp_path, monkeypatch):
    """A stage, an input format and a runner, each the page's own code in a module of its own."""
    blocks = re.findall(r"```python\n# (\w+\.py)\n(.*?)```", PAGE.read_text(), re.S)
    assert [name for name, _ in blocks] == ["example_stage.py", "example_format.py", "example_runner.py"]
    for name, code in blocks:
        (tmp_path / name).write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    from curation.io import formats

    monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
    formats.get_format.cache_clear()
    importlib.import_module("example_format")  # its last line is the registry line
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "docs.csv").write_text(
        "id,text\nquiet,this is a calm and ordinary sentence about text files\nloud,THIS IS SHOUTING IN CAPITALS\n")
    config = small_config(stages=[{"length": {"min_words": 1}}, "example_stage:NoShouting"])
    result = run([str(tmp_path / "data")], tmp_path / "out", config, progress=False)
    assert result.manifest["total_documents"] == 1
    assert result.summary["stages"][2]["reasons"] == {"all_caps": 1}
    formats.get_format.cache_clear()
    # The runner example runs the same graph as the library's runner, to the byte.
    ThreadRunner = importlib.import_module("example_runner").ThreadRunner  # noqa: N806
    config = small_config(stages=["length", "dedup", "pii"], input={"partition_bytes": 1 << 20})
    data = str(sample_slice(tmp_path / "slice.jsonl", 1000))
    with locked([data], tmp_path / "threads"):
        execute(plan_run([data], tmp_path / "threads", config), ThreadRunner())
    with locked([data], tmp_path / "local"), LocalRunner() as local:
        execute(plan_run([data], tmp_path / "local", config), local)
    assert fingerprint(tmp_path / "threads") == fingerprint(tmp_path / "local")


FLOW_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    from curation.config import PipelineConfig
    from curation.pipeline.local import warm_pool
    from flows.embedded import prefect_api
    kinds, inputs, base, configs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    with prefect_api():  # one server for every run
        from flows.curate import curate, runner
        for kind in kinds:
            for config in configs:
                config = PipelineConfig.model_validate(config)
                # The process pool as `curate run` gives it: started and warmed before the flow.
                pool = warm_pool(inputs, config, 2) if kind == "process" else None
                assert (pool is None) == (kind != "process")
                curate.with_options(task_runner=runner(kind, None, 2, pool=pool))(
                    input=inputs, output=f"{base}/{kind}-{config.preset}", config=config)
                if pool is not None:
                    pool.shutdown()
""")

PRESETS_COMPARED = ("fineweb",)


def test_every_runner_writes_the_same_bytes(tmp_path):
    """fineweb on the library's pool, on Prefect's process pool and on Ray, with several partitions and
    an id repeated across them, so the duplicate-id rerun, the fit and pass 2 all run (the default
    preset is compared across runners by tests/test_readme.py, on the whole sample). One preset: the
    runners see a graph of steps, not the stages inside them, and the start-up of Prefect and Ray is
    most of this test's minutes."""
    import gzip

    with gzip.open(SAMPLE, "rt") as fh:
        records = [json.loads(fh.readline()) for _ in range(1500)]
    records.append({"id": records[0]["id"], "text": "A different text under an id already used. " * 20})
    data = tmp_path / "slice.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    inputs = [str(data), str(MESSY)]
    jobs = []
    for preset in PRESETS_COMPARED:
        config = small_config(preset=preset, input={"partition_bytes": 1 << 20})
        result = run(inputs, tmp_path / f"library-{preset}", config, progress=False, workers=2)
        assert result.summary["partitions"] > 2 and result.summary["quarantined"]["duplicate_id"] >= 2
        jobs.append(config.model_dump(mode="json"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    kinds = ["process"] + (["ray"] if importlib.util.find_spec("prefect_ray") else [])
    done = subprocess.run([sys.executable, "-c", FLOW_SCRIPT, json.dumps(kinds), json.dumps(inputs), str(tmp_path),
                           json.dumps(jobs)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for kind in kinds:
        for preset in PRESETS_COMPARED:
            assert fingerprint(tmp_path / f"{kind}-{preset}") == fingerprint(tmp_path / f"library-{preset}"), \
                (kind, preset)


def test_text_sizes_encode_each_text_object_once():
    from curation.pipeline.chain import TextSizes

    class Counted(str):
        encodes = 0

        def encode(self, *args, **kwargs):  # type: ignore[override]
            Counted.encodes += 1
            return super().encode(*args, **kwargs)

    a, b = Counted("caf\u00e9"), Counted("tea")
    sizes = TextSizes([a], [5])
    assert sizes.total([a, b]) == 8 and Counted.encodes == 1  # a's size was given, b's computed
    assert sizes.total([a, b, b]) == 11 and Counted.encodes == 1  # then known
    # The same characters in another object (a stage rewrote the text) are measured again.
    assert sizes.total([Counted("caf\u00e9")]) == 5 and Counted.encodes == 2
