"""The output folder as a dataset: ``DIR/README.md``, a Hugging Face dataset card.

Its YAML header points the ``default`` config at ``shards/*.parquet`` (so ``load_dataset("out/")``
reads the shards, never ``removed/`` or ``quarantine/``), lists the shards' features and the row
count, and says what it cannot know (licence, provenance) with placeholders the user fills in. The
card is written with ``huggingface_hub``'s own ``DatasetCard``; the features are the shard schema's
Arrow types in the card's ``dtype`` names (tests load the folder with ``datasets`` to check them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from curation.summary import StageStats

# datasets' size_categories buckets, by number of rows.
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (10**12, "100B<n<1T")]
COLUMNS = {
    "id": "the input record's id, or `<path>:<line>` when it had none",
    "text": "the curated text (PII replaced by typed placeholders such as `<EMAIL>`)",
    "source": "the input's source field, or the input file's name",
    "token_count": "exact token count with `tokenizer/tokenizer.json` (no special tokens added)",
    "lang": "language (CLD2)", "lang_score": "share of the text in that language",
    "quality_score": "the quality classifier's P(high quality)",
    "pii_counts": "spans redacted per PII entity",
}


def size_category(rows: int) -> str:
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>1T")


def features(schema: pa.Schema) -> list[dict[str, Any]]:
    """The card's ``dataset_info.features`` for an Arrow schema (the types shards use)."""
    return [{"name": f.name, **_dtype(f.type)} for f in schema]


def _dtype(t: pa.DataType) -> dict[str, Any]:
    if pa.types.is_struct(t):
        return {"struct": [{"name": t.field(i).name, **_dtype(t.field(i).type)} for i in range(t.num_fields)]}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return {"list": _dtype(t.value_type)}
    names = {pa.string(): "string", pa.large_string(): "large_string", pa.bool_(): "bool", pa.int32(): "int32",
             pa.int64(): "int64", pa.float32(): "float32", pa.float64(): "float64"}
    if t not in names:
        raise ValueError(f"no dataset card dtype for the Arrow type {t}")
    return {"dtype": names[t]}


def render_card(manifest: dict[str, Any], summary: dict[str, Any], stats: list[StageStats], schema: pa.Schema
                ) -> str:
    """The dataset card's text."""
    from huggingface_hub import DatasetCard, DatasetCardData

    rows = manifest["total_documents"]
    heldout = manifest.get("heldout") or {"total_documents": 0}
    files = [{"split": "train", "path": "shards/*.parquet"}]
    splits = [{"name": "train", "num_bytes": manifest["total_text_bytes"], "num_examples": rows}]
    if heldout["total_documents"]:
        files.append({"split": "validation", "path": "heldout/*.parquet"})
        splits.append({"name": "validation", "num_bytes": heldout["total_text_bytes"],
                       "num_examples": heldout["total_documents"]})
    data = DatasetCardData(
        license="unknown",  # the sources' licences decide it: see the card's own section
        size_categories=[size_category(rows + heldout["total_documents"])],
        pretty_name="Curated corpus",
        tags=["curation", "pretraining"],
        configs=[{"config_name": "default", "data_files": files}],
        dataset_info={"features": features(schema), "splits": splits},
    )
    tok = manifest["tokenizer"]
    lines = [
        "# Curated corpus", "",
        f"{rows:,} documents and {manifest['total_tokens']:,} tokens in {len(manifest['shards'])} Parquet shards, "
        "written by `curate run` (quality filtering, exact and near dedup, PII redaction).", "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/to/this/folder", split="train")  # the shards only; streaming=True works too',
        "```", "",
        f"The `validation` split (`heldout/`, {heldout['total_documents']:,} documents) is held out by id hash "
        "after deduplication: never trained on, by the tokenizer either.", "",
        "## Licence and provenance", "",
        "**To fill in before sharing.** This card was written by a program that cannot know where the input "
        "came from or under which terms: name the sources, their licences and any terms of use, and replace "
        "`license: unknown` above with the licence that results (or `other` and a link).", "",
        "## Fields", "",
        "| column | type | meaning |", "|---|---|---|",
    ]
    lines += [f"| `{f.name}` | {f.type} | {COLUMNS.get(f.name, 'a stage attribute or kept input field')} |"
              for f in schema]
    lines += ["", "## How it was made", "",
              "| stage | documents in | documents out | dropped |", "|---|---:|---:|---:|"]
    lines += [f"| {s.stage} | {s.docs_in:,} | {s.docs_out:,} | {s.docs_in - s.docs_out:,} |" for s in stats]
    lines += ["",
              f"Quarantined input records: {sum(summary['quarantined'].values()):,}; dropped documents and quarantined "
              "records are listed with their reasons in `removed/` and `quarantine/` (not part of the dataset).", "",
              f"- Tokenizer: `{tok['path']}` (byte-level BPE, vocabulary {tok['vocab_size']:,}, "
              f"end of text `{tok['eos_token']}`, sha256 `{tok['sha256'][:16]}…`); `token_count` is exact.",
              f"- Configuration: sha256 `{manifest['config_sha256'][:16]}…` (the full one is in `config.json`).",
              "- Per-shard rows, tokens and sha256: `manifest.json`. The run's report: `report.html`.", ""]
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def write_card(out: Path, manifest: dict[str, Any], summary: dict[str, Any], stats: list[StageStats],
               schema: pa.Schema) -> None:
    from curation.io.files import write_text

    write_text(out / "README.md", render_card(manifest, summary, stats, schema))
