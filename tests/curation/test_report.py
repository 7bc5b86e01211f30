"""``report.html``: the whole report rendered, the budget section included, with no Markdown left raw."""

from __future__ import annotations

import base64
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from curation.budget import budget_report
from curation.pipeline import RunResult
from curation.report import html_page, render_markdown, write_report
from curation.summary import StageStats

# A 1x1 PNG: the report inlines its plots as data: URLs.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


class Page(HTMLParser):
    """The tags of a page and its text outside ``<pre>``/``<code>``, line by line."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.images: list[dict[str, str | None]] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._code = 0
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        if tag in ("pre", "code"):
            self._code += 1
        elif tag == "img":
            self.images.append(dict(attrs))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code"):
            self._code -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if not self._code:
            self.text.append(data)

    def raw_markdown(self) -> list[str]:
        """Text lines that still read as Markdown syntax: table rules, bold, headings, "- " items,
        images, links, backslash escapes. (A rendered footnote item may start with a "*" of its own.)"""
        lines = "".join(self.text).splitlines()
        return [line for line in lines if re.search(r"\|\s*:?-{3}|\*\*|^\s*#{1,6}\s|^\s*- |!\[|\]\(|\\\*", line)]


def synthetic_result(tmp_path: Path) -> RunResult:
    length = StageStats("length", docs_in=3_495, docs_out=3_300, bytes_out=9_000_000, seconds=1.25,
                        reasons=Counter({"too_short": 190, "too_long": 5}))
    pii = StageStats("pii", docs_in=3_300, docs_out=3_299, bytes_out=8_900_000, tokens_out=2_000_000, seconds=2.5,
                     reasons=Counter({"pii_density": 1}), counters=Counter({"pii/entity/EMAIL_ADDRESS": 210}))
    summary = {"total_documents": 3_299, "total_tokens": 2_000_000, "partitions": 2, "seconds": 4.2}
    manifest = {"shards": [], "total_documents": 3_299, "total_tokens": 2_000_000}
    from curation.pii.redact import PIIRedactor

    tables = [(group, group.select(pii.counters)) for group in PIIRedactor.counter_groups]
    return RunResult(tmp_path, manifest, summary, [length, pii], Counter({"invalid_json": 2}), counter_tables=tables)


def test_whole_report_is_html_budget_included(tmp_path):
    result = synthetic_result(tmp_path)
    budget = budget_report(2e9)  # > 4 epochs for the big models: the "\*" footnote mark and its list item
    markdown = render_markdown(result, budget, {"length": ("Document length", "data:image/png;base64,"
                                                           + base64.b64encode(PIXEL).decode())})
    page = Page(html_page(markdown))
    assert page.raw_markdown() == []
    assert page.tags["h1"] == 1 and page.tags["h2"] >= 4  # the report's and the budget's headings
    assert page.tags["strong"] == 2 and page.tags["li"] == 4  # the budget's bold figures and notes
    assert [img["src"][:22] for img in page.images] == ["data:image/png;base64,"]
    assert base64.b64decode(page.images[0]["src"].split(",", 1)[1]) == PIXEL  # the plot survives intact
    tables = {t[0][0]: t for t in page.tables}
    assert set(tables) == {"stage", "model", "entity"}  # funnel (and drops), budget, PII
    budget_table = tables["model"]
    assert budget_table[0][:3] == ["model", "tokens/param", "verdict"]
    assert [row[0] for row in budget_table[1:]] == ["125M", "350M", "1.3B", "7B", "13B", "70B"]
    assert budget_table[-1][3] == "700 *"  # an escaped "\*" comes out as the star, not "\*"
    funnel = page.tables[0]
    assert funnel[1][:3] == ["length", "3,495", "3,300"]


def test_written_report_html(tmp_path):
    result = synthetic_result(tmp_path)
    markdown = write_report(result, budget_report(result.manifest["total_tokens"]))
    page = Page((tmp_path / "report.html").read_text())
    assert "| model | tokens/param |" in markdown and page.raw_markdown() == []
    assert any(t[0][:2] == ["model", "tokens/param"] for t in page.tables)


def test_user_text_is_escaped(tmp_path):
    result = synthetic_result(tmp_path)
    result.stages[0].reasons["<script>alert(1)</script>"] = 1
    html = html_page(render_markdown(result, budget_report(2e6), {}))
    assert "<script>" not in html and "&lt;script&gt;" in html
