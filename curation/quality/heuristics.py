"""The default heuristic filter: Gopher's and FineWeb's rules at thresholds calibrated to keep
real technical text.

At paper thresholds the Gopher + C4 + FineWeb chain drops most real documentation (code, tables,
option lists): see ``bench/quality_calibration.py`` for the per-rule figures on ``sample_data``.
These defaults keep the rules that separate junk from human text (stop words, top n-gram share,
alphabetic words) and move every threshold beyond the 99th percentile of real human text measured
there, leaving the finer judgement to the trained classifier. The paper rule sets stay available
as the ``gopher_quality``, ``gopher_repetition``, ``fineweb_quality`` and ``c4`` stages.
"""

from __future__ import annotations

from curation.quality.fineweb import fineweb_rules
from curation.quality.gopher import gopher_quality_rules, gopher_repetition_rules
from curation.quality.rules import RuleCheck, RuleFilter


class Heuristics(RuleFilter):
    """Calibrated Gopher-style rules (thresholds: human 99th percentile on sample_data, or the paper's
    where that is looser). Any threshold can be changed or set to None to switch its rule off.

    Rule order is cheapest first, so the first-firing reason is the cheap one.
    """

    name = "heuristics"

    def __init__(self, min_words: int | None = None, max_words: int | None = None,
                 min_mean_word_length: float | None = 3, max_mean_word_length: float | None = 12,
                 max_symbol_word_ratio: float | None = 0.15, max_bullet_lines_ratio: float | None = None,
                 max_ellipsis_lines_ratio: float | None = 0.3, min_alpha_words_ratio: float | None = 0.5,
                 min_stop_words: int | None = 2,
                 max_dup_line_ratio: float | None = 0.5, max_dup_line_chars: float | None = 0.4,
                 max_dup_para_ratio: float | None = 0.5, max_dup_para_chars: float | None = 0.4,
                 top_ngram: dict[int, float] | None = None, dup_ngram: dict[int, float] | None = None,
                 min_line_punct_ratio: float | None = None, max_short_line_ratio: float | None = None,
                 short_line_chars: int = 30, max_dup_line_chars_fineweb: float | None = None,
                 max_newline_per_word: float | None = None):
        # Word-count bounds are the `length` stage's job in the default chain.
        self.min_words, self.max_words = min_words, max_words
        self.min_mean_word_length, self.max_mean_word_length = min_mean_word_length, max_mean_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.max_dup_line_ratio, self.max_dup_line_chars = max_dup_line_ratio, max_dup_line_chars
        self.max_dup_para_ratio, self.max_dup_para_chars = max_dup_para_ratio, max_dup_para_chars
        self.top_ngram = {int(k): v for k, v in (top_ngram or {2: 0.25, 3: 0.25, 4: 0.25}).items()}
        self.dup_ngram = {int(k): v for k, v in (dup_ngram or {5: 0.7, 10: 0.6}).items()}
        self.min_line_punct_ratio = min_line_punct_ratio
        self.max_short_line_ratio = max_short_line_ratio
        self.short_line_chars = short_line_chars
        self.max_dup_line_chars = max_dup_line_chars
        self.max_newline_per_word = max_newline_per_word
        self._fineweb_dup = max_dup_line_chars_fineweb

    def rules(self) -> list[tuple[str, RuleCheck]]:
        fineweb = _FineWebView(self)
        return gopher_quality_rules(self) + gopher_repetition_rules(self) + fineweb_rules(fineweb)


class _FineWebView:
    """FineWeb's thresholds as named on Heuristics (its duplicate-line threshold has its own name)."""

    def __init__(self, h: Heuristics):
        self.min_line_punct_ratio = h.min_line_punct_ratio
        self.max_short_line_ratio = h.max_short_line_ratio
        self.short_line_chars = h.short_line_chars
        self.max_dup_line_chars = h._fineweb_dup
        self.max_newline_per_word = h.max_newline_per_word
