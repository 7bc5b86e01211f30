"""The mixture: BloombergGPT's recipe over two curated runs of the sample, to the tenth of a point,
deterministic for a seed, and exactly what the training loader reads over one pass."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation import cli
from curation.errors import CurationError
from curation.mixture import Recipe, plan_mixture, write_mixture
from curation.pipeline import run
from helpers import MESSY, SAMPLE, small_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two curated runs of the sample counted with one tokenizer: the length filter's output (the
    'public' part) and Gopher's stricter subset (the 'financial' part, smaller)."""
    tmp = tmp_path_factory.mktemp("mix-runs")
    public = tmp / "public"
    # Several shards, so that a shard glob can name part of a run.
    run([str(SAMPLE), str(MESSY)], public, small_config(shards={"target_tokens": 1_000_000}), progress=False)
    domain = tmp / "domain"
    run([str(SAMPLE)], domain, small_config(stages=["gopher_quality", "gopher_repetition"],
                                           tokenizer={"path": str(public / "tokenizer" / "tokenizer.json")}),
        progress=False)
    return domain, public


def bloomberg(domain: Path, public: Path, **extra) -> Recipe:
    return Recipe.model_validate({"sources": {"financial": {"path": str(domain), "share": 0.51},
                                              "public": {"path": str(public), "share": 0.49}}} | extra)


def test_bloomberggpt_recipe_to_a_tenth_of_a_point(runs, tmp_path):
    domain, public = runs
    recipe = bloomberg(domain, public, params="300K")  # 6M tokens: more than the domain run holds
    total, plans, _ = plan_mixture(recipe)
    assert total == 6_000_000
    mixture = write_mixture(recipe, tmp_path / "mix")
    manifest = json.loads((tmp_path / "mix" / "manifest.json").read_text())
    assert mixture["total_achieved"] == manifest["total_tokens"]
    for source, plan in zip(mixture["sources"], plans):
        assert abs(source["achieved_share"] - source["share"]) < 0.001, source
        assert source["epochs"] == pytest.approx(plan.requested / plan.available, abs=1e-6)
        assert plan.requested <= source["achieved_tokens"] < plan.requested + 50_000  # at most one document over
    financial = mixture["sources"][0]
    assert financial["epochs"] > 1 and financial["whole_epochs"] == int(financial["epochs"])
    # Every source's documents, as counted from the shards themselves.
    shards = pq.read_table(tmp_path / "mix" / "shards", columns=["mixture_source", "token_count"])
    for source in mixture["sources"]:
        mine = [t for s, t in zip(shards.column("mixture_source").to_pylist(),
                                  shards.column("token_count").to_pylist()) if s == source["name"]]
        assert (len(mine), sum(mine)) == (source["documents"], source["achieved_tokens"])
    # The sources' held-out splits come along for validation, apart from the mixed shards.
    held = pq.read_table(tmp_path / "mix" / "heldout", columns=["id", "mixture_source"])
    assert held.num_rows == manifest["heldout"]["total_documents"] > 0
    assert set(held.column("mixture_source").to_pylist()) == {"financial", "public"}
    mixed_ids = set(pq.read_table(tmp_path / "mix" / "shards", columns=["id"]).column("id").to_pylist())
    assert not set(held.column("id").to_pylist()) & mixed_ids
    # Interleaved: the first tenth of the mixture already holds both sources in about their shares.
    head = shards.slice(0, shards.num_rows // 10).column("mixture_source").to_pylist()
    assert 0.3 < head.count("financial") / len(head) < 0.7


def test_the_loader_reads_exactly_the_mixture_over_one_pass(runs, tmp_path):
    pytest.importorskip("torch")
    from curation.training.data import RunData
    from curation.training.loader import PackedDataset

    write_mixture(bloomberg(*runs, total_tokens=1_500_000), tmp_path / "mix")
    data = RunData.open(tmp_path / "mix")
    dataset = PackedDataset(data, 1023, seed=1, shuffle_window=1, epochs=1, keep_tail=True)
    total = sum(len(block) for block, _, _ in dataset)
    assert total == data.total_tokens + data.total_documents  # every token once, one EOS per document


def digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted((folder / "shards").glob("*.parquet")))).hexdigest()


def test_deterministic_for_a_seed(runs, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 7)):
        write_mixture(bloomberg(*runs, total_tokens=1_500_000, seed=seed), tmp_path / name)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()


def test_a_source_that_cannot_fill_its_share_is_named(runs):
    domain, public = runs
    recipe = Recipe.model_validate({"sources": {"financial": {"path": str(domain), "share": 0.51, "max_epochs": 1},
                                                "public": {"path": str(public), "share": 0.49}},
                                    "total_tokens": 4_000_000})
    with pytest.raises(CurationError, match=r"source financial cannot fill its share: 2\.04M tokens requested .* "
                                            r"short by"):
        plan_mixture(recipe)


def test_many_epochs_warn_and_shares_must_add_up(runs):
    domain, public = runs
    _, _, warnings = plan_mixture(bloomberg(domain, public, total_tokens=20_000_000).model_copy(
        update={"sources": {"financial": bloomberg(domain, public).sources["financial"].model_copy(
            update={"max_epochs": 10}), "public": bloomberg(domain, public).sources["public"]}}))
    assert any("financial is repeated" in w and "Muennighoff" in w for w in warnings)
    with pytest.raises(ValueError, match="add up to 0.9"):
        Recipe.model_validate({"sources": {"a": {"path": str(domain), "share": 0.5},
                                           "b": {"path": str(public), "share": 0.4}}})


def test_sources_with_other_tokenizers_are_refused(runs, tmp_path):
    domain, public = runs
    other = tmp_path / "other"
    run([str(MESSY), str(SAMPLE)], other, small_config(tokenizer={"vocab_size": 3000}), progress=False)
    recipe = Recipe.model_validate({"sources": {"a": {"path": str(domain), "share": 0.5},
                                                "b": {"path": str(other), "share": 0.5}}, "total_tokens": 1000})
    with pytest.raises(CurationError, match="different tokenizers"):
        plan_mixture(recipe)


def test_curate_mix_command_writes_a_report(runs, tmp_path, capsys):
    domain, public = runs
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"sources:\n  financial: {{path: {domain}, share: 0.51}}\n"
                      f"  public: {{path: {public}, share: 0.49}}\nparams: 1T\n")
    assert cli.main(["mix", str(recipe), "--output", str(tmp_path / "mix"), "--tokens", "1M"]) == 0
    out = capsys.readouterr().out
    assert "| financial | 51.00% |" in out and "1,000,000 requested" in out
    html = (tmp_path / "mix" / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html
    shutil.rmtree(tmp_path / "mix")


def test_a_source_may_be_a_glob_of_shards(runs, tmp_path):
    domain, public = runs
    shards = sorted((public / "shards").glob("*.parquet"))
    assert len(shards) > 1
    manifest = json.loads((public / "manifest.json").read_text())
    first = Recipe.model_validate({"sources": {"financial": {"path": str(domain), "share": 0.51},
                                               "public": {"path": str(shards[0]), "share": 0.49}},
                                   "total_tokens": 1_000_000})
    _, plans, _ = plan_mixture(first)
    assert plans[1].shards == (shards[0],) and plans[1].available == manifest["shards"][0]["tokens"]
    every = first.model_copy(update={"sources": {**first.sources, "public": first.sources["public"].model_copy(
        update={"path": str(public / "shards" / "shard-*.parquet")})}})
    by_glob = write_mixture(every, tmp_path / "glob")
    by_run = write_mixture(bloomberg(domain, public, total_tokens=1_000_000), tmp_path / "run")
    assert digest(tmp_path / "glob") == digest(tmp_path / "run")
    assert by_glob["sources"][1]["available_tokens"] == manifest["total_tokens"]
    stray = tmp_path / "elsewhere" / "shards"
    stray.mkdir(parents=True)
    shutil.copy(shards[0], stray / "x.parquet")
    with pytest.raises(CurationError, match="not a curate run"):
        plan_mixture(first.model_copy(update={"sources": {**first.sources, "public": first.sources["public"].model_copy(
            update={"path": str(stray / "*.parquet")})}}))
    with pytest.raises(CurationError, match="no file matches"):
        plan_mixture(first.model_copy(update={"sources": {**first.sources, "public": first.sources["public"].model_copy(
            update={"path": str(tmp_path / "nothing" / "*.parquet")})}}))
