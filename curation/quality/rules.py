"""A filter made of named rules: the first rule that fires drops the document.

Every rule is evaluated on every document so the run summary can report both the first-firing
rule (the drop reason) and how often each rule *would* have fired (counter ``would_fire/<rule>``):
the figure needed to see which thresholds matter on a corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from curation.document import Document
from curation.quality.stats import TextView, text_batches, text_views
from curation.stage import Dropped, Stage, StageResult

RuleCheck = Callable[[TextView], Any]


class RuleFilter(Stage):
    """Base class: subclasses store thresholds and list ``(reason, fires)`` pairs in :meth:`rules`.

    Rules are rebuilt per batch from the thresholds instead of stored, so the stage pickles
    cleanly for worker processes. Their statistics are computed for the whole batch at once
    (:class:`~curation.quality.stats.TextBatch`) the first time a rule asks for them.
    """

    # True where every rule, given a batch's Columns instead of one TextView, answers for all its
    # documents (an array): one numpy expression per rule and batch instead of a Python call per
    # rule and document (the heuristics stage: 2.03 vs 2.43 s on 8,000 bench documents). A rule
    # reading ``v.text`` or branching on a value needs False (one call per document).
    columnar: ClassVar[bool] = False

    def rules(self) -> list[tuple[str, RuleCheck]]:
        raise NotImplementedError

    def process(self, batch: list[Document]) -> StageResult:
        rules = self.rules()
        if self.columnar:
            return self._process_columns(batch, rules)
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

    def _process_columns(self, batch: list[Document], rules: list[tuple[str, RuleCheck]]) -> StageResult:
        """:meth:`process` with each rule asked once per :class:`~curation.quality.stats.TextBatch`."""
        if not rules:
            return StageResult(list(batch), [], Counter())
        fired = np.zeros((len(rules), len(batch)), bool)  # fired[r, d]: rule r fires on document d
        at = 0
        for chunk in text_batches([d.text for d in batch]):
            n = len(chunk.texts)
            for r, (_, fires) in enumerate(rules):
                fired[r, at:at + n] = fires(chunk.columns)  # an array, or one value for the whole chunk
            at += n
        drop = fired.any(axis=0)
        first = fired.argmax(axis=0)  # the first rule that fires, as the reason
        counters = Counter({f"would_fire/{reason}": n for (reason, _), n in zip(rules, fired.sum(axis=1).tolist()) if n})
        return StageResult([doc for doc, out in zip(batch, drop.tolist()) if not out],
                           [Dropped(batch[d], self.name, rules[first[d]][0]) for d in np.flatnonzero(drop).tolist()],
                           counters)


def enabled(*pairs: tuple[str, object, RuleCheck]) -> list[tuple[str, RuleCheck]]:
    """Keep the rules whose threshold is set: a threshold of None switches a rule off."""
    return [(reason, check) for reason, threshold, check in pairs if threshold is not None]
