"""Correct by default: what a new user meets following the README (issue 22's items, one test each)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation import cli
from curation.config import PRESETS, QUALITY_PRESETS, load_config
from curation.errors import CurationError
from curation.pipeline import run

from helpers import MESSY, ROOT, SAMPLE, injected_pii, small_config

CURATE = [sys.executable, "-m", "flows.cli"]


def curate(*args, env=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*CURATE, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def normalized(text: str) -> str:
    return " ".join(text.lower().split())


# 1. Every preset keeps dedup and PII redaction ---------------------------------------------------


@pytest.mark.parametrize("preset", list(QUALITY_PRESETS))
def test_every_preset_ships_no_pii_and_no_exact_duplicate(tmp_path, preset):
    from classifiers.default import fill_default_model

    config = small_config(preset=preset)
    fill_default_model(config)  # the presets with the quality classifier: default, web
    assert [s.name for s in config.stages][-3:] == ["decontaminate", "dedup", "pii"]
    # web on plain JSONL: extract passes text through (tests/test_readme.py runs it on a crawl)
    result = run([str(SAMPLE)], tmp_path / preset, config, progress=False)
    texts = pq.read_table(tmp_path / preset / "shards", columns=["text"]).column("text").to_pylist()
    values = injected_pii()
    assert len(texts) == result.manifest["total_documents"] > 0
    assert not [v for t in texts for v in values if v in t]
    counts = Counter(normalized(t) for t in texts)
    assert counts.most_common(1)[0][1] == 1


# 2. Options by name, preset and stages, stage listing, errors before anything starts ----------------


def test_stage_options_change_one_parameter_without_restating_the_chain(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: fineweb\nstage_options:\n  fineweb_quality: {max_short_line_ratio: 0.9}\n")
    config = load_config(cfg)
    assert [s.name for s in config.stages] == [s["name"] for s in PRESETS["fineweb"]]
    assert config.stages[4].params == {"max_short_line_ratio": 0.9}
    saved = json.loads(config.to_json())
    assert saved["preset"] == "fineweb" and load_config(None, saved) == config  # config.json reloads


def test_preset_and_a_different_stage_list_is_an_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: fineweb\nstages: [length]\n")
    with pytest.raises(CurationError, match="preset 'fineweb' is the chain .* but stages lists \\['length'\\]"):
        load_config(cfg)
    cfg.write_text("stages: [length]\n")
    config = load_config(cfg)
    assert config.preset is None and [s.name for s in config.stages] == ["length"]
    with pytest.raises(CurationError, match="stage_options for stages not in the chain: \\['dedup'\\]"):
        load_config(None, {"stages": ["length"], "stage_options": {"dedup": {"threshold": 0.8}}})


def test_bad_preset_message_says_what_is_wrong():
    with pytest.raises(CurationError) as info:
        load_config(None, {"preset": "finweb"})
    assert str(info.value) == ("invalid config: unknown preset 'finweb'; presets: "
                               "default, gopher, c4, fineweb, minimal, web")


def test_curate_stages_lists_parameters_defaults_and_sources(capsys):
    assert cli.main(["stages"]) == 0
    text = capsys.readouterr().out
    for name in QUALITY_PRESETS["fineweb"] + [{"name": "dedup"}, {"name": "pii"}, {"name": "heuristics"}]:
        assert f"\n{name['name']} (" in "\n" + text
    assert "threshold: float = 0.6" in text and "Jaccard" in text  # dedup, from its typed config
    assert "min_words: int = 50" in text and "Gopher" in text


def test_config_errors_stop_before_any_server_starts(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("stage_options: {heuristics: {min_stop_word: 3}}\n")
    started = []
    code = cli.main(["run", "--input", str(SAMPLE), "--output", str(tmp_path / "o"), "--config", str(cfg)],
                    flow_runner=lambda *a: started.append(a) or "")
    err = capsys.readouterr().err
    assert code == 2 and started == [] and "bad parameters for stage 'heuristics'" in err
    assert "min_stop_word" in err and not (tmp_path / "o").exists()


# 3. A given tokenizer gets the transformers config ---------------------------------------------------


def test_given_tokenizer_has_eos_and_keeps_literal_special_tokens_as_text(tmp_path):
    first = run([str(SAMPLE)], tmp_path / "first", small_config(), progress=False)
    given = tmp_path / "given.json"
    shutil.copy(first.output_dir / "tokenizer" / "tokenizer.json", given)
    out = tmp_path / "second"
    run([str(MESSY), str(SAMPLE)], out, small_config(tokenizer={"path": str(given)}), progress=False)
    assert (out / "tokenizer" / "tokenizer.json").read_bytes() == given.read_bytes()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "tokenizer")
    assert tok.eos_token == "<|endoftext|>" and tok.eos_token_id is not None
    ids = tok("a page about <|endoftext|> tokens", add_special_tokens=False)["input_ids"]
    assert tok.eos_token_id not in ids


def test_given_tokenizer_without_the_eos_is_refused(tmp_path):
    first = run([str(SAMPLE)], tmp_path / "first", small_config(), progress=False)
    given = tmp_path / "given.json"
    shutil.copy(first.output_dir / "tokenizer" / "tokenizer.json", given)
    with pytest.raises(CurationError, match="has no token '</s>'"):
        run([str(SAMPLE)], tmp_path / "o", small_config(tokenizer={"path": str(given), "special_tokens": ["</s>"]}),
            progress=False)


# 7. Errors are one line ---------------------------------------------------------------------------


def test_existing_file_as_output_is_one_line(tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    result = curate("run", "--input", str(SAMPLE), "--output", str(target), "--runner", "library")
    assert result.returncode == 2 and "is an existing file" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert target.read_text() == "mine"


def test_unreachable_ray_cluster_is_one_line(tmp_path):
    pytest.importorskip("prefect_ray")
    result = curate("run", "--input", str(MESSY), "--output", str(tmp_path / "o"), "--runner", "ray",
                    "--ray-address", "ray://127.0.0.1:1", "--preset", "minimal",
                    env={"RAY_USAGE_STATS_ENABLED": "0"}, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "cannot start or reach ray://127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_parquet_without_text_column_points_at_the_quarantine(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"id": ["a"], "body": ["text"]}), tmp_path / "p.parquet")
    with pytest.raises(CurationError) as info:
        run([str(tmp_path / "p.parquet")], tmp_path / "o", small_config(), progress=False)
    message = str(info.value)
    assert "missing_text_column 1" in message and "quarantine" in message and "removed" not in message
    assert (tmp_path / "o" / "quarantine").is_dir()


# 8. URL outputs -------------------------------------------------------------------------------------


def test_url_output_prints_the_url_and_keeps_no_local_copy(tmp_path):
    target = tmp_path / "published"
    cache = tmp_path / "cache"
    result = curate("run", "--input", str(MESSY), str(SAMPLE), "--output", f"file://{target}", "--preset", "minimal",
                    "--runner", "library", env={"XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stderr
    assert f"output: file://{target}" in result.stdout
    assert (target / "manifest.json").is_file() and list((target / "shards").glob("*.parquet"))
    runs = cache / "curation" / "runs"
    assert not runs.exists() or not any(p.is_file() for p in runs.rglob("*"))


def test_memory_output_from_the_command_line_is_refused(tmp_path):
    result = curate("run", "--input", str(MESSY), "--output", "memory://out", "--runner", "library")
    assert result.returncode == 2 and "memory://" in result.stderr and "vanish" in result.stderr


# 9. Shard size ---------------------------------------------------------------------------------------


def test_shards_close_at_their_target(tmp_path):
    result = run([str(SAMPLE)], tmp_path / "o", small_config(shards={"target_bytes": 1_000_000}), progress=False)
    shards = result.manifest["shards"]
    assert len(shards) > 5
    largest = max(len(t.encode()) for t in pq.read_table(tmp_path / "o" / "shards", columns=["text"])
                  .column("text").to_pylist())
    for shard in shards[:-1]:
        assert 1_000_000 <= shard["text_bytes"] < 1_000_000 + largest


# 10. The quieter surprises ------------------------------------------------------------------------------


def test_folder_input_says_it_reads_the_readme(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "corpus.jsonl.gz")
    (folder / "README.md").write_text("# About this data\n\nIt is documentation, not a document.\n")
    result = curate("run", "--input", str(folder), "--output", str(tmp_path / "o"), "--preset", "minimal",
                    "--runner", "library")
    assert result.returncode == 0, result.stderr
    assert "note: " in result.stdout and "README.md" in result.stdout and "name the data files" in result.stdout


def test_the_run_says_which_steps_it_resumed(tmp_path):
    out = tmp_path / "o"
    config = small_config(stages=["length", "dedup"])
    run([str(SAMPLE)], out, config, progress=False, keep_intermediate=True)
    again = run([str(SAMPLE)], out, config, progress=False)
    assert again.summary["resumed_steps"] == ["filter-00000", "fit-dedup", "late-00000", "tokenizer", "shards"]
    assert "resumed: 5 finished steps of an interrupted run were kept" in again.report()


def test_the_run_says_what_the_config_removed_and_which_model_it_used(tmp_path, capsys):
    result = run([str(SAMPLE)], tmp_path / "o", small_config(), progress=False)
    assert any("removed decontaminate, dedup and pii from the chain" in n for n in result.summary["notes"])
    from classifiers.default import DEMO_NOTE, fill_default_model

    seen = []
    code = cli.main(["run", "--input", str(SAMPLE), "--output", str(tmp_path / "o2")],
                    flow_runner=lambda args, cfg, progress, notes: seen.extend(notes) or "done",
                    default_model=fill_default_model)
    assert code == 0 and seen == [DEMO_NOTE]
    assert "demo model" in DEMO_NOTE and "curate train-classifier" in DEMO_NOTE


def test_manifest_depends_on_model_content_not_its_path(tmp_path):
    from classifiers.default import ensure_default_model

    model = ensure_default_model()
    moved = tmp_path / "elsewhere" / "fasttext.bin"
    moved.parent.mkdir()
    shutil.copy(model, moved)
    shutil.copy(model.with_name(model.name + ".json"), moved.with_name(moved.name + ".json"))
    manifests = []
    for i, path in enumerate((model, moved)):
        config = small_config(stages=["length", {"quality_classifier": {"model": str(path)}}])
        manifests.append(run([str(MESSY)], tmp_path / f"o{i}", config, progress=False).manifest["config_sha256"])
    assert manifests[0] == manifests[1]


def test_smaller_vocabulary_is_explained(tmp_path):
    result = run([str(MESSY), str(SAMPLE)], tmp_path / "o", small_config(tokenizer={"vocab_size": 60_000}),
                 progress=False)
    assert result.summary["tokenizer"]["vocab_size"] < 60_000
    assert any("vocabulary" in n and "60,000" in n for n in result.summary["notes"])
