"""Web main-text extraction: ours (WARC reader + ``extract`` stage) against DataTrove's Trafilatura step.

    .venv/bin/python bench/web_corpus.py                     # bench/data/web.warc.gz, real HTML pages
    flock /tmp/bench.lock .venv/bin/python bench/web_extract.py [--limit N] [--no-datatrove] [--our-trafilatura]

One process each, one after another, on the same WARC (2,822 real pages: news pages shipped as
test fixtures by Trafilatura and newspaper4k, and the HTML manuals of Python, PostgreSQL, Apache
httpd, Git and Debian; bench/data/web.sources.json): ours reads it with curation.io.formats.warc
and extracts with the ``extract`` stage (Resiliparse, its child process included); DataTrove 0.10.1
runs WarcReader -> Trafilatura (its defaults, 1 s timeout) -> JsonlWriter in
bench/.venv-datatrove (bench/peers/datatrove_extract.py). ``--our-trafilatura`` adds our stage with
method ``trafilatura`` (Trafilatura 2.x in our venv), which separates the extractor from the rest.

Extracted text is compared page by page (matched by WARC-Record-ID): words each kept that the other
did not (bags of words), empty extractions, and boilerplate left in: the share of pages whose text
still holds a navigation or footer line of its site (``MARKERS``: "Quick search", "Show Source",
"Available Languages", copyright footers...), per site. Writes bench/results/web_extract.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.config import InputConfig  # noqa: E402
from curation.io.readers import DocumentReader, resolve_inputs  # noqa: E402
from curation.web.extract import Extract  # noqa: E402

WARC = ROOT / "bench" / "data" / "web.warc.gz"
DATATROVE_PY = ROOT / "bench" / ".venv-datatrove" / "bin" / "python"
RESULTS = ROOT / "bench" / "results" / "web_extract.json"
# Lines of a site's navigation, sidebar or footer (not of its articles): a page whose extracted text
# still holds one kept boilerplate. Per site, from the pages' own templates.
MARKERS = {
    "docs.python.org": ("Quick search", "Show Source", "Report a Bug", "Previous topic", "Next topic",
                        "© Copyright", "Theme\nAuto"),
    "httpd.apache.org": ("Available Languages:", "Copyright 20", "Modules | Directives", "Comments"),
    "www.postgresql.org": ("Prev\xa0", "Submit correction", "Home\xa0Next", "Prev Up"),
    "mirrors.edge.kernel.org": ("Last updated",),
}


def ours(limit: int | None, method: str) -> tuple[float, dict[str, str], Counter[str]]:
    """Our reader and extract stage over the WARC in this process: seconds, texts by id, counters."""
    started = time.perf_counter()
    reader = DocumentReader(InputConfig())
    stage = Extract(method=method)
    texts: dict[str, str] = {}
    counters: Counter[str] = Counter()
    seen = 0
    for source in resolve_inputs([str(WARC)]):
        for batch in reader.read(source):
            docs = batch.docs[: None if limit is None else max(0, limit - seen)]
            seen += len(docs)
            result = stage(docs)
            counters.update(result.counters)
            texts.update((d.id, d.text) for d in result.kept)
            texts.update((d.doc.id, "") for d in result.dropped)
    if stage._sandbox is not None:
        stage._sandbox.close()
    counters.update(reader.counters)
    return time.perf_counter() - started, texts, counters


def datatrove(limit: int | None) -> tuple[dict, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dt"
        command = [str(DATATROVE_PY), str(ROOT / "bench" / "peers" / "datatrove_extract.py"), "--input", str(WARC),
                   "--output", str(out), "--workers", "1"] + (["--limit", str(limit)] if limit else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        texts = {}
        for path in sorted(out.glob("*.jsonl.gz")):
            with gzip.open(path, "rt") as fh:
                for line in fh:
                    row = json.loads(line)
                    texts[row["id"].strip("<>")] = row["text"]
    return report, texts


def compare(a: dict[str, str], b: dict[str, str]) -> dict:
    """Bag-of-words agreement of two extractions of the same pages (``a``'s words found in ``b``)."""
    shared = sorted(set(a) & set(b))
    kept_by_b, kept_by_a = [], []
    for doc_id in shared:
        wa, wb = Counter(a[doc_id].split()), Counter(b[doc_id].split())
        both = sum((wa & wb).values())
        if wa:
            kept_by_b.append(both / sum(wa.values()))
        if wb:
            kept_by_a.append(both / sum(wb.values()))
    return {"pages_compared": len(shared),
            "median_share_of_a_words_in_b": round(statistics.median(kept_by_b), 3) if kept_by_b else None,
            "median_share_of_b_words_in_a": round(statistics.median(kept_by_a), 3) if kept_by_a else None,
            "a_words": sum(len(a[i].split()) for i in shared), "b_words": sum(len(b[i].split()) for i in shared),
            "empty_in_a_only": sum(1 for i in shared if not a[i].strip() and b[i].strip()),
            "empty_in_b_only": sum(1 for i in shared if a[i].strip() and not b[i].strip())}


def boilerplate(texts: dict[str, str], urls: dict[str, str]) -> dict[str, dict]:
    """Per site with markers: pages whose text still holds one of its navigation/footer lines."""
    by_site: dict[str, list[bool]] = defaultdict(list)
    for doc_id, text in texts.items():
        site = urlsplit(urls.get(doc_id, "")).hostname or ""
        if site in MARKERS and text.strip():
            by_site[site].append(any(m in text for m in MARKERS[site]))
    return {site: {"pages": len(flags), "with_boilerplate": sum(flags),
                   "share": round(sum(flags) / len(flags), 3)} for site, flags in sorted(by_site.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="the first N pages only")
    parser.add_argument("--no-datatrove", action="store_true")
    parser.add_argument("--our-trafilatura", action="store_true", help="also our stage with method trafilatura")
    args = parser.parse_args()
    if not WARC.exists():
        sys.exit(f"{WARC} is missing: run .venv/bin/python bench/web_corpus.py first")
    reader = DocumentReader(InputConfig())
    urls = {d.id: d.attributes["url"] for f in resolve_inputs([str(WARC)]) for b in reader.read(f) for d in b.docs}
    pages = min(len(urls), args.limit or len(urls))
    mb = WARC.stat().st_size / 1e6
    results: dict = {"warc": str(WARC.relative_to(ROOT)), "warc_mb": round(mb, 2), "pages": pages, "contenders": {}}
    texts: dict[str, dict[str, str]] = {}

    seconds, texts["ours"], counters = ours(args.limit, "resiliparse")
    results["contenders"]["ours (resiliparse)"] = {
        "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 1),
        "extracted": counters["extract/pages"], "dropped": {k: v for k, v in counters.items() if k.startswith("dropped/")},
        "quarantined": {k: v for k, v in counters.items() if k.startswith("quarantined/")},
        "html_mb": round(counters["extract/html_bytes"] / 1e6, 1), "text_mb": round(counters["extract/text_bytes"] / 1e6, 2)}
    print(json.dumps(results["contenders"]["ours (resiliparse)"]), flush=True)
    if args.our_trafilatura:
        seconds, texts["ours-trafilatura"], counters = ours(args.limit, "trafilatura")
        results["contenders"]["ours (trafilatura)"] = {
            "seconds": round(seconds, 2), "pages_per_s": round(pages / seconds, 1),
            "extracted": counters["extract/pages"],
            "dropped": {k: v for k, v in counters.items() if k.startswith("dropped/")}}
        print(json.dumps(results["contenders"]["ours (trafilatura)"]), flush=True)
    if not args.no_datatrove and DATATROVE_PY.exists():
        report, texts["datatrove"] = datatrove(args.limit)
        report["pages_per_s"] = round(pages / report["seconds"], 1)
        results["contenders"]["datatrove (trafilatura)"] = report
        print(json.dumps(report), flush=True)
        ours_rate = results["contenders"]["ours (resiliparse)"]["pages_per_s"]
        results["speedup_vs_datatrove"] = round(ours_rate / report["pages_per_s"], 1)
        results["ours_vs_datatrove_text"] = compare(texts["ours"], texts["datatrove"])
    results["boilerplate_left"] = {name: boilerplate(t, urls) for name, t in texts.items()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "contenders"}, indent=1))


if __name__ == "__main__":
    main()
