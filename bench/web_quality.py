"""The web preset's quality thresholds, checked on extracted web text (issue 20).

    flock /tmp/bench.lock .venv/bin/python bench/web_quality.py      # ~1 min; needs bench/data/web.warc.gz

The default chain (heuristics, language, the demo quality classifier, its 0.5 threshold) was
calibrated on sample_data's documentation text. Here it runs after our ``extract`` stage on:

* every page of bench/data/web.warc.gz (bench/web_corpus.py: real pages of news sites and of the
  Python, PostgreSQL, Apache, Git and Debian manuals): the share of English pages kept, per site,
  and why the others were dropped. Human-written text; the goal is the default's: keep >= 90 %.
* sample_data's junk documents (630 of them: boilerplate, keyword spam, generated filler, code
  dumps) inside the same page chrome as a real site (navigation, script, footer), extracted the
  same way: the share removed. The default's goal: remove >= 95 %.

Writes bench/results/web_quality.json.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.default import fill_default_model  # noqa: E402
from curation.config import InputConfig, PipelineConfig  # noqa: E402
from curation.document import Document  # noqa: E402
from curation.io.readers import DocumentReader, resolve_inputs  # noqa: E402
from curation.registry import build_stage  # noqa: E402

WARC = ROOT / "bench" / "data" / "web.warc.gz"
SAMPLE = ROOT / "sample_data" / "corpus.jsonl.gz"
RESULTS = ROOT / "bench" / "results" / "web_quality.json"
CHROME = ("<html><head><title>{title}</title><script>analytics('page');</script></head><body>"
          "<nav><a href='/'>Home</a> | <a href='/news'>News</a> | <a href='/about'>About</a></nav>"
          "<main><article>{body}</article></main>"
          "<footer>Copyright 2025 Example Media. Privacy policy. Terms of use.</footer></body></html>")


def web_chain() -> list:
    config = PipelineConfig(preset="web")
    fill_default_model(config)
    return [build_stage(s.name, s.params) for s in config.stages if s.name not in ("url_filter", "decontaminate",
                                                                                      "dedup", "pii")]


def outcome(stages: list, docs: list[Document]) -> tuple[list[Document], list]:
    """The documents kept by the chain, and every drop (stage, reason, doc)."""
    kept, dropped = [], []
    for start in range(0, len(docs), 500):
        batch = docs[start:start + 500]
        for stage in stages:
            result = stage(batch)
            dropped += [(d.stage, d.reason, d.doc) for d in result.dropped]
            batch = result.kept
        kept += batch
    return kept, dropped


def main() -> None:
    stages = web_chain()
    reader = DocumentReader(InputConfig())
    pages = [d for f in resolve_inputs([str(WARC)]) for b in reader.read(f) for d in b.docs]
    site = {d.id: urlsplit(d.attributes["url"]).hostname for d in pages}
    extracted, _ = outcome(stages[:1], pages)
    language = next(st for st in stages if st.name == "language")
    english_ids = {d.id for d in language([dataclasses.replace(d, attributes=dict(d.attributes))
                                           for d in extracted]).kept}
    kept, dropped = outcome(stages[1:], extracted)
    per_site: dict[str, Counter] = defaultdict(Counter)
    for d in kept:
        per_site[site[d.id]]["kept"] += 1
    for stage, reason, d in dropped:
        per_site[site[d.id]]["not_english" if d.id not in english_ids else f"dropped/{stage}/{reason}"] += 1
    sites = {}
    for name, counts in sorted(per_site.items(), key=lambda kv: -sum(kv[1].values())):
        english = sum(v for k, v in counts.items() if k != "not_english")
        sites[name] = {"pages": sum(counts.values()), "english": english, "kept": counts["kept"],
                       "kept_share_of_english": round(counts["kept"] / english, 3) if english else None,
                       "drops": {k: v for k, v in counts.items() if k.startswith("dropped/")}}
    english = sum(s["english"] for s in sites.values())
    human = {"pages": len(pages), "extracted": len(extracted), "english": english, "kept": len(kept),
             "kept_share_of_english": round(len(kept) / english, 3), "sites": sites}

    with gzip.open(SAMPLE, "rt") as fh:
        junk = [json.loads(line) for line in fh]
    junk = [r for r in junk if r["label"] == "junk"]
    docs = [Document(r["id"], CHROME.format(title=r["id"], body="".join(f"<p>{p}</p>" for p in r["text"].split("\n"))),
                     "junk", {"content_type": "text/html"}) for r in junk]
    kept_junk, dropped_junk = outcome(stages, docs)
    junk_result = {"documents": len(docs), "removed": len(docs) - len(kept_junk),
                   "removed_share": round(1 - len(kept_junk) / len(docs), 3),
                   "drops": dict(Counter(f"{s}/{r}" for s, r, _ in dropped_junk).most_common())}
    results = {"human_web_pages": human, "junk_in_page_chrome": junk_result}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
