"""What a run produced, and the text it prints at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.stage import CounterGroup
from curation.summary import StageStats, format_reasons, format_redaction, format_table


@dataclass
class RunResult:
    """What a run produced; ``summary`` is what ``DIR/summary.json`` holds."""

    output_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    stages: list[StageStats] = field(default_factory=list)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    published_to: str | None = None  # the output URL, when the outputs were published there
    report_markdown: str = ""  # report.md's text; its plots are linked as report/NAME.png
    # Each stage's declared counter groups with their values (tables and plots of the report).
    counter_tables: list[tuple[CounterGroup, dict[str, int]]] = field(default_factory=list)

    def report(self) -> str:
        """The end-of-run text for a terminal."""
        s = self.summary
        drops = Counter({f"{st.stage}/{r}": n for st in self.stages for r, n in st.reasons.items()})
        tok = s["tokenizer"]
        bpt = tok.get("holdout_bytes_per_token")
        lines = [
            format_table(self.stages),
            *filter(None, [format_redaction(self.stages)]),
            "",
            format_reasons("quarantined (bad input)", self.quarantine_reasons),
            format_reasons("dropped (by stage/reason)", drops),
            "",
            f"documents: {self.manifest['total_documents']:,}   tokens: {self.manifest['total_tokens']:,}   "
            f"shards: {len(self.manifest['shards'])}   held out: {s.get('heldout_documents', 0):,} documents, "
            f"{s.get('heldout_tokens', 0):,} tokens   wall: {s['seconds']:.1f} s",
            f"tokenizer: {tok['source']}, vocab {tok['vocab_size']:,}, counter {tok['counter']}"
            + (f", {bpt:.3f} bytes/token on {tok['holdout_documents']:,} held-out docs" if bpt else ""),
            f"output: {self.published_to or self.output_dir}",
        ]
        if s.get("resumed_steps"):
            lines.append(f"resumed: {len(s['resumed_steps'])} finished steps of an interrupted run were kept "
                         f"({_brief(s['resumed_steps'])})")
        lines += [f"note: {n}" for n in s.get("notes", [])]
        return "\n".join(lines)


def _brief(names: list[str]) -> str:
    """``filter-00000, filter-00001, fit-dedup`` as ``filter x2, fit-dedup``."""
    kinds = Counter(n.rsplit("-", 1)[0] if n.rsplit("-", 1)[-1].isdigit() else n for n in names)
    return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in kinds.items())
