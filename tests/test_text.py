"""The shared word tokenizer and vocabulary."""
import pytest

from tlcourse.text import PAD, UNK, Vocab, words


def test_words_lowercases_and_drops_punctuation():
    assert words("The Union's 2 states, 1,000 men — don’t!") == [
        "the", "union's", "2", "states", "1,000", "men", "don't"]


def test_vocab_orders_by_count_and_respects_min_count_and_max_size(tmp_path):
    sents = [["b", "a", "b"], ["c", "b", "a"], ["d"]]
    v = Vocab.build(sents, min_count=2)
    assert v.itos == [PAD, UNK, "b", "a"]
    assert v.encode(["a", "zzz"]) == [3, 1] and v.decode([2, 3]) == ["b", "a"]
    assert Vocab.build(sents, max_size=3).itos == [PAD, UNK, "b"]
    v.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").itos == v.itos


def test_unknown_word_without_unk_is_an_error():
    v = Vocab.build([["a"]], specials=())
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v["b"]
