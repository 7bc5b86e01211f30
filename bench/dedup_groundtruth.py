"""Near-dedup quality on a generated ground truth: detection per Jaccard band vs the LSH S-curve.

Builds a labelled corpus from the real bench corpus (bench/data/corpus.jsonl), then scores our
dedup (several settings) and, if its venv exists, DataTrove's MinHash on it:

    .venv/bin/python bench/dedup_groundtruth.py            # build (once) + evaluate; ~2 min
    .venv/bin/python bench/dedup_groundtruth.py --no-datatrove --rebuild

The ground truth (bench/data/dedup_gt/, not committed):

- a **pool** of real documents that are mutually distinct: greedily chosen so that no two have
  a word 5-gram Jaccard >= 0.3 (exact, over every pair, with a sparse product);
- **near duplicates**: one copy per chosen original, with one edit from ``EDITS`` (word swaps,
  deletions, insertions and replacements at known rates, added headers and footers, combinations);
  each pair's *true* Jaccard is computed on the sets of normalized 5-gram strings;
- **exact duplicates**: byte-identical copies;
- **hard negatives**, Jaccard < 0.3 by construction: (1) *natural* pairs of pool documents of the
  same source with Jaccard 0.1-0.3 (gcloud pages of sibling commands, kernel pages of one
  subsystem...); (2) *boilerplate* pairs: two distinct documents of one source given the same
  header and footer cut from a third document (a shared licence or navigation block), sized to
  Jaccard 0.1-0.3; (3) *tables*: numeric tables that share a caption and column header but not
  their numbers (what DataTrove's digit folding makes identical).

Metrics (the same for every tool, computed from the set of removed ids): a pair is detected when
either of its documents is removed; a removal is false when its family (an original and its copies)
loses more than all but one member, or when it hits a document that has no copy at all
(distractors and hard negatives). Precision = 1 - false / removed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.dedup import DedupConfig, MinHasher, band_keys, deduplicate, s_curve, tokenize_batch  # noqa: E402
from curation.dedup.config import NormalizeConfig  # noqa: E402

CORPUS = ROOT / "bench" / "data" / "corpus.jsonl"
OUT = ROOT / "bench" / "data" / "dedup_gt"
RESULTS = ROOT / "bench" / "results" / "dedup_quality.json"
DATATROVE_PY = ROOT / "bench" / ".venv-datatrove" / "bin" / "python"
SEED = 0
CANDIDATES = 7000  # real documents considered for the pool (gcloud pages capped, they are templated)
GCLOUD_CAP = 1500
MIN_WORDS, MAX_WORDS = 80, 4000
POOL_MAX_J = 0.3
NEAR_COPIES = 1900
EXACT_COPIES = 200
NATURAL_HARD_PAIRS = 300
BOILERPLATE_PAIRS = 150
TABLE_TOPICS, TABLES_PER_TOPIC = 20, 5
N = 5  # word n-grams, the default
EDITS = [("word_swap", r) for r in (0.02, 0.05, 0.10, 0.15, 0.20)] + \
        [("word_delete", r) for r in (0.01, 0.03, 0.05, 0.08, 0.12)] + \
        [("word_insert", r) for r in (0.02, 0.05, 0.10)] + \
        [("word_replace", r) for r in (0.02, 0.05, 0.10)] + \
        [("add_header", None), ("add_footer", None), ("header_footer", None), ("header_swap", 0.05)]
BANDS = [(0.0, 0.3), (0.3, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95),
         (0.95, 1.0), (1.0, 1.01)]
ISSUE_BANDS = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01), (0.85, 1.01)]
FILLERS = ["the", "really", "also", "very", "just", "actually", "quite", "so", "then", "indeed", "a", "of"]
HEADERS = ["Source: https://docs.example.org/{slug}", "Posted by admin on {date}", "[Archived copy, {date}]",
           "Last updated: {date}", "Home > Documentation > {slug}",
           "We use cookies to improve your experience. By continuing to browse you agree to our use of cookies."]
FOOTERS = ["Retrieved from https://docs.example.org/{slug} on {date}.", "This page was last edited on {date}.",
           "Share this: Facebook Twitter LinkedIn Email Print", "Copyright {year} Example Docs. All rights reserved.",
           "Was this page helpful? Yes No. Report a problem with this page."]


# --------------------------------------------------------------------------------------------
# Building


def _shingle_strings(tokens: list[str]) -> set[tuple[str, ...]]:
    if not tokens:
        return set()
    if len(tokens) < N:
        return {tuple(tokens)}
    return {tuple(tokens[i:i + N]) for i in range(len(tokens) - N + 1)}


def true_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _token_lists(texts: list[str]) -> list[list[str]]:
    out = []
    for s in range(0, len(texts), 2000):
        tb = tokenize_batch(texts[s:s + 2000], NormalizeConfig())
        flat = tb.tokens.to_pylist()
        out += [flat[tb.offsets[i]:tb.offsets[i + 1]] for i in range(len(tb.offsets) - 1)]
    return out


def _pairwise_jaccard(shingle_sets: list[set]) -> sp.csr_matrix:
    """Exact Jaccard of every pair sharing a shingle (upper triangle, sparse)."""
    vocab: dict[tuple, int] = {}
    rows, cols = [], []
    for i, s in enumerate(shingle_sets):
        for sh in s:
            rows.append(i)
            cols.append(vocab.setdefault(sh, len(vocab)))
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(shingle_sets), len(vocab)))
    inter = sp.triu(x @ x.T, k=1).tocoo()
    sizes = np.array([len(s) for s in shingle_sets], np.float64)
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    return sp.coo_matrix((jac, (inter.row, inter.col)), shape=inter.shape).tocsr()


def _words_and_gaps(text: str) -> list[str]:
    return re.split(r"(\s+)", text)  # even indexes: words (maybe ""), odd: whitespace kept as is


def _edit(text: str, op: str, rate: float | None, rng: random.Random, vocab: list[str], slug: str) -> str:
    date = f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    fill = {"slug": slug, "date": date, "year": date[:4]}
    if op == "add_header":
        return rng.choice(HEADERS).format(**fill) + "\n\n" + text
    if op == "add_footer":
        return text + "\n\n" + rng.choice(FOOTERS).format(**fill)
    if op == "header_footer":
        return rng.choice(HEADERS).format(**fill) + "\n\n" + text + "\n\n" + rng.choice(FOOTERS).format(**fill)
    if op == "header_swap":
        return _edit(_edit(text, "word_swap", rate, rng, vocab, slug), "add_header", None, rng, vocab, slug)
    parts = _words_and_gaps(text)
    words = [i for i in range(0, len(parts), 2) if parts[i]]
    k = max(1, round(rate * len(words)))
    if op == "word_swap":  # k words touched: k / 2 disjoint adjacent pairs
        starts = rng.sample(range(0, len(words) - 1, 2), min(max(1, k // 2), len(words) // 2))
        for s in starts:
            a, b = words[s], words[s + 1]
            parts[a], parts[b] = parts[b], parts[a]
    elif op == "word_delete":
        for w in rng.sample(words, min(k, len(words) - 1)):
            parts[w] = ""
            if w + 1 < len(parts):
                parts[w + 1] = ""
    elif op == "word_insert":
        for w in rng.sample(words, min(k, len(words))):
            parts[w] = rng.choice(FILLERS) + " " + parts[w]
    elif op == "word_replace":
        for w in rng.sample(words, min(k, len(words))):
            parts[w] = rng.choice(vocab)
    else:
        raise ValueError(op)
    return "".join(parts)


def _table(rng: random.Random, caption: str, header: list[str]) -> str:
    lines = [caption, "", " | ".join(header)]
    for _ in range(rng.randint(15, 40)):
        kind = rng.choice(["int", "float", "pct"])
        cells = [str(rng.randint(0, 99999)) if kind == "int" else f"{rng.uniform(0, 1000):.2f}" if kind == "float"
                 else f"{rng.uniform(0, 100):.1f}%" for _ in header]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def build(out: Path) -> dict:
    rng = random.Random(SEED)
    started = time.perf_counter()
    docs = [json.loads(line) for line in open(CORPUS)]
    rng.shuffle(docs)
    candidates, gcloud = [], 0
    for d in docs:
        n_words = len(d["text"].split())
        if not MIN_WORDS <= n_words <= MAX_WORDS:
            continue
        if "gcloud_" in d["id"]:
            if gcloud >= GCLOUD_CAP:
                continue
            gcloud += 1
        candidates.append(d)
        if len(candidates) == CANDIDATES:
            break
    tokens = _token_lists([d["text"] for d in candidates])
    shingles = [_shingle_strings(t) for t in tokens]
    jac = _pairwise_jaccard(shingles)
    sym = (jac + jac.T).tocsr()
    # Greedy pool: no two members at Jaccard >= POOL_MAX_J.
    chosen = np.zeros(len(candidates), bool)
    for i in range(len(candidates)):
        row = sym.getrow(i)
        if not (chosen[row.indices] & (row.data >= POOL_MAX_J)).any():
            chosen[i] = True
    pool = np.flatnonzero(chosen)
    in_pool = set(pool.tolist())
    vocab = sorted({w for t in tokens[:500] for w in t if w.isalpha()})

    # Natural hard negatives: disjoint pool pairs of one source at Jaccard 0.1-0.3.
    coo = jac.tocoo()
    natural, used = [], set()
    order = np.argsort(-coo.data)
    for k in order:
        a, b, j = int(coo.row[k]), int(coo.col[k]), float(coo.data[k])
        if not 0.1 <= j < POOL_MAX_J or a not in in_pool or b not in in_pool or a in used or b in used:
            continue
        if candidates[a]["source"] != candidates[b]["source"]:
            continue
        natural.append((a, b, j))
        used |= {a, b}
        if len(natural) == NATURAL_HARD_PAIRS:
            break
    rest = [i for i in pool.tolist() if i not in used]
    rng.shuffle(rest)
    near_orig, rest = rest[:NEAR_COPIES], rest[NEAR_COPIES:]
    exact_orig, rest = rest[:EXACT_COPIES], rest[EXACT_COPIES:]
    boiler_docs, rest = rest[:4 * BOILERPLATE_PAIRS], rest[4 * BOILERPLATE_PAIRS:]
    distractors = rest

    records: list[dict] = []
    pairs: list[dict] = []
    hard: list[dict] = []

    def add(doc_id: str, text: str, family: str, role: str, source: str, **extra) -> None:
        records.append({"id": doc_id, "text": text, "family": family, "role": role, "source": source, **extra})

    for i in distractors:
        d = candidates[i]
        add(d["id"], d["text"], d["id"], "distractor", d["source"])
    for a, b, j in natural:
        for i in (a, b):
            d = candidates[i]
            add(d["id"], d["text"], d["id"], "hard_natural", d["source"])
        hard.append({"a": candidates[a]["id"], "b": candidates[b]["id"], "jaccard": j, "type": "natural"})
    for n, i in enumerate(near_orig):
        d = candidates[i]
        op, rate = EDITS[n % len(EDITS)]
        slug = re.sub(r"[^a-z0-9]+", "-", d["id"].lower())[-40:]
        copy = _edit(d["text"], op, rate, rng, vocab, slug)
        copy_id = f"{d['id']}~{op}{'' if rate is None else f'-{rate}'}"
        add(d["id"], d["text"], d["id"], "original", d["source"])
        add(copy_id, copy, d["id"], "near_copy", d["source"], edit=op, rate=rate)
        pairs.append({"a": d["id"], "b": copy_id, "edit": op, "rate": rate, "kind": "near",
                      "jaccard": true_jaccard(shingles[i], _shingle_strings(_token_lists([copy])[0]))})
    for i in exact_orig:
        d = candidates[i]
        add(d["id"], d["text"], d["id"], "original", d["source"])
        add(d["id"] + "~exact", d["text"], d["id"], "exact_copy", d["source"])
        pairs.append({"a": d["id"], "b": d["id"] + "~exact", "edit": "exact", "rate": None, "kind": "exact",
                      "jaccard": 1.0})
    # Boilerplate hard negatives: a, b of one source share a header + footer cut from donor c.
    by_source = defaultdict(list)
    for i in boiler_docs:
        by_source[candidates[i]["source"]].append(i)
    groups = [g for g in by_source.values()]
    made = 0
    for g in groups:
        while len(g) >= 3 and made < BOILERPLATE_PAIRS:
            a, b, c = g.pop(), g.pop(), g.pop()
            donor = tokens[c]
            target = rng.uniform(0.1, 0.28)
            size_a, size_b = len(shingles[a]), len(shingles[b])
            words = int(target * (size_a + size_b) / (1 - target)) + N
            words = min(words, len(donor))
            if words < 2 * N:
                continue
            block = donor[:words]
            head, foot = " ".join(block[:words // 2]), " ".join(block[words // 2:])
            ta = head + "\n\n" + candidates[a]["text"] + "\n\n" + foot
            tb = head + "\n\n" + candidates[b]["text"] + "\n\n" + foot
            sa, sb = (_shingle_strings(t) for t in _token_lists([ta, tb]))
            j = true_jaccard(sa, sb)
            if j >= POOL_MAX_J:
                continue
            ida, idb = candidates[a]["id"] + "~boiler", candidates[b]["id"] + "~boiler"
            add(ida, ta, ida, "hard_boilerplate", candidates[a]["source"])
            add(idb, tb, idb, "hard_boilerplate", candidates[b]["source"])
            hard.append({"a": ida, "b": idb, "jaccard": j, "type": "boilerplate"})
            made += 1
    # Number tables sharing a caption and header.
    metrics = ["latency", "throughput", "revenue", "population", "rainfall", "temperature", "score", "yield",
               "volume", "count"]
    dims = ["region", "month", "site", "batch", "node", "year", "device", "sample", "plant", "route"]
    for t in range(TABLE_TOPICS):
        caption = f"Table {t + 1}: {metrics[t % 10]} by {dims[(3 * t) % 10]} (measured values)"
        header = [dims[(3 * t) % 10], *rng.sample(["min", "max", "mean", "median", "p95", "p99", "total", "delta"],
                                                  rng.randint(3, 5))]
        ids = []
        for k in range(TABLES_PER_TOPIC):
            tid = f"table:{t:02d}/{k}"
            add(tid, _table(rng, caption, header), tid, "hard_table", "table")
            ids.append(tid)
        table_tokens = _token_lists([r["text"] for r in records[-TABLES_PER_TOPIC:]])
        sets = [_shingle_strings(x) for x in table_tokens]
        for x in range(TABLES_PER_TOPIC):
            for y in range(x + 1, TABLES_PER_TOPIC):
                hard.append({"a": ids[x], "b": ids[y], "jaccard": true_jaccard(sets[x], sets[y]), "type": "table"})
    rng.shuffle(records)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    (out / "jsonl").mkdir(exist_ok=True)
    for k in range(4):
        with open(out / "jsonl" / f"part-{k}.jsonl", "w") as fh:
            for r in records[k::4]:
                fh.write(json.dumps({"id": r["id"], "text": r["text"]}) + "\n")
    (out / "staging").mkdir(exist_ok=True)
    for k in range(4):
        chunk = records[k * len(records) // 4:(k + 1) * len(records) // 4]
        pq.write_table(pa.table({"id": [r["id"] for r in chunk], "text": [r["text"] for r in chunk]}),
                       out / "staging" / f"part-{k:05d}.parquet")
    meta = {"docs": len(records), "pool": int(pool.size), "candidates": len(candidates), "pairs": pairs,
            "hard_negatives": hard, "roles": dict(Counter(r["role"] for r in records)),
            "build_seconds": round(time.perf_counter() - started, 1)}
    (out / "labels.json").write_text(json.dumps(meta))
    return meta


# --------------------------------------------------------------------------------------------
# Scoring


def _band(j: float, bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [b for b in bands if b[0] <= j < b[1]]


def _label(b: tuple[float, float]) -> str:
    return "1.0 (exact)" if b[0] == 1.0 else f"{b[0]:.2f}-{min(b[1], 1.0):.2f}"


def score(removed: set[str], records: list[dict], meta: dict) -> dict:
    family_size = Counter(r["family"] for r in records)
    family_of = {r["id"]: r["family"] for r in records}
    removed_per_family = Counter(family_of[i] for i in removed)
    false = sum(max(0, k - (family_size[f] - 1)) for f, k in removed_per_family.items())
    bands = {}
    for b in BANDS + ISSUE_BANDS:
        ps = [p for p in meta["pairs"] if b[0] <= p["jaccard"] < b[1]]
        hit = sum(p["a"] in removed or p["b"] in removed for p in ps)
        bands[_label(b) if b not in ISSUE_BANDS else "issue:" + _label(b)] = {"pairs": len(ps), "detected": hit}
    hard_docs = {r["id"] for r in records if r["role"].startswith("hard_")}
    hard_removed = Counter(r["role"] for r in records if r["id"] in removed and r["role"].startswith("hard_"))
    exact = [p for p in meta["pairs"] if p["kind"] == "exact"]
    return {
        "removed": len(removed), "false_removals": false,
        "precision": round(1 - false / len(removed), 4) if removed else 1.0,
        "exact_recall": round(sum(p["a"] in removed or p["b"] in removed for p in exact) / len(exact), 4),
        "hard_negative_docs": len(hard_docs), "hard_negatives_removed": dict(hard_removed),
        "distractors_removed": sum(1 for r in records if r["role"] == "distractor" and r["id"] in removed),
        "bands": bands,
    }


def lsh_candidates(records: list[dict], meta: dict, config: DedupConfig) -> dict:
    """Measured probability that a pair shares a band, per band, next to the mean S-curve value."""
    index = {r["id"]: i for i, r in enumerate(records)}
    hasher = MinHasher(config)
    sigs = np.concatenate([hasher.signatures_for_texts([r["text"] for r in records[s:s + 2000]])
                           for s in range(0, len(records), 2000)])
    bands, rows = config.band_rows
    keys = band_keys(sigs, bands, rows)
    out = {}
    for b in BANDS:
        ps = [p for p in meta["pairs"] if b[0] <= p["jaccard"] < b[1]]
        if not ps:
            continue
        hit = [bool((keys[index[p["a"]]] == keys[index[p["b"]]]).any()) for p in ps]
        out[_label(b)] = {"pairs": len(ps), "theory": round(float(np.mean([s_curve(p["jaccard"], bands, rows)
                                                                            for p in ps])), 4),
                          "measured": round(sum(hit) / len(ps), 4)}
    return out


def run_ours(out: Path, config: DedupConfig, name: str) -> tuple[set[str], dict]:
    work = out / "work" / name
    files = sorted((out / "staging").glob("part-*.parquet"))
    started = time.perf_counter()
    result = deduplicate(files, work, config)
    dup = pq.read_table(work / "duplicates.parquet").to_pylist()
    extra = {"seconds": round(time.perf_counter() - started, 2), "bands_rows": [result.bands, result.rows],
             "threshold": config.threshold, "cluster_mode": config.cluster_mode, "verify": config.verify,
             "candidate_pairs": result.candidate_pairs, "rejected_pairs": result.rejected_pairs,
             "min_jaccard_removed": min((r["jaccard"] for r in dup if r["jaccard"] is not None), default=None)}
    return {r["id"] for r in dup}, extra


def run_datatrove(out: Path) -> tuple[set[str], dict] | None:
    if not DATATROVE_PY.exists():
        return None
    proc = subprocess.run([str(DATATROVE_PY), str(ROOT / "bench" / "dedup_datatrove.py"), "--input",
                           str(out / "jsonl"), "--work", str(out / "work" / "datatrove")],
                          capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    removed = set((out / "work" / "datatrove" / "removed_ids.txt").read_text().split())
    return removed, {"seconds": info["total_seconds"], "config": info["config"]}


SETTINGS = {
    "ours (defaults: 0.6, 25x5, verify, survivor)": DedupConfig(),
    "ours, threshold 0.7 (20x6)": DedupConfig(threshold=0.7),
    "ours, threshold 0.8 (14x9)": DedupConfig(threshold=0.8),
    "ours, 0.6, component clusters": DedupConfig(cluster_mode="component"),
    "ours, no verification (0.8, 9x13)": DedupConfig(verify=False, threshold=0.8),
    "ours, no verification, DataTrove's 14x8": DedupConfig(verify=False, bands=14, rows=8),
}


def sample_anchor(no_datatrove: bool) -> dict:
    """The issue's anchor set: sample_data/corpus.jsonl.gz's labelled near duplicates, per true Jaccard band."""
    import gzip

    docs = [json.loads(line) for line in gzip.open(ROOT / "sample_data" / "corpus.jsonl.gz", "rt")]
    out = OUT.parent / "dedup_sample"
    (out / "jsonl").mkdir(parents=True, exist_ok=True)
    (out / "staging").mkdir(parents=True, exist_ok=True)
    for k in range(2):
        with open(out / "jsonl" / f"part-{k}.jsonl", "w") as fh:
            for d in docs[k::2]:
                fh.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    pq.write_table(pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs]}),
                   out / "staging" / "part-00000.parquet")
    by_id = {d["id"]: d for d in docs}
    sets = dict(zip(by_id, (_shingle_strings(t) for t in _token_lists([d["text"] for d in docs]))))
    pairs = [(d["id"], d["dup_of"], true_jaccard(sets[d["id"]], sets[d["dup_of"]])) for d in docs
             if d["kind"] == "near_dup"]
    tools = {"ours (defaults)": run_ours(out, DedupConfig(), "ours")[0]}
    if not no_datatrove:
        dt = run_datatrove(out)
        if dt:
            tools["DataTrove defaults"] = dt[0]
    report = {}
    for name, removed in tools.items():
        row = {}
        for b in ISSUE_BANDS[:4]:
            ps = [p for p in pairs if b[0] <= p[2] < b[1]]
            row[_label(b)] = f"{sum(a in removed or o in removed for a, o, _ in ps)}/{len(ps)}"
        has_copy = {d["dup_of"] for d in docs if d["dup_of"]}
        originals = Counter(by_id[i]["source"] for i in removed if by_id[i]["kind"] == "original"
                            and i not in has_copy)
        row["exact_dups_found"] = sum(d["id"] in removed or d["dup_of"] in removed for d in docs
                                      if d["kind"] == "exact_dup")
        row["originals_without_a_copy_removed"] = dict(originals)
        report[name] = row
        print(name, json.dumps(row), file=sys.stderr)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-datatrove", action="store_true")
    parser.add_argument("--sample", action="store_true", help="only the anchor comparison on sample_data")
    args = parser.parse_args()
    if args.sample:
        report = sample_anchor(args.no_datatrove)
        RESULTS.with_name("dedup_sample.json").write_text(json.dumps(report, indent=2))
        return
    if args.rebuild or not (args.out / "labels.json").exists():
        meta = build(args.out)
        print(f"built {meta['docs']:,} docs in {meta['build_seconds']} s: {meta['roles']}", file=sys.stderr)
    meta = json.loads((args.out / "labels.json").read_text())
    records = [json.loads(line) for line in open(args.out / "corpus.jsonl")]
    report = {"corpus": {k: meta[k] for k in ("docs", "pool", "candidates", "roles")},
              "pairs_by_edit": {}, "hard_negative_jaccard": {}, "lsh": {}, "tools": {}}
    by_edit = defaultdict(list)
    for p in meta["pairs"]:
        by_edit[f"{p['edit']}{'' if p['rate'] is None else ' ' + str(p['rate'])}"].append(p["jaccard"])
    report["pairs_by_edit"] = {k: {"pairs": len(v), "jaccard_min": round(min(v), 3), "median": round(
        float(np.median(v)), 3), "max": round(max(v), 3)} for k, v in sorted(by_edit.items())}
    for t in ("natural", "boilerplate", "table"):
        js = [h["jaccard"] for h in meta["hard_negatives"] if h["type"] == t]
        report["hard_negative_jaccard"][t] = {"pairs": len(js), "max": round(max(js), 3) if js else None}
    report["lsh"] = lsh_candidates(records, meta, DedupConfig())
    for name, cfg in SETTINGS.items():
        removed, extra = run_ours(args.out, cfg, re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
        report["tools"][name] = score(removed, records, meta) | extra
        print(f"{name}: {report['tools'][name]['removed']} removed", file=sys.stderr)
    if not args.no_datatrove:
        dt = run_datatrove(args.out)
        if dt:
            report["tools"]["DataTrove 0.10.1 defaults (14x8, digits folded)"] = score(dt[0], records, meta) | dt[1]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print_tables(report)


def print_tables(report: dict) -> None:
    lsh = report["lsh"]
    tools = report["tools"]
    names = list(tools)
    print("| true Jaccard | pairs | S-curve 25x5 (theory) | LSH candidate (measured) | "
          + " | ".join(names) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(names))
    for label, row in lsh.items():
        cells = []
        for n in names:
            b = tools[n]["bands"][label]
            cells.append(f"{b['detected'] / b['pairs']:.3f}" if b["pairs"] else "-")
        print(f"| {label} | {row['pairs']} | {row['theory']:.3f} | {row['measured']:.3f} | " + " | ".join(cells) + " |")
    for key in [k for k in tools[names[0]]["bands"] if k.startswith("issue:")]:
        cells = []
        for n in names:
            b = tools[n]["bands"][key]
            cells.append(f"{b['detected'] / b['pairs']:.3f} ({b['detected']}/{b['pairs']})" if b["pairs"] else "-")
        print(f"| **{key[6:]}** | | | | " + " | ".join(cells) + " |")
    print()
    print("| tool | removed | precision | exact recall | hard negatives removed (of "
          f"{tools[names[0]]['hard_negative_docs']}) | distractors removed | seconds |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for n in names:
        t = tools[n]
        print(f"| {n} | {t['removed']} | {t['precision']:.4f} | {t['exact_recall']:.3f} | "
              f"{sum(t['hard_negatives_removed'].values())} {t['hard_negatives_removed'] or ''} | "
              f"{t['distractors_removed']} | {t['seconds']} |")


if __name__ == "__main__":
    main()
