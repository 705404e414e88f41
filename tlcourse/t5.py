"""Text-to-text transfer (Chapter 7): span corruption, task prefixes, the tiny T5's data.

T5 (Raffel et al., 2020) writes every task as text in, text out, and pre-trains with *span
corruption*: random spans of the input are dropped, each replaced by one sentinel token, and the
target lists the dropped spans, each after its sentinel, and ends with one more sentinel (Raffel et
al., 2020, Figure 2: ``<X> for inviting <Y> last <Z>``)::

    tokens   Thank you for inviting me to your party last week .
    inputs   Thank you <extra_id_0> me to your party <extra_id_1> week .
    targets  <extra_id_0> for inviting <extra_id_1> last <extra_id_2>

Used by the book page and by the zoo recipes of ``tlcourse.recipes.t5``::

    from tlcourse import t5
    inputs, targets = t5.span_corrupt(tokens, noise_density=0.15, mean_span_length=3.0)
    source, target = t5.to_text_to_text("sentiment", "A gripping film.", "positive")
    t5.parse_label("positive</s>", ["positive", "negative"])          # -> "positive"
"""
from __future__ import annotations

import functools
import json
from typing import Callable, Sequence

import numpy as np

SENTINEL = "<extra_id_{}>"
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def sentinel(i: int) -> str:
    """The i-th sentinel token, as T5 names it: ``<extra_id_0>``, ``<extra_id_1>``, ..."""
    return SENTINEL.format(i)


# --------------------------------------------------------------------------- span corruption
def random_segmentation(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """``parts`` positive integers summing to ``total``, uniformly among all such splits."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total]]))


def noise_span_counts(length: int, noise_density: float, mean_span_length: float) -> tuple[int, int]:
    """How many tokens to corrupt and in how many spans (as T5's ``random_spans_noise_mask``)."""
    n_noise = min(max(round(length * noise_density), 1), length - 1)
    n_spans = max(round(n_noise / mean_span_length), 1)
    return n_noise, min(n_spans, n_noise, length - n_noise + 1)


def random_spans_mask(length: int, noise_density: float = 0.15, mean_span_length: float = 3.0,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """A boolean mask (length,), True on the corrupted tokens.

    As in T5: ``round(length * noise_density)`` noise tokens in ``round(n_noise / mean_span_length)``
    spans of random lengths, separated by kept runs of random lengths. T5's code always starts with
    a kept run and ends with a span (so a short text's only span is always its end); here the
    first and last kept runs may be empty, so a span can fall anywhere.
    """
    rng = rng if rng is not None else np.random.default_rng()
    n_noise, n_spans = noise_span_counts(length, noise_density, mean_span_length)
    noise = random_segmentation(n_noise, n_spans, rng)                    # (n_spans,) all >= 1
    keep = random_segmentation(length - n_noise + 2, n_spans + 1, rng)    # (n_spans + 1,) all >= 1
    keep[0] -= 1                                                          # the ends may be empty,
    keep[-1] -= 1                                                         # the gaps may not
    runs = np.append(np.stack([keep[:-1], noise], axis=1).reshape(-1), keep[-1])
    is_noise = np.append(np.tile([False, True], n_spans), False)          # keep, noise, ..., keep
    return np.repeat(is_noise, runs)


def span_corrupt(tokens: Sequence, noise_density: float = 0.15, mean_span_length: float = 3.0,
                 sentinels: Callable[[int], object] = sentinel,
                 rng: np.random.Generator | None = None) -> tuple[list, list]:
    """T5's pre-training objective: ``(inputs, targets)`` for a list of tokens (strings or ids).

    Each corrupted span is replaced in ``inputs`` by one sentinel, ``sentinels(0)``,
    ``sentinels(1)``, ... in order; ``targets`` holds each span after its sentinel, then a final
    sentinel, ``sentinels(k)`` for ``k`` spans, which closes the last span.
    """
    mask = random_spans_mask(len(tokens), noise_density, mean_span_length, rng)
    inputs, targets, n = [], [], -1
    for i, (token, noise) in enumerate(zip(tokens, mask)):
        if noise and (i == 0 or not mask[i - 1]):       # a span starts: one sentinel for all of it
            n += 1
            inputs.append(sentinels(n))
            targets.append(sentinels(n))
        (targets if noise else inputs).append(token)
    targets.append(sentinels(n + 1))                     # the final sentinel (T5's Figure 2: <Z>)
    return inputs, targets


def uncorrupt(inputs: Sequence, targets: Sequence, is_sentinel: Callable[[object], bool]) -> list:
    """Put the spans of ``targets`` back into ``inputs``: the inverse of :func:`span_corrupt`."""
    spans, current = {}, None
    for t in targets:
        if is_sentinel(t):
            current = spans.setdefault(t, [])
        elif current is not None:
            current.append(t)
    out = []
    for t in inputs:
        out.extend(spans.get(t, []) if is_sentinel(t) else [t])
    return out


# --------------------------------------------------------------------------- text to text
def to_text_to_text(prefix: str, text: str, label=None) -> tuple[str, str | None]:
    """An example as T5 sees it: ``("<prefix>: <text>", "<label>")``, whitespace collapsed."""
    source = f"{prefix}: {' '.join(str(text).split())}"
    return source, (None if label is None else " ".join(str(label).split()))


def parse_label(generated: str, labels: Sequence[str]) -> str | None:
    """The label a generated text names, or None when it names none (T5 counts that as wrong).

    Special tokens (``<pad>``, ``</s>``) and surrounding or repeated whitespace are ignored, case
    too; the text must be the whole label, not merely contain it.
    """
    text = str(generated)
    for special in (PAD, EOS):
        text = text.replace(special, " ")
    text = " ".join(text.split()).lower()
    for label in labels:
        if text == " ".join(str(label).split()).lower():
            return label
    return None


def parse_year(generated: str) -> int | None:
    """A generated year ("1936") as an int, or None when the text is not a four-digit number
    ("202" is an unfinished year, not the year 202)."""
    text = "".join(str(generated).replace(PAD, "").replace(EOS, "").split())
    return int(text) if text.isdigit() and len(text) == 4 else None


# --------------------------------------------------------------------------- the corpus tasks
PARTIES = ("Democratic", "Republican")


@functools.lru_cache(maxsize=4)
def speech_split(test_fraction: float = 0.2, seed: int = 0) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Row numbers of the State of the Union corpus for training and test, split by speech.

    A fixed random 20% of the speeches is held out: their text is used neither for pre-training
    nor for fine-tuning, so test passages come from speeches no model has read.
    """
    from .data import corpus

    n = len(corpus())
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(test_fraction * n)
    return tuple(sorted(order[n_test:].tolist())), tuple(sorted(order[:n_test].tolist()))


def passages(text: str, max_words: int = 30) -> list[str]:
    """Consecutive sentences of a speech packed into passages of at most ``max_words`` words
    (a longer sentence is cut)."""
    from .data import split_sentences

    out, current = [], []
    for sentence in split_sentences(text):
        words = sentence.split()[:max_words]
        if current and len(current) + len(words) > max_words:
            out.append(" ".join(current))
            current = []
        current += words
    if current:
        out.append(" ".join(current))
    return out


@functools.lru_cache(maxsize=4)
def _speech_passages(max_words: int) -> tuple:
    from .data import corpus

    df = corpus()
    return tuple((row.year, row.party, tuple(passages(row.text, max_words))) for row in df.itertuples())


def corpus_tasks(split: str, max_words: int = 30) -> dict[str, list[tuple[str, str]]]:
    """The two corpus tasks as ``(passage, label)`` pairs, from the speeches of ``split``:

    * ``"party"``: the party of the president who gave the speech ("democratic" or "republican";
      speeches of other parties are left out);
    * ``"year"``: the year of the speech, as text ("1936") — a generation task, scored by the
      distance in years, the way T5 turns a regression (STS-B) into text.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    train_rows, test_rows = speech_split()
    speeches = _speech_passages(max_words)
    # A few passages recur in several speeches (quotations, set phrases): a test passage that is
    # also a training passage is left out, so no test answer can be learned by heart.
    seen = {t for r in train_rows for t in speeches[r][2]} if split == "test" else set()
    party, year = [], []
    for r in (train_rows if split == "train" else test_rows):
        y, p, texts = speeches[r]
        texts = [t for t in texts if t not in seen]
        year += [(t, str(y)) for t in texts]
        if p in PARTIES:
            party += [(t, p.lower()) for t in texts]
    return {"party": party, "year": year}


def pretraining_texts() -> list[str]:
    """The text T5 is pre-trained on: the training speeches only (test speeches stay unseen)."""
    from .data import corpus

    df = corpus()
    return [df["text"].iloc[r] for r in speech_split()[0]]


# --------------------------------------------------------------------------- tokenizer
def train_tokenizer(texts, vocab_size: int = 4000, n_sentinels: int = 32):
    """A SentencePiece-style Unigram tokenizer (as T5's) trained on ``texts`` with the
    ``tokenizers`` library, lower-cased, with ``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2 and
    ``n_sentinels`` sentinels ``<extra_id_i>``; ``</s>`` is appended to every encoded text.
    Returns a ``transformers.PreTrainedTokenizerFast``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    sentinels = [sentinel(i) for i in range(n_sentinels)]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK] + sentinels,
                                      unk_token=UNK, max_piece_length=12, shrinking_factor=0.5,
                                      show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    # The trainer iterates over hash maps, whose order changes from run to run: its scores vary
    # in their last digits, pieces of equal score come out in any order, and the characters it
    # adds at the end (every character seen must be in the vocabulary) get their decreasing
    # scores in any order. Round the scores, sort the pieces and give those last characters
    # their scores in character order: the same texts always give the same ids.
    spec = json.loads(tok.to_str())
    vocab, n_special = spec["model"]["vocab"], 3 + n_sentinels
    assert [p for p, _ in vocab[:n_special]] == [PAD, EOS, UNK] + sentinels
    pieces = sorted(([p, round(score, 6)] for p, score in vocab[n_special:]), key=lambda x: (-x[1], x[0]))
    k = len(pieces)
    while k > 0 and len(pieces[k - 1][0]) == 1:         # the single characters at the end
        k -= 1
    pieces[k:] = [[p, score] for p, (_, score) in zip(sorted(p for p, _ in pieces[k:]), pieces[k:])]
    spec["model"]["vocab"] = vocab[:n_special] + pieces
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   additional_special_tokens=sentinels,
                                   model_max_length=10**6)   # whole documents, chunked later


def sentinel_ids(tokenizer) -> list[int]:
    """The ids of the tokenizer's sentinels, ``<extra_id_0>`` first."""
    ids, i = [], 0
    while (t := tokenizer.convert_tokens_to_ids(sentinel(i))) not in (None, tokenizer.unk_token_id):
        ids.append(t)
        i += 1
    return ids


# --------------------------------------------------------------------------- batches and decoding
def tokenize_pairs(tokenizer, pairs: Sequence[tuple[str, str]], max_source: int = 48,
                   max_target: int = 8) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids (with </s>) of the sources and of the targets, unpadded: tokenize once, batch often."""
    src = tokenizer([s for s, _ in pairs], truncation=True, max_length=max_source)["input_ids"]
    tgt = tokenizer([t for _, t in pairs], truncation=True, max_length=max_target)["input_ids"]
    return src, tgt


def collate_pairs(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad_id: int = 0) -> dict:
    """A padded batch for ``T5ForConditionalGeneration``: ``input_ids``, ``attention_mask`` and
    ``labels`` (padding set to -100, which the loss ignores)."""
    from .bert import pad

    input_ids = pad(sources, pad_id)
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long(), "labels": pad(targets, -100)}


def generate(model, tokenizer, sources: Sequence[str], max_new_tokens: int = 6, batch_size: int = 128,
             max_source: int = 48, progress: bool = False) -> list[str]:
    """Greedy decoding of each source text, special tokens removed."""
    import torch
    from tqdm.auto import tqdm

    out = []
    model.eval()
    with torch.no_grad():
        for i in tqdm(range(0, len(sources), batch_size), desc="generating", disable=not progress):
            enc = tokenizer(list(sources[i:i + batch_size]), padding=True, truncation=True,
                            max_length=max_source, return_tensors="pt")
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return out
