"""Exact and MinHash near-deduplication that scales past memory.

Three phases with files on disk between them (DataTrove's MinHash stages are the model), each
split into tasks that can run anywhere:

1. :func:`signature_partition` per staging file: normalize, exact hash, MinHash signatures
   (datasketch's permutations applied to whole numpy batches), one 64-bit key per LSH band,
   written to band-partitioned bucket files;
2. :func:`bucket_partition` per band (and for the exact hashes): group one partition within a
   memory budget, write candidate pairs;
3. :func:`cluster`: verify candidates on their true Jaccard, union-find, one survivor per
   cluster, ``duplicates.parquet``.

:func:`deduplicate` runs all three in order. See ``bench/README.md`` for quality and speed.
"""

from curation.dedup.buckets import bucket_partition, partitions
from curation.dedup.cluster import (EXACT_DUPLICATE, NEAR_DUPLICATE, DedupResult, UnionFind, cluster, pair_jaccard,
                                    shingle_partition)
from curation.dedup.config import DedupConfig, NormalizeConfig
from curation.dedup.exact import exact_hashes, text_hash128
from curation.dedup.lsh import optimal_params, s_curve
from curation.dedup.minhash import MinHasher, band_keys, char_shingle_hash, word_shingle_hash
from curation.dedup.normalize import normalize_text, tokenize_batch, tokens
from curation.dedup.run import deduplicate
from curation.dedup.signatures import signature_partition, staging_parts
from curation.dedup.workdir import DUPLICATES_SCHEMA, Layout

__all__ = [
    "DUPLICATES_SCHEMA", "EXACT_DUPLICATE", "NEAR_DUPLICATE", "DedupConfig", "DedupResult", "Layout",
    "MinHasher", "NormalizeConfig", "UnionFind", "band_keys", "bucket_partition", "char_shingle_hash",
    "cluster", "deduplicate", "exact_hashes", "normalize_text", "optimal_params", "pair_jaccard", "partitions",
    "s_curve", "shingle_partition", "signature_partition", "staging_parts", "text_hash128", "tokenize_batch",
    "tokens", "word_shingle_hash",
]
