"""The run report: ``DIR/report.md`` and a self-contained ``DIR/report.html`` with PNG plots.

Everything comes from what the steps counted (``summary.json``, ``budget.json``) plus two cheap
columns of the shards (``token_count``, ``quality_score``); no text is read again.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
from markdown_it import MarkdownIt

from curation.budget import render_budget_markdown
from curation.summary import format_redaction

if TYPE_CHECKING:
    from curation.pipeline.result import RunResult


def _columns(out: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    found: dict[str, list[np.ndarray]] = {"token_count": [], "quality_score": []}
    for shard in manifest["shards"]:
        parquet = pq.ParquetFile(out / shard["path"])
        names = [n for n in found if n in parquet.schema_arrow.names]
        table = parquet.read(columns=names)
        for name in names:
            found[name].append(table.column(name).to_numpy(zero_copy_only=False).astype(np.float64))
    return {k: np.concatenate(v) for k, v in found.items() if v}


def png(draw) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display; also keeps plotting out of any GUI event loop
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: reproducible bytes
    plt.close(fig)
    return buf.getvalue()


def _plots(result: RunResult) -> dict[str, tuple[str, bytes]]:
    columns = _columns(result.output_dir, result.manifest)
    plots: dict[str, tuple[str, bytes]] = {}
    tokens = columns.get("token_count")
    if tokens is not None and len(tokens):
        def lengths(ax):
            bins = np.logspace(0, np.log10(max(tokens.max(), 10)), 40)
            ax.hist(np.maximum(tokens, 1), bins=bins, color="#4878a8")
            ax.set_xscale("log")
            ax.set_xlabel("tokens per document (log scale)")
            ax.set_ylabel("documents")
        plots["length"] = ("Document length of the kept documents", png(lengths))
    scores = columns.get("quality_score")
    if scores is not None and len(scores) and not np.isnan(scores).all():
        def quality(ax):
            ax.hist(scores[~np.isnan(scores)], bins=50, range=(0, 1), color="#58a858")
            ax.set_xlabel("quality_score")
            ax.set_ylabel("documents")
        plots["quality"] = ("quality_score of the kept documents", png(quality))
    for group, rows in result.counter_tables:
        if group.plot and rows:
            def bars(ax, group=group, rows=rows):
                labels = list(rows)
                ax.bar(range(len(labels)), list(rows.values()), color="#a86848")
                ax.set_xticks(range(len(labels)), labels)
                ax.set_xlabel(group.label)
                ax.set_ylabel(group.value)
            plots[group.slug] = (group.title, png(bars))
    return plots


def _num(n: Any) -> str:
    return "-" if n is None else f"{n:,}"


def render_markdown(result: RunResult, budget: dict[str, Any], images: dict[str, tuple[str, str]]) -> str:
    """The report as Markdown; ``images`` maps a plot name to (title, link)."""
    s = result.summary
    lines = ["# Curation run report", "",
             f"{s['total_documents']:,} documents, {s['total_tokens']:,} tokens in "
             f"{len(result.manifest['shards'])} shards, and a held-out split of "
             f"{s.get('heldout_documents', 0):,} documents, {s.get('heldout_tokens', 0):,} tokens; "
             f"{s['partitions']} input partitions; {s['seconds']:.1f} s.", "",
             "## Stage funnel", "",
             "| stage | docs in | docs out | dropped | MB out | tokens out | tokens dropped | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for st in result.stages:
        lines.append(f"| {st.stage} | {st.docs_in:,} | {st.docs_out:,} | {st.docs_in - st.docs_out:,} | "
                     f"{st.bytes_out / 1e6:,.2f} | {_num(st.tokens_out)} | {_num(st.tokens_dropped)} | "
                     f"{st.seconds:.2f} |")
    if redaction := format_redaction(result.stages):
        lines += ["", redaction]
    if s.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in s["notes"]]
    lines += ["", "## Drops by reason", "", "| stage | reason | documents |", "|---|---|---:|"]
    lines += [f"| {st.stage} | {reason} | {n:,} |" for st in result.stages for reason, n in sorted(st.reasons.items())]
    lines += [f"| read (quarantined) | {reason} | {n:,} |" for reason, n in sorted(result.quarantine_reasons.items())]
    for group, rows in result.counter_tables:
        if rows and not group.plot:
            lines += ["", f"## {group.title}", "", f"| {group.label} | {group.value} |", "|---|---:|"]
            lines += [f"| {k} | {n:,} |" for k, n in rows.items()]
    for name, (title, link) in images.items():
        lines += ["", f"## {title}", "", f"![{title}]({link})"]
    # The budget's own headings, one level down.
    lines += [""] + ["#" + b if b.startswith("#") else b for b in render_budget_markdown(budget).splitlines()]
    return "\n".join(lines) + "\n"


def write_report(result: RunResult, budget: dict[str, Any]) -> str:
    """Write ``report.md`` (+ ``report/*.png``) and ``report.html`` (plots inlined); return the Markdown."""
    out = result.output_dir
    plots = _plots(result)
    folder = out / "report"
    folder.mkdir(exist_ok=True)
    for name, (_, png) in plots.items():
        (folder / f"{name}.png").write_bytes(png)
    markdown = render_markdown(result, budget, {n: (t, f"report/{n}.png") for n, (t, _) in plots.items()})
    (out / "report.md").write_text(markdown)
    inline = render_markdown(result, budget, {
        n: (t, "data:image/png;base64," + base64.b64encode(png).decode()) for n, (t, png) in plots.items()})
    (out / "report.html").write_text(html_page(inline))
    return markdown


def html_page(markdown: str) -> str:
    """The report's Markdown as a standalone HTML page.

    CommonMark plus GFM tables through markdown-it-py: the hand-written converter this replaces
    knew only tables, headings and images, and left the budget section's bold, lists and escapes
    as raw Markdown. Raw HTML in the Markdown is escaped (stage names and reasons are user text);
    markdown-it's link check lets the inlined ``data:image/png`` plots through.
    """
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px}img{max-width:100%}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Curation run report</title>" \
           f"<style>{style}</style></head><body>\n{body}</body></html>\n"
