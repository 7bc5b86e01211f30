"""A curate run's documents as token streams: exact ids, deterministic split, fixed-length packing.

Pure numpy and pyarrow (no PyTorch), so the exports and the tests of the split need no extra.

- **Tokens are the run's tokens.** Ids come from ``TokenCounter`` on the run's ``tokenizer.json``
  (checked against the manifest's sha256) with the run's special-token policy: a literal
  ``<|endoftext|>`` inside a document is ordinary text, so the EOS id appears only where the
  packer puts it, after each document. Every document's id count is checked against its
  ``token_count`` column; a shard that stores ids in a ``token_ids`` column is read as is.
- **Work units.** Documents are shared out in units: a row group, or an equal slice of one when a
  run has fewer row groups than consumers (DDP ranks x DataLoader workers). Each epoch the units
  are permuted with ``(seed, epoch)`` and consumer ``c`` of ``C`` takes units ``c, c + C, ...``,
  so within an epoch every document goes to exactly one consumer. Documents inside a unit are
  permuted with ``(seed, epoch, unit)``.
- **Positions.** A consumer's stream is its documents, each followed by EOS, epoch after epoch,
  cut into blocks of ``block_size`` tokens. Block ``p`` starts at token ``p * block_size`` of that
  stream, and the ``token_count`` column says where that is without tokenizing anything before
  it, so a resumed loader jumps straight to its position. Blocks are then permuted in windows
  (``shuffle_blocks``) so that a batch is not a run of consecutive blocks of one document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.errors import CurationError
from curation.io.files import sha256_file
from curation.tokenizer import TokenCounter, load_tokenizer

TOKEN_IDS_COLUMN = "token_ids"
# Documents per encode_batch call: large enough for fastokens' batch speed, small enough that one
# call on a 32 MB row group does not hold all of its ids at once.
ENCODE_BATCH_DOCS = 256


@dataclass(frozen=True)
class RunData:
    """What the training stage needs from a curate run's output folder.

    Example:
        >>> run = RunData.open("out")  # doctest: +SKIP
        >>> run.eos_id, run.total_tokens + run.total_documents  # doctest: +SKIP
        (0, 2869413)
    """

    root: Path
    shards: tuple[Path, ...]
    tokenizer_path: Path
    eos_token: str
    eos_id: int
    vocab_size: int
    total_tokens: int
    total_documents: int
    fingerprint: str  # ties a saved loader position to these exact shards and tokenizer

    @classmethod
    def open(cls, root: str | Path, split: str = "train") -> RunData:
        """The run's training shards, or (``split="heldout"``) its held-out split's."""
        root = Path(root)
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise CurationError(f"not a curate run (no manifest.json): {root}")
        manifest = json.loads(manifest_path.read_text())
        tok = manifest["tokenizer"]
        tokenizer_path = root / tok["path"]
        if not tokenizer_path.is_file():
            raise CurationError(f"the run's tokenizer is missing: {tokenizer_path}")
        if sha256_file(tokenizer_path) != tok["sha256"]:
            # Another tokenizer would give other ids than the ones the run counted.
            raise CurationError(f"{tokenizer_path} is not the tokenizer the run counted with (sha256 differs)")
        if split == "heldout":  # the validation split, listed apart (manifest format 3)
            manifest = {**manifest, **(manifest.get("heldout") or {"shards": [], "total_tokens": 0,
                                                                   "total_documents": 0})}
        elif split != "train":
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        eos = tok.get("eos_token")
        tokenizer = load_tokenizer(tokenizer_path)
        eos_id = tokenizer.token_to_id(eos) if eos else None
        if eos_id is None:
            raise CurationError(f"the run's tokenizer has no EOS token ({eos!r}) to separate documents")
        digest = hashlib.sha256(tok["sha256"].encode())
        for shard in manifest["shards"]:
            digest.update(shard["sha256"].encode())
        return cls(
            root=root,
            shards=tuple(root / s["path"] for s in manifest["shards"]),
            tokenizer_path=tokenizer_path,
            eos_token=eos,
            eos_id=eos_id,
            vocab_size=tokenizer.get_vocab_size(),
            total_tokens=int(manifest["total_tokens"]),
            total_documents=int(manifest["total_documents"]),
            fingerprint=digest.hexdigest(),
        )

    def budget(self) -> dict[str, Any] | None:
        """The run's ``budget.json``, if it wrote one."""
        path = self.root / "budget.json"
        return json.loads(path.read_text()) if path.is_file() else None


@dataclass(frozen=True, slots=True)
class Unit:
    """Rows ``[start, stop)`` of one row group: the grain at which documents are shared out."""

    shard: int
    row_group: int
    start: int
    stop: int
    tokens: int  # token_count of its documents plus one EOS each


class ShardReader:
    """Reads units of a run's shards, keeping one open ``ParquetFile`` per shard."""

    def __init__(self, run: RunData):
        self.run = run
        self._files: dict[int, pq.ParquetFile] = {}

    def file(self, shard: int) -> pq.ParquetFile:
        if shard not in self._files:
            self._files[shard] = pq.ParquetFile(self.run.shards[shard])
        return self._files[shard]

    def counts(self, shard: int, row_group: int) -> np.ndarray:
        """``token_count`` of every document of a row group (int64)."""
        table = self.file(shard).read_row_group(row_group, columns=["token_count"])
        return table.column("token_count").to_numpy().astype(np.int64)

    def read(self, unit: Unit) -> pa.Table:
        """The unit's ``token_count`` and ``text`` (or ``token_ids`` where the run stored them)."""
        pf = self.file(unit.shard)
        source = TOKEN_IDS_COLUMN if TOKEN_IDS_COLUMN in pf.schema_arrow.names else "text"
        table = pf.read_row_group(unit.row_group, columns=["token_count", source])
        return table.slice(unit.start, unit.stop - unit.start)


def plan_units(run: RunData, n_consumers: int = 1) -> list[Unit]:
    """The run's row groups, each cut into as many equal slices as it takes for every one of
    ``n_consumers`` to get at least one unit per epoch (one slice each when there are enough)."""
    if n_consumers < 1:
        raise ValueError(f"n_consumers must be >= 1, got {n_consumers}")
    reader = ShardReader(run)
    groups = [(s, g) for s in range(len(run.shards)) for g in range(reader.file(s).num_row_groups)]
    slices = max(1, -(-n_consumers // max(1, len(groups))))
    units = []
    for shard, group in groups:
        counts = reader.counts(shard, group) + 1
        bounds = [len(counts) * k // slices for k in range(slices + 1)]
        units += [Unit(shard, group, a, b, int(counts[a:b].sum())) for a, b in zip(bounds, bounds[1:]) if b > a]
    if len(units) < n_consumers:
        raise CurationError(f"{n_consumers} consumers (ranks x workers) but the run has only "
                            f"{run.total_documents} documents to share out")
    return units


def epoch_units(n_units: int, epoch: int, consumer: int, n_consumers: int, seed: int, shuffle: bool) -> np.ndarray:
    """Indices of the units consumer ``consumer`` reads in ``epoch``, in reading order."""
    order = np.random.default_rng([seed, epoch]).permutation(n_units) if shuffle else np.arange(n_units)
    return order[consumer::n_consumers]


def doc_order(n_docs: int, seed: int, epoch: int, unit: int, shuffle: bool) -> np.ndarray:
    """The order in which a unit's documents are read in ``epoch``."""
    return np.random.default_rng([seed, epoch, unit]).permutation(n_docs) if shuffle else np.arange(n_docs)


class Encoder:
    """Token ids exactly as the run counted them (``TokenCounter``: fastokens, or HF if fastokens
    does not reproduce HF's ids), with the run's special-token policy."""

    def __init__(self, run: RunData):
        self.counter = TokenCounter(run.tokenizer_path)

    def ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids (uint32) and ``len(texts) + 1`` offsets (int64)."""
        return self.counter.ids(texts)


def unit_tokens(reader: ShardReader, encoder: Encoder, unit: Unit, order: np.ndarray,
                eos_id: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The documents ``order`` of a unit, each followed by ``eos_id``, in chunks of
    ``(ids uint32, per-document lengths including the EOS)``."""
    table = reader.read(unit)
    stored = TOKEN_IDS_COLUMN in table.column_names
    counts = table.column("token_count").to_numpy().astype(np.int64)
    for at in range(0, len(order), ENCODE_BATCH_DOCS):
        rows = order[at:at + ENCODE_BATCH_DOCS]
        if stored:
            lists = pc.take(table.column(TOKEN_IDS_COLUMN), pa.array(rows)).combine_chunks()
            flat = lists.flatten().to_numpy().astype(np.uint32)
            offsets = np.concatenate([[0], np.cumsum(lists.value_lengths().to_numpy())]).astype(np.int64)
        else:
            texts = pc.take(table.column("text"), pa.array(rows)).to_pylist()
            flat, offsets = encoder.ids(texts)
        lengths = np.diff(offsets)
        if not np.array_equal(lengths, counts[rows]):
            bad = int(np.flatnonzero(lengths != counts[rows])[0])
            raise CurationError(f"document {unit.start + int(rows[bad])} of {reader.run.shards[unit.shard].name} "
                                f"row group {unit.row_group} has {lengths[bad]} tokens, but the run counted "
                                f"{counts[rows][bad]}: the loader must tokenize as the run did")
        # np.insert places EOS before each position, i.e. right after every document's last id.
        yield np.insert(flat, offsets[1:], np.uint32(eos_id)), lengths + 1


def consumer_stream(run: RunData, units: list[Unit], consumer: int, n_consumers: int, *, seed: int = 0,
                    shuffle: bool = True, epochs: int | None = None, skip_tokens: int = 0,
                    encoder: Encoder | None = None) -> Iterator[np.ndarray]:
    """One consumer's tokens (uint32 chunks): its documents, each followed by EOS, epoch after
    epoch (``epochs=None``: forever), starting ``skip_tokens`` into the stream."""
    if not 0 <= consumer < n_consumers:
        raise ValueError(f"consumer {consumer} is not in [0, {n_consumers})")
    reader = ShardReader(run)
    encoder = encoder or Encoder(run)
    epoch = 0
    while epochs is None or epoch < epochs:
        mine = epoch_units(len(units), epoch, consumer, n_consumers, seed, shuffle)
        total = sum(units[i].tokens for i in mine)
        if total == 0:
            raise CurationError(f"consumer {consumer} of {n_consumers} has no tokens in epoch {epoch}")
        if skip_tokens >= total:  # a whole epoch already consumed: skip it without reading it
            skip_tokens -= total
            epoch += 1
            continue
        for index in mine:
            unit = units[index]
            if skip_tokens >= unit.tokens:
                skip_tokens -= unit.tokens
                continue
            order = doc_order(unit.stop - unit.start, seed, epoch, int(index), shuffle)
            if skip_tokens:  # start at the document holding the position; counts say which one
                counts = reader.counts(unit.shard, unit.row_group)[unit.start:unit.stop][order] + 1
                ends = np.cumsum(counts)
                first = int(np.searchsorted(ends, skip_tokens, side="right"))
                skip_tokens -= int(ends[first - 1]) if first else 0
                order = order[first:]
            for chunk, _ in unit_tokens(reader, encoder, unit, order, run.eos_id):
                if skip_tokens:
                    chunk, skip_tokens = chunk[skip_tokens:], 0
                yield chunk
        epoch += 1


def pack(chunks: Iterator[np.ndarray], block_size: int, keep_tail: bool = False) -> Iterator[np.ndarray]:
    """Cut a stream of id chunks into consecutive, non-overlapping blocks of ``block_size`` ids.

    A block may span documents (they are separated by EOS) and epochs. ``keep_tail`` also yields
    the last, shorter block of a finite stream (the coverage tests use it; training drops it).
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    pending: list[np.ndarray] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size < block_size:
            continue
        buffer = np.concatenate(pending)
        full = len(buffer) // block_size * block_size
        yield from buffer[:full].reshape(-1, block_size)
        pending, size = [buffer[full:]], len(buffer) - full
    if keep_tail and size:
        yield np.concatenate(pending)


def shuffle_blocks(blocks: Iterator[np.ndarray], window: int, seed: list[int], first_window: int = 0,
                   skip: int = 0) -> Iterator[np.ndarray]:
    """Blocks in consecutive windows of ``window``, each window permuted with ``seed + [k]`` for
    window number ``k`` (counted from ``first_window``), the first ``skip`` of the first window
    dropped. Stateless, so a loader at block ``p`` resumes at window ``p // window``, skip
    ``p % window``, with nothing saved but ``p``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    k = first_window
    while batch := [b for _, b in zip(range(window), blocks)]:
        order = np.random.default_rng([*seed, k]).permutation(len(batch)) if window > 1 else range(len(batch))
        for i in list(order)[skip:]:
            yield batch[i]
        k, skip = k + 1, 0


def iter_documents(run: RunData, encoder: Encoder | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every document of the run in manifest order, each followed by EOS, as chunks of
    ``(ids uint32, per-document lengths including the EOS)``: what the exports write."""
    reader = ShardReader(run)
    encoder = encoder or Encoder(run)
    for shard in range(len(run.shards)):
        for group in range(reader.file(shard).num_row_groups):
            rows = reader.file(shard).metadata.row_group(group).num_rows
            unit = Unit(shard, group, 0, rows, 0)
            yield from unit_tokens(reader, encoder, unit, np.arange(rows), run.eos_id)
