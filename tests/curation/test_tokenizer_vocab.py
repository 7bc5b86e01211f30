"""``vocab_shortfall_note``: why a trained vocabulary came out smaller than configured."""

from __future__ import annotations

from curation.config import TokenizerConfig
from curation.tokenizer import train_tokenizer, vocab_shortfall_note

TINY = [["hello world, hello there"] * 3]


def test_note_says_how_many_fewer_and_why():
    config = TokenizerConfig(vocab_size=1000)  # min_frequency 2
    tokenizer = train_tokenizer(TINY, config)
    size = tokenizer.get_vocab_size()
    assert 257 < size < 300  # 256 bytes, the EOS and the few merges the text allows
    note = vocab_shortfall_note(tokenizer, config)
    assert note is not None and "\n" not in note
    assert f"{size} of the 1,000 configured ({1000 - size} fewer)" in note
    assert "min_frequency=2" in note and "more text" in note and "tokenizer.min_frequency" in note


def test_min_frequency_one_is_not_suggested():
    config = TokenizerConfig(vocab_size=1000, min_frequency=1)
    note = vocab_shortfall_note(train_tokenizer(TINY, config), config)
    assert note is not None and "no pair is left" in note and "min_frequency" not in note  # lowering cannot help


def test_no_note_when_reached_or_reused():
    config = TokenizerConfig(vocab_size=1000)
    tokenizer = train_tokenizer(TINY, config)
    # vocab_size has a floor of 300; model_copy skips validation to state a size this tokenizer reached.
    assert vocab_shortfall_note(tokenizer, config.model_copy(update={"vocab_size": tokenizer.get_vocab_size()})) is None
    assert vocab_shortfall_note(tokenizer, TokenizerConfig(vocab_size=1000, path="tok/tokenizer.json")) is None
