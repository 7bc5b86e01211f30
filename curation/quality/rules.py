"""A filter made of named rules: the first rule that fires drops the document.

Every rule is evaluated on every document so the run summary can report both the first-firing
rule (the drop reason) and how often each rule *would* have fired (counter ``would_fire/<rule>``):
the figure needed to see which thresholds matter on a corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from curation.document import Document
from curation.quality.stats import TextView, text_views
from curation.stage import Dropped, Stage, StageResult

RuleCheck = Callable[[TextView], bool]


class RuleFilter(Stage):
    """Base class: subclasses store thresholds and list ``(reason, fires)`` pairs in :meth:`rules`.

    Rules are rebuilt per batch from the thresholds instead of stored, so the stage pickles
    cleanly for worker processes. Their statistics are computed for the whole batch at once
    (:class:`~curation.quality.stats.TextBatch`) the first time a rule asks for them.
    """

    def rules(self) -> list[tuple[str, RuleCheck]]:
        raise NotImplementedError

    def process(self, batch: list[Document]) -> StageResult:
        rules = self.rules()
        kept: list[Document] = []
        dropped: list[Dropped] = []
        counters: Counter[str] = Counter()
        for doc, view in zip(batch, text_views([d.text for d in batch])):
            fired = [reason for reason, fires in rules if fires(view)]
            counters.update(f"would_fire/{reason}" for reason in fired)
            if fired:
                dropped.append(Dropped(doc, self.name, fired[0]))
            else:
                kept.append(doc)
        return StageResult(kept, dropped, counters)


def enabled(*pairs: tuple[str, object, RuleCheck]) -> list[tuple[str, RuleCheck]]:
    """Keep the rules whose threshold is set: a threshold of None switches a rule off."""
    return [(reason, check) for reason, threshold, check in pairs if threshold is not None]
