"""BPE tokenizer training (HF ``tokenizers``) and exact token counting.

HF ``tokenizers`` trains and is the reference. Counting uses the fastest library that
reproduces the reference ids exactly: fastokens (~60x HF ``encode_batch`` here, ANCHORS.md),
checked on a probe set when a counter is built, with a fallback to HF and a warning.

Special-token policy: a special-token string that appears literally inside a document (for
example ``<|endoftext|>`` in a page about tokenizers) is encoded as ordinary text, never as the
special id, so a document cannot inject an end-of-text into the training stream. ``token_count``
is therefore ``len(tok.encode(text, add_special_tokens=False).ids)`` with
``tok.encode_special_tokens = True``; for the vast majority of documents, which contain no such
literal, that equals plain ``len(tok.encode(text).ids)`` with the trained tokenizer (it has no
post-processor). The EOS separator is added by the packer as an id, not by text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from curation.config import TokenizerConfig
from curation.errors import CurationError
from curation.io.files import write_text

log = logging.getLogger(__name__)

# Texts where fast tokenizers have diverged from HF: unicode, whitespace runs, digits, code,
# CRLF, a literal special token. A counter must reproduce every id on them.
PROBE_TEXTS = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "naïve café — 東京都 Ελληνικά русский 🤖👍🏽 \u200b zero\u00a0width; e\u0301 combining",
    "    four spaces\n\n\n\t\ttabs\r\n\r\nCRLF   \n        \n trailing   ",
    "1234567890 3.14159 1,000,000 0x1F2E 2026-11-26 v3.11.7 +1-415-555-0142",
    "def f(x):\n    return {'a': [x ** 2 for x in range(10)]}  # comment\n\nif __name__ == '__main__':\n\tf(3)\n",
    "A literal <|endoftext|> in a document is text, not a separator.<|endoftext|>",
    "I'm you're they've we'll it's DON'T 's 't 're",
    "".join(chr(c) for c in range(0x20, 0x250)),
    " " * 300 + "x" + "\n" * 50 + "y",
]


def hash_unit(doc_id: str) -> float:
    """A stable number in [0, 1) from a document id: deterministic sampling without state."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, person=b"tok-sample").digest()
    return int.from_bytes(digest, "little") / 2.0**64


def is_heldout(doc_id: str, fraction: float) -> bool:
    """Whether a document is in the run's held-out split. The tokenizer's hash: with its
    ``holdout_fraction`` at least this large (the defaults: 1% and 0.5%), a held-out document is
    one the BPE never trained on either."""
    return fraction > 0 and hash_unit(doc_id) < fraction


@dataclass(slots=True)
class SampleSplit:
    """Which documents train the tokenizer and which are held back to measure it."""

    holdout_fraction: float
    train_fraction: float  # of the non-held-out documents

    def is_holdout(self, doc_id: str) -> bool:
        return hash_unit(doc_id) < self.holdout_fraction

    def is_train(self, doc_id: str) -> bool:
        u = hash_unit(doc_id)
        if u < self.holdout_fraction:
            return False
        return (u - self.holdout_fraction) / (1.0 - self.holdout_fraction) < self.train_fraction

    @classmethod
    def for_corpus(cls, config: TokenizerConfig, corpus_bytes: int) -> SampleSplit:
        usable = corpus_bytes * (1.0 - config.holdout_fraction)
        fraction = 1.0 if usable <= config.train_sample_bytes else config.train_sample_bytes / usable
        return cls(config.holdout_fraction, fraction)


def new_bpe(config: TokenizerConfig) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """A byte-level BPE (GPT-2 style: no normalizer, every byte representable, no unknown token)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(config.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    return tokenizer, trainer


def train_tokenizer(texts: Iterable[list[str]], config: TokenizerConfig) -> Tokenizer:
    """Train byte-level BPE on batches of texts. Deterministic for the same texts in the same order."""
    tokenizer, trainer = new_bpe(config)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def vocab_shortfall_note(tokenizer: Tokenizer, config: TokenizerConfig) -> str | None:
    """One line saying why a trained vocabulary is smaller than ``config.vocab_size``, else None.

    BPE stops merging when no pair of symbols occurs ``min_frequency`` times in the training
    sample (or no pair is left): the sample's distinct words are used up before the vocabulary
    fills, which is not an error but silently changes the model's embedding size. None for a
    reused tokenizer (``config.path``): its size was never the configured one.
    """
    size = tokenizer.get_vocab_size()
    if config.path is not None or size >= config.vocab_size:
        return None
    if config.min_frequency > 1:
        why = f"no pair left occurs at least min_frequency={config.min_frequency:,} times in the training sample"
        lower = "tokenizer.vocab_size or tokenizer.min_frequency"
    else:
        why, lower = "no pair is left to merge in the training sample (every word is one token)", "tokenizer.vocab_size"
    return (f"tokenizer vocabulary is {size:,} of the {config.vocab_size:,} configured ({config.vocab_size - size:,} "
            f"fewer): BPE ran out of merges, {why}; train on more text (a larger corpus, or a larger "
            f"tokenizer.train_sample_bytes if the sample was capped) or lower {lower}")


def save_tokenizer(tokenizer: Tokenizer, directory: Path, config: TokenizerConfig) -> Path:
    """Write ``tokenizer.json`` plus the small config files ``transformers`` loads it with."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenizer.json"
    write_text(path, tokenizer.to_str(pretty=True))  # the bytes Tokenizer.save writes
    write_transformers_config(directory, config)
    return path


def write_transformers_config(directory: Path, config: TokenizerConfig) -> None:
    """``tokenizer_config.json`` for ``AutoTokenizer``: the EOS, and the special-token policy above
    (a literal special-token string in text is text), for trained and given tokenizers alike."""
    eos = config.special_tokens[0] if config.special_tokens else None
    write_text(directory / "tokenizer_config.json", json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": eos,
        "bos_token": eos,
        "unk_token": None,
        "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,  # transformers' "no limit"
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,  # the special-token policy above, for transformers users
    }, indent=2) + "\n")


def check_given_tokenizer(config: TokenizerConfig) -> None:
    """A given ``tokenizer.json`` must load and hold the configured EOS token (before a run starts).

    Raises:
        CurationError: it does not load, or lacks ``special_tokens[0]``.
    """
    if not config.path:
        return
    tokenizer = load_tokenizer(config.path)
    eos = config.special_tokens[0] if config.special_tokens else None
    if eos is not None and tokenizer.token_to_id(eos) is None:
        raise CurationError(f"the tokenizer {config.path} has no token {eos!r}: set tokenizer.special_tokens to "
                            "its end-of-text token first (e.g. ['</s>'])")


def load_tokenizer(path: str | Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception on a bad file
        raise CurationError(f"cannot load tokenizer {path}: {str(exc).splitlines()[0]}") from None


class TokenCounter:
    """Exact token counts per text, identical to the reference HF tokenizer's ids.

    Args:
        path: A ``tokenizer.json``.
        backend: ``auto`` (fastokens if it matches the reference on the probe set, else HF),
            ``fastokens`` (error if it does not match) or ``hf``.

    Example:
        >>> counter = TokenCounter("out/tokenizer/tokenizer.json")  # doctest: +SKIP
        >>> counter.count(["hello world", "a longer text"])  # doctest: +SKIP
        array([2, 3])
    """

    def __init__(self, path: str | Path, backend: str = "auto", extra_probes: Iterable[str] = ()):
        self.path = Path(path)
        self.reference = load_tokenizer(self.path)
        self.reference.encode_special_tokens = True  # the special-token policy
        self._fast = None
        self.backend = "hf"
        if backend == "hf":
            return
        problem = self._try_fastokens(list(PROBE_TEXTS) + list(extra_probes))
        if problem is None:
            self.backend = "fastokens"
        elif backend == "fastokens":
            raise CurationError(f"fastokens cannot count for {self.path}: {problem}")
        else:
            log.warning("token counting falls back to HF tokenizers (slower): %s", problem)

    @classmethod
    def shared(cls, path: str | Path, backend: str, sha256: str) -> TokenCounter:
        """The counter for the tokenizer whose ``tokenizer.json`` has ``sha256``, built once per
        process and backend (the two most recent are kept).

        Building one costs ~0.5 s (fastokens' load and the probe check); a run's tokenizer and shard
        steps count with the same tokenizer, one after the other, in one process unless a runner
        sends them to different ones. Keyed by content, not path: the run's copy of a given
        tokenizer is the same counter.
        """
        key = (sha256, backend)
        with _SHARED_LOCK:  # one built at a time: a step waits for the one a thread is building ahead
            counter = _SHARED_COUNTERS.pop(key, None) or cls(path, backend=backend)
            _SHARED_COUNTERS[key] = counter  # now the most recent
            while len(_SHARED_COUNTERS) > 2:
                del _SHARED_COUNTERS[next(iter(_SHARED_COUNTERS))]
        return counter

    def _try_fastokens(self, probes: list[str]) -> str | None:
        try:
            import fastokens
        except ImportError:
            return "fastokens is not installed"
        try:
            fast = fastokens.Tokenizer.from_file(str(self.path))
        except Exception as exc:  # an unsupported tokenizer.json component
            return f"fastokens cannot load it ({str(exc).splitlines()[0]})"
        for text in probes:
            expected = self.reference.encode(text, add_special_tokens=False).ids
            got = fast.encode(text, add_special_tokens=False, split_special_tokens=True).ids
            if list(got) != expected:
                return f"ids differ from HF on probe {text[:40]!r}"
        self._fast = fast
        return None

    def ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids of ``texts`` concatenated (uint32) and ``len(texts) + 1`` offsets (int64)."""
        if self._fast is not None:
            flat, offsets = self._fast.encode_batch_flat(texts, add_special_tokens=False, split_special_tokens=True)
            return np.frombuffer(flat, np.uint32), np.frombuffer(offsets, np.uint64).astype(np.int64)
        encodings = self.reference.encode_batch(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        flat_ids = np.fromiter((i for e in encodings for i in e.ids), np.uint32, int(lengths.sum()))
        return flat_ids, np.concatenate([[0], np.cumsum(lengths)])

    def count(self, texts: list[str]) -> np.ndarray:
        """Token count of each text (int64)."""
        if not texts:
            return np.zeros(0, np.int64)
        if self._fast is not None:
            _, offsets = self._fast.encode_batch_flat(texts, add_special_tokens=False, split_special_tokens=True)
            return np.diff(np.frombuffer(offsets, np.uint64)).astype(np.int64)
        encodings = self.reference.encode_batch(texts, add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))


_SHARED_COUNTERS: dict[tuple[str, str], TokenCounter] = {}  # TokenCounter.shared's, oldest first
_SHARED_LOCK = threading.Lock()


def iter_holdout(texts: Iterator[tuple[str, str]], split: SampleSplit, limit_bytes: int) -> Iterator[str]:
    """Held-out texts (by id hash) up to ``limit_bytes``, from ``(id, text)`` pairs."""
    seen = 0
    for doc_id, text in texts:
        if seen >= limit_bytes:
            return
        if split.is_holdout(doc_id):
            seen += len(text.encode("utf-8"))
            yield text
