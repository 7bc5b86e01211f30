"""Main-text extraction: the page's text without its navigation, in a child that a hung page cannot stall."""

from __future__ import annotations

import time

import pytest

from curation.document import Document
from curation.web.extract import Extract, is_html

ARTICLE = """<!DOCTYPE html><html><head><title>Rivers</title><style>p {color: red}</style>
<script>var tracking = "do not keep this";</script></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/about">About us</a></li>
</ul></nav></header>
<main><article><h1>How rivers shape valleys</h1>
<p>Rivers carve valleys over thousands of years. Water carries sediment downstream, and the sediment
grinds the riverbed as it moves, deepening the channel a little every flood season.</p>
<p>Where the rock is soft the valley widens; where it is hard the river cuts a narrow gorge with steep
walls, and waterfalls form where a hard layer sits on top of a soft one.</p>
</article></main>
<aside class="sidebar"><h3>Popular</h3><ul><li><a href="/a">Ten best beaches</a></li><li><a href="/b">Cheap flights</a></li></ul></aside>
<footer><p>Copyright 2024 Example Media. All rights reserved. | Privacy | Terms | Cookies</p></footer>
</body></html>"""


def page(doc_id: str, html: str, content_type: str | None = "text/html") -> Document:
    return Document(doc_id, html, "crawl.warc.gz", {"content_type": content_type} if content_type else {})


@pytest.mark.parametrize("method", ["resiliparse", "trafilatura"])
def test_main_text_without_navigation_scripts_or_footer(method):
    if method == "trafilatura":
        pytest.importorskip("trafilatura")
    result = Extract(method=method)([page("a", ARTICLE)])
    (doc,) = result.kept
    assert "Rivers carve valleys over thousands of years." in doc.text
    assert "waterfalls form where a hard layer" in doc.text
    for boilerplate in ("tracking", "color: red", "Cheap flights", "All rights reserved", "About us"):
        assert boilerplate not in doc.text, (method, boilerplate)
    assert doc.attributes["html_bytes"] == len(ARTICLE.encode())
    assert doc.attributes["extracted_ratio"] == round(len(doc.text.encode()) / len(ARTICLE.encode()), 4) < 0.5
    assert result.counters["extract/pages"] == 1 and result.counters["extract/html_bytes"] == len(ARTICLE.encode())


def test_what_is_not_html_passes_untouched_and_raw_html_without_a_type_is_extracted():
    wet = page("wet", "Plain text from a WET file. <p> stays as written.", "text/plain")
    jsonl = page("jsonl", "A JSONL document with no content type at all.", None)
    raw = page("raw", "  <html><body><p>Raw HTML in a JSONL field.</p></body></html>", None)
    result = Extract()([wet, jsonl, raw])
    assert [(d.id, d.text) for d in result.kept] == [("wet", wet.text), ("jsonl", jsonl.text),
                                                    ("raw", "Raw HTML in a JSONL field.")]
    assert result.counters["extract/passed_through_not_html"] == 2
    assert is_html(page("x", "", "application/xhtml+xml; charset=utf-8"))


def test_a_page_with_no_main_text_is_dropped_with_its_reason():
    empty = page("empty", "<html><head><title>Redirecting</title></head><body><script>go()</script></body></html>")
    short = page("short", "<html><body><p>Hi.</p></body></html>")
    result = Extract(min_chars=10)([empty, short, page("ok", ARTICLE)])
    assert [(d.doc.id, d.reason) for d in result.dropped] == [("empty", "no_main_text"), ("short", "no_main_text")]
    assert [d.id for d in result.kept] == ["ok"]


def test_a_page_over_the_time_limit_is_dropped_and_the_rest_still_extracted():
    """A 20 MB page of nested tables takes the parser far longer than the limit: the child is killed
    and replaced, the page dropped as extraction_timeout, and the pages after it extracted."""
    slow = "<html><body>" + "<table><tr><td><div><span>cell text</span></div></td></tr></table>" * 300_000 + "</body></html>"
    stage = Extract(timeout=0.05)
    started = time.monotonic()
    result = stage([page("before", ARTICLE), page("slow", slow), page("after", ARTICLE)])
    assert [(d.doc.id, d.reason) for d in result.dropped] == [("slow", "extraction_timeout")]
    assert [d.id for d in result.kept] == ["before", "after"]
    assert time.monotonic() - started < 30
    again = stage([page("next batch", ARTICLE)])  # the replacement child serves the next batch
    assert [d.id for d in again.kept] == ["next batch"]


DOCBOOK = """<html><body><div class="navheader"><table><tr><th colspan="3">clusterdb</th></tr><tr>
<td><a href="a.html">Prev</a></td><td><a href="b.html">Up</a></td><td><a href="c.html">Next</a></td></tr></table></div>
<div class="refentry"><h2>Description</h2><p>clusterdb is a utility for reclustering tables in a PostgreSQL database.
It finds tables that have previously been clustered, and clusters them again on the same index.</p></div>
<div class="navfooter"><table><tr><td><a href="a.html">Prev</a></td><td><a href="h.html">Home</a></td></tr></table></div>
</body></html>"""


def test_docbook_navigation_is_left_out_and_sites_can_add_their_own():
    (doc,) = Extract()([page("pg", DOCBOOK)]).kept
    assert "reclustering tables" in doc.text and "Prev" not in doc.text and "Home" not in doc.text
    (doc,) = Extract(skip_elements=[".refentry h2"])([page("pg", DOCBOOK)]).kept
    assert "Prev" in doc.text and "Description" not in doc.text  # the user's list replaces the default


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="method"):
        Extract(method="justext")
    with pytest.raises(ValueError, match="timeout"):
        Extract(timeout=0)
    with pytest.raises(ValueError, match="bad skip_elements"):
        Extract(skip_elements=["div[["])
