"""C4's cleaning rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section 2.2).

Unlike the other rule sets, C4 *rewrites* documents: it removes lines, then judges what is left.
Each kept document records what was removed (``c4_removed_lines``, ``c4_removed_chars``), and the
stage counts removed lines per rule. Note the ``{`` rule drops every document that contains code.
"""

from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa

from curation.document import Document
from curation.quality.stats import TERMINAL_PUNCTUATION
from curation.stage import Dropped, Stage, StageResult

POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


class C4Filter(Stage):
    """C4's line and document rules; each one can be switched off.

    Args:
        terminal_punctuation: remove lines not ending in terminal punctuation.
        min_words_per_line: remove lines with fewer words (3); None disables.
        javascript: remove lines mentioning "javascript".
        policy: remove lines with cookie/terms/privacy-policy boilerplate.
        lorem_ipsum: drop documents containing "lorem ipsum".
        curly_bracket: drop documents containing "{" (removes all code: C4 did this on purpose).
        min_sentences: drop documents with fewer sentences after line removal (5); None disables.
    """

    name = "c4"
    attributes = {"c4_removed_lines": pa.int32(), "c4_removed_chars": pa.int64()}

    def __init__(self, terminal_punctuation: bool = True, min_words_per_line: int | None = 3,
                 javascript: bool = True, policy: bool = True, lorem_ipsum: bool = True,
                 curly_bracket: bool = True, min_sentences: int | None = 5):
        self.terminal_punctuation = terminal_punctuation
        self.min_words_per_line = min_words_per_line
        self.javascript = javascript
        self.policy = policy
        self.lorem_ipsum = lorem_ipsum
        self.curly_bracket = curly_bracket
        self.min_sentences = min_sentences

    def _line_reason(self, line: str) -> str | None:
        lower = line.lower()
        if self.javascript and "javascript" in lower:
            return "c4_javascript_line"
        if self.policy and any(p in lower for p in POLICY_PHRASES):
            return "c4_policy_line"
        if self.min_words_per_line is not None and len(line.split()) < self.min_words_per_line:
            return "c4_short_line"
        if self.terminal_punctuation and not line.endswith(TERMINAL_PUNCTUATION):
            return "c4_no_terminal_punctuation"
        return None

    def process(self, batch: list[Document]) -> StageResult:
        kept: list[Document] = []
        dropped: list[Dropped] = []
        counters: Counter[str] = Counter()
        for doc in batch:
            lower = doc.text.lower()
            if self.lorem_ipsum and "lorem ipsum" in lower:
                dropped.append(Dropped(doc, self.name, "c4_lorem_ipsum"))
                continue
            if self.curly_bracket and "{" in doc.text:
                dropped.append(Dropped(doc, self.name, "c4_curly_bracket"))
                continue
            lines_kept, removed_lines, removed_chars = [], 0, 0
            for line in doc.text.split("\n"):
                stripped = line.strip()
                if not stripped:
                    continue
                reason = self._line_reason(stripped)
                if reason is None:
                    lines_kept.append(stripped)
                else:
                    counters[f"removed_lines/{reason}"] += 1
                    removed_lines += 1
                    removed_chars += len(stripped)
            text = "\n".join(lines_kept)
            if not text:
                dropped.append(Dropped(doc, self.name, "c4_no_lines_left"))
                continue
            if self.min_sentences is not None and len(_SENTENCE_END.findall(text)) < self.min_sentences:
                dropped.append(Dropped(doc, self.name, "c4_too_few_sentences"))
                continue
            if removed_lines:
                counters["rewritten_docs"] += 1
            doc.text = text
            doc.attributes["c4_removed_lines"] = removed_lines
            doc.attributes["c4_removed_chars"] = removed_chars
            kept.append(doc)
        return StageResult(kept, dropped, counters)
