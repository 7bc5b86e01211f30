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


class _Strict(BaseModel):
    # A misspelt key in a user's file must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
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
            "Input bytes per pass-1 task: the unit of parallelism and of resuming. Prefect costs "
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


class StageSpec(_Strict):
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


class TokenizerConfig(_Strict):
    """Byte-level BPE training (HF tokenizers) and exact token counting."""

    path: str | None = Field(None, description="Reuse this tokenizer.json instead of training one.")
    vocab_size: int = Field(32_000, ge=300, description="32k: Llama 1/2 (Touvron et al. 2023).")
    min_frequency: int = Field(2, ge=1, description="Pairs seen fewer times are not merged (GPT-2 practice).")
    special_tokens: list[str] = Field(
        default_factory=lambda: ["<|endoftext|>"], description="First is the EOS separator (GPT-2's)."
    )
    train_sample_bytes: int = Field(
        64 * MiB,
        gt=0,
        description=(
            "Train on a deterministic id-hash sample of at most this much curated text. BPE training "
            "runs at ~6-10 MB/s here (ANCHORS.md) on one task, so the sample bounds it. Measured on "
            "the bench corpus's 196 MB of distinct text (32k vocab): 64 MiB trains in 7.4 s against "
            "18.5 s for all of it, and its held-out bytes/token is 4.317 against 4.327 (96 MiB: "
            "4.319), i.e. no loss: beyond tens of MB a larger sample mostly adds repeated boilerplate."
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


class ShardConfig(_Strict):
    """Output Parquet shards."""

    target_bytes: int = Field(256 * MiB, gt=0, description="Close a shard once its text reaches this size.")
    target_tokens: int | None = Field(None, gt=0, description="Or once it holds this many tokens.")
    row_group_bytes: int = Field(
        32 * MiB, gt=0, description="Text per row group: small enough for streaming readers to buffer one."
    )
    compression: str = "zstd"
    compression_level: int = Field(3, description="zstd's default level: fast, ~3x on prose.")


class OutputConfig(_Strict):
    keep_removed_text: bool = Field(True, description="Keep dropped documents' text in removed/ for review.")


# Named stage chains. "default" (quality filtering, dedup, PII redaction) keeps >= 90% of real human-written text (technical text with code
# and tables included) and removes >= 95% of junk on sample_data (bench/quality_calibration.py);
# the others are the papers' rule sets at the papers' thresholds, for users who want them.
PRESETS: dict[str, list[dict[str, Any]]] = {
    "default": [
        # Gopher's 50-word floor; no 100,000-word ceiling: on real documentation it only removed
        # long changelogs and NEWS files (7% of the bench corpus's text), and the reader already
        # quarantines documents over input.max_document_bytes.
        {"name": "heuristics", "params": {"min_words": 50}},
        {"name": "language", "params": {"languages": ["en"], "min_score": 0.5}},
        {"name": "quality_classifier"},
        {"name": "quality_threshold", "params": {"min_score": 0.5}},
        # Corpus-level, so it sees only documents that passed the filters, and keeps the
        # highest-scoring member of each cluster.
        {"name": "dedup"},
        # Redaction last, on what will be shipped (the design card's order). Dropped documents keep
        # their raw text in removed/ unless output.keep_removed_text is false.
        {"name": "pii"},
    ],
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
}


class PipelineConfig(_Strict):
    """Everything that decides a run's output (the input and output paths are arguments).

    ``preset`` names a stage chain from :data:`PRESETS`; an explicit ``stages`` list wins over it.
    """

    input: InputConfig = Field(default_factory=InputConfig)
    preset: str = Field("default", description=f"Stage chain used when 'stages' is not given: {sorted(PRESETS)}.")
    stages: list[StageSpec] = Field(default_factory=list)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    shards: ShardConfig = Field(default_factory=ShardConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="before")
    @classmethod
    def _expand_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("stages") is None:
            preset = data.get("preset", "default")
            if preset not in PRESETS:
                raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
            data = {**data, "stages": PRESETS[preset]}
        return data

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
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CurationError(f"invalid config: {where}: {first['msg']}") from None
