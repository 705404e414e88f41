"""Word-level text handling shared by the NLP chapters (2, 3, 7): one tokenizer, one vocabulary.

    from tlcourse.text import words, Vocab
    sentences = [words(s) for s in data.corpus_sentences()]     # lower-cased word tokens
    vocab = Vocab.build(sentences, min_count=5)                  # <pad>=0, <unk>=1, then by count
    ids = vocab.encode(sentences[0]); vocab.decode(ids)

Chapter 2's assignment has students write their own vocabulary; this is the course's copy, used by
the book pages and the zoo so that every chapter reads the corpus the same way.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

# Words (with an inner apostrophe: "nation's", "don't") and numbers; punctuation is dropped.
_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+(?:[.,][0-9]+)*")

PAD, UNK = "<pad>", "<unk>"


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``: ``"The Union's 2 states." -> ['the', "union's", '2', 'states']``."""
    return _WORD_RE.findall(text.lower().replace("’", "'"))


class Vocab:
    """A word ↔ id table: special tokens first, then words by decreasing count (ties by word)."""

    def __init__(self, itos: list[str], counts: dict[str, int] | None = None):
        if len(set(itos)) != len(itos):
            raise ValueError("a vocabulary cannot list a word twice")
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.counts = dict(counts or {})
        self.unk_id = self.stoi.get(UNK)

    @classmethod
    def build(cls, sentences: Iterable[list[str]], min_count: int = 1, max_size: int | None = None,
              specials: tuple[str, ...] = (PAD, UNK)) -> "Vocab":
        """Words seen at least ``min_count`` times, the most frequent ``max_size`` (specials included)."""
        counts = Counter(w for s in sentences for w in s)
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in specials),
                      key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[:max(0, max_size - len(specials))]
        return cls(list(specials) + kept, {w: counts[w] for w in kept})

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def __getitem__(self, word: str) -> int:
        """The id of ``word``; ``<unk>``'s id for a word not in the vocabulary."""
        i = self.stoi.get(word, self.unk_id)
        if i is None:
            raise KeyError(f"{word!r} is not in the vocabulary and it has no {UNK} token")
        return i

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self[w] for w in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"itos": self.itos, "counts": self.counts}))

    @classmethod
    def load(cls, path: Path) -> "Vocab":
        blob = json.loads(Path(path).read_text())
        return cls(blob["itos"], blob["counts"])
