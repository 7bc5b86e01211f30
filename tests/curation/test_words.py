"""curation.words: the compiled word split against the Arrow kernels it replaces."""

from __future__ import annotations

import gzip
import json
import unicodedata

import pyarrow as pa
import pytest

from curation.words import split_reference, split_words
from helpers import SAMPLE


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    with gzip.open(SAMPLE, "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


ADVERSARIAL = ["", " ", "\n\n", "Hello, world!", "a\u00a0b\u3000c\u2028d\u0085e\u1680f\u205fg", "x\x1cy\x1fz\x0bw",
               "é—ü “q” 😀 a–b ¿qué? «ok» ¥5 ©2024 𝔘𝔫𝔦 🇫🇷 ‐hyph", "  lead trail  ", "!!!", "ǅemal ΣΑΣ İstanbul",
               "日本語、テキスト。中文，标点！", "tab\tsep\rcr", "\u200bzero\u200cwidth\ufeffbom", "a" * 5000,
               "a, " * 4000 + "é " * 3000]


@pytest.mark.parametrize("strip", [True, False])
def test_word_split_equals_arrow_regex_and_split(sample_texts, strip):
    """The compiled byte pass gives exactly the words of Arrow's regex + whitespace split kernels, on
    every sample document, on slices, and on every assigned code point (one text per code point, so
    one misclassified shows up by name; unassigned and private-use ones are in no class)."""
    every_char = [f"w{chr(c)}w" for c in range(1, 0x110000)
                  if unicodedata.category(chr(c)) not in ("Cn", "Co", "Cs")]
    texts = [t.lower() for t in sample_texts] + sample_texts[:50] + ADVERSARIAL + every_char
    arr = pa.array(texts, pa.large_string())
    for part in (arr, arr.slice(5, 300), arr.slice(len(arr) - 20)):
        words, offsets = split_words(part, strip)
        ref_words, ref_offsets = split_reference(part, strip)
        assert offsets.tolist() == ref_offsets.tolist()
        assert words.equals(ref_words)
