"""``curate mix``: a domain mixture sized to a token budget, written as a run the trainer reads.

A recipe names sources (curate run folders) with a target share of the total and a maximum number
of epochs, as published mixtures do (GPT-3, the Pile, LLaMA; BloombergGPT: 51 % financial, 49 %
public). The total is given, or the compute-optimal tokens of a model size (Chinchilla's 20 per
parameter). For each source, ``epochs = total x share / available``: the whole epochs repeat it,
the fraction is a deterministic per-document subsample (documents in ``(seed, id)`` hash order until
the fraction's tokens are reached, so a share lands within one document of its target). A source
whose share needs more than its ``max_epochs`` is an error naming it and the shortfall; more than 4
epochs is a warning (Muennighoff et al. 2023: repeated data loses value past about four).

The mixture is written like a curate run (``shards/``, ``manifest.json``, ``tokenizer/``, a dataset
card), so ``curate train``, the Megatron-LM and nanoGPT exports and every reader take it as is;
``mixture.json`` says, per source, tokens requested, available and achieved, the share achieved and
the epochs. Sources are interleaved as they are written: each next block of documents comes from the
source furthest behind its share, so every stretch of the mixture holds every source in proportion.
All sources must have been counted with the same tokenizer.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, ValidationError, model_validator

from curation.budget import CHINCHILLA_TOKENS_PER_PARAM, format_count, parse_count
from curation.config import StrictModel, validation_message
from curation.errors import CurationError
from curation.io.files import read_json, write_json, write_text
from curation.io import output as owned
from curation.io.parquet import RollingParquetWriter
from curation.pipeline.plan import OUTPUT_FILES

log = logging.getLogger(__name__)

MANY_EPOCHS = 4  # Muennighoff et al. 2023, "Scaling Data-Constrained Language Models"
BLOCK_DOCS = 256  # documents per interleaving step
MIXTURE_VERSION = 1


class SourceSpec(StrictModel):
    path: str = Field(description="A curate run's output folder, or a glob of its shards (relative to the working "
                                  "directory).")
    share: float = Field(gt=0, le=1, description="Share of the mixture's tokens.")
    max_epochs: float = Field(4.0, gt=0, description="Most passes over the source (Muennighoff et al. 2023: ~4).")


class Recipe(StrictModel):
    """A mixture: sources by name; the total in tokens, or a model size to take Chinchilla's total for."""

    sources: dict[str, SourceSpec]
    total_tokens: int | None = Field(None, gt=0)
    params: str | None = Field(None, description="Model size, e.g. 1.3B: total = 20 tokens per parameter.")
    seed: int = 0

    @model_validator(mode="after")
    def _shares(self) -> Recipe:
        if not self.sources:
            raise ValueError("a recipe needs at least one source")
        total = sum(s.share for s in self.sources.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"the sources' shares add up to {total:g}, not 1")
        return self


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    import tomllib

    import yaml

    path = Path(path)
    if not path.is_file():
        raise CurationError(f"recipe not found: {path}")
    data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else yaml.safe_load(path.read_text()) or {}
    data |= overrides or {}
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise CurationError(f"invalid recipe {path}: {validation_message(exc)}") from None


@dataclass(frozen=True)
class SourcePlan:
    name: str
    shards: tuple[Path, ...]  # in the order they are read
    heldout: tuple[Path, ...]  # the held-out shards of the source's runs: validation, never mixed in
    manifest: dict[str, Any]  # the manifest of the (first) run the shards belong to: tokenizer, format
    tokenizer_dir: Path
    share: float
    max_epochs: float
    requested: int  # tokens
    available: int

    @property
    def epochs(self) -> float:
        return self.requested / self.available

    @property
    def whole_epochs(self) -> int:
        return int(self.requested // self.available)

    @property
    def fraction_tokens(self) -> int:
        return self.requested - self.whole_epochs * self.available


def total_tokens(recipe: Recipe) -> int:
    if recipe.total_tokens is not None:
        return recipe.total_tokens
    if recipe.params is not None:
        return round(parse_count(recipe.params) * CHINCHILLA_TOKENS_PER_PARAM)
    raise CurationError("give the mixture's size: total_tokens, or params (a model size: 20 tokens per parameter)")


def _run_manifest(root: Path, name: str) -> dict[str, Any]:
    try:
        return read_json(root / "manifest.json")
    except (OSError, ValueError):
        raise CurationError(f"source {name}: {root} is not a curate run (no readable manifest.json)") from None


def _heldout_shards(root: Path, manifest: dict[str, Any]) -> list[Path]:
    return [root / s["path"] for s in (manifest.get("heldout") or {}).get("shards", [])]


def resolve_source(name: str, path: str, base: Path = Path(".")
                   ) -> tuple[list[Path], int, dict[str, Any], Path, list[Path]]:
    """A source's shards, their tokens, its run's manifest and tokenizer folder, and the held-out
    shards of its runs.

    ``path`` is a run's folder, or a glob of shards of one or more runs
    (``runs/web/shards/shard-0000[0-4].parquet``, ``runs/*/shards/*.parquet``): each shard must be
    listed in the manifest of the run that holds it, which gives its tokens and its tokenizer.
    """
    full = path if Path(path).is_absolute() else str(base / path)
    if not glob.has_magic(full) and not full.endswith(".parquet"):
        root = Path(full)
        manifest = _run_manifest(root, name)
        return ([root / s["path"] for s in manifest["shards"]], int(manifest["total_tokens"]), manifest,
                root / "tokenizer", _heldout_shards(root, manifest))
    files = sorted(Path(f) for f in glob.glob(full))
    if not files:
        raise CurationError(f"source {name}: no file matches {path}")
    runs: dict[Path, dict[str, Any]] = {}
    tokens = 0
    for f in files:
        root = f.parent.parent
        manifest = runs.get(root) or runs.setdefault(root, _run_manifest(root, name))
        listed = {s["path"]: s for s in manifest["shards"]}
        entry = listed.get(f.relative_to(root).as_posix())
        if entry is None or f.parent.name != "shards":
            raise CurationError(f"source {name}: {f} is not a shard listed in the manifest of {root}")
        tokens += int(entry["tokens"])
    if len({m["tokenizer"]["sha256"] for m in runs.values()}) > 1:
        raise CurationError(f"source {name}: its shards were counted with different tokenizers")
    first = next(iter(runs))
    return files, tokens, runs[first], first / "tokenizer", [p for r, m in runs.items() for p in _heldout_shards(r, m)]


def plan_mixture(recipe: Recipe, base: Path = Path(".")) -> tuple[int, list[SourcePlan], list[str]]:
    """The total, each source's plan, and warnings; errors when a source cannot fill its share."""
    total = total_tokens(recipe)
    plans, warnings, tokenizers = [], [], {}
    for name, spec in recipe.sources.items():
        shards, available, manifest, tokenizer_dir, heldout = resolve_source(name, spec.path, base)
        tokenizers[name] = manifest["tokenizer"]["sha256"]
        plan = SourcePlan(name, tuple(shards), tuple(heldout), manifest, tokenizer_dir, spec.share, spec.max_epochs,
                          round(total * spec.share), available)
        if plan.available == 0:
            raise CurationError(f"source {name} has no tokens")
        if plan.epochs > spec.max_epochs + 1e-12:
            most = int(plan.available * spec.max_epochs)
            raise CurationError(
                f"source {name} cannot fill its share: {format_count(plan.requested)} tokens requested "
                f"({spec.share:.1%} of {format_count(total)}), {format_count(plan.available)} available x at most "
                f"{spec.max_epochs:g} epochs = {format_count(most)}: short by {format_count(plan.requested - most)}; "
                "lower its share or the total, or allow more epochs")
        if plan.epochs > MANY_EPOCHS:
            warnings.append(f"source {name} is repeated {plan.epochs:.2f} times: past about {MANY_EPOCHS} epochs "
                            "repeated tokens are worth much less than new ones (Muennighoff et al. 2023)")
        plans.append(plan)
    if len(set(tokenizers.values())) > 1:
        raise CurationError(f"the sources were counted with different tokenizers ({tokenizers}): run them with the "
                            "same --tokenizer so their token counts and ids mean the same thing")
    return total, plans, warnings


def _order_key(seed: int, doc_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{doc_id}".encode(), digest_size=8).digest()


def fraction_selection(plan: SourcePlan, seed: int) -> set[str]:
    """The ids of the partial epoch: in ``(seed, id)`` hash order until its tokens are reached."""
    if plan.fraction_tokens == 0:
        return set()
    ids, counts = [], []
    for shard in plan.shards:
        table = pq.read_table(shard, columns=["id", "token_count"])
        ids += table.column("id").to_pylist()
        counts += table.column("token_count").to_pylist()
    order = sorted(range(len(ids)), key=lambda i: _order_key(seed, ids[i]))
    cumulative = np.cumsum(np.array(counts, np.int64)[order])
    # The smallest prefix whose tokens reach the fraction's (overshoot at most one document).
    take = int(np.searchsorted(cumulative, plan.fraction_tokens)) + 1
    return {ids[i] for i in order[:take]}


def _source_blocks(plan: SourcePlan, selected: set[str], columns: list[str]) -> Iterator[pa.Table]:
    """The source's documents for the mixture, ``BLOCK_DOCS`` at a time: whole epochs, then the fraction."""
    for epoch in range(plan.whole_epochs + (1 if selected else 0)):
        partial = epoch == plan.whole_epochs
        for shard in plan.shards:
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=BLOCK_DOCS, columns=columns):
                table = pa.Table.from_batches([batch])
                if partial:
                    keep = pa.array([i in selected for i in table.column("id").to_pylist()])
                    table = table.filter(keep)
                if table.num_rows:
                    yield table.append_column("mixture_source", pa.array([plan.name] * table.num_rows))


def write_mixture(recipe: Recipe, output: Path, base: Path = Path(".")) -> dict[str, Any]:
    """Plan and write the mixture into ``output`` (claimed and locked by the caller); return mixture.json."""
    from curation.pipeline.card import write_card

    total, plans, warnings = plan_mixture(recipe, base)
    for w in warnings:
        log.warning(w)
    # Columns every source has: the shards' base columns and the attributes they share.
    schemas = [pq.read_schema(p.shards[0]) for p in plans]
    columns = [f.name for f in schemas[0] if all(f.name in s.names and s.field(f.name).type == f.type
                                                 for s in schemas)]
    schema = pa.schema([schemas[0].field(c) for c in columns] + [("mixture_source", pa.string())])
    streams = {p.name: _source_blocks(p, fraction_selection(p, recipe.seed), columns) for p in plans}
    written = {p.name: 0 for p in plans}
    documents = {p.name: 0 for p in plans}
    # Only the files a run names: anything else a user put in the folder stays (curate run's rule).
    for sub in ("shards", "heldout", "tokenizer"):
        owned.remove_files(output / sub, OUTPUT_FILES[sub])
    writer = RollingParquetWriter(output / "shards", "shard", schema, target_bytes=256 << 20)
    active = {p.name: p for p in plans}
    while active:
        # The source furthest behind its share writes next: every stretch holds every source in proportion.
        name = min(active, key=lambda n: (written[n] / active[n].requested, n))
        block = next(streams[name], None)
        if block is None:
            del active[name]
            continue
        counts = block.column("token_count").to_numpy()
        text_bytes = pc.binary_length(block.column("text")).to_numpy()
        writer.write(block.select(schema.names), int(text_bytes.sum()), int(counts.sum()))
        written[name] += int(counts.sum())
        documents[name] += block.num_rows
    shards = writer.close()
    heldout = _write_heldout(plans, output, schema)
    (output / "tokenizer").mkdir(exist_ok=True)
    for name in OUTPUT_FILES["tokenizer"]:
        if (plans[0].tokenizer_dir / name).is_file():
            shutil.copyfile(plans[0].tokenizer_dir / name, output / "tokenizer" / name)
    achieved = sum(written.values())
    mixture = {
        "format_version": MIXTURE_VERSION,
        "total_requested": total,
        "total_achieved": achieved,
        "seed": recipe.seed,
        "params": recipe.params,
        "sources": [{
            "name": p.name, "path": recipe.sources[p.name].path, "shards": len(p.shards), "share": p.share,
            "max_epochs": p.max_epochs,
            "requested_tokens": p.requested, "available_tokens": p.available, "achieved_tokens": written[p.name],
            "achieved_share": round(written[p.name] / achieved, 6), "epochs": round(p.epochs, 6),
            "whole_epochs": p.whole_epochs, "documents": documents[p.name],
        } for p in plans],
        "warnings": warnings,
    }
    tok = plans[0].manifest["tokenizer"]

    def listing(files: list[Any]) -> list[dict[str, Any]]:
        return [{"path": s.path.relative_to(output).as_posix(), "rows": s.rows, "tokens": s.tokens,
                 "text_bytes": s.text_bytes, "bytes": s.file_bytes, "sha256": s.sha256} for s in files]

    manifest = {
        "format_version": plans[0].manifest.get("format_version", 2),
        "shards": listing(shards),
        "total_documents": sum(s.rows for s in shards),
        "total_tokens": sum(s.tokens for s in shards),
        "total_text_bytes": sum(s.text_bytes for s in shards),
        "heldout": {"rule": "the held-out splits of the sources' runs, each once", "shards": listing(heldout),
                    "total_documents": sum(s.rows for s in heldout), "total_tokens": sum(s.tokens for s in heldout),
                    "total_text_bytes": sum(s.text_bytes for s in heldout)},
        "tokenizer": tok,
        "token_count": plans[0].manifest.get("token_count"),
        "config_sha256": hashlib.sha256(json.dumps(recipe.model_dump(mode="json"), sort_keys=True).encode()
                                        ).hexdigest(),
        "mixture": "mixture.json",
    }
    write_json(output / "mixture.json", mixture)
    write_report(output, mixture)
    write_card(output, manifest, {"quarantined": {}}, [], schema)
    write_json(output / "manifest.json", manifest)  # last, as for a run
    return mixture


def _write_heldout(plans: list[SourcePlan], output: Path, schema: pa.Schema) -> list[Any]:
    """The sources' held-out splits, each run's once, in ``heldout/``: what training on the mixture
    validates on. Never part of the mixture's shards."""
    writer = RollingParquetWriter(output / "heldout", "shard", schema, target_bytes=256 << 20)
    seen: set[Path] = set()
    for plan in plans:
        for path in plan.heldout:
            if path in seen:
                continue
            seen.add(path)
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BLOCK_DOCS,
                                                           columns=[c for c in schema.names if c != "mixture_source"]):
                table = pa.Table.from_batches([batch])
                table = table.append_column("mixture_source", pa.array([plan.name] * table.num_rows, pa.string()))
                writer.write(table.select(schema.names), int(pc.binary_length(table.column("text")).to_numpy().sum()),
                             int(table.column("token_count").to_numpy().sum()))
    return writer.close()


def render_markdown(mixture: dict[str, Any], plot: str | None) -> str:
    lines = ["# Mixture", "",
             f"{mixture['total_achieved']:,} tokens ({mixture['total_requested']:,} requested"
             + (f", the compute-optimal total for {mixture['params']} parameters" if mixture["params"] else "")
             + f"); seed {mixture['seed']}.", "",
             "| source | share | achieved share | tokens requested | tokens achieved | available | epochs | "
             "documents |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in mixture["sources"]:
        lines.append(f"| {s['name']} | {s['share']:.2%} | {s['achieved_share']:.3%} | {s['requested_tokens']:,} | "
                     f"{s['achieved_tokens']:,} | {s['available_tokens']:,} | {s['epochs']:.3f} | {s['documents']:,} |")
    lines += [f"\n- warning: {w}" for w in mixture["warnings"]]
    if plot:
        lines += ["", "## Tokens by source", "", f"![Tokens by source]({plot})"]
    return "\n".join(lines) + "\n"


def write_report(output: Path, mixture: dict[str, Any]) -> None:
    """``report.md`` (plot in ``report/``) and a self-contained ``report.html``."""
    import base64

    from curation.report import html_page, png

    names = [s["name"] for s in mixture["sources"]]

    def bars(ax: Any) -> None:
        x = np.arange(len(names))
        ax.bar(x - 0.2, [s["requested_tokens"] for s in mixture["sources"]], 0.4, label="requested", color="#4878a8")
        ax.bar(x + 0.2, [s["achieved_tokens"] for s in mixture["sources"]], 0.4, label="achieved", color="#58a858")
        ax.set_xticks(x, names)
        ax.set_ylabel("tokens")
        ax.legend()

    image = png(bars)
    (output / "report").mkdir(exist_ok=True)
    (output / "report" / "mixture.png").write_bytes(image)
    write_text(output / "report.md", render_markdown(mixture, "report/mixture.png"))
    inline = "data:image/png;base64," + base64.b64encode(image).decode()
    write_text(output / "report.html", html_page(render_markdown(mixture, inline)))
