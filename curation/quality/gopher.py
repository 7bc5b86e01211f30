"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1).

Defaults are the paper's thresholds. On technical documentation they are harsh: code, tables and
``====`` underlines fail the alphabetic-word and symbol rules (see README, "Quality presets").
"""

from __future__ import annotations

from typing import Any

from curation.quality.rules import RuleCheck, RuleFilter, enabled
from curation.quality.stats import BULLETS, ELLIPSES, Columns, TextView, ratio


class GopherQuality(RuleFilter):
    """Gopher's quality rules; any threshold set to None switches that rule off.

    Args:
        min_words, max_words: 50 to 100,000 words.
        min_mean_word_length, max_mean_word_length: 3 to 10 characters.
        max_symbol_word_ratio: ``#`` and ellipses per word, at most 0.1.
        max_bullet_lines_ratio: at most 90% of lines starting with a bullet.
        max_ellipsis_lines_ratio: at most 30% of lines ending with an ellipsis.
        min_alpha_words_ratio: at least 80% of words containing a letter.
        min_stop_words: at least 2 of {the, be, to, of, and, that, have, with}.
    """

    name = "gopher_quality"
    columnar = True

    def __init__(self, min_words: int | None = 50, max_words: int | None = 100_000,
                 min_mean_word_length: float | None = 3, max_mean_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1, max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3, min_alpha_words_ratio: float | None = 0.8,
                 min_stop_words: int | None = 2):
        self.min_words, self.max_words = min_words, max_words
        self.min_mean_word_length, self.max_mean_word_length = min_mean_word_length, max_mean_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words

    def rules(self) -> list[tuple[str, RuleCheck]]:
        return gopher_quality_rules(self)


# The rules read a view's statistics only through names Columns shares and ratio(): the same
# expression decides one document (a TextView) or a whole batch (Columns) at once.
def _mean_word_length(v: TextView | Columns) -> Any:
    return ratio(v.word_chars, v.word_count)


def _symbol_ratio(v: TextView | Columns) -> Any:
    return ratio(v.symbol_count, v.word_count)


def gopher_quality_rules(t: GopherQuality) -> list[tuple[str, RuleCheck]]:
    return enabled(
        ("gopher_too_few_words", t.min_words, lambda v: v.word_count < t.min_words),
        ("gopher_too_many_words", t.max_words, lambda v: v.word_count > t.max_words),
        ("gopher_short_mean_word", t.min_mean_word_length, lambda v: _mean_word_length(v) < t.min_mean_word_length),
        ("gopher_long_mean_word", t.max_mean_word_length, lambda v: _mean_word_length(v) > t.max_mean_word_length),
        ("gopher_symbol_ratio", t.max_symbol_word_ratio, lambda v: _symbol_ratio(v) > t.max_symbol_word_ratio),
        ("gopher_bullet_lines", t.max_bullet_lines_ratio,
         lambda v: v.line_share(starting=BULLETS) > t.max_bullet_lines_ratio),
        ("gopher_ellipsis_lines", t.max_ellipsis_lines_ratio,
         lambda v: v.line_share(ending=ELLIPSES) > t.max_ellipsis_lines_ratio),
        ("gopher_alpha_words", t.min_alpha_words_ratio, lambda v: v.alpha_word_fraction() < t.min_alpha_words_ratio),
        ("gopher_stop_words", t.min_stop_words, lambda v: v.stop_word_count() < t.min_stop_words),
    )


# Paper thresholds for the duplicated n-gram character share, n = 5..10.
GOPHER_DUP_NGRAM = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
GOPHER_TOP_NGRAM = {2: 0.20, 3: 0.18, 4: 0.16}


class GopherRepetition(RuleFilter):
    """Gopher's repetition rules; any threshold set to None (or left out of a dict) is off.

    Args:
        max_dup_line_ratio, max_dup_line_chars: repeated lines, at most 30% by count, 20% by characters.
        max_dup_para_ratio, max_dup_para_chars: the same for paragraphs.
        top_ngram: n -> max share of characters in the most frequent n-gram (2/3/4: 0.20/0.18/0.16).
        dup_ngram: n -> max share of characters in duplicated n-grams (5..10: 0.15 down to 0.10).
    """

    name = "gopher_repetition"
    columnar = True

    def __init__(self, max_dup_line_ratio: float | None = 0.3, max_dup_line_chars: float | None = 0.2,
                 max_dup_para_ratio: float | None = 0.3, max_dup_para_chars: float | None = 0.2,
                 top_ngram: dict[int, float] | None = None, dup_ngram: dict[int, float] | None = None):
        self.max_dup_line_ratio, self.max_dup_line_chars = max_dup_line_ratio, max_dup_line_chars
        self.max_dup_para_ratio, self.max_dup_para_chars = max_dup_para_ratio, max_dup_para_chars
        self.top_ngram = {int(k): v for k, v in (GOPHER_TOP_NGRAM if top_ngram is None else top_ngram).items()}
        self.dup_ngram = {int(k): v for k, v in (GOPHER_DUP_NGRAM if dup_ngram is None else dup_ngram).items()}

    def rules(self) -> list[tuple[str, RuleCheck]]:
        return gopher_repetition_rules(self)


def gopher_repetition_rules(t: GopherRepetition) -> list[tuple[str, RuleCheck]]:
    rules = enabled(
        ("gopher_dup_lines", t.max_dup_line_ratio, lambda v: v.line_duplicates[0] > t.max_dup_line_ratio),
        ("gopher_dup_line_chars", t.max_dup_line_chars, lambda v: v.line_duplicates[1] > t.max_dup_line_chars),
        ("gopher_dup_paragraphs", t.max_dup_para_ratio, lambda v: v.paragraph_duplicates[0] > t.max_dup_para_ratio),
        ("gopher_dup_paragraph_chars", t.max_dup_para_chars,
         lambda v: v.paragraph_duplicates[1] > t.max_dup_para_chars),
    )
    for n, limit in sorted(t.top_ngram.items()):
        if limit is not None:
            rules.append((f"gopher_top_{n}gram", lambda v, n=n, limit=limit: v.top_ngram_char_fraction(n) > limit))
    for n, limit in sorted(t.dup_ngram.items()):
        if limit is not None:
            rules.append((f"gopher_dup_{n}gram", lambda v, n=n, limit=limit: v.duplicate_ngram_char_fraction(n) > limit))
    return rules
