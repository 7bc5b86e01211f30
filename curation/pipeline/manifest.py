"""The manifest: what a downstream trainer reads first. No timestamps and no absolute paths: the
same input and config give the same bytes on every machine."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

from curation.config import PipelineConfig
from curation.io.files import sha256_file
from curation.pipeline.outcomes import FileRecord, TokenizerOutcome
from curation.pipeline.plan import RunPlan
from curation.registry import resolve_stage

# 2: pii_counts is a struct of per-entity int32 counts (was a map<string, int32>), a dataset card
# 3: a held-out split (heldout/), listed under "heldout"; the totals are the training shards'
MANIFEST_VERSION = 3
VERSIONED_PACKAGES = ("curation", "pyarrow", "tokenizers", "fastokens", "numpy")


def build_manifest(plan: RunPlan, shards: tuple[FileRecord, ...], tokenizer: TokenizerOutcome,
                   heldout: tuple[FileRecord, ...] = ()) -> dict[str, Any]:
    """``shards`` and the totals are what training reads; ``heldout`` is the validation split."""
    from pathlib import Path

    def listing(files: tuple[FileRecord, ...]) -> list[dict[str, Any]]:
        return [{"path": Path(s.path).relative_to(plan.output).as_posix(), "rows": s.rows, "tokens": s.tokens,
                 "text_bytes": s.text_bytes, "bytes": s.bytes, "sha256": s.sha256} for s in files]

    return {
        "format_version": MANIFEST_VERSION,
        "shards": listing(shards),
        "total_documents": sum(s.rows for s in shards),
        "total_tokens": sum(s.tokens for s in shards),
        "total_text_bytes": sum(s.text_bytes for s in shards),
        "heldout": {
            "fraction": plan.config.shards.heldout_fraction,
            "rule": "documents whose id hashes below fraction (curation.tokenizer.is_heldout), after every stage",
            "shards": listing(heldout),
            "total_documents": sum(s.rows for s in heldout),
            "total_tokens": sum(s.tokens for s in heldout),
            "total_text_bytes": sum(s.text_bytes for s in heldout),
        },
        "tokenizer": {"path": tokenizer.path, "sha256": tokenizer.sha256, "vocab_size": tokenizer.vocab_size,
                      "eos_token": tokenizer.eos_token}
        | {"special_token_policy": "literal special-token strings in text are encoded as ordinary text"},
        "token_count": "len(tokenizer.encode(text, add_special_tokens=False).ids) with encode_special_tokens=True",
        "config_sha256": config_identity(plan.config),
        "versions": package_versions(),
    }


def config_identity(config: PipelineConfig) -> str:
    """The config's sha256 with every file it names (a stage's model, a given tokenizer) replaced by
    the file's sha256: the same input and config give the same manifest on every machine."""
    data = config.model_dump(mode="json")
    for spec in data["stages"]:
        for param in resolve_stage(spec["name"]).file_params:
            if spec["params"].get(param):
                spec["params"][param] = "sha256:" + sha256_file(spec["params"][param])
    if data["tokenizer"]["path"]:
        data["tokenizer"]["path"] = "sha256:" + sha256_file(data["tokenizer"]["path"])
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
