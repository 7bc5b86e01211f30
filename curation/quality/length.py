"""Document length bounds, the cheapest quality signal."""

from __future__ import annotations

from curation.document import Document
from curation.stage import Filter


class LengthFilter(Filter):
    """Drop documents outside a word-count range.

    Defaults are Gopher's (Rae et al. 2021, appendix A.1.1): keep 50 to 100,000 words. Words are
    whitespace-separated tokens, which is what Gopher counts and costs one ``str.split``.

    Args:
        min_words: Fewer words than this drops with reason ``too_few_words``.
        max_words: More words than this drops with reason ``too_many_words``.
    """

    name = "length"

    def __init__(self, min_words: int = 50, max_words: int = 100_000):
        if min_words < 0 or max_words < min_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {min_words}, {max_words}")
        self.min_words = min_words
        self.max_words = max_words

    def keep(self, doc: Document) -> bool | tuple[bool, str]:
        words = len(doc.text.split())
        if words < self.min_words:
            return False, "too_few_words"
        if words > self.max_words:
            return False, "too_many_words"
        return True
