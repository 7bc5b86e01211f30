"""The `web` chain end to end: a gzip-per-record crawl in, extracted, URL-filtered, curated text out."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq

from classifiers.default import fill_default_model
from curation.config import PipelineConfig
from curation.pipeline import run
from helpers import SAMPLE, warc_record, write_warc

CHROME = ("<html><head><title>{title}</title><script>analytics('page');</script></head><body>"
          "<nav><a href='/'>Home</a> | <a href='/docs'>Docs</a> | <a href='/blog'>Blog</a> | <a href='/login'>Sign in</a></nav>"
          "<main><h1>{title}</h1>{body}</main>"
          "<footer>Copyright 2025 Example Docs. Privacy policy. Terms of use. Contact.</footer></body></html>")


def crawl_pages(n: int) -> list[tuple[str, str]]:
    """(url, html) of ``n`` pages whose main text is a document of the sample corpus."""
    pages = []
    with gzip.open(SAMPLE, "rt") as fh:
        for line in fh:
            record = json.loads(line)
            if (record["label"], record["kind"]) != ("human", "original") or len(record["text"].split()) < 150:
                continue
            body = "".join(f"<p>{p}</p>" for p in record["text"].split("\n\n"))
            pages.append((f"https://docs.example.org/{len(pages)}", CHROME.format(title=record["id"], body=body)))
            if len(pages) == n:
                break
    return pages


def test_web_chain_end_to_end(tmp_path):
    pages = crawl_pages(40)
    records = [warc_record("warcinfo", "", b"software: tests\r\n")]
    records += [warc_record("response", url, html.encode()) for url, html in pages]
    records += [
        warc_record("response", "https://testsafebrowsing.appspot.com/s/phishing.html", pages[0][1].encode()),
        warc_record("response", "https://docs.example.org/missing", b"<html>gone</html>", status=404),
        warc_record("response", "https://docs.example.org/logo.png", b"\x89PNG" + bytes(64), content_type="image/png"),
    ]
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_warc(crawl / "part-00000.warc.gz", records[:25])
    write_warc(crawl / "part-00001.warc.gz", records[25:])
    # The web preset's own stages and dedup; its decontamination and PII stages, seconds of fixed
    # cost each, run on a crawl in tests/test_readme.py (README's `curate run ... --config web.yaml`).
    web = [s.name for s in PipelineConfig(preset="web").stages if s.name not in ("decontaminate", "pii")]
    config = PipelineConfig.model_validate({"preset": None, "stages": web, "tokenizer": {"vocab_size": 2000}})
    fill_default_model(config)  # what `curate run` does: the demo quality model
    result = run([str(crawl / "*.warc.gz")], tmp_path / "out", config, progress=False)

    out = tmp_path / "out"
    shards = pq.read_table(out / "shards").to_pylist()
    assert len(shards) >= 30
    for row in shards:
        assert row["url"].startswith("https://docs.example.org/") and row["http_status"] == 200
        assert row["id"].startswith("urn:uuid:") and row["warc_date"] and row["charset"] == "utf-8"
        assert "<p>" not in row["text"] and "analytics" not in row["text"] and "Privacy policy" not in row["text"]
        assert 0 < row["extracted_ratio"] < 1 and row["html_bytes"] > len(row["text"])
    removed = pq.read_table(out / "removed").to_pylist()
    blocked = [r for r in removed if r["stage"] == "url_filter"]
    assert [(r["reason"], r["url_match"], r["url_list"]) for r in blocked] == [
        ("blocked_domain", "testsafebrowsing.appspot.com", "domains.txt")]
    quarantine = pq.read_table(out / "quarantine").to_pylist()
    assert sorted(q["reason"] for q in quarantine) == ["http_status", "not_html"]
    stages = {s["stage"]: s for s in result.summary["stages"]}
    assert stages["extract"]["docs_in"] == 41 and stages["url_filter"]["docs_out"] == 40
    assert result.manifest["total_documents"] == len(shards)
    assert any("only the bundled example lists" in note for note in result.summary["notes"])
