"""Visible checks of Chapter 2's assignment (word embeddings).

Each ``check_*`` takes the student's function(s), runs them on small fixed inputs, and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. References are written out here
from the papers' formulas (Mikolov et al. 2013 for skip-gram, negative sampling and 3CosAdd;
Pennington et al. 2014 for GloVe) or taken from ``tlcourse.embeddings``, the course's own
implementation used to train the chapter's vectors.
"""
from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F

from . import expect_tensor, fail, is_close, max_diff, passed

UNK = "<unk>"


def _call(task: str, fn, *args, what: str, **kwargs):
    """Call the student's code; an exception (other than the stub's) becomes a plain message."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001  (any error is reported in words)
        fail(task, f"{what} raised {type(exc).__name__}: {exc}")


def _long_tensor(task: str, value, shape: tuple, what: str) -> torch.Tensor:
    expect_tensor(task, value, shape, what)
    if value.dtype != torch.long:
        fail(task, f"{what} should hold word ids as integers (torch.long), not {value.dtype}.")
    return value


# --------------------------------------------------------------------------- task 1
SENTENCES = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat"],
             ["a", "cat", "and", "a", "dog"]]


def reference_vocab(sentences, min_count: int) -> list[str]:
    counts = Counter(w for s in sentences for w in s)
    return [UNK] + sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))


def check_vocabulary(build_vocab, one_hot) -> None:
    task = "vocabulary and one-hot"
    itos = _call(task, build_vocab, SENTENCES, 2, what="build_vocab(SENTENCES, min_count=2)")
    if not isinstance(itos, list) or not all(isinstance(w, str) for w in itos):
        fail(task, f"build_vocab should return a list of words (str), got {type(itos).__name__}.")
    expected = reference_vocab(SENTENCES, 2)   # ['<unk>', 'the', 'a', 'cat', 'dog', 'sat']
    if UNK not in itos or itos[0] != UNK:
        fail(task, f"the vocabulary should start with the unknown-word token {UNK!r} (id 0), "
                   f"got {itos}.")
    counts = Counter(w for s in SENTENCES for w in s)
    if set(itos[1:]) == {w for w, c in counts.items() if c > 2}:
        fail(task, f"with min_count=2 you kept only {itos[1:]}: words seen exactly min_count times "
                   "must be kept too (count >= min_count, not >).")
    if set(itos) != set(expected):
        fail(task, f"with min_count=2 the vocabulary should hold {sorted(expected)}, got "
                   f"{sorted(itos)}: keep the words whose count is >= min_count, plus {UNK!r}.")
    if itos != expected:
        fail(task, f"the words are right but not their order: expected {expected}, got {itos}. "
                   "Sort by decreasing count (most frequent first), ties in alphabetical order.")
    if _call(task, build_vocab, SENTENCES, 1, what="build_vocab(SENTENCES, min_count=1)") \
            != reference_vocab(SENTENCES, 1):
        fail(task, "with min_count=1 every word should be in the vocabulary, most frequent first.")

    x = _call(task, one_hot, ["the", "dog", "the"], expected, what="one_hot(['the', 'dog', 'the'], itos)")
    expect_tensor(task, x, (3, len(expected)), "one_hot of 3 words with a 6-word vocabulary")
    if not x.is_floating_point():
        fail(task, f"one-hot vectors should be float (they are multiplied with weights), not {x.dtype}.")
    ref = F.one_hot(torch.tensor([1, 4, 1]), len(expected)).float()
    if not torch.equal(x, ref):
        fail(task, f"one_hot(['the', 'dog', 'the'], {expected}) should have a single 1 per row, in "
                   f"the word's column (1, 4, 1), got\n{x}")
    try:
        x = one_hot(["zebra", "cat"], expected)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        fail(task, f"one_hot(['zebra', 'cat'], itos) raised {type(exc).__name__}: {exc}. A word not "
                   f"in the vocabulary should get its 1 in the {UNK} column (id 0).")
    expect_tensor(task, x, (2, len(expected)), "one_hot of 2 words")
    if not torch.equal(x, F.one_hot(torch.tensor([0, 3]), len(expected)).float()):
        fail(task, f"'zebra' is not in the vocabulary: its row should have its 1 in the {UNK} column "
                   f"(id 0), got {x[0].tolist()}.")
    passed(task)


# --------------------------------------------------------------------------- task 2
def reference_skipgram_pairs(sentences, window: int) -> list[tuple[int, int]]:
    return [(s[i], s[j]) for s in sentences for i in range(len(s))
            for j in range(max(0, i - window), min(len(s), i + window + 1)) if j != i]


def _pairs_list(task: str, pairs) -> list[tuple[int, int]]:
    if type(pairs) is not torch.Tensor or pairs.dim() != 2 or pairs.shape[1] != 2:
        fail(task, "skipgram_pairs should return a (P, 2) long tensor, one (center, context) pair "
                   f"per row; got {type(pairs).__name__} "
                   f"{tuple(pairs.shape) if type(pairs) is torch.Tensor else ''}.")
    _long_tensor(task, pairs, tuple(pairs.shape), "the pairs")
    return sorted(map(tuple, pairs.tolist()))


def check_windows(ngram_windows, skipgram_pairs) -> None:
    task = "n-gram windows and skip-gram pairs"
    ids = [10, 11, 12, 13, 14]
    out = _call(task, ngram_windows, ids, 3, what="ngram_windows([10, 11, 12, 13, 14], n=3)")
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(task, "ngram_windows should return a tuple (contexts, targets).")
    contexts, targets = out
    if type(contexts) is torch.Tensor and contexts.dim() == 2 and contexts.shape[1] != 2:
        fail(task, f"with n=3 each context should hold the n-1 = 2 words before the target, but "
                   f"your contexts have {contexts.shape[1]} columns.")
    _long_tensor(task, contexts, (3, 2), "the contexts of ngram_windows(5 ids, n=3)")
    _long_tensor(task, targets, (3,), "the targets of ngram_windows(5 ids, n=3)")
    if contexts.tolist() != [[10, 11], [11, 12], [12, 13]] or targets.tolist() != [12, 13, 14]:
        fail(task, f"ngram_windows([10, 11, 12, 13, 14], 3) should give contexts [[10, 11], "
                   f"[11, 12], [12, 13]] and targets [12, 13, 14] (the n-1 ids before each "
                   f"target, in order), got {contexts.tolist()} and {targets.tolist()}.")

    sentences, window = [[1, 2, 3, 4, 5], [6, 7, 8]], 2
    got = _pairs_list(task, _call(task, skipgram_pairs, sentences, window,
                                  what="skipgram_pairs([[1, 2, 3, 4, 5], [6, 7, 8]], window=2)"))
    ref = sorted(reference_skipgram_pairs(sentences, window))
    if got != ref:
        missing = sorted(set(ref) - set(got))
        extra = sorted(set(got) - set(ref))
        sentence_of = {w: k for k, s in enumerate(sentences) for w in s}
        pos = {w: i for s in sentences for i, w in enumerate(s)}
        if any(c == o for c, o in got):
            fail(task, "a word is paired with itself: the center is not its own context (skip j == i).")
        if any(sentence_of[c] != sentence_of[o] for c, o in extra):
            fail(task, "some pairs cross a sentence boundary (e.g. "
                       f"{next(p for p in extra if sentence_of[p[0]] != sentence_of[p[1]])}): "
                       "build the windows inside each sentence, never across sentences.")
        if missing and all(abs(pos[c] - pos[o]) == window for c, o in missing):
            fail(task, f"off by one: the pairs at distance exactly window={window} are missing "
                       f"(e.g. {missing[0]}). The context positions are i-window .. i+window, "
                       "both ends included (remember range() excludes its end).")
        if extra and all(abs(pos[c] - pos[o]) == window + 1 for c, o in extra):
            fail(task, f"off by one: you include pairs at distance window+1 = {window + 1} "
                       f"(e.g. {extra[0]}); the context is at most window={window} positions away.")
        if len(got) != len(ref):
            fail(task, f"expected {len(ref)} pairs (every word with each neighbour at most {window} "
                       f"positions away, on both sides), got {len(got)}.")
        fail(task, f"the pairs differ from the expected ones: missing {missing[:3]}, unexpected "
                   f"{extra[:3]}. Each pair is (center, context).")
    passed(task)


# --------------------------------------------------------------------------- task 3
def check_noise_distribution(noise_distribution) -> None:
    task = "noise_distribution"
    counts = torch.tensor([810, 160, 16, 1])
    p = _call(task, noise_distribution, counts.clone(), what="noise_distribution(counts)")
    expect_tensor(task, p, (4,), "noise_distribution of 4 counts")
    if not p.is_floating_point():
        fail(task, f"probabilities should be a float tensor, not {p.dtype}.")
    if abs(float(p.sum()) - 1) > 1e-4:
        fail(task, f"the probabilities should sum to 1, but they sum to {float(p.sum()):.4f}: "
                   "divide counts^power by the sum of counts^power (over all words).")
    unigram = counts.double() / counts.sum()
    if is_close(p, unigram):
        fail(task, "this is the plain unigram distribution count / total: raise the counts to the "
                   "power 3/4 first, which gives rare words a larger share.")
    ref = counts.double() ** 0.75 / (counts.double() ** 0.75).sum()
    if not is_close(p, ref):
        fail(task, f"expected counts^0.75 / Σ counts^0.75 = {[round(v, 4) for v in ref.tolist()]}, "
                   f"got {[round(v, 4) for v in p.tolist()]}.")
    passed(task)


# --------------------------------------------------------------------------- task 4
def reference_sgns_loss(v, u_pos, u_neg):
    """-log σ(u_pos·v) - Σ_k log σ(-u_k·v), mean over the batch (float64)."""
    v, u_pos, u_neg = v.double(), u_pos.double(), u_neg.double()
    pos = F.logsigmoid((u_pos * v).sum(-1))
    neg = F.logsigmoid(-(u_neg * v[:, None]).sum(-1))
    return -(pos + neg.sum(-1)).mean()


def check_sgns_loss(sgns_loss) -> None:
    task = "sgns_loss"
    g = torch.Generator().manual_seed(2)
    v, u_pos, u_neg = (torch.randn(*s, generator=g) for s in [(3, 4), (3, 4), (3, 5, 4)])
    loss = _call(task, sgns_loss, v.clone(), u_pos.clone(), u_neg.clone(), what="sgns_loss(v, u_pos, u_neg)")
    if type(loss) is torch.Tensor and loss.numel() == 3:
        fail(task, f"the loss should be one number, the mean over the batch; got shape {tuple(loss.shape)}.")
    expect_tensor(task, loss, (), "the loss (a scalar tensor)")
    ref = reference_sgns_loss(v, u_pos, u_neg)
    if not is_close(loss, ref):
        pos = F.logsigmoid((u_pos * v).sum(-1))
        scores = (u_neg * v[:, None]).sum(-1)
        wrong = {
            "flipped": -(pos + F.logsigmoid(scores).sum(-1)).mean(),
            "mean_k": -(pos + F.logsigmoid(-scores).mean(-1)).mean(),
            "sum_b": -(pos + F.logsigmoid(-scores).sum(-1)).sum(),
            "no_log": -(torch.sigmoid((u_pos * v).sum(-1)) + torch.sigmoid(-scores).sum(-1)).mean(),
        }
        if is_close(loss, wrong["flipped"]):
            fail(task, "the sign of the negative term is flipped: a noise word k should have a LOW "
                       "score, so the loss has -log σ(-u_k·v) (note the minus inside σ).")
        if is_close(loss, wrong["mean_k"]):
            fail(task, "you average over the K negatives: the loss sums over the K negatives "
                       "(Σ_k log σ(-u_k·v)), then takes the mean over the batch.")
        if is_close(loss, wrong["sum_b"]):
            fail(task, "you sum over the batch: take the mean over the batch of pairs.")
        if is_close(loss, wrong["no_log"]):
            fail(task, "the terms need a log: use log σ(x) (F.logsigmoid), not σ(x).")
        fail(task, f"the loss is {float(loss):.4f}, expected {float(ref):.4f} for "
                   "-log σ(u_pos·v) - Σ_k log σ(-u_k·v), averaged over the batch.")
    # the gradient must flow back to the vectors
    v.requires_grad_(True)
    out = _call(task, sgns_loss, v, u_pos, u_neg, what="sgns_loss(v, u_pos, u_neg)")
    if not out.requires_grad:
        fail(task, "the loss does not depend differentiably on v: compute it with torch operations "
                   "on the tensors (no .item(), .detach() or numpy).")
    passed(task)


# --------------------------------------------------------------------------- task 5
def reference_glove_loss(w_i, w_j, b_i, b_j, x, x_max=100.0, alpha=0.75):
    x = x.double()
    f = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    err = (w_i.double() * w_j.double()).sum(-1) + b_i.double() + b_j.double() - torch.log(x)
    return (f * err ** 2).mean()


def check_glove(glove_weight, glove_loss) -> None:
    task = "GloVe weighting and loss"
    x = torch.tensor([1.0, 10.0, 50.0, 100.0, 400.0, 5000.0])
    f = _call(task, glove_weight, x.clone(), what="glove_weight(x)")
    expect_tensor(task, f, (6,), "glove_weight of 6 counts")
    ref_f = torch.where(x < 100, (x / 100) ** 0.75, torch.ones_like(x))
    if not is_close(f, ref_f):
        if is_close(f[:4], ref_f[:4]) and (f[4:] > 1 + 1e-6).all():
            fail(task, f"f(x) must be capped at 1 for x >= x_max: glove_weight(400) = {float(f[4]):.3f}, "
                       "glove_weight(5000) = {:.3f}, both should be 1.".format(float(f[5])))
        if is_close(f[:4], x[:4] / 100):
            fail(task, "below x_max, f(x) = (x / x_max)^alpha with alpha = 0.75: raise to the power alpha.")
        fail(task, f"glove_weight({x.tolist()}) should be {[round(v, 4) for v in ref_f.tolist()]}, "
                   f"got {[round(v, 4) for v in f.tolist()]}.")

    g = torch.Generator().manual_seed(3)
    w_i, w_j = torch.randn(6, 5, generator=g) * 0.5, torch.randn(6, 5, generator=g) * 0.5
    b_i, b_j = torch.randn(6, generator=g), torch.randn(6, generator=g)
    loss = _call(task, glove_loss, w_i, w_j, b_i, b_j, x.clone(), what="glove_loss(w_i, w_j, b_i, b_j, x)")
    expect_tensor(task, loss, (), "the loss (a scalar tensor)")
    ref = reference_glove_loss(w_i, w_j, b_i, b_j, x)
    if not is_close(loss, ref):
        dot = (w_i * w_j).sum(-1)
        fw = ref_f
        wrong = {
            "no_log": (fw * (dot + b_i + b_j - x) ** 2).mean(),
            "no_bias": (fw * (dot - torch.log(x)) ** 2).mean(),
            "no_weight": ((dot + b_i + b_j - torch.log(x)) ** 2).mean(),
            "sum": (fw * (dot + b_i + b_j - torch.log(x)) ** 2).sum(),
        }
        if is_close(loss, wrong["no_log"]):
            fail(task, "the model fits the LOG of the counts: w_i·w̃_j + b_i + b̃_j ≈ log X_ij.")
        if is_close(loss, wrong["no_bias"]):
            fail(task, "the biases are missing: the prediction is w_i·w̃_j + b_i + b̃_j.")
        if is_close(loss, wrong["no_weight"]):
            fail(task, "each squared error must be multiplied by its weight f(X_ij) (your glove_weight).")
        if is_close(loss, wrong["sum"]):
            fail(task, "you sum over the batch: take the mean over the batch.")
        fail(task, f"the loss is {float(loss):.4f}, expected {float(ref):.4f} for "
                   "mean of f(X_ij) (w_i·w̃_j + b_i + b̃_j - log X_ij)².")
    passed(task)


# --------------------------------------------------------------------------- task 6
def reference_nearest(E, ids, k):
    unit = F.normalize(E.double(), dim=1)
    scores = unit[ids] @ unit.T
    scores[torch.arange(len(ids)), ids] = -float("inf")
    return scores.topk(k, dim=1).indices


def reference_analogy(E, a, b, c):
    unit = F.normalize(E.double(), dim=1)
    scores = (unit[b] - unit[a] + unit[c]) @ unit.T
    scores.scatter_(1, torch.stack([a, b, c], 1), -float("inf"))
    return scores.argmax(1)


# man, woman, king, queen, apple, and a long vector "giant": by dot product it is the nearest
# neighbour of "man", by cosine it is not (king is)
WORDS = ["man", "woman", "king", "queen", "apple", "giant"]
E_SMALL = torch.tensor([[1.0, 0.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0, 0.0],
                        [1.0, 0.0, 1.0, 0.0],
                        [0.0, 1.0, 1.0, 0.0],
                        [0.1, 0.0, 0.1, 1.0],
                        [3.0, 0.0, 0.0, 8.0]])


def check_similarity(nearest_neighbours, analogy) -> None:
    task = "nearest neighbours and analogies"
    nn_ids = _call(task, nearest_neighbours, E_SMALL.clone(), torch.tensor([0, 4]), 2,
                   what="nearest_neighbours(E, ids, k=2)")
    _long_tensor(task, nn_ids, (2, 2), "nearest_neighbours(E, 2 query ids, k=2)")
    ref = reference_nearest(E_SMALL, torch.tensor([0, 4]), 2)
    if not torch.equal(nn_ids, ref):
        if (nn_ids[:, 0] == torch.tensor([0, 4])).all():
            fail(task, "each word's nearest neighbour is itself: exclude the query word.")
        dot = E_SMALL @ E_SMALL.T
        dot.fill_diagonal_(-float("inf"))
        if torch.equal(nn_ids, dot[[0, 4]].topk(2, dim=1).indices):
            fail(task, "you rank by dot product: use cosine similarity (normalise the vectors to "
                       "unit length first), or long vectors win whatever their direction.")
        fail(task, f"the 2 nearest neighbours of {WORDS[0]!r} and {WORDS[4]!r} should be "
                   f"{[[WORDS[j] for j in r] for r in ref.tolist()]}, got "
                   f"{[[WORDS[j] if 0 <= j < 6 else j for j in r] for r in nn_ids.tolist()]}.")

    a, b, c = torch.tensor([0]), torch.tensor([2]), torch.tensor([1])   # man : king :: woman : ?
    d = _call(task, analogy, E_SMALL.clone(), a, b, c, what="analogy(E, man, king, woman)")
    _long_tensor(task, d, (1,), "analogy(E, a, b, c) with one question")
    if int(d[0]) != 3:
        fail(task, f"man : king :: woman : ? should be 'queen' (id 3), got id {int(d[0])}: the answer "
                   "is the word closest to king - man + woman.")
    g = torch.Generator().manual_seed(4)
    E = torch.randn(30, 6, generator=g) * torch.rand(30, 1, generator=g) * 3
    a, b, c = (torch.randint(0, 30, (12,), generator=g) for _ in range(3))
    keep = (a != b) & (b != c) & (a != c)
    a, b, c = a[keep], b[keep], c[keep]
    d = _call(task, analogy, E.clone(), a, b, c, what="analogy(E, a, b, c)")
    _long_tensor(task, d, (len(a),), f"analogy(E, a, b, c) with {len(a)} questions")
    ref = reference_analogy(E, a, b, c)
    if not torch.equal(d, ref):
        if ((d == a) | (d == b) | (d == c)).any():
            fail(task, "your answer is one of the query words a, b or c: b - a + c is usually "
                       "closest to b or c themselves, so exclude the three query words.")
        unit = F.normalize(E, dim=1)
        flipped = (unit[a] - unit[b] + unit[c]) @ unit.T
        flipped.scatter_(1, torch.stack([a, b, c], 1), -float("inf"))
        if torch.equal(d, flipped.argmax(1)):
            fail(task, "wrong direction: a is to b as c is to d means d ≈ b - a + c (king - man + "
                       "woman), not a - b + c.")
        raw = (E[b] - E[a] + E[c]) @ E.T
        raw.scatter_(1, torch.stack([a, b, c], 1), -float("inf"))
        if torch.equal(d, raw.argmax(1)):
            fail(task, "use unit vectors and cosine similarity: normalise every vector before "
                       "computing b - a + c and comparing it with the vocabulary.")
        fail(task, f"on 30 random vectors your answers {d.tolist()} differ from 3CosAdd's "
                   f"{ref.tolist()}.")
    passed(task)
