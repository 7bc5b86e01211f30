"""curation.kernels: what `make` compiles after installing is everything a run compiles."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT, SAMPLE

# In a fresh process: compile_kernels(), then the stages that use the kernels on sample documents,
# read as runs read them (Parquet batches); print any kernel signature the stages added.
SCRIPT = r"""
import gzip, json, sys, tempfile
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
import curation.kernels as kernels
from curation.pipeline.local import compile_kernels

compile_kernels()
dispatchers = {name: f for name, f in vars(kernels).items() if hasattr(f, "signatures")}
before = {name: set(map(str, f.signatures)) for name, f in dispatchers.items()}

from curation import Document
from curation.decontam.ngrams import NgramIndex, tokenize
from curation.dedup import DedupConfig, deduplicate
from curation.pii.addresses import AddressFinder
from curation.quality.gopher import GopherRepetition
from curation.quality.heuristics import Heuristics

with gzip.open(sys.argv[1], "rt") as fh:
    rows = [json.loads(line) for line in fh][:400]
docs = [Document(r["id"], r["text"]) for r in rows]
Heuristics()(docs)
GopherRepetition()(docs)
AddressFinder().find([d.text for d in docs])
with tempfile.TemporaryDirectory() as tmp:
    parts = []
    for i in range(2):
        parts.append(Path(tmp) / f"part-{i:05d}.parquet")
        chunk = rows[i * 200:(i + 1) * 200] + rows[:20]  # some exact and near duplicates
        pq.write_table(pa.table({"id": [f"{i}-{r['id']}" for r in chunk], "text": [r["text"] for r in chunk]}), parts[-1])
    result = deduplicate(parts, Path(tmp) / "dedup", DedupConfig())
    assert result.verified_pairs > 0, result
    for batch in pq.ParquetFile(parts[0]).iter_batches(batch_size=100, columns=["text"]):
        words, hashes = tokenize(batch.column("text"))
        NgramIndex.build([r["text"] for r in rows[:30]], 13, 8)[0].matches(hashes, words.offsets)
added = {name: sorted(set(map(str, f.signatures)) - before[name]) for name, f in dispatchers.items()}
print(json.dumps({k: v for k, v in added.items() if v}))
"""


def test_compile_kernels_covers_what_the_stages_compile():
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(SAMPLE)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "{}"


def test_no_writable_cache_folder_means_compiling_not_failing(tmp_path):
    """Where Numba finds no place for its cache (a read-only install and home), importing the
    kernels must not fail: they compile in the process, with one warning saying what to set."""
    (tmp_path / "nowhere.py").write_text("class Nowhere:\n    @classmethod\n"
                                         "    def from_function(cls, py_func, py_file):\n        return None\n")
    script = ("import logging; logging.basicConfig()\n"
              "import pyarrow as pa\n"
              "from curation.words import split_words\n"
              "words, offsets = split_words(pa.array(['Hello, wörld!', '']), True)\n"
              "print(words.to_pylist(), offsets.tolist())\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_CACHE_LOCATOR_CLASSES": "nowhere.Nowhere"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "['Hello', 'wörld'] [0, 2, 2]"
    assert out.stderr.count("NUMBA_CACHE_DIR") == 1
