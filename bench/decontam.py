"""Decontamination on the bench corpus: what it removes and why, and its speed against a naive version.

    flock /tmp/bench.lock .venv/bin/python bench/decontam.py          # ~3 min

The ``decontaminate`` stage (ten bundled benchmarks, 13-grams, n-grams in more than 10 documents
ignored) is fitted on the bench corpus (its scan one task per ~4,000 documents on a pool of 2) and
run over it in batches of 1,000 (pass 2 is a lookup by id). The
naive version is the same recipe written plainly: each item's and each document's words in Python
(lowercase, punctuation stripped, split), their 13-gram tuples in a Python set, a document
contaminated if one of its tuples is in the set (no boilerplate rule); it runs on the first
``--naive-docs`` documents for its speed, then over all of them as the ground truth of exact 13-gram
overlap (a document the naive version flags and the stage keeps must be one whose only overlaps
are boilerplate). A sample of the removals is checked: the matched words must occur in the
document and in the benchmark item. Because a corpus of manuals overlaps no benchmark, the run is
repeated on a copy with ``--plant`` benchmark items (30+ words, 10 benchmarks) embedded in random
documents: every planted document must be removed, every removal explained.
Results: bench/results/decontam.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from curation.decontam.benchmarks import bundled_items  # noqa: E402
from curation.decontam.ngrams import tokenize  # noqa: E402
from curation.decontam.stage import Decontaminate  # noqa: E402
from curation.document import Document  # noqa: E402

CORPUS = ROOT / "bench" / "data" / "corpus.jsonl"
RESULTS = ROOT / "bench" / "results"
N = 13


def naive_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text).lower()
    return "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text).split()


def naive_ngrams(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + N]) for i in range(len(words) - N + 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--naive-docs", type=int, default=2000)
    parser.add_argument("--check", type=int, default=50, help="removals checked by hand (by code) for a real overlap")
    parser.add_argument("--plant", type=int, default=300, help="benchmark items planted into a copy of the corpus")
    parser.add_argument("--json", type=Path, default=RESULTS / "decontam.json")
    args = parser.parse_args(argv)

    records = [json.loads(line) for line in args.corpus.open()]
    work = Path(tempfile.mkdtemp(prefix="decontam-"))
    # An empty cache: the index is built here as in a first run, not read from the user's cache.
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    total_bytes = sum(len(r["text"].encode()) for r in records)

    items = list(bundled_items())
    real = decontaminate(records, work / "real")
    rng = random.Random(0)
    long_items = [i for i in items if len(tokenize([i.text])[0].tokens.to_pylist()) >= 30]
    planted_records = [dict(r) for r in records]
    planted = {}
    for item, k in zip(rng.sample(long_items, args.plant), rng.sample(range(len(records)), args.plant)):
        text = planted_records[k]["text"]
        cut = text.find(" ", len(text) // 2)
        cut = len(text) if cut < 0 else cut
        planted_records[k]["text"] = f"{text[:cut]} {item.text} {text[cut:]}"
        planted[planted_records[k]["id"]] = item
    plant = decontaminate(planted_records, work / "planted")

    t0 = time.perf_counter()
    index = set()
    for item in items:
        index |= naive_ngrams(naive_words(item.text))
    naive_build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive_flags = [not naive_ngrams(naive_words(r["text"])).isdisjoint(index) for r in records[:args.naive_docs]]
    naive_s = time.perf_counter() - t0
    naive_flags += [not naive_ngrams(naive_words(r["text"])).isdisjoint(index) for r in records[args.naive_docs:]]
    naive_hits = {r["id"] for r, hit in zip(records, naive_flags) if hit}

    item_text = {(i.benchmark, i.item): i.text for i in items}
    real_check = check(real["removed"], records, item_text, args.check)
    plant_check = check(plant["removed"], planted_records, item_text, args.check)
    removed_ids = {d.doc.id for d in plant["removed"]}
    ours_docs_s = len(records) / (real["fit_s"] + real["process_s"])
    naive_docs_s = args.naive_docs / naive_s
    result = {
        "documents": len(records), "text_mb": round(total_bytes / 1e6, 1),
        "items": real["counters"]["decontaminate/items"],
        "index_ngrams": real["counters"]["decontaminate/index_ngrams"],
        "index_build_s": real["counters"]["decontaminate/index_ms"] / 1000,
        "fit_s": real["fit_s"], "process_s": real["process_s"], "docs_per_s": round(ours_docs_s),
        "naive_index_build_s": round(naive_build_s, 2), "naive_docs": args.naive_docs, "naive_s": round(naive_s, 2),
        "naive_docs_per_s": round(naive_docs_s), "speedup": round(ours_docs_s / naive_docs_s, 1),
        "bench_corpus": {
            "removed": len(real["removed"]), "removed_share": round(len(real["removed"]) / len(records), 5),
            "removed_by_benchmark": by_benchmark(real["removed"]),
            "ignored_as_boilerplate": real["counters"]["decontaminate/ngrams_ignored_as_boilerplate"],
            "naive_hits_all_docs": len(naive_hits),
            "naive_hits_kept": sorted(naive_hits - {d.doc.id for d in real["removed"]}),
            **real_check,
        },
        "planted_copy": {
            "planted": len(planted), "found": len(set(planted) & removed_ids),
            "removed": len(plant["removed"]), "removed_other": len(removed_ids - set(planted)),
            "removed_by_benchmark": by_benchmark(plant["removed"]), **plant_check,
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items()}, indent=1)[:4000])
    ok = (real_check["explained"] == real_check["checked"] and plant_check["explained"] == plant_check["checked"]
          and result["planted_copy"]["found"] == len(planted))
    return 0 if ok else 1


def decontaminate(records: list[dict], work: Path) -> dict:
    """The stage as curate run stages it: files of 4,000 documents, the fit's scan one task per
    file on a pool of 2, then batches of 1,000."""
    stage = Decontaminate()
    work.mkdir(parents=True)
    parts = []
    for k, first in enumerate(range(0, len(records), 4000)):
        parts.append(work / f"part-{k:05d}.parquet")
        chunk = records[first:first + 4000]
        pq.write_table(pa.table({"id": [r["id"] for r in chunk], "text": [r["text"] for r in chunk]}), parts[-1])
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        counters = stage.fit(parts, work / "state", pool.map)
    fit_s = time.perf_counter() - t0
    stage.load(work / "state")
    removed = []
    t0 = time.perf_counter()
    for first in range(0, len(records), 1000):
        batch = [Document(r["id"], r["text"], r.get("source", "")) for r in records[first:first + 1000]]
        removed += stage(batch).dropped
    return {"counters": counters, "fit_s": round(fit_s, 2), "process_s": round(time.perf_counter() - t0, 2),
            "removed": removed}


def check(removed: list, records: list[dict], item_text: dict, n: int) -> dict:
    """A sample of removals: the matched n-gram is in the document's words and in the item's."""
    texts = {r["id"]: r["text"] for r in records}
    checked = random.Random(0).sample(removed, min(n, len(removed)))
    explained = 0
    for d in checked:
        doc_words = " ".join(tokenize([texts[d.doc.id]])[0].tokens.to_pylist())
        item_words = " ".join(tokenize([item_text[(d.extra["benchmark"], d.extra["item"])]])[0].tokens.to_pylist())
        explained += d.extra["ngram"] in doc_words and d.extra["ngram"] in item_words
    return {"checked": len(checked), "explained": explained,
            "examples": [{"id": d.doc.id, **d.extra} for d in checked[:3]]}


def by_benchmark(removed: list) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in removed:
        counts[d.extra["benchmark"]] = counts.get(d.extra["benchmark"], 0) + 1
    return dict(sorted(counts.items()))

if __name__ == "__main__":
    sys.exit(main())
