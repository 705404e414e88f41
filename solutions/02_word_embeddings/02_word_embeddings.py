# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # Assignment 2 — Word embeddings: vocabularies, skip-grams, negative sampling, GloVe
#
# Six tasks, 11 points. Each task gives you one or two functions to write in the cell that says
# `raise NotImplementedError()`: replace that line with your code. Run the **check cell** under it:
# it tries your code on small fixed inputs and tells you in plain words what is wrong, or prints
# `✓ ... the visible checks passed`.
#
# **Points.** A task's points are shared equally among its hidden tests, which run your code at
# grading time on freshly drawn inputs: you earn the share of every hidden test your code passes. The
# check cell gives no points; it tells you what is wrong. An answer that imports, wraps or copies the
# course library's own version of what a task asks earns nothing for that task (those versions are
# switched off while grading).
#
# Rules: use plain Python, `collections.Counter` and PyTorch tensor operations. Do not use gensim,
# scikit-learn or the course library's `tlcourse.embeddings` / `tlcourse.text` (they contain the
# answers). Do not edit the check cells. Chapter 2 of the book explains everything used here.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math
from collections import Counter

import torch
import torch.nn.functional as F

from tlcourse.checks import fresh_inputs, run_tests
from tlcourse.checks.embeddings import (check_glove, check_noise_distribution, check_sgns_loss,
                                        check_similarity, check_vocabulary, check_windows)

UNK = "<unk>"   # the unknown-word token, id 0 of every vocabulary in this assignment
torch.manual_seed(0)


# %% [markdown] nbgrader={"grade": false, "grade_id": "task1", "locked": true, "schema_version": 3, "solution": false}
# ## Task 1 — A vocabulary and one-hot vectors (2 points)
#
# A vocabulary maps each word to an id. Rare words get too few training examples to learn anything,
# so they are dropped and replaced by one **unknown-word token** `<unk>` (the constant `UNK`).
#
# Write `build_vocab(sentences, min_count)`: `sentences` is a list of sentences, each a list of words
# (strings). Return the list `itos` ("id to string"): `UNK` first (id 0), then every word that occurs
# **at least** `min_count` times in total, the most frequent first, words with equal counts in
# alphabetical order.
#
# Write `one_hot(words, itos)`: for a list of `N` words return a float tensor of shape
# `(N, len(itos))`, row `n` all zeros except a 1 in the column of the id of `words[n]`; a word not in
# `itos` gets the id of `UNK`.

# %% nbgrader={"grade": false, "grade_id": "vocabulary", "locked": false, "schema_version": 3, "solution": true}
def build_vocab(sentences, min_count):
    """List of sentences (lists of words) -> itos: [UNK, most frequent word, ...]."""
    ### BEGIN SOLUTION
    counts = Counter(w for s in sentences for w in s)
    kept = [w for w, c in counts.items() if c >= min_count]
    return [UNK] + sorted(kept, key=lambda w: (-counts[w], w))   # by count, then alphabetically
    ### END SOLUTION


def one_hot(words, itos):
    """N words -> (N, len(itos)) float tensor with a single 1 per row."""
    ### BEGIN SOLUTION
    stoi = {w: i for i, w in enumerate(itos)}
    ids = torch.tensor([stoi.get(w, stoi[UNK]) for w in words], dtype=torch.long)
    return F.one_hot(ids, len(itos)).float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "vocabulary_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_vocabulary(build_vocab, one_hot)
### BEGIN HIDDEN TESTS
from tlcourse.checks.embeddings import reference_vocab
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _random_sentences():
    pool = [f"w{i}" for i in range(int(torch.randint(3, 40, ())))]
    zipf = 1.0 / torch.arange(1, len(pool) + 1)            # a few frequent words, many rare ones
    return [[pool[i] for i in torch.multinomial(zipf, int(torch.randint(1, 15, ())), replacement=True)]
            for _ in range(int(torch.randint(1, 12, ())))]

def test_build_vocab():
    for _ in range(8):
        sentences, min_count = _random_sentences(), int(torch.randint(1, 5, ()))
        got, ref = build_vocab(sentences, min_count), reference_vocab(sentences, min_count)
        assert got == ref, (f"build_vocab(sentences, min_count={min_count}) on random sentences "
                            f"returned {got[:8]}..., expected {ref[:8]}...")

def test_one_hot():
    for _ in range(6):
        sentences = _random_sentences()
        itos = reference_vocab(sentences, int(torch.randint(1, 4, ())))
        stoi = {w: i for i, w in enumerate(itos)}
        words = [w for s in sentences for w in s][:20] + ["never-seen"]
        x = one_hot(words, itos)
        assert type(x) is torch.Tensor and x.is_floating_point(), "one_hot should return a float tensor"
        ref = F.one_hot(torch.tensor([stoi.get(w, 0) for w in words]), len(itos)).float()
        assert x.shape == ref.shape, f"one_hot of {len(words)} words, {len(itos)} ids: shape {tuple(x.shape)}"
        assert torch.equal(x, ref), ("one_hot is wrong on random words: row i should be 1 at the id of word i and 0 elsewhere, "
        "with words outside itos at the id of UNK (0)")

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task2", "locked": true, "schema_version": 3, "solution": false}
# ## Task 2 — Training examples: n-gram windows and skip-gram pairs (2 points)
#
# A language model learns from examples cut out of running text.
#
# **N-grams.** Slide a window of `n` consecutive words along a sentence: the first `n - 1` words are
# the context, the last one is the word to predict. Write `ngram_windows(ids, n)`: `ids` is a list of
# word ids (one sentence, `len(ids) >= n`); return `(contexts, targets)`, a long tensor of shape
# `(N, n - 1)` and a long tensor of shape `(N,)`, with `N = len(ids) - n + 1`, windows in the order
# they appear.
#
# **Skip-grams.** Look on both sides of a center word: each word at most `window` positions to its
# left or right gives one training pair `(center, context)`. Write `skipgram_pairs(sentences, window)`:
# `sentences` is a list of sentences, each a list of word ids; return a long tensor of shape `(P, 2)`,
# one `(center, context)` pair per row, in any order. A word is not its own context, and windows stop
# at the sentence's ends: **no pair crosses a sentence boundary**.

# %% nbgrader={"grade": false, "grade_id": "windows", "locked": false, "schema_version": 3, "solution": true}
def ngram_windows(ids, n):
    """ids: list of word ids -> contexts (N, n-1), targets (N,), N = len(ids) - n + 1."""
    ### BEGIN SOLUTION
    windows = torch.tensor(ids, dtype=torch.long).unfold(0, n, 1)    # (N, n): one window per row
    return windows[:, :-1], windows[:, -1]
    ### END SOLUTION


def skipgram_pairs(sentences, window):
    """List of sentences (lists of ids) -> (P, 2) long tensor of (center, context) pairs."""
    ### BEGIN SOLUTION
    pairs = []
    for s in sentences:
        for i, center in enumerate(s):
            for j in range(max(0, i - window), min(len(s), i + window + 1)):
                if j != i:
                    pairs.append((center, s[j]))
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "windows_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_windows(ngram_windows, skipgram_pairs)
### BEGIN HIDDEN TESTS
from tlcourse.checks.embeddings import reference_skipgram_pairs
fresh_inputs(globals())  # new random inputs, drawn at grading time

def test_ngram_windows():
    for _ in range(6):
        n = int(torch.randint(2, 7, ()))
        ids = torch.randint(0, 1000, (int(torch.randint(n, 30, ())),))
        contexts, targets = ngram_windows(ids.tolist(), n)
        N = len(ids) - n + 1
        assert type(contexts) is torch.Tensor and type(targets) is torch.Tensor, "return two tensors"
        assert contexts.dtype == torch.long and targets.dtype == torch.long, \
            f"contexts and targets should be long tensors of ids, not {contexts.dtype} and {targets.dtype}"
        assert contexts.shape == (N, n - 1) and targets.shape == (N,), \
            f"{len(ids)} ids, n={n}: expected shapes {(N, n - 1)} and {(N,)}"
        ref = torch.stack([ids[t:t + n] for t in range(N)])
        assert torch.equal(contexts, ref[:, :-1]) and torch.equal(targets, ref[:, -1]), \
            (f"ngram_windows is wrong for {len(ids)} random ids and n={n}: expected one row per position "
        "i >= n-1 holding ids[i-n+1:i] (the n-1 words before it) and the target ids[i]")

def test_skipgram_pairs():
    for _ in range(6):
        window = int(torch.randint(1, 6, ()))
        lengths = [int(torch.randint(1, 13, ())) for _ in range(int(torch.randint(1, 6, ())))] + [8]
        sentences = [torch.randint(0, 50, (L,)).tolist() for L in lengths]
        pairs = skipgram_pairs(sentences, window)
        assert type(pairs) is torch.Tensor and pairs.dtype == torch.long, \
            f"skipgram_pairs should return a long tensor of ids, not {getattr(pairs, 'dtype', type(pairs).__name__)}"
        assert type(pairs) is torch.Tensor and pairs.dim() == 2 and pairs.shape[1] == 2, \
            "skipgram_pairs should return a (P, 2) tensor"
        ref = sorted(reference_skipgram_pairs(sentences, window))
        got = sorted(map(tuple, pairs.tolist()))
        assert len(got) == len(ref), f"window={window}, sentence lengths {lengths}: " \
            f"expected {len(ref)} pairs, got {len(got)}"
        assert got == ref, (f"window={window}: the pairs differ from the reference: expected, sentence by sentence, every "
            "(center, context) with 1 <= |distance| <= window, never a word with itself, never across sentences")

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task3", "locked": true, "schema_version": 3, "solution": false}
# ## Task 3 — The negative-sampling distribution (1 point)
#
# Negative sampling draws "noise" words that should *not* appear next to the center word. Mikolov
# et al. (2013) draw them from the unigram distribution raised to the power 3/4,
# $P_n(w) = \dfrac{c(w)^{3/4}}{\sum_{w'} c(w')^{3/4}}$, where $c(w)$ is the count of word $w$: the
# power flattens the distribution, so rare words are drawn more often than their frequency.
#
# Write `noise_distribution(counts, power=0.75)`: `counts` is a 1-D tensor of word counts (integers);
# return a float tensor of the same shape, $c(w)^{\text{power}}$ normalised to sum to 1.

# %% nbgrader={"grade": false, "grade_id": "noise_distribution", "locked": false, "schema_version": 3, "solution": true}
def noise_distribution(counts, power=0.75):
    """(V,) word counts -> (V,) float probabilities proportional to counts ** power."""
    ### BEGIN SOLUTION
    weights = counts.double() ** power
    return (weights / weights.sum()).float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "noise_distribution_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_noise_distribution(noise_distribution)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _noise_case(power):
    V = int(torch.randint(2, 500, ()))
    counts = (1000.0 / torch.arange(1, V + 1) * (0.5 + torch.rand(V))).long() + 1   # Zipf-like
    counts = counts[torch.randperm(V)]
    p = noise_distribution(counts.clone()) if power is None else noise_distribution(counts.clone(), power)
    assert type(p) is torch.Tensor and p.is_floating_point() and p.shape == (V,), \
        f"return a float tensor of shape {(V,)}"
    w = counts.double() ** (0.75 if power is None else power)
    assert torch.allclose(p.double(), w / w.sum(), atol=1e-6, rtol=1e-4), \
        f"noise_distribution differs from counts^{0.75 if power is None else round(power, 3)} normalised"

def test_default_power():
    for _ in range(3):
        _noise_case(None)

def test_other_powers():
    for _ in range(3):
        _noise_case(float(torch.rand(()) * 1.5))

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task4", "locked": true, "schema_version": 3, "solution": false}
# ## Task 4 — The skip-gram negative-sampling loss (2 points)
#
# Skip-gram with negative sampling (SGNS) replaces the softmax over the whole vocabulary by binary
# classification. For a center word with vector $v$, its true context word with (output) vector
# $u_o$ and $K$ noise words with vectors $u_1, \dots, u_K$, the loss is
#
# $$\ell = -\log \sigma(u_o^\top v) - \sum_{k=1}^{K} \log \sigma(-u_k^\top v),$$
#
# where $\sigma$ is the logistic sigmoid: the true pair should score high, each noise pair low.
#
# Write `sgns_loss(v, u_pos, u_neg)`: `v` is `(B, d)`, `u_pos` is `(B, d)`, `u_neg` is `(B, K, d)` (row
# `b` holds the K noise vectors of pair `b`). Return the **mean over the batch** of $\ell$, a scalar
# tensor. `F.logsigmoid` computes $\log \sigma$ safely.

# %% nbgrader={"grade": false, "grade_id": "sgns_loss", "locked": false, "schema_version": 3, "solution": true}
def sgns_loss(v, u_pos, u_neg):
    """v: (B, d), u_pos: (B, d), u_neg: (B, K, d) -> scalar loss, mean over the batch."""
    ### BEGIN SOLUTION
    pos = F.logsigmoid((v * u_pos).sum(-1))                      # (B,): log σ(u_o · v)
    neg = F.logsigmoid(-(u_neg @ v.unsqueeze(-1)).squeeze(-1))   # (B, K): log σ(-u_k · v)
    return -(pos + neg.sum(-1)).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sgns_loss_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_sgns_loss(sgns_loss)
### BEGIN HIDDEN TESTS
from tlcourse.checks.embeddings import reference_sgns_loss
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _sgns_case(K):
    B, d = int(torch.randint(1, 40, ())), int(torch.randint(1, 30, ()))
    scale = float(0.2 + torch.rand(()) * 2)
    v, u_pos, u_neg = torch.randn(B, d) * scale, torch.randn(B, d) * scale, torch.randn(B, K, d) * scale
    loss = sgns_loss(v, u_pos, u_neg)
    assert type(loss) is torch.Tensor and loss.shape == (), "the loss should be a scalar tensor"
    ref = reference_sgns_loss(v, u_pos, u_neg)
    assert torch.allclose(loss.double(), ref, atol=1e-4, rtol=1e-4), \
        f"B={B}, K={K}, d={d}: your loss {float(loss):.4f}, expected {float(ref):.4f}"

def test_random_batches():
    for _ in range(4):
        _sgns_case(int(torch.randint(2, 10, ())))

def test_one_and_many_negatives():
    for K in (1, 20):
        _sgns_case(K)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task5", "locked": true, "schema_version": 3, "solution": false}
# ## Task 5 — GloVe's weighting function and loss (2 points)
#
# GloVe (Pennington et al., 2014) fits word vectors $w_i$, context vectors $\tilde w_j$ and biases
# $b_i, \tilde b_j$ to the logarithm of the co-occurrence counts $X_{ij}$, with a weighted least-squares
# loss over the nonzero counts:
#
# $$J = \sum_{i,j:\,X_{ij} > 0} f(X_{ij}) \left(w_i^\top \tilde w_j + b_i + \tilde b_j - \log X_{ij}\right)^2,
# \qquad
# f(x) = \begin{cases} (x / x_{\max})^{\alpha} & x < x_{\max} \\ 1 & \text{otherwise.} \end{cases}$$
#
# Write `glove_weight(x, x_max=100.0, alpha=0.75)`: $f$ applied element-wise to a float tensor of counts.
#
# Write `glove_loss(w_i, w_j, b_i, b_j, x, x_max=100.0, alpha=0.75)` for a batch of `B` nonzero
# entries: `w_i`, `w_j` are `(B, d)` (word and context vectors), `b_i`, `b_j` are `(B,)`, `x` is `(B,)`
# (the counts $X_{ij}$). Return the **mean over the batch** of
# $f(X_{ij})\,(w_i^\top \tilde w_j + b_i + \tilde b_j - \log X_{ij})^2$, as a scalar tensor.

# %% nbgrader={"grade": false, "grade_id": "glove", "locked": false, "schema_version": 3, "solution": true}
def glove_weight(x, x_max=100.0, alpha=0.75):
    """f(x) = (x / x_max) ** alpha below x_max, 1 from x_max on."""
    ### BEGIN SOLUTION
    return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    ### END SOLUTION


def glove_loss(w_i, w_j, b_i, b_j, x, x_max=100.0, alpha=0.75):
    """Mean over the batch of f(x) (w_i · w_j + b_i + b_j - log x) ** 2."""
    ### BEGIN SOLUTION
    err = (w_i * w_j).sum(-1) + b_i + b_j - torch.log(x)        # (B,)
    return (glove_weight(x, x_max, alpha) * err ** 2).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "glove_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_glove(glove_weight, glove_loss)
### BEGIN HIDDEN TESTS
from tlcourse.checks.embeddings import reference_glove_loss
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _counts(n):
    return torch.exp(torch.rand(n) * 8).round().clamp(min=1) * (0.5 + torch.rand(n))   # 0.5 .. 4000

def _glove_case(x_max=None, alpha=None):
    B, d = int(torch.randint(1, 50, ())), int(torch.randint(1, 20, ()))
    w_i, w_j, b_i, b_j, x = torch.randn(B, d) * 0.3, torch.randn(B, d) * 0.3, torch.randn(B), torch.randn(B), _counts(B)
    if x_max is None:
        loss, ref = glove_loss(w_i, w_j, b_i, b_j, x), reference_glove_loss(w_i, w_j, b_i, b_j, x)
    else:
        loss = glove_loss(w_i, w_j, b_i, b_j, x, x_max=x_max, alpha=alpha)
        ref = reference_glove_loss(w_i, w_j, b_i, b_j, x, x_max, alpha)
    assert type(loss) is torch.Tensor and loss.shape == (), "glove_loss should return a scalar tensor"
    assert torch.allclose(loss.double(), ref, atol=1e-4, rtol=1e-4), \
        f"glove_loss (x_max={x_max or 100.0}, alpha={alpha or 0.75}): {float(loss):.4f}, expected {float(ref):.4f}"

def test_glove_weight():
    for _ in range(4):
        x, x_max, alpha = _counts(50), float(torch.randint(5, 200, ())), float(0.3 + torch.rand(()))
        f = glove_weight(x, x_max=x_max, alpha=alpha)
        ref = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
        assert type(f) is torch.Tensor and f.shape == x.shape, "glove_weight should keep the shape of x"
        assert torch.allclose(f, ref, atol=1e-5), (f"glove_weight(x, x_max={x_max}, alpha={alpha:.3f}) is wrong: expected (x / x_max) ** alpha below x_max "
            "and exactly 1 from x_max on")

def test_glove_loss():
    for _ in range(3):
        _glove_case()

def test_glove_loss_with_other_x_max_and_alpha():
    for _ in range(3):
        _glove_case(float(torch.randint(5, 200, ())), float(0.3 + torch.rand(())))

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task6", "locked": true, "schema_version": 3, "solution": false}
# ## Task 6 — Nearest neighbours and analogies (2 points)
#
# Word vectors are compared by **cosine similarity**, $\cos(x, y) = \dfrac{x^\top y}{\lVert x\rVert\,\lVert y\rVert}$:
# the direction matters, not the length.
#
# Write `nearest_neighbours(E, ids, k)`: `E` is a `(V, d)` float tensor (one row per word), `ids` a
# `(Q,)` long tensor of query words. Return a `(Q, k)` long tensor: for each query, the ids of the `k`
# words with the highest cosine similarity to it, most similar first, **the query word itself
# excluded**.
#
# Write `analogy(E, a, b, c)`: "`a` is to `b` as `c` is to ?", for `(Q,)` long tensors `a`, `b`, `c`.
# The vector-offset method of Mikolov et al. (2013), which Levy & Goldberg (2014) named 3CosAdd,
# answers with the word $d$ whose vector is most
# cosine-similar to $\hat b - \hat a + \hat c$, where $\hat x$ is $x$ scaled to unit length, **never
# one of the three query words** (e.g. man : king :: woman : queen, with queen ≈ king − man + woman).
# Return a `(Q,)` long tensor of answers. Matrix products make it fast; a Python loop over the vocabulary would be slow.

# %% nbgrader={"grade": false, "grade_id": "similarity", "locked": false, "schema_version": 3, "solution": true}
def nearest_neighbours(E, ids, k):
    """E: (V, d), ids: (Q,) -> (Q, k) ids of the most cosine-similar other words."""
    ### BEGIN SOLUTION
    unit = F.normalize(E, dim=1)                                  # rows of length 1
    scores = unit[ids] @ unit.T                                   # (Q, V) cosine similarities
    scores[torch.arange(len(ids)), ids] = -float("inf")           # never the word itself
    return scores.topk(k, dim=1).indices
    ### END SOLUTION


def analogy(E, a, b, c):
    """a is to b as c is to ?  (Q,) ids each -> (Q,) ids, by 3CosAdd."""
    ### BEGIN SOLUTION
    unit = E / E.norm(dim=1, keepdim=True)
    target = unit[b] - unit[a] + unit[c]                          # (Q, d)
    scores = target @ unit.T                                      # (Q, V): same argmax as cosines
    scores.scatter_(1, torch.stack([a, b, c], dim=1), -float("inf"))   # exclude the query words
    return scores.argmax(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "similarity_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_similarity(nearest_neighbours, analogy)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _vectors():
    V, d = int(torch.randint(20, 300, ())), int(torch.randint(3, 17, ()))
    return torch.randn(V, d) * (0.1 + 3 * torch.rand(V, 1))        # lengths vary a lot

def test_nearest_neighbours():
    for _ in range(4):
        E = _vectors()
        Q, k = int(torch.randint(1, 10, ())), int(torch.randint(1, 6, ()))
        ids = torch.randint(0, len(E), (Q,))
        got = nearest_neighbours(E, ids, k)
        assert type(got) is torch.Tensor and got.shape == (Q, k) and got.dtype == torch.long, \
            f"nearest_neighbours should return a (Q, k) = {(Q, k)} long tensor"
        assert not (got == ids[:, None]).any(), "a query word is returned as its own neighbour"
        unit = F.normalize(E.double(), dim=1)
        cos = unit[ids] @ unit.T
        cos[torch.arange(Q), ids] = -float("inf")
        best = cos.topk(k, dim=1).values
        assert torch.allclose(cos.gather(1, got), best, atol=1e-6), \
            f"the returned words are not the {k} most cosine-similar ones, in order"

def test_analogy():
    for _ in range(4):
        E = _vectors()
        abc = torch.stack([torch.randperm(len(E))[:3] for _ in range(int(torch.randint(1, 30, ())))])
        a, b, c = abc.T
        got = analogy(E, a.clone(), b.clone(), c.clone())
        assert type(got) is torch.Tensor and got.shape == a.shape and got.dtype == torch.long, \
            f"analogy should return a ({len(a)},) long tensor"
        assert not ((got == a) | (got == b) | (got == c)).any(), "an answer is one of the query words"
        unit = F.normalize(E.double(), dim=1)
        target = F.normalize(unit[b] - unit[a] + unit[c], dim=1)
        cos = target @ unit.T
        cos.scatter_(1, abc, -float("inf"))
        assert torch.allclose(cos.gather(1, got[:, None])[:, 0], cos.max(1).values, atol=1e-6), \
            "some answers are not the word most cosine-similar to b - a + c (on unit vectors)"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS
