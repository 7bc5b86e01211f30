"""Typed dedup configuration with cited defaults.

One frozen-by-convention pydantic model shared by every phase (DataTrove's ``MinhashConfig`` is the
model). The fields that decide signatures and band keys are hashed into every phase's completion
marker, so a work directory is never reused with a different configuration.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Literal

from pydantic import Field, model_validator

from curation.config import MiB, StrictModel


class NormalizeConfig(StrictModel):
    """How text is normalized before the exact hash and before shingling (both use the same text).

    Digits are deliberately *not* folded to ``0`` (DataTrove's ``simplify_text`` does): that makes
    distinct numeric tables identical, which is how its default MinHash removes table-like documents
    that share nothing but their layout.
    """

    nfc: bool = Field(
        True,
        description="Unicode NFC (UAX #15), so a character typed composed or decomposed hashes the same. "
        "Only documents that are not already NFC are touched.",
    )
    lowercase: bool = Field(True, description="Case-fold with Unicode lowercasing (CCNet, Wenzek et al. 2020; "
                                              "DataTrove's simplify_text).")
    strip_punctuation: bool = Field(
        True,
        description="Replace every Unicode punctuation (P*) and symbol (S*) character by a space, so punctuation "
        "separates words and never joins or splits shingles (CCNet; DataTrove's simplify_text).",
    )
    collapse_whitespace: bool = Field(
        True,
        description="For the exact hash, compare the word sequence (whitespace runs are one space, no leading or "
        "trailing space). Shingles always split on whitespace.",
    )


class DedupConfig(StrictModel):
    """Exact and MinHash near-deduplication.

    With the defaults two documents are near duplicates when the true Jaccard similarity of their
    word 5-gram sets is at least ``threshold`` (0.6). LSH (25 bands x 5 rows of 128 datasketch
    permutations) proposes a pair with probability 0.868 at J = 0.6, 0.990 at J = 0.7 and > 0.9999
    from J = 0.8 (0.06 at J = 0.3); every candidate is then verified on its true Jaccard, and a
    document is removed only if its own Jaccard with the survivor of its cluster reaches the
    threshold. The broad LSH net therefore costs verification time, never precision.
    """

    exact: bool = Field(True, description="Remove documents whose normalized text is identical (128-bit xxh3).")
    near: bool = Field(True, description="Remove MinHash near duplicates.")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)

    shingle: Literal["word", "char"] = Field(
        "word", description="Shingle on word n-grams (whitespace tokens) or on character n-grams."
    )
    ngram: int = Field(
        5,
        ge=1,
        le=64,
        description="Shingle size. Word 5-grams: Gopher (Rae et al. 2021) and DataTrove's MinhashConfig; documents "
        "with fewer words are one shingle. For char shingles use ~9-16 (a char 5-gram set barely tells texts apart).",
    )
    num_perm: int = Field(
        128,
        ge=2,
        le=1024,
        description="MinHash permutations; datasketch's default. The default 25x5 bands use 125 of them; a "
        "signature is 4 bytes per permutation (datasketch's 'affine32' scheme) and is never stored.",
    )
    seed: int = Field(1, ge=0, description="datasketch's default seed: the same seed gives the same permutations.")

    threshold: float = Field(
        0.6,
        gt=0.0,
        lt=1.0,
        description="Jaccard threshold on word 5-gram sets. Verified: no pair below it is ever merged. 0.6, not the "
        "usual 0.8: copies with 5% of their words deleted or inserted, or 10% swapped, fall to 0.6-0.75, and "
        "verification plus survivor checks keep distinct templated pages out (bench/README.md, 'Dedup').",
    )
    bands: int | None = Field(None, ge=1, description="LSH bands; None: optimal for threshold (see lsh_weights).")
    rows: int | None = Field(None, ge=1, description="Rows per band; None: optimal for threshold.")
    lsh_weights: tuple[float, float] | None = Field(
        None,
        description="(false positive, false negative) weights of datasketch's optimal-parameter search. None: "
        "(0.1, 0.9) with verify, since a false positive then costs one Jaccard computation while a false "
        "negative is a missed duplicate; (0.5, 0.5), datasketch's default, without verify.",
    )
    verify: bool = Field(
        True,
        description="Verify every LSH candidate pair on its true Jaccard (re-reading only the candidates' texts) "
        "before it joins a cluster. Off: every candidate pair is a duplicate (DataTrove's behaviour).",
    )

    cluster_mode: Literal["survivor", "component"] = Field(
        "survivor",
        description="'survivor': a cluster member is removed only if its own true Jaccard with the survivor reaches "
        "the threshold; members that joined through a chain are re-clustered among themselves, so no document is "
        "removed for a neighbour's neighbour. 'component': every member of a union-find component but the survivor "
        "is removed (DataTrove's behaviour). Without verify it is always 'component'.",
    )

    batch_size: int = Field(2000, gt=0, description="Documents per numpy batch in the signature phase.")
    memory_budget_bytes: int = Field(
        512 * MiB,
        ge=64 << 10,
        description="Working memory of one bucket-partition task and of the verification step. A band partition "
        "larger than this is split by key range on disk and each range grouped on its own; verification loads "
        "the candidates' shingle sets in blocks of half this size.",
    )

    @model_validator(mode="after")
    def _check(self) -> DedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.lsh_weights is not None:
            fp, fn = self.lsh_weights
            if fp < 0 or fn < 0 or abs(fp + fn - 1.0) > 1e-9:
                raise ValueError(f"lsh_weights must be two non-negative numbers summing to 1, got {self.lsh_weights}")
        if not (self.exact or self.near):
            raise ValueError("enable exact, near, or both")
        return self

    @cached_property
    def band_rows(self) -> tuple[int, int]:
        """(bands, rows): as configured, or datasketch's optimum for ``threshold`` and ``lsh_weights``."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        from curation.dedup.lsh import optimal_params

        weights = self.lsh_weights or ((0.1, 0.9) if self.verify else (0.5, 0.5))
        return optimal_params(self.threshold, self.num_perm, tuple(weights))

    def signature_sha256(self) -> str:
        """Hash of every field that changes signatures, bucket keys or metadata files."""
        keys = ("exact", "near", "normalize", "shingle", "ngram", "num_perm", "seed")
        data = self.model_dump(mode="json", include=set(keys)) | {"band_rows": list(self.band_rows)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
