"""MinHash signatures for whole batches: hash each word once, combine n-grams with numpy.

Shingling, not hashing, is the MinHash bottleneck once hashing is native (ANCHORS.md): building
one Python string per 5-gram costs more than datasketch's permutations. Here a batch is tokenized
by Arrow kernels (:mod:`curation.dedup.normalize`), each word is hashed (xxh3-64) in one compiled
pass, and the n-gram hashes are combined in another. The
signature then applies datasketch's own permutation parameters (scheme ``affine32``: MurmurHash3
``fmix32`` of the 32-bit input, then ``a * x + b mod 2**32``) in one compiled pass over the
shingles (:func:`curation.kernels.min_permutations`), each document's 128 minima kept in registers.

The shingle hash is an ordinary function of the shingle, so datasketch reproduces our signatures
exactly when given it (tested):

    >>> from datasketch import MinHash
    >>> from curation.dedup.config import DedupConfig
    >>> cfg = DedupConfig()
    >>> words = "the quick brown fox jumps over the lazy dog".split()
    >>> shingles = [" ".join(words[i:i + 5]).encode() for i in range(len(words) - 4)]
    >>> m = MinHash(num_perm=128, seed=1, hashfunc=word_shingle_hash)
    >>> m.update_batch(shingles)
    >>> bool((m.hashvalues == MinHasher(cfg).signatures_for_texts([" ".join(words)])[0]).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import xxhash

from curation.dedup.config import DedupConfig
from curation.dedup.normalize import TokenBatch, tokenize_batch
from curation.words import utf8_bytes

U64 = np.uint64
MASK64 = (1 << 64) - 1
# Golden-ratio multiplier (Knuth): odd, so h -> h * M is a bijection mod 2**64.
COMBINE = 0x9E3779B97F4A7C15
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's "no value yet" for affine32


# --------------------------------------------------------------------------------------------
# Scalar definitions (the reference; datasketch-compatible hash functions)


def token_hash(token: str | bytes) -> int:
    """64-bit hash of one word (or character): xxh3-64 of its UTF-8 bytes, seed 0."""
    return xxhash.xxh3_64_intdigest(token.encode("utf-8") if isinstance(token, str) else token)


def combine_hashes(hashes: list[int]) -> int:
    """An n-gram's 64-bit hash from its tokens' hashes: ``h = h * M + t (mod 2**64)``, in order."""
    h = 0
    for t in hashes:
        h = (h * COMBINE + t) & MASK64
    return h


def fold32(h: int) -> int:
    """The 32-bit shingle hash datasketch's ``affine32`` scheme takes: high word xor low word."""
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def word_shingle_hash(shingle: bytes | str) -> int:
    """datasketch ``hashfunc`` for a word shingle given as its words joined by single spaces."""
    if isinstance(shingle, str):
        shingle = shingle.encode()
    return fold32(combine_hashes([token_hash(w) for w in shingle.split(b" ")]))


def char_shingle_hash(shingle: bytes | str) -> int:
    """datasketch ``hashfunc`` for a character shingle (its characters are its tokens)."""
    if isinstance(shingle, bytes):
        shingle = shingle.decode()
    return fold32(combine_hashes([token_hash(c) for c in shingle]))


# --------------------------------------------------------------------------------------------
# Vectorized batch path


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> U64(33)
    h *= U64(0xFF51AFD7ED558CCD)
    h ^= h >> U64(33)
    h *= U64(0xC4CEB9FE1A85EC53)
    h ^= h >> U64(33)
    return h


def word_token_hashes(batch: TokenBatch) -> np.ndarray:
    """xxh3-64 of every token's UTF-8 bytes (``xxhash.xxh3_64_intdigest``), in one compiled pass
    (:func:`curation.kernels.xxh3_words`): 15 ns a word, where hashing each distinct word once
    took 30, most of it Arrow's ``dictionary_encode``. The rare word longer than the kernel's
    inputs goes to xxhash itself."""
    from curation.kernels import XXH3_INLINE_MAX, xxh3_words  # Numba: only where words are hashed

    if len(batch.tokens) == 0:
        return np.zeros(0, U64)
    data, offsets = utf8_bytes(batch.tokens)
    hashes = xxh3_words(data, offsets)
    for w in np.flatnonzero(np.diff(offsets) > XXH3_INLINE_MAX).tolist():
        hashes[w] = xxhash.xxh3_64_intdigest(data[offsets[w]:offsets[w + 1]].tobytes())
    return hashes


def char_token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """xxh3-64 of every character of each (already normalized) text, and the per-text offsets."""
    codes = [np.frombuffer(t.encode("utf-32-le"), np.uint32) for t in texts]
    lengths = np.array([c.size for c in codes], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.concatenate(codes) if codes else np.zeros(0, np.uint32)
    unique, inverse = np.unique(flat, return_inverse=True)
    table = np.fromiter((xxhash.xxh3_64_intdigest(chr(c).encode("utf-8", "surrogatepass")) for c in unique.tolist()),
                        dtype=U64, count=unique.size)
    return table[inverse.reshape(-1)], offsets


def shingle_hashes(token_hashes: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every n-gram of every document, and per-document offsets into them.

    A document with fewer than ``n`` (but at least one) tokens is one shingle of all its tokens,
    as in DataTrove; a document without tokens has no shingles. Repeated shingles are kept (the
    minimum does not care).
    """
    from curation.kernels import ngram_hashes  # Numba: only where documents are shingled

    return ngram_hashes(np.ascontiguousarray(token_hashes, U64), np.ascontiguousarray(offsets, np.int64), n)


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``MinHash(num_perm, seed).permutations`` of datasketch 2.0 (scheme ``affine32``): an odd ``a``
    and a ``b`` per permutation, drawn from ``RandomState(seed)``. Its three lines, not an import of
    the package, which imports ``scipy.integrate`` and redis's client (~0.4 s per process); the tests
    compare the two for several seeds and sizes (pyproject pins datasketch < 2.1)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


@dataclass(slots=True)
class SignatureBatch:
    """Signatures of a batch: ``signatures[i]`` is document i's datasketch ``hashvalues``."""

    signatures: np.ndarray  # (n, num_perm) uint32
    shingle_counts: np.ndarray  # (n,) int64; 0: no shingles, the signature is all EMPTY
    tokens: TokenBatch


class MinHasher:
    """Batch MinHash with datasketch's permutations (``MinHash(num_perm, seed).permutations``).

    Args:
        config: ``num_perm``, ``seed``, ``shingle``, ``ngram`` and ``normalize`` are used.
    """

    def __init__(self, config: DedupConfig):
        self.config = config
        self.a, self.b = affine32_permutations(config.num_perm, config.seed)

    def shingles(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        """32-bit shingle hashes and their per-document offsets for a tokenized batch."""
        if self.config.shingle == "char":
            joined = batch.normalized
            if joined is None or not self.config.normalize.collapse_whitespace:
                texts = [" ".join(batch.tokens[batch.offsets[i]:batch.offsets[i + 1]].to_pylist())
                         for i in range(len(batch.offsets) - 1)]
            else:
                texts = joined.to_pylist()
            th, offsets = char_token_hashes(texts)
        else:
            th, offsets = word_token_hashes(batch), batch.offsets
        return shingle_hashes(th, offsets, self.config.ngram)

    def signatures(self, shingles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """MinHash of each document's shingles: ``(n, num_perm)`` uint32, equal to datasketch's."""
        from curation.kernels import min_permutations  # Numba: only where documents are signed

        out = np.full((offsets.size - 1, self.config.num_perm), EMPTY, np.uint32)
        min_permutations(np.ascontiguousarray(shingles, np.uint32), np.ascontiguousarray(offsets, np.int64),
                         self.a, self.b, out)
        return out

    def batch(self, texts: pa.Array | pa.ChunkedArray | list[str], normalized: bool = False) -> SignatureBatch:
        """Tokenize, shingle and sign a batch of texts."""
        want_text = normalized or self.config.shingle == "char"
        tokens = tokenize_batch(texts, self.config.normalize, normalized=want_text)
        shingles, offsets = self.shingles(tokens)
        return SignatureBatch(self.signatures(shingles, offsets), np.diff(offsets), tokens)

    def signatures_for_texts(self, texts: list[str]) -> np.ndarray:
        """Convenience: the ``(n, num_perm)`` signatures of a list of texts."""
        return self.batch(texts).signatures


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit key of each band of each signature: ``(n, bands)`` uint64.

    Two documents share a key in band i iff (up to a 2**-64 chance) their signatures agree on all
    ``rows`` values of that band, which is the LSH collision event.
    """
    n = signatures.shape[0]
    keys = np.empty((n, bands), U64)
    for band in range(bands):
        cols = signatures[:, band * rows:(band + 1) * rows].astype(U64)
        k = cols[:, 0].copy()
        for j in range(1, rows):
            k *= U64(COMBINE)
            k += cols[:, j]
        k += U64(band)  # keys of different bands differ even for equal values
        keys[:, band] = _fmix64(k)
    return keys
