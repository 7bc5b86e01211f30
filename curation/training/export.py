"""Hand-off formats: a run's documents as packed token files other trainers read as they are.

Both hold every document in manifest order, each followed by the EOS id (what Megatron-LM's
``preprocess_data.py --append-eod`` and nanoGPT's ``prepare.py`` write), tokenized exactly as the
run counted: ``total_tokens + total_documents`` ids in all.

**Megatron-LM indexed dataset** (``PREFIX.bin`` + ``PREFIX.idx``, "MMIDIDX"), as described in
Megatron-LM's ``megatron/core/datasets/indexed_dataset.py``. ``.bin`` is the ids back to back.
``.idx`` is, little-endian:

- the magic ``b"MMIDIDX\\x00\\x00"`` (9 bytes), version ``1`` (uint64), the token dtype code (uint8:
  1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16);
- the sequence count S and the document-index count (uint64 each);
- S sequence lengths (int32), S byte offsets of the sequences in ``.bin`` (int64), and the
  document indices (int64): sequence numbers where documents start, 0 first and S last.

Here one document is one sequence, so the document indices are ``0, 1, ..., S``. Token dtype:
uint16 when the vocabulary has fewer than 65,500 ids, else int32 (Megatron's ``optimal_dtype``).
Train on it with ``--data-path PREFIX``.

**nanoGPT memmap** (``DIR/train.bin``, ``DIR/val.bin``, ``DIR/meta.json``): the ids as a flat array
with no header, uint16 when every id fits (vocabulary <= 65,536; GPT-2's is 50,257), else uint32;
read with ``np.memmap(path, dtype, mode="r")``. ``val.bin`` gets the documents whose id hashes below
``val_fraction`` (the tokenizer's held-out hash, so they are text the BPE never trained on); as
nanoGPT cannot read an empty file, when none does the document with the lowest hash goes there (and
the highest-hash one stays in ``train.bin`` when all do), so a run needs at least 2 documents.

Files are written under ``.tmp`` names and renamed when complete.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.tokenizer import hash_unit
from curation.training.data import Encoder, RunData, iter_documents

MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_VERSION = 1
MEGATRON_DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
                        np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7,
                        np.dtype(np.uint16): 8}
# nanoGPT's openwebtext/prepare.py holds out 0.05% of documents for validation (test_size=0.0005).
NANOGPT_VAL_FRACTION = 0.0005
FORMATS = ("megatron", "nanogpt")


def megatron_dtype(vocab_size: int) -> np.dtype:
    """Megatron's ``DType.optimal_dtype``: uint16 below 65,500 ids, else int32."""
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def nanogpt_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def export_megatron(run: RunData, prefix: str | Path, encoder: Encoder | None = None) -> dict[str, Any]:
    """Write ``PREFIX.bin`` and ``PREFIX.idx``; returns what was written."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    dtype = megatron_dtype(run.vocab_size)
    bin_path, idx_path = prefix.with_name(prefix.name + ".bin"), prefix.with_name(prefix.name + ".idx")
    lengths = []
    with open(bin_path.with_name(bin_path.name + ".tmp"), "wb") as data:
        for ids, doc_lengths in iter_documents(run, encoder):
            data.write(ids.astype(dtype).tobytes())
            lengths.append(doc_lengths)
    sequence_lengths = np.concatenate(lengths).astype(np.int32) if lengths else np.zeros(0, np.int32)
    pointers = np.concatenate([[0], np.cumsum(sequence_lengths.astype(np.int64) * dtype.itemsize)[:-1]])
    document_indices = np.arange(len(sequence_lengths) + 1, dtype=np.int64)
    with open(idx_path.with_name(idx_path.name + ".tmp"), "wb") as index:
        index.write(MEGATRON_MAGIC)
        index.write(struct.pack("<Q", MEGATRON_VERSION))
        index.write(struct.pack("<B", MEGATRON_DTYPE_CODES[dtype]))
        index.write(struct.pack("<Q", len(sequence_lengths)))
        index.write(struct.pack("<Q", len(document_indices)))
        index.write(sequence_lengths.astype("<i4").tobytes())
        index.write(pointers.astype("<i8").tobytes())
        index.write(document_indices.astype("<i8").tobytes())
    bin_path.with_name(bin_path.name + ".tmp").replace(bin_path)
    idx_path.with_name(idx_path.name + ".tmp").replace(idx_path)  # last: a complete .idx means a complete pair
    return {"format": "megatron", "bin": str(bin_path), "idx": str(idx_path), "dtype": dtype.name,
            "documents": len(sequence_lengths), "tokens": int(sequence_lengths.sum())}


def _doc_ids(run: RunData) -> Iterator[list[str]]:
    """Each shard's document ids, in manifest order."""
    for shard in run.shards:
        yield pq.read_table(shard, columns=["id"]).column("id").to_pylist()


def val_split(run: RunData, val_fraction: float) -> tuple[np.ndarray, str | None]:
    """Which documents (manifest order) go to ``val.bin``, and what was changed to make neither
    split empty (``None``: nothing). One byte per document in memory."""
    masks, lowest, highest, n = [], (2.0, -1), (-1.0, -1), 0
    for ids in _doc_ids(run):
        hashes = np.fromiter(map(hash_unit, ids), np.float64, len(ids))
        masks.append(hashes < val_fraction)
        if len(ids):
            lowest = min(lowest, (float(hashes.min()), n + int(hashes.argmin())))
            highest = max(highest, (float(hashes.max()), n + int(hashes.argmax())))
        n += len(ids)
    if n < 2:
        raise CurationError(f"{run.root} has {n} document(s): nanoGPT's train.bin and val.bin each need at "
                            "least one, so the export needs 2 or more")
    is_val = np.concatenate(masks)
    if not is_val.any():  # deterministic: the lowest hash is the one closest to the fraction
        is_val[lowest[1]] = True
        return is_val, "no document hashed below val_fraction: the lowest-hash one is in val.bin"
    if is_val.all():
        is_val[highest[1]] = False
        return is_val, "every document hashed below val_fraction: the highest-hash one is in train.bin"
    return is_val, None


def export_nanogpt(run: RunData, directory: str | Path, val_fraction: float = NANOGPT_VAL_FRACTION,
                   encoder: Encoder | None = None) -> dict[str, Any]:
    """Write ``DIR/train.bin``, ``DIR/val.bin`` and ``DIR/meta.json``; returns ``meta.json``'s content.
    Neither file is empty (at least one document each; ``CurationError`` for a run of fewer than 2)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    directory = Path(directory)
    dtype = nanogpt_dtype(run.vocab_size)
    is_val, adjusted = val_split(run, val_fraction)
    directory.mkdir(parents=True, exist_ok=True)
    done = 0
    counts = {"train": [0, 0], "val": [0, 0]}  # documents, tokens
    files: dict[str, BinaryIO] = {split: open(directory / f"{split}.bin.tmp", "wb") for split in counts}
    try:
        for ids, doc_lengths in iter_documents(run, encoder):
            val = is_val[done:done + len(doc_lengths)]
            done += len(doc_lengths)
            per_token = np.repeat(val, doc_lengths)
            for split, mask in (("train", ~per_token), ("val", per_token)):
                files[split].write(ids[mask].astype(dtype).tobytes())
            counts["val"][0] += int(val.sum())
            counts["val"][1] += int(doc_lengths[val].sum())
            counts["train"][0] += int((~val).sum())
            counts["train"][1] += int(doc_lengths[~val].sum())
    finally:
        for fh in files.values():
            fh.close()
    for split in counts:
        (directory / f"{split}.bin.tmp").replace(directory / f"{split}.bin")
    meta = {
        "format": "nanogpt", "dtype": dtype.name, "vocab_size": run.vocab_size, "eos_id": run.eos_id,
        "eos_token": run.eos_token, "val_fraction": val_fraction, "val_adjusted": adjusted,
        "documents": {k: v[0] for k, v in counts.items()}, "tokens": {k: v[1] for k, v in counts.items()},
        "tokenizer": str(run.tokenizer_path),
    }
    tmp = directory / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    tmp.replace(directory / "meta.json")
    return meta


def export_run(run_dir: str | Path, out_dir: str | Path, formats: tuple[str, ...] = FORMATS,
               val_fraction: float = NANOGPT_VAL_FRACTION) -> dict[str, Any]:
    """Every requested format of a run into ``out_dir``: ``megatron/tokens.{bin,idx}``, ``nanogpt/``
    (``val_fraction``: documents held out in nanoGPT's ``val.bin``, at least one)."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s) {sorted(unknown)}; known: {', '.join(FORMATS)}")
    run, out = RunData.open(run_dir), Path(out_dir)
    encoder = Encoder(run)  # one probe check for all formats
    result: dict[str, Any] = {}
    if "megatron" in formats:
        result["megatron"] = export_megatron(run, out / "megatron" / "tokens", encoder)
    if "nanogpt" in formats:
        result["nanogpt"] = export_nanogpt(run, out / "nanogpt", val_fraction, encoder)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m curation.training.export RUN_DIR --output DIR [--format megatron nanogpt]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m curation.training.export",
                                     description="Export a curate run's tokens for Megatron-LM and nanoGPT.")
    parser.add_argument("run", metavar="RUN_DIR")
    parser.add_argument("--output", "-o", required=True, metavar="DIR")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS))
    add_val_fraction_argument(parser)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(export_run(args.run, args.output, tuple(args.format), args.val_fraction), indent=2))
    except (CurationError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_val_fraction_argument(parser: Any) -> None:
    parser.add_argument("--val-fraction", type=float, default=NANOGPT_VAL_FRACTION, metavar="F",
                        help=f"documents held out in nanoGPT's val.bin (default {NANOGPT_VAL_FRACTION}, nanoGPT's "
                             "OpenWebText split; at least one document)")


if __name__ == "__main__":
    raise SystemExit(main())
