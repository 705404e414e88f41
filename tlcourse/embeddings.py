"""Word vectors: skip-gram with negative sampling (SGNS), GloVe, and how to evaluate them.

Chapter 2's library, used by its page and by the zoo recipes in ``tlcourse.recipes.embeddings``::

    from tlcourse import embeddings as emb
    sentences = emb.corpus_words()                         # the corpus, as lists of words
    vocab = Vocab.build(sentences, min_count=5, specials=())
    ids, sentence_of = emb.flatten(sentences, vocab)      # one id per kept token, its sentence
    center, context = emb.skipgram_pairs(ids, sentence_of, window=5)
    wv = emb.WordVectors(vocab.itos, vectors)             # nearest neighbours, analogies, scores
    wv.most_similar("war"); wv.analogy("man", "king", "woman")

The models (``SkipGramNS``, ``GloVe``) save and load with ``save_pretrained`` /
``from_pretrained`` (safetensors + config.json, through huggingface_hub's mixin).
"""
from __future__ import annotations

import contextlib
import functools
import io
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .text import words as _words


# --------------------------------------------------------------------------- the corpus as ids
@functools.lru_cache(maxsize=1)
def _corpus_words() -> tuple[tuple[str, ...], ...]:
    from . import data

    return tuple(tuple(_words(s)) for s in data.corpus_sentences())


def corpus_words() -> list[list[str]]:
    """Every sentence of the State of the Union corpus as a list of lower-cased words."""
    return [list(s) for s in _corpus_words()]


def flatten(sentences: Iterable[Sequence[str]], vocab) -> tuple[np.ndarray, np.ndarray]:
    """The corpus as one array of word ids and, for each token, the index of its sentence.

    Words outside ``vocab`` are dropped (as word2vec does), so the windows reach over them.
    Returns ``(ids, sentence_of)``, two int64 arrays of the same length.
    """
    stoi = vocab.stoi
    encoded = [[stoi[w] for w in s if w in stoi] for s in sentences]
    lengths = np.fromiter((len(s) for s in encoded), np.int64, count=len(encoded))
    ids = np.fromiter((i for s in encoded for i in s), np.int64, count=int(lengths.sum()))
    return ids, np.repeat(np.arange(len(encoded)), lengths)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Subsampling of frequent words (Mikolov et al. 2013), word2vec's formula: a word of
    frequency f is kept with probability (sqrt(f / sample) + 1) * sample / f, capped at 1."""
    f = counts / counts.sum()
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def skipgram_pairs(ids: np.ndarray, sentence_of: np.ndarray, window, with_distance: bool = False):
    """All (center, context) pairs with the context at most ``window`` tokens away, in one sentence.

    ``window`` is an int, or an int array giving each center token its own window (word2vec
    draws it uniformly in 1..window, which weights near words more). Vectorised: one pass per
    offset, no Python loop over tokens. Returns two int64 arrays (center ids, context ids), and
    a third with each pair's distance in tokens if ``with_distance``.
    """
    window = np.broadcast_to(np.asarray(window), ids.shape)
    centers, contexts, distances = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for offset in range(1, int(window.max(initial=0)) + 1):
        same = sentence_of[:-offset] == sentence_of[offset:]     # never cross a sentence boundary
        right = same & (window[:-offset] >= offset)              # context `offset` to the right
        left = same & (window[offset:] >= offset)                # context `offset` to the left
        centers += [ids[:-offset][right], ids[offset:][left]]
        contexts += [ids[offset:][right], ids[:-offset][left]]
        distances.append(np.full(int(right.sum() + left.sum()), offset))
    out = np.concatenate(centers), np.concatenate(contexts)
    return (*out, np.concatenate(distances)) if with_distance else out


class _Pretrained(PyTorchModelHubMixin):
    """``save_pretrained`` / ``from_pretrained`` (config.json + model.safetensors), quietly."""

    @classmethod
    def _from_pretrained(cls, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()):   # the mixin prints "Loading weights ..."
            return super()._from_pretrained(**kwargs)


# --------------------------------------------------------------------------- skip-gram, negative sampling
def noise_distribution(counts, power: float = 0.75) -> torch.Tensor:
    """P_n(w) ∝ count(w)^power: the unigram distribution raised to 3/4 (Mikolov et al. 2013),
    which samples rare words more often than their frequency. Returns float probabilities."""
    weights = torch.as_tensor(counts, dtype=torch.float64) ** power
    return (weights / weights.sum()).float()


def sgns_loss(v: torch.Tensor, u_pos: torch.Tensor, u_neg: torch.Tensor) -> torch.Tensor:
    """Skip-gram negative-sampling loss, mean over the batch.

    v: (B, d) center vectors, u_pos: (B, d) their true context vectors, u_neg: (B, K, d) K noise
    words per pair. Each pair is a binary classification: the true context should score
    σ(u·v) → 1, each noise word σ(u_k·v) → 0, i.e. σ(-u_k·v) → 1:
        -log σ(u_pos·v) - Σ_k log σ(-u_k·v)
    """
    pos = F.logsigmoid((u_pos * v).sum(-1))                                   # (B,)
    neg = F.logsigmoid(-torch.einsum("bkd,bd->bk", u_neg, v)).sum(-1)         # (B,)
    return -(pos + neg).mean()


class SkipGramNS(nn.Module, _Pretrained):
    """Skip-gram with negative sampling: two embedding tables, one per role of a word.

    ``center`` holds the vectors of words as centers (the word vectors we keep), ``context`` the
    vectors of words as contexts. Sparse gradients: a step touches only the rows it used.
    """

    def __init__(self, words: list[str], dim: int = 50):
        super().__init__()
        self.words, self.dim = list(words), dim
        self.center = nn.Embedding(len(words), dim, sparse=True)
        self.context = nn.Embedding(len(words), dim, sparse=True)
        nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)   # word2vec's initialisation
        nn.init.zeros_(self.context.weight)

    def forward(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor):
        """center, context: (B,) ids; negatives: (B, K) ids -> the SGNS loss (a scalar)."""
        return sgns_loss(self.center(center), self.context(context), self.context(negatives))

    def vectors(self) -> torch.Tensor:
        return self.center.weight.detach()


class SkipGramSoftmax(nn.Module):
    """The same skip-gram with a full softmax over the vocabulary: p(context | center) =
    softmax(U v)[context]. Every step computes a score for every word: cost O(V d) per pair."""

    def __init__(self, n_words: int, dim: int = 50):
        super().__init__()
        self.center = nn.Embedding(n_words, dim, sparse=True)
        self.context = nn.Linear(dim, n_words, bias=False)

    def forward(self, center: torch.Tensor, context: torch.Tensor):
        return F.cross_entropy(self.context(self.center(center)), context)    # (B, V) logits


# --------------------------------------------------------------------------- GloVe
def cooccurrence(ids: np.ndarray, sentence_of: np.ndarray, n_words: int, window: int = 10):
    """GloVe's co-occurrence counts X_ij, symmetric, a pair d tokens apart counting 1/d
    (Pennington et al. 2014), within sentences. Returns a ``scipy.sparse.coo_matrix`` (V, V)
    with float32 counts and its duplicates summed."""
    import scipy.sparse as sp

    center, context, distance = skipgram_pairs(ids, sentence_of, window, with_distance=True)
    counts = sp.coo_matrix(((1.0 / distance).astype(np.float32), (center, context)),
                           shape=(n_words, n_words))
    return counts.tocsr().tocoo()                                 # sums the duplicates


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less, frequent pairs are capped."""
    return (x / x_max).clamp(max=1.0) ** alpha


def glove_loss(w_i, w_j, b_i, b_j, x, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weighted least squares, mean over a batch of nonzero counts x (B,):
    f(x) (w_i·w̃_j + b_i + b̃_j - log x)². w_i, w_j: (B, d); b_i, b_j: (B,)."""
    err = (w_i * w_j).sum(-1) + b_i + b_j - torch.log(x)
    return (glove_weight(x, x_max, alpha) * err ** 2).mean()


class GloVe(nn.Module, _Pretrained):
    """GloVe's parameters: word and context vectors and biases. The word vectors are W + W̃."""

    def __init__(self, words: list[str], dim: int = 50, x_max: float = 100.0, alpha: float = 0.75):
        super().__init__()
        self.words, self.dim, self.x_max, self.alpha = list(words), dim, x_max, alpha
        n = len(words)
        self.w, self.w_ctx = nn.Embedding(n, dim, sparse=True), nn.Embedding(n, dim, sparse=True)
        self.b, self.b_ctx = nn.Embedding(n, 1, sparse=True), nn.Embedding(n, 1, sparse=True)
        for e in (self.w, self.w_ctx):
            nn.init.uniform_(e.weight, -0.5 / dim, 0.5 / dim)
        for e in (self.b, self.b_ctx):
            nn.init.zeros_(e.weight)

    def forward(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """i, j: (B,) word ids of nonzero entries, x: (B,) their counts -> the loss (a scalar)."""
        return glove_loss(self.w(i), self.w_ctx(j), self.b(i)[:, 0], self.b_ctx(j)[:, 0], x,
                          self.x_max, self.alpha)

    def vectors(self) -> torch.Tensor:
        return (self.w.weight + self.w_ctx.weight).detach()      # the paper's choice: W + W̃


# --------------------------------------------------------------------------- evaluation
def normalize(vectors) -> torch.Tensor:
    """Rows scaled to unit length (float32): dot products become cosine similarities."""
    e = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
    return e / e.norm(dim=1, keepdim=True).clamp_min(1e-8)


def nearest(unit: torch.Tensor, queries: torch.Tensor, k: int = 10, exclude=None):
    """The k rows of ``unit`` (V, d) most cosine-similar to each query vector (Q, d).

    ``exclude``: (Q, m) ids never returned (e.g. the query words). Returns (scores, ids), (Q, k).
    """
    scores = normalize(queries) @ unit.T                             # (Q, V) cosines
    if exclude is not None:
        scores.scatter_(1, torch.as_tensor(exclude).view(len(scores), -1), -float("inf"))
    return scores.topk(k, dim=1)


def three_cos_add(unit: torch.Tensor, a, b, c, k: int = 1, batch: int = 512):
    """3CosAdd (Mikolov et al. 2013; Levy & Goldberg 2014): "a is to b as c is to ?" is answered by
    argmax_d cos(d, b - a + c) over unit vectors, never one of a, b, c.

    ``a``, ``b``, ``c``: (Q,) ids. Returns the (Q, k) best ids, in batches of questions (matrix
    products, no loop over words).
    """
    a, b, c = (torch.as_tensor(t, dtype=torch.long) for t in (a, b, c))
    out = []
    for s in range(0, len(a), batch):
        qa, qb, qc = a[s:s + batch], b[s:s + batch], c[s:s + batch]
        target = unit[qb] - unit[qa] + unit[qc]                           # (q, d)
        _, ids = nearest(unit, target, k, exclude=torch.stack([qa, qb, qc], 1))
        out.append(ids)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long)


class WordVectors:
    """Words and their vectors: nearest neighbours, analogies, and the two standard scores."""

    def __init__(self, words: Sequence[str], vectors):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.unit = normalize(vectors)                                   # (V, d), unit rows

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def restrict(self, words: Iterable[str]) -> "WordVectors":
        """The same vectors for the given words only (those it has), in that order."""
        keep = [w for w in words if w in self.index]
        return WordVectors(keep, self.unit[[self.index[w] for w in keep]])

    def most_similar(self, word: str, k: int = 8) -> list[tuple[str, float]]:
        i = self.index[word]
        scores, ids = nearest(self.unit, self.unit[i:i + 1], k, exclude=[[i]])
        return [(self.words[j], round(float(s), 3)) for s, j in zip(scores[0], ids[0])]

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[str]:
        """a is to b as c is to ...: ``analogy("man", "king", "woman")``."""
        ids = three_cos_add(self.unit, [self.index[a]], [self.index[b]], [self.index[c]], k)
        return [self.words[j] for j in ids[0]]

    def evaluate_analogies(self, questions) -> "pd.DataFrame":  # noqa: F821
        """Accuracy of 3CosAdd on ``(section, a, b, c, d)`` questions (e.g. ``data.analogy_questions()``),
        lower-cased, searching this object's words. Questions with a word it lacks are skipped
        (``covered`` counts the others). One row per section, plus "semantic", "syntactic", "all"."""
        import pandas as pd

        qs = [(s, *(w.lower() for w in q)) for s, *q in questions]
        ok = [q for q in qs if all(w in self.index for w in q[1:])]
        rows = []
        if ok:
            ids = torch.tensor([[self.index[w] for w in q[1:]] for q in ok])
            hit = (three_cos_add(self.unit, ids[:, 0], ids[:, 1], ids[:, 2])[:, 0] == ids[:, 3]).numpy()
            sections = np.array([q[0] for q in ok])
            for sec in dict.fromkeys(q[0] for q in qs):
                m = sections == sec
                rows.append({"section": sec, "questions": sum(q[0] == sec for q in qs),
                             "covered": int(m.sum()), "correct": int(hit[m].sum())})
        sections = pd.DataFrame(rows, columns=["section", "questions", "covered", "correct"])
        semantic = ~sections["section"].str.startswith("gram")   # the 9 syntactic sections: gram*
        df = sections.copy()
        for name, m in [("semantic", semantic), ("syntactic", ~semantic), ("all", semantic | ~semantic)]:
            df.loc[len(df)] = [name, *sections[m][["questions", "covered", "correct"]].sum().tolist()]
        df["accuracy"] = df["correct"] / df["covered"].where(df["covered"] > 0)
        return df.set_index("section")

    def evaluate_similarity(self, pairs) -> tuple[float, int]:
        """Spearman correlation between cosine similarity and human scores on the pairs of a
        ``data.word_similarity(...)`` table that both words of which are known; and their number."""
        from scipy.stats import spearmanr

        known = [(self.index[a.lower()], self.index[b.lower()], s) for a, b, s in
                 zip(pairs["word1"], pairs["word2"], pairs["score"])
                 if a.lower() in self.index and b.lower() in self.index]
        i, j, human = (np.array(t) for t in zip(*known))
        cos = (self.unit[i] * self.unit[j]).sum(-1).numpy()
        return float(spearmanr(cos, human).statistic), len(known)
