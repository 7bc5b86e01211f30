"""PyTorch side of the data path: a resumable ``IterableDataset`` over a run's packed tokens.

Consumer ``rank * num_workers + worker`` of ``world_size * num_workers`` reads the documents
``data.epoch_units`` assigns it (see ``curation/training/data.py``), so no document is read twice
and none is skipped, whatever the number of ranks and workers. Every item carries its consumer
and block position; ``ShardLoader`` records what the training loop has actually received, which
is the position to resume from (blocks prefetched by workers but never used are not counted),
together with which worker's turn comes next. Resuming is exact for the endless streams training
uses (``epochs=None``); with a finite stream a worker that runs dry first breaks the turn order.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from curation.training.data import Encoder, RunData, consumer_stream, pack, plan_units, shuffle_blocks

STATE_VERSION = 1


class PackedDataset(IterableDataset):
    """Blocks of ``seq_len + 1`` token ids (inputs are ``block[:-1]``, targets ``block[1:]``) from a
    curate run, documents separated by EOS. Yields ``(ids int64 [seq_len + 1], consumer, position)``.

    Args:
        run: A curate run folder or its ``RunData``.
        seq_len: Tokens the model sees per sequence.
        rank, world_size: This process's place in a DDP job.
        seed: Orders units and documents; the same seed gives the same stream.
        shuffle: Permute units and the documents inside them every epoch (``False``: manifest order).
        shuffle_window: Permute blocks in windows of this many (1: not at all). 256 blocks of 1,024
            tokens span dozens of documents, so a batch of 16 mixes them instead of holding 16
            consecutive pieces of one long document.
        epochs: Stop after this many passes (``None``: loop forever, as training does, so that
            no rank runs out of data before the others).
        keep_tail: Also yield the last, short block of a finite stream.

    Example:
        >>> ds = PackedDataset("out", seq_len=1024, rank=0, world_size=8)  # doctest: +SKIP
        >>> loader = ShardLoader(ds, batch_size=16, num_workers=2)  # doctest: +SKIP
        >>> x = next(iter(loader))  # int64 [16, 1025]  # doctest: +SKIP
    """

    def __init__(self, run: str | Path | RunData, seq_len: int, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, shuffle_window: int = 256, epochs: int | None = None,
                 keep_tail: bool = False):
        super().__init__()
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.run = run if isinstance(run, RunData) else RunData.open(run)
        self.seq_len, self.rank, self.world_size = seq_len, rank, world_size
        self.seed, self.shuffle, self.epochs, self.keep_tail = seed, shuffle, epochs, keep_tail
        self.shuffle_window = shuffle_window if shuffle else 1
        self._positions: dict[int, int] = {}  # consumer -> blocks consumed
        self._first_worker = 0  # this rank's consumer whose batch comes next (see ``record``)
        self._n_consumers: int | None = None  # fixed by the first iteration or a loaded state

    @property
    def block_size(self) -> int:
        return self.seq_len + 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int, int]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        n_consumers = self.world_size * workers
        if self._n_consumers not in (None, n_consumers):
            raise ValueError(f"the saved position is for {self._n_consumers} consumers (ranks x workers), "
                             f"this loader has {n_consumers}: resume with the same world size and workers")
        self._n_consumers = n_consumers
        # A DataLoader takes batches from workers 0, 1, ... in turn, starting at 0 on every new
        # iterator; rotating which worker plays which consumer keeps that turn across a resume.
        consumer = self.rank * workers + (self._first_worker + worker) % workers
        start = self._positions.get(consumer, 0)
        window, skip = divmod(start, self.shuffle_window)
        # Built here, in the worker: the tokenizer is not shared across processes.
        units = plan_units(self.run, n_consumers)
        chunks = consumer_stream(self.run, units, consumer, n_consumers, seed=self.seed, shuffle=self.shuffle,
                                 epochs=self.epochs, skip_tokens=window * self.shuffle_window * self.block_size,
                                 encoder=Encoder(self.run))
        blocks = shuffle_blocks(pack(chunks, self.block_size, self.keep_tail), self.shuffle_window,
                                [self.seed, consumer], window, skip)
        for position, block in enumerate(blocks, start):
            if info is None:  # iterated in this process: the position is ours to keep
                self._positions[consumer] = position + 1
            yield torch.from_numpy(block.astype(np.int64)), consumer, position

    def record(self, consumer: int, next_position: int) -> None:
        """Note that a batch of ``consumer``'s ending before ``next_position`` has been used: the
        next batch comes from this rank's next consumer, in the DataLoader's worker turn."""
        self._positions[consumer] = max(self._positions.get(consumer, 0), next_position)
        workers = (self._n_consumers or self.world_size) // self.world_size
        self._first_worker = (consumer - self.rank * workers + 1) % workers

    def state_dict(self) -> dict[str, Any]:
        """The position to resume from: blocks consumed per consumer (this rank's consumers only;
        merge the ranks' dicts with ``merge_states`` for a checkpoint)."""
        return {
            "version": STATE_VERSION,
            "fingerprint": self.run.fingerprint,
            "seq_len": self.seq_len,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "shuffle_window": self.shuffle_window,
            "n_consumers": self._n_consumers,
            "positions": {str(c): p for c, p in sorted(self._positions.items())},
            "first_worker": {str(self.rank): self._first_worker},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from a ``state_dict`` (or ``merge_states`` of all ranks' dicts). Takes effect at
        the next ``iter``; the run, ``seq_len``, seed and consumer count must be the same."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown loader state version {state.get('version')!r}")
        for key in ("fingerprint", "seq_len", "seed", "shuffle", "shuffle_window"):
            if state[key] != getattr(self.run if key == "fingerprint" else self, key):
                raise ValueError(f"the saved loader position has another {key}: it cannot resume this loader")
        self._n_consumers = state["n_consumers"]
        self._positions = {int(c): int(p) for c, p in state["positions"].items()}
        self._first_worker = int(state["first_worker"].get(str(self.rank), 0))


def merge_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """One loader state from every rank's ``state_dict`` (each rank holds its own consumers)."""
    merged = dict(states[0])
    merged["positions"] = {k: v for s in states for k, v in s["positions"].items()}
    merged["first_worker"] = {k: v for s in states for k, v in s["first_worker"].items()}
    merged["n_consumers"] = next((s["n_consumers"] for s in states if s["n_consumers"] is not None), None)
    return merged


def _ignore_termination(worker_id: int) -> None:
    """A SIGTERM sent to the whole process group is for the training process, which stops its
    workers itself after a checkpoint; a worker killed by it first would fail the step instead."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class ShardLoader:
    """A ``DataLoader`` over a ``PackedDataset`` that records each batch's position as the training
    loop receives it, so ``state_dict()`` is exactly where to resume. Yields int64
    ``[batch_size, seq_len + 1]`` tensors."""

    def __init__(self, dataset: PackedDataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False):
        n_consumers = dataset.world_size * max(1, num_workers)
        if dataset._n_consumers not in (None, n_consumers):
            raise ValueError(f"the saved position is for {dataset._n_consumers} consumers (ranks x workers), "
                             f"this loader has {n_consumers}: resume with the same world size and workers")
        dataset._n_consumers = n_consumers  # so that this process's state_dict says it
        self.dataset = dataset
        self.loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                                 prefetch_factor=4 if num_workers else None,
                                 worker_init_fn=_ignore_termination if num_workers else None)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for tokens, consumers, positions in self.loader:
            # A batch comes from one worker, so from one consumer; its last position is the newest.
            self.dataset.record(int(consumers[-1]), int(positions[-1]) + 1)
            yield tokens

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)
