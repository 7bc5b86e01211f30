"""Run accounting: per-stage funnel (docs, bytes, tokens, time), drop and quarantine reasons."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageStats:
    """What one stage did over the whole run."""

    stage: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int | None = 0  # None for the reader: raw record bytes are not text bytes
    bytes_out: int = 0
    tokens_out: int | None = None  # known for the final stage (the shards)
    tokens_dropped: int | None = None  # counted on removed/ texts once the tokenizer exists
    seconds: float = 0.0  # summed over worker processes when several run the stage
    # Its dropped documents whose text was redacted for removed/ (output.removed_text), and the time
    # that took: the PII stage's work again, outside the stage's own seconds (4.6 of the bench
    # corpus's ~43 CPU-seconds, where dedup drops a third of it).
    redacted: int = 0
    redact_seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)  # the stage's own, e.g. pii/entity/EMAIL_ADDRESS

    def add_step(self, step) -> None:
        """Fold one batch's :class:`~curation.pipeline.chain.StepRecord` into the totals."""
        self.docs_in += step.docs_in
        self.docs_out += step.docs_out
        self.bytes_in += step.bytes_in
        self.bytes_out += step.bytes_out
        self.seconds += step.seconds
        self.reasons.update(d.reason for d in step.dropped)
        self.add_counters(step.counters)

    def add_counters(self, counters: Counter[str]) -> None:
        """Keep a stage's own counters; the funnel and drop reasons are counted by the runner."""
        for key, value in counters.items():
            if key not in ("docs_in", "docs_out") and not key.startswith("dropped/"):
                self.counters[key] += value

    def merge(self, other: StageStats) -> None:
        """Add another partition's totals for the same stage."""
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        if self.bytes_in is not None and other.bytes_in is not None:
            self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.redacted += other.redacted
        self.redact_seconds += other.redact_seconds
        self.reasons.update(other.reasons)
        self.counters.update(other.counters)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageStats:
        return cls(**{**data, "reasons": Counter(data["reasons"]), "counters": Counter(data["counters"])})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = dict(sorted(self.reasons.items()))
        out["counters"] = dict(sorted(self.counters.items()))
        return out


def utf8_bytes(texts: list[str]) -> int:
    return sum(len(t.encode("utf-8")) for t in texts)


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.2f}"


def _num(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def format_table(stages: list[StageStats]) -> str:
    """A plain-text funnel table, one row per stage."""
    header = ["stage", "docs in", "docs out", "dropped", "MB in", "MB out", "tokens out", "tokens dropped", "seconds"]
    rows = [header] + [
        [s.stage, _num(s.docs_in), _num(s.docs_out), _num(s.docs_in - s.docs_out), _mb(s.bytes_in), _mb(s.bytes_out),
         _num(s.tokens_out), _num(s.tokens_dropped), f"{s.seconds:.2f}"]
        for s in stages
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_redaction(stages: list[StageStats]) -> str | None:
    """The line saying what redacting removed/ texts cost, or None where nothing was redacted."""
    redacted = sum(s.redacted for s in stages)
    if not redacted:
        return None
    return (f"removed/ text: {redacted:,} dropped documents redacted in {sum(s.redact_seconds for s in stages):.2f} s "
            f"beside the stages' seconds (output.removed_text: redacted; raw or none skips this)")


def format_reasons(title: str, reasons: Counter[str]) -> str:
    if not reasons:
        return f"{title}: none"
    width = max(len(r) for r in reasons)
    return "\n".join([f"{title}:"] + [f"  {r.ljust(width)}  {n:>10,}" for r, n in sorted(reasons.items())])
