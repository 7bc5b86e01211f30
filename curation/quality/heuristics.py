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

from curation.quality.fineweb import FineWebQuality
from curation.quality.gopher import GopherQuality, GopherRepetition
from curation.quality.rules import RuleCheck, RuleFilter


class Heuristics(RuleFilter):
    """Calibrated Gopher-style rules (thresholds: human 99th percentile on sample_data, or the paper's
    where that is looser). Any threshold can be changed or set to None to switch its rule off; the
    parameters mean what they mean on GopherQuality, GopherRepetition and FineWebQuality (FineWeb's
    duplicate-line rule is ``fineweb_max_dup_line_chars`` here). FineWeb's rules are off by default.

    Args:
        min_words, max_words: word-count bounds; off here (the default preset sets min_words=50,
            Gopher's floor, Rae et al. 2021).
        min_mean_word_length, max_mean_word_length: 3 (Gopher) to 12 characters (Gopher: 10; real
            documentation with long identifiers reaches 11.6 at its 99th percentile).
        max_symbol_word_ratio: ``#`` and ellipses per word; 0.15 (Gopher: 0.1; Markdown headings).
        max_bullet_lines_ratio: off (Gopher: 0.9; option lists are bullets).
        max_ellipsis_lines_ratio: 0.3 (Gopher).
        min_alpha_words_ratio: share of words with a letter; 0.5 (Gopher: 0.8; code and tables).
        min_stop_words: English stop words present; 2 (Gopher).
        max_dup_line_ratio, max_dup_line_chars: repeated lines, by count and by characters; 0.5 and
            0.4 (Gopher: 0.3 and 0.2).
        max_dup_para_ratio, max_dup_para_chars: repeated paragraphs; 0.5 and 0.4 (Gopher: 0.3, 0.2).
        top_ngram: most frequent n-gram's character share, n -> limit; {2: 0.25, 3: 0.25, 4: 0.25}
            (Gopher: 0.20, 0.18, 0.16).
        dup_ngram: duplicated n-gram character share; {5: 0.7, 10: 0.6} (Gopher: 0.15 to 0.10 for
            n = 5..10; repetitive reference pages pass Gopher's rarely).
        min_line_punct_ratio, max_short_line_ratio, short_line_chars, fineweb_max_dup_line_chars,
            max_newline_per_word: FineWeb's rules (Penedo et al. 2024), off here.
    """

    name = "heuristics"
    columnar = True  # its rules are GopherQuality's, GopherRepetition's and FineWebQuality's

    def __init__(self, min_words: int | None = None, max_words: int | None = None,
                 min_mean_word_length: float | None = 3, max_mean_word_length: float | None = 12,
                 max_symbol_word_ratio: float | None = 0.15, max_bullet_lines_ratio: float | None = None,
                 max_ellipsis_lines_ratio: float | None = 0.3, min_alpha_words_ratio: float | None = 0.5,
                 min_stop_words: int | None = 2,
                 max_dup_line_ratio: float | None = 0.5, max_dup_line_chars: float | None = 0.4,
                 max_dup_para_ratio: float | None = 0.5, max_dup_para_chars: float | None = 0.4,
                 top_ngram: dict[int, float] | None = None, dup_ngram: dict[int, float] | None = None,
                 min_line_punct_ratio: float | None = None, max_short_line_ratio: float | None = None,
                 short_line_chars: int = 30, fineweb_max_dup_line_chars: float | None = None,
                 max_newline_per_word: float | None = None):
        # No word-count bounds unless asked: the default preset sets min_words=50 (one split of the
        # text serves both, instead of a separate `length` stage splitting it again).
        self.quality = GopherQuality(min_words, max_words, min_mean_word_length, max_mean_word_length,
                                     max_symbol_word_ratio, max_bullet_lines_ratio, max_ellipsis_lines_ratio,
                                     min_alpha_words_ratio, min_stop_words)
        self.repetition = GopherRepetition(max_dup_line_ratio, max_dup_line_chars, max_dup_para_ratio,
                                           max_dup_para_chars, top_ngram or {2: 0.25, 3: 0.25, 4: 0.25},
                                           dup_ngram or {5: 0.7, 10: 0.6})
        self.fineweb = FineWebQuality(min_line_punct_ratio, max_short_line_ratio, short_line_chars,
                                      fineweb_max_dup_line_chars, max_newline_per_word)

    def rules(self) -> list[tuple[str, RuleCheck]]:
        # Cheapest first, so the first-firing reason is the cheap one.
        return self.quality.rules() + self.repetition.rules() + self.fineweb.rules()
