"""The last step: the steps' accounting merged into the manifest, summary, budget and report; then
publishing (for a URL output) and the intermediates' removal."""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curation.budget import budget_report, render_budget_markdown
from curation.io import output as owned
from curation.io.files import write_json, write_text
from curation.io.storage import publish
from curation.pipeline.card import write_card
from curation.pipeline.manifest import build_manifest
from curation.pipeline.outcomes import FitOutcome, Outcome, PartitionOutcome, ShardsOutcome, TokenizerOutcome
from curation.pipeline.plan import INTERMEDIATE, RESULT_FILES, RunPlan, remove_run_files
from curation.pipeline.result import RunResult
from curation.summary import StageStats

# Corpus-level stages every preset keeps (config.PRESETS), and what their absence means.
CORPUS_STAGES = {"decontaminate": "not decontaminated", "dedup": "not deduplicated", "pii": "not PII-redacted"}


def import_ahead() -> None:
    """Import what this step's report and card import (matplotlib, huggingface_hub's cards: ~0.6 s),
    in a thread started while the process waits for the partitions' tasks: after them it was the
    run's serial tail, with every worker idle."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # as curation.report.png: no display
        import matplotlib.pyplot  # noqa: F401
        from huggingface_hub import DatasetCard  # noqa: F401

        import curation.report  # noqa: F401
    except Exception:  # noqa: BLE001 - the step imports them again and reports any failure itself
        pass


def finalize(plan: RunPlan, early: Sequence[PartitionOutcome], fits: Sequence[FitOutcome],
             late: Sequence[PartitionOutcome], tokenizer: TokenizerOutcome, shards: ShardsOutcome,
             started: float, keep_intermediate: bool = False) -> RunResult:
    """Merge the steps' accounting and write the summary, budget, report and manifest (last).

    Args:
        started: ``time.time()`` when the run started, for the summary's wall time.
    """
    from curation.report import write_report

    out = plan.output
    stats, reasons = merge_stats(plan, early, fits, late, shards)
    manifest = build_manifest(plan, shards.shards, tokenizer, shards.heldout)
    budget = budget_report(manifest["total_tokens"])
    write_json(out / "budget.json", budget)
    write_text(out / "budget.md", render_budget_markdown(budget))
    steps: list[Outcome] = [*early, *fits, *late, tokenizer, shards]
    summary = {
        "inputs": list(plan.inputs),
        "partitions": len(plan.partitions),
        "stages": [s.to_dict() for s in stats],
        "quarantined": dict(sorted(reasons.items())),
        "total_documents": manifest["total_documents"],
        "total_tokens": manifest["total_tokens"],
        "heldout_documents": manifest["heldout"]["total_documents"],
        "heldout_tokens": manifest["heldout"]["total_tokens"],
        "tokenizer": tokenizer.summary(),
        "resumed_steps": [step_name(o) for o in steps if o.resumed],
        "notes": list(plan.notes) + run_notes(plan, tokenizer, stats, manifest),
        "seconds": round(time.time() - started, 3),
    }
    write_json(out / "summary.json", summary)
    tables = [(group, group.select(total.counters)) for stage, total in zip(plan.stages(), stats[1:])
              for group in stage.counter_groups]
    result = RunResult(out, manifest, summary, stats, reasons, published_to=plan.publish_to, counter_tables=tables)
    result.report_markdown = write_report(result, budget)
    write_card(out, manifest, summary, stats, plan.schemas["shard"])
    # Last: a reader that sees the manifest sees every file it lists.
    write_json(out / "manifest.json", manifest)
    if plan.publish_to:
        publish(out, plan.publish_to, output_files(plan, early, late, manifest))
    if not keep_intermediate:
        for sub in INTERMEDIATE:  # markers first (see INTERMEDIATE)
            owned.remove_tree(out / sub)
        if plan.publish_to:
            # The URL holds the outputs now; the local copy was only the steps' workspace.
            remove_run_files(out)
            for name in (*RESULT_FILES, "config.json", "plan.json", owned.OWNER_FILE, owned.LOCK_FILE):
                (out / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: something not ours is in it
                out.rmdir()
    return result


def merge_stats(plan: RunPlan, early: Sequence[PartitionOutcome], fits: Sequence[FitOutcome],
                late: Sequence[PartitionOutcome], shards: ShardsOutcome) -> tuple[list[StageStats], Counter[str]]:
    """Per-stage totals over every partition, fit and the shards; quarantine reasons."""
    stats = [StageStats("read", bytes_in=None)] + [StageStats(s.name) for s in plan.stages()]
    reasons: Counter[str] = Counter()
    for outcome in early:
        reasons.update(outcome.quarantined)
        for total, part in zip(stats, outcome.stats):
            total.merge(StageStats.from_dict(part))
    for outcome in late:
        for total, part in zip(stats[1 + plan.split:], outcome.stats):
            total.merge(StageStats.from_dict(part))
    for fit in fits:
        total = stats[1 + fit.position]
        total.seconds += fit.seconds
        total.add_counters(Counter(fit.counters))
    counted = plan.config.output.removed_text != "none"
    for total in stats[1:]:
        total.tokens_dropped = shards.tokens_dropped.get(total.stage, 0) if counted else None
    stats[-1].tokens_out = sum(s.tokens for s in (*shards.shards, *shards.heldout))
    return stats, reasons


def output_files(plan: RunPlan, early: Sequence[PartitionOutcome], late: Sequence[PartitionOutcome],
                 manifest: dict[str, Any]) -> list[str]:
    """Every output file of the run, relative to its folder (what publishing uploads)."""
    out = plan.output
    listed = [s["path"] for s in (*manifest["shards"], *manifest["heldout"]["shards"])]
    for outcome in (*early, *late):
        listed += [Path(f.path).relative_to(out).as_posix() for f in (*outcome.removed, *outcome.quarantine)]
    for sub in ("tokenizer", "report"):
        listed += [p.relative_to(out).as_posix() for p in sorted((out / sub).glob("*")) if p.is_file()
                   and not p.name.startswith(".")]
    listed += [name for name in (*RESULT_FILES, "config.json", "plan.json") if (out / name).is_file()]
    return listed


def _listed(words: list[str]) -> str:
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def run_notes(plan: RunPlan, tokenizer: TokenizerOutcome, stats: list[StageStats],
              manifest: dict[str, Any]) -> list[str]:
    """What a user should know about this run that no error stopped: one line each."""
    notes = []
    fraction = plan.config.shards.heldout_fraction
    if fraction and not manifest["heldout"]["total_documents"]:
        notes.append(f"no held-out split ({manifest['total_documents']:,} documents kept; at "
                     f"shards.heldout_fraction={fraction:g} one takes about {math.ceil(1 / fraction):,}): training "
                     "on this run reports no validation loss")
    names = {s.name for s in plan.config.stages}
    missing = [name for name in CORPUS_STAGES if name not in names]
    if missing:
        notes.append(f"the config removed {_listed(missing)} from the chain: the shards are "
                     + _listed([CORPUS_STAGES[m] for m in missing]))
    if tokenizer.note:
        notes.append(tokenizer.note)
    for stage, total in zip(plan.stages(), stats[1:]):
        notes += stage.run_notes(total.counters)
    return notes


def step_name(outcome: Outcome) -> str:
    """The marker name of the step that produced ``outcome`` (as resumed_steps lists it)."""
    if isinstance(outcome, FitOutcome):
        return f"fit-{outcome.stage}"
    if isinstance(outcome, PartitionOutcome):
        return f"{outcome.step}-{outcome.index:05d}"
    return "tokenizer" if isinstance(outcome, TokenizerOutcome) else "shards"
