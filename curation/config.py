"""Typed pipeline configuration with cited defaults.

Python objects are the source of truth; a YAML or TOML file only overrides fields (parsed here,
at the edge). The effective config is written to ``DIR/config.json`` and hashed into the
manifest, so two runs can be compared by one string.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curation.errors import CurationError

MiB = 1 << 20


class StrictModel(BaseModel):
    # A misspelt key in a user's file must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid")


class InputConfig(StrictModel):
    """How raw records become documents."""

    text_field: str = "text"
    id_field: str = "id"
    source_field: str = Field("source", description="Record field naming the origin; else the file name.")
    keep_fields: list[str] = Field(
        default_factory=list, description="Record fields copied into shard columns as strings."
    )
    batch_size: int = Field(1000, gt=0, description="Documents per batch handed to stages.")
    partition_bytes: int = Field(
        32 * MiB,
        gt=0,
        description=(
            "Input bytes per pass-1 task, at most: the unit of parallelism and of resuming (a larger "
            "plain JSONL file is cut into equal ranges, as many as the power of two at or above "
            "ceil(size / partition_bytes), so that 2, 4, 8... workers get equal shares). Prefect costs "
            "~0.1-0.3 s of a worker per task here (bench/orchestration.py), so a task should hold "
            "seconds of work: 32 MiB is ~2 s of filtering per core. DataTrove's tasks are one input "
            "file each."
        ),
    )
    max_document_bytes: int = Field(
        8 * MiB,
        gt=0,
        description=(
            "Larger documents are quarantined as 'too_large'. Gopher keeps at most 100,000 words "
            "(about 0.6 MB), so anything this big would be dropped later anyway; quarantining it "
            "at the reader keeps it out of memory-heavy stages."
        ),
    )


class StageSpec(StrictModel):
    """One entry of the stage chain: a registered name (or ``module:Class``) and its arguments."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # Accept "length", {"length": {...}} and {"name": "length", "params": {...}}.
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and "name" not in value and len(value) == 1:
            (name, params), = value.items()
            return {"name": name, "params": params or {}}
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # The JSON schema (what a Prefect deployment checks its parameters against) must accept the
        # shorthands too, or `--params '{"config": {"stages": ["length"]}}'` is refused before the run.
        full = handler(core_schema)
        return {"anyOf": [{"type": "string", "description": "a stage name, e.g. length"},
                          {"type": "object", "description": "{name: params}, e.g. {length: {min_words: 20}}",
                           "minProperties": 1, "maxProperties": 1}, full]}


class TokenizerConfig(StrictModel):
    """Byte-level BPE training (HF tokenizers) and exact token counting."""

    path: str | None = Field(None, description="Reuse this tokenizer.json instead of training one.")
    vocab_size: int = Field(32_000, ge=300, description="32k: Llama 1/2 (Touvron et al. 2023).")
    min_frequency: int = Field(2, ge=1, description="Pairs seen fewer times are not merged (GPT-2 practice).")
    special_tokens: list[str] = Field(
        default_factory=lambda: ["<|endoftext|>"], description="First is the EOS separator (GPT-2's)."
    )
    train_sample_bytes: int = Field(
        20 * MiB,
        gt=0,
        description=(
            "Train on a deterministic id-hash sample of at most this much curated text. BPE training "
            "runs at ~5 MB/s per core here (ANCHORS.md), on the run's critical path, so the sample bounds "
            "it. Measured by bench/tokenizer_sample.py on the bench corpus's 130 MB of curated text (32k "
            "vocab), held-out bytes/token against training on all of it (23.2 s): 16 MiB -0.64 % (2.7 s), "
            "20 MiB -0.39 % (3.8 s), 24 MiB -0.34 % (4.6 s), 32 MiB -0.25 % (5.8 s): 20 MiB is the "
            "smallest within issue 17's 0.5 %."
        ),
    )
    holdout_fraction: float = Field(
        0.01, ge=0, lt=0.5, description="Share of documents (by id hash) held back to report bytes per token."
    )
    counter: Literal["auto", "fastokens", "hf"] = Field(
        "auto",
        description=(
            "Token counter. 'auto' uses fastokens after checking it reproduces HF's ids on a probe "
            "set, else HF tokenizers with a warning."
        ),
    )


class ShardConfig(StrictModel):
    """Output Parquet shards."""

    target_bytes: int = Field(256 * MiB, gt=0, description="Close a shard once its text reaches this size.")
    target_tokens: int | None = Field(None, gt=0, description="Or once it holds this many tokens.")
    row_group_bytes: int = Field(
        32 * MiB, gt=0, description="Text per row group: small enough for streaming readers to buffer one."
    )
    compression: str = "zstd"
    compression_level: int = Field(3, description="zstd's default level: fast, ~3x on prose.")
    heldout_fraction: float = Field(
        0.005, ge=0, lt=0.5,
        description="Share of documents (by id hash, after dedup) written to heldout/ instead of shards/: the "
                    "validation split, never trained on and never in a mixture. 0.5%: ~1M tokens per 200M, "
                    "nanoGPT's eval size (200 x 12 x 1024 tokens) at about 500M.")


TextPolicy = Literal["redacted", "raw", "none"]


class OutputConfig(StrictModel):
    """What the run writes beside the shards. Only the shards are meant to carry text: elsewhere it
    is redacted with the chain's ``pii`` settings (its defaults when the chain has none) unless a
    user asks for raw text by name."""

    removed_text: TextPolicy = Field(
        "redacted",
        description=(
            "Text of dropped documents in removed/: 'redacted' (reviewable, and the removed copy of a "
            "kept document cannot give back what the shards redact), 'raw' (as read: holds PII), "
            "'none' (ids and reasons only; tokens_dropped is then not counted)."
        ),
    )
    quarantine_text: TextPolicy = Field(
        "redacted", description="raw_preview and detail of quarantine/ rows: 'redacted', 'raw' or 'none'."
    )
    intermediate_compression: Literal["none", "zstd"] = Field(
        "none",
        description=(
            "Parquet codec of the run's own intermediates, staging/ and curated/ (removed after success "
            "unless --keep-intermediate; the shards, removed/ and quarantine/ keep theirs). Each is written "
            "once and read up to four times: 'none' spends ~2.5-3 CPU-s less than zstd level 1 on a run "
            "over the 209 MB bench corpus (~5 % of it; bench/README.md, issue 17), for ~3.3x the disk: the "
            "two hold ~1.5x the input's size at the peak instead of ~0.45x. 'zstd' (level 1) where scratch "
            "disk, not CPU, is short."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "keep_removed_text" in data:
            raise ValueError("keep_removed_text was replaced by removed_text: 'redacted' (default), 'raw' or 'none'")
        return data


# The quality part of a chain, by preset. "default" keeps >= 90% of real human-written text (technical
# text with code and tables included) and removes >= 95% of junk on sample_data
# (bench/quality_calibration.py); the others are the papers' rule sets at the papers' thresholds,
# for users who want them.
DEFAULT_QUALITY: list[dict[str, Any]] = [
    # Gopher's 50-word floor; no 100,000-word ceiling: on real documentation it only removed
    # long changelogs and NEWS files (7% of the bench corpus's text), and the reader already
    # quarantines documents over input.max_document_bytes.
    {"name": "heuristics", "params": {"min_words": 50}},
    {"name": "language", "params": {"languages": ["en"], "min_score": 0.5}},
    {"name": "quality_classifier"},
    {"name": "quality_threshold", "params": {"min_score": 0.5}},
]
QUALITY_PRESETS: dict[str, list[dict[str, Any]]] = {
    "default": DEFAULT_QUALITY,
    "gopher": [{"name": "gopher_quality"}, {"name": "gopher_repetition"}],
    "c4": [{"name": "c4"}],
    # The FineWeb-style chain that DataTrove runs: Gopher repetition + quality, C4 (without its
    # terminal-punctuation line rule, as FineWeb did), FineWeb's rules, English.
    "fineweb": [
        {"name": "language", "params": {"languages": ["en"], "min_score": 0.5}},
        {"name": "gopher_repetition"}, {"name": "gopher_quality"},
        {"name": "c4", "params": {"terminal_punctuation": False, "curly_bracket": False, "min_sentences": None}},
        {"name": "fineweb_quality"},
    ],
    "minimal": [{"name": "length"}],
    # Crawl data (WARC pages): main text out of the HTML, the URL blocklists (RefinedWeb's first
    # filter; after extraction so a dropped page's removed/ row holds text, not markup), then the
    # default chain, its thresholds checked on extracted web pages (bench/README.md, issue 20).
    "web": [{"name": "extract"}, {"name": "url_filter"}, *DEFAULT_QUALITY],
}
# Every preset ends with the corpus-level stages. Decontamination and dedup come after the filters,
# so they see only documents that passed them (dedup keeps the highest-scoring member of each
# cluster); redaction is last, on what will be shipped (the design card's order).
CORPUS_STAGES: list[dict[str, Any]] = [{"name": "decontaminate"}, {"name": "dedup"}, {"name": "pii"}]
PRESETS: dict[str, list[dict[str, Any]]] = {name: chain + CORPUS_STAGES for name, chain in QUALITY_PRESETS.items()}


class PipelineConfig(StrictModel):
    """Everything that decides a run's output (the input and output paths are arguments).

    The stage chain is ``preset`` (a quality chain from :data:`QUALITY_PRESETS`, then dedup and PII
    redaction) with ``stage_options`` merged into the named stages' parameters; or, for full
    control, an explicit ``stages`` list (the whole chain: a corpus-level stage left out of it is
    left out of the run, which then says so). ``preset`` and ``stages`` together must name the same
    stages in the same order: ``stages`` then only sets their parameters.
    """

    input: InputConfig = Field(default_factory=InputConfig)
    preset: str | None = Field(
        "default",
        description=f"Quality chain, followed by dedup and pii: {', '.join(QUALITY_PRESETS)}; null when "
                    "'stages' gives the whole chain.",
    )
    stages: list[StageSpec] = Field(default_factory=list)
    stage_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Parameters by stage name, merged into the chain's: {fineweb_quality: {line_punct_thr: 0.1}}.",
    )
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    shards: ShardConfig = Field(default_factory=ShardConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="before")
    @classmethod
    def _expand_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset, stages = data.get("preset", "default" if data.get("stages") is None else None), data.get("stages")
        if preset is not None and preset not in QUALITY_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(QUALITY_PRESETS)}")
        if stages is None:
            if preset is None:
                raise ValueError("give a preset or a stages list")
            stages = PRESETS[preset]
        elif preset is not None:
            named = [StageSpec.model_validate(s).name for s in stages]
            expected = [s["name"] for s in PRESETS[preset]]
            if named != expected:
                raise ValueError(f"preset {preset!r} is the chain {expected} but stages lists {named}: give the "
                                 "preset (and stage_options to change parameters) or the whole chain as stages, "
                                 "not both")
        options = data.get("stage_options") or {}
        specs = [StageSpec.model_validate(s) for s in stages]
        unknown = sorted(set(options) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"stage_options for stages not in the chain: {unknown}; the chain is "
                             f"{[s.name for s in specs]}")
        specs = [StageSpec(name=s.name, params={**s.params, **(options.get(s.name) or {})}) for s in specs]
        return {**data, "preset": preset, "stages": [s.model_dump() for s in specs]}

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[StageSpec]) -> list[StageSpec]:
        names = [s.name for s in stages]
        if len(names) != len(set(names)):
            raise ValueError(f"stage names must be unique, got {names}")
        return stages

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Defaults, then a YAML/TOML file, then explicit overrides (nested dicts, e.g. from the CLI)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise CurationError(f"config file not found: {path}")
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(path.read_text())
            else:
                data = yaml.safe_load(path.read_text()) or {}
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise CurationError(f"cannot parse config {path}: {exc}".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise CurationError(f"config {path} must be a mapping at the top level")
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise CurationError(f"invalid config{' ' + str(path) if path else ''}: {validation_message(exc)}") from None


def run_overrides(text_field: str | None = None, id_field: str | None = None, tokenizer: str | None = None,
                  preset: str | None = None) -> dict[str, Any]:
    """The overrides ``curate run``'s flags put over its config file (:func:`load_config`)."""
    overrides: dict[str, Any] = {}
    fields = {k: v for k, v in (("text_field", text_field), ("id_field", id_field)) if v}
    if fields:
        overrides["input"] = fields
    if tokenizer:
        overrides["tokenizer"] = {"path": tokenizer}
    if preset:
        # The flag replaces a config file's preset and stages; its stage_options still apply.
        overrides["preset"] = preset
        overrides["stages"] = None
    return overrides


def validation_message(exc: ValidationError) -> str:
    """The first error as ``where: what``, without pydantic's "Value error, " prefix."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
