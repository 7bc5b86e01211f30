"""FineWeb's extra rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3; datatrove's
``FineWebQualityFilter`` defaults)."""

from __future__ import annotations

import numpy as np

from curation.quality.rules import RuleCheck, RuleFilter, enabled
from curation.quality.stats import TERMINAL_PUNCTUATION


class FineWebQuality(RuleFilter):
    """FineWeb's rules; any threshold set to None switches that rule off.

    Args:
        min_line_punct_ratio: drop when at most 12% of lines end in terminal punctuation.
        max_short_line_ratio: drop when 67% or more of lines are at most ``short_line_chars`` (30) long.
        max_dup_line_chars: drop when 1% or more of characters are in repeated lines.
        max_newline_per_word: drop when there are more than 0.3 newlines per word.
    """

    name = "fineweb_quality"
    columnar = True

    def __init__(self, min_line_punct_ratio: float | None = 0.12, max_short_line_ratio: float | None = 0.67,
                 short_line_chars: int = 30, max_dup_line_chars: float | None = 0.01,
                 max_newline_per_word: float | None = 0.3):
        self.min_line_punct_ratio = min_line_punct_ratio
        self.max_short_line_ratio = max_short_line_ratio
        self.short_line_chars = short_line_chars
        self.max_dup_line_chars = max_dup_line_chars
        self.max_newline_per_word = max_newline_per_word

    def rules(self) -> list[tuple[str, RuleCheck]]:
        return fineweb_rules(self)


def fineweb_rules(t: FineWebQuality) -> list[tuple[str, RuleCheck]]:
    return enabled(
        ("fineweb_line_punct", t.min_line_punct_ratio,
         lambda v: v.line_share(ending=TERMINAL_PUNCTUATION) <= t.min_line_punct_ratio),
        ("fineweb_short_lines", t.max_short_line_ratio,
         lambda v: v.line_share(max_chars=t.short_line_chars) >= t.max_short_line_ratio),
        ("fineweb_dup_line_chars", t.max_dup_line_chars,
         lambda v: v.line_duplicates[1] >= t.max_dup_line_chars),
        ("fineweb_newlines", t.max_newline_per_word,
         lambda v: v.newline_count / np.maximum(v.word_count, 1) > t.max_newline_per_word),
    )
