# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # Assignment 4 — Attention and the Transformer
#
# Six tasks, 10 points. Each task gives you a function or a class to write in the cell that says
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
# Rules: use PyTorch tensor operations (`torch.softmax`, `@`, `masked_fill`, `view`, `transpose`, ...);
# do not call `torch.nn.functional.scaled_dot_product_attention`, `nn.MultiheadAttention` or
# `nn.LayerNorm` except where a task says you may. Do not edit the check cells.
# Chapter 4 of the book explains everything used here.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math

import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.checks import fresh_inputs, run_tests
from tlcourse.checks.attention import (check_basic_self_attention, check_causal_mask,
                                       check_layer_norm, check_multi_head_self_attention,
                                       check_scaled_dot_product_attention,
                                       check_sinusoidal_positions)

torch.manual_seed(0)


# %% [markdown] nbgrader={"grade": false, "grade_id": "task1", "locked": true, "schema_version": 3, "solution": false}
# ## Task 1 — Basic self-attention (1 point)
#
# Self-attention without parameters: every output is a weighted sum of all the inputs,
# $y_i = \sum_j w_{ij}\, x_j$, where the weights come from the inputs themselves,
# $w_{ij} = \operatorname{softmax}_j(x_i \cdot x_j)$ (no scaling yet).
#
# Write `basic_self_attention(x)`: `x` has shape `(B, T, D)` (batch, tokens, features); return
# `y, w`: the outputs `y` of shape `(B, T, D)` and the weights `w` of shape `(B, T, T)`, each row of `w`
# summing to 1.

# %% nbgrader={"grade": false, "grade_id": "basic_self_attention", "locked": false, "schema_version": 3, "solution": true}
def basic_self_attention(x):
    """Parameter-free self-attention. x: (B, T, D) -> (y: (B, T, D), w: (B, T, T))."""
    ### BEGIN SOLUTION
    scores = x @ x.transpose(-2, -1)          # (B, T, T): x_i · x_j
    w = torch.softmax(scores, dim=-1)         # normalise over j, the inputs being mixed
    return w @ x, w
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "basic_self_attention_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_basic_self_attention(basic_self_attention)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time
for _ in range(6):
    B, T, D = int(torch.randint(1, 4, ())), int(torch.randint(2, 9, ())), int(torch.randint(1, 9, ()))
    x = torch.randn(B, T, D)
    y, w = basic_self_attention(x.clone())
    assert type(y) is torch.Tensor and type(w) is torch.Tensor, "return two tensors (y, w)"
    assert y.shape == (B, T, D) and w.shape == (B, T, T), f"wrong shapes for an input {(B, T, D)}"
    assert torch.allclose(w.sum(-1), torch.ones(B, T), atol=1e-5), "weight rows must sum to 1"
    assert torch.allclose(y, F.scaled_dot_product_attention(x, x, x, scale=1.0), atol=1e-5),         f"the output differs from the reference for an input of shape {(B, T, D)}"
    assert torch.allclose(w @ x, y, atol=1e-5), "y must equal w @ x"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task2", "locked": true, "schema_version": 3, "solution": false}
# ## Task 2 — Scaled dot-product attention with a mask (2 points)
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# Write `scaled_dot_product_attention(q, k, v, mask=None)`. Shapes: `q` is `(..., T_q, d_k)`, `k` is
# `(..., T_k, d_k)`, `v` is `(..., T_k, d_v)`, where `...` is any number of leading batch dimensions.
# `mask`, when given, is a boolean tensor that broadcasts to `(..., T_q, T_k)`: **True where the query
# may attend to the key**, False where it may not. Masked weights must be exactly 0 and every row must
# still sum to 1. Return `(output, weights)` of shapes `(..., T_q, d_v)` and `(..., T_q, T_k)`.
# You may assume every query may attend to at least one key.

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "schema_version": 3, "solution": true}
def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q kᵀ / sqrt(d_k)) v, with an optional boolean mask (True = may attend)."""
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)       # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))    # before the softmax
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "scaled_dot_product_attention_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_scaled_dot_product_attention(scaled_dot_product_attention)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _attention_case(masked, rank=2):
    """`rank` leading batch dimensions: the text promises any number of them."""
    lead = tuple(int(n) for n in torch.randint(1, 4, (rank,)))
    # at least two keys: over a single key every weighting that sums to 1 is right
    Tq, Tk = int(torch.randint(1, 7, ())), int(torch.randint(2, 7, ()))
    dk, dv = (int(n) for n in torch.randint(1, 40, (2,)))
    q, k, v = torch.randn(*lead, Tq, dk) * 3, torch.randn(*lead, Tk, dk) * 3, torch.randn(*lead, Tk, dv)
    m = None
    if masked:
        m = torch.rand(Tq, Tk) < 0.6
        m[torch.arange(Tq), torch.randint(0, Tk, (Tq,))] = True   # every query sees a key
    out, w = scaled_dot_product_attention(q, k, v, mask=m)
    assert type(out) is torch.Tensor and type(w) is torch.Tensor, "return two tensors (output, weights)"
    assert out.shape == (*lead, Tq, dv) and w.shape == (*lead, Tq, Tk), \
        (f"for q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} expected shapes "
         f"{(*lead, Tq, dv)} and {(*lead, Tq, Tk)}, got {tuple(out.shape)} and {tuple(w.shape)} "
         "(any number of leading dimensions)")
    assert torch.allclose(w.sum(-1), torch.ones(*lead, Tq), atol=1e-5), "weight rows must sum to 1"
    if masked:
        assert (w[..., ~m] == 0).all(), "masked weights must be exactly 0"
    want = F.scaled_dot_product_attention(q.reshape(-1, Tq, dk), k.reshape(-1, Tk, dk), v.reshape(-1, Tk, dv),
                                          attn_mask=m).reshape(*lead, Tq, dv)
    assert torch.allclose(out, want, atol=1e-5),         (f"the output differs from the reference ({'with' if masked else 'without'} a mask, d_k={dk}): "
            "expected softmax(q k^T / sqrt(d_k)) v over the keys (the last axis), masked positions set to "
            "-inf before the softmax")

def test_without_mask():
    for rank in (2, 0, 1, 3):
        _attention_case(masked=False, rank=rank)

def test_with_mask():
    for rank in (2, 1, 0, 3):
        _attention_case(masked=True, rank=rank)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task3", "locked": true, "schema_version": 3, "solution": false}
# ## Task 3 — A causal mask (1 point)
#
# A language model that predicts the next token (GPT) may only look at the past. Write
# `causal_mask(T)`: a boolean `(T, T)` tensor whose entry `[i, j]` is True when query position `i`
# may attend to key position `j`, that is when `j <= i`.

# %% nbgrader={"grade": false, "grade_id": "causal_mask", "locked": false, "schema_version": 3, "solution": true}
def causal_mask(T):
    """(T, T) bool, True on and below the diagonal."""
    ### BEGIN SOLUTION
    return torch.ones(T, T, dtype=torch.bool).tril()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_mask_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_causal_mask(causal_mask)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time
for T in [1, 2] + [int(n) for n in torch.randint(3, 64, (4,))]:
    m = causal_mask(T)
    assert type(m) is torch.Tensor and m.dtype == torch.bool, "return a boolean tensor"
    assert m.shape == (T, T), f"causal_mask({T}) should have shape {(T, T)}"
    i, j = torch.meshgrid(torch.arange(T), torch.arange(T), indexing="ij")
    assert torch.equal(m, j <= i), (f"causal_mask({T}) is wrong: expected True on and below the diagonal (a token sees itself and the "
        "past) and False above it")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task4", "locked": true, "schema_version": 3, "solution": false}
# ## Task 4 — Multi-head self-attention (3 points)
#
# Write the module `MultiHeadSelfAttention(d_model, n_heads)`:
#
# * `self.qkv = nn.Linear(d_model, 3 * d_model)` computes queries, keys and values at once
#   (in that order along the last axis), `self.out = nn.Linear(d_model, d_model)` is the output projection;
# * `forward(x, mask=None)`: `x` is `(B, T, d_model)`; split each of q, k, v into `n_heads` heads of size
#   `d_model // n_heads`, attend in every head (your `scaled_dot_product_attention` or
#   `F.scaled_dot_product_attention`, with `mask` as in Task 2: True = may attend), concatenate the heads
#   and apply `self.out`. Return a `(B, T, d_model)` tensor.
#
# Given the same weights, your module must give the same output as `torch.nn.MultiheadAttention(d_model,
# n_heads, batch_first=True)`.

# %% nbgrader={"grade": false, "grade_id": "multi_head_self_attention", "locked": false, "schema_version": 3, "solution": true}
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        ### BEGIN SOLUTION
        B, T, D = x.shape
        h = self.n_heads
        q, k, v = self.qkv(x).split(D, dim=-1)                    # 3 × (B, T, D)
        # (B, T, D) -> (B, T, h, D/h) -> (B, h, T, D/h): each head sees its own slice
        q, k, v = (t.view(B, T, h, D // h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, T, D/h)
        y = y.transpose(1, 2).reshape(B, T, D)                     # concatenate the heads
        return self.out(y)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "multi_head_self_attention_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
check_multi_head_self_attention(MultiHeadSelfAttention)
### BEGIN HIDDEN TESTS
from tlcourse.checks.attention import copy_from_torch, torch_mha_output
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _mha_case(masked):
    h, dh, B = int(torch.randint(2, 7, ())), *(int(n) for n in torch.randint(1, 7, (2,)))  # h >= 2: one head hides head-splitting mistakes
    T = int(torch.randint(2 if masked else 1, 7, ()))   # a causal mask over a single token changes nothing
    D = h * dh
    ref = nn.MultiheadAttention(D, h, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    mine = MultiHeadSelfAttention(D, h)
    copy_from_torch(mine, ref)
    x = torch.randn(B, T, D)
    m = torch.ones(T, T, dtype=torch.bool).tril() if masked else None
    y = mine(x) if m is None else mine(x, mask=m)
    assert type(y) is torch.Tensor and y.shape == (B, T, D), f"the output should have shape {(B, T, D)}"
    with torch.no_grad():
        assert torch.allclose(y, torch_mha_output(ref, x, m), atol=1e-5),             (f"differs from nn.MultiheadAttention with {h} heads{' and a causal mask' if masked else ''}: "
            "check the split into heads (view, then transpose to (B, h, T, d)), the merge back (transpose, "
            "then view) and that the mask reaches every head")

def test_without_mask():
    for _ in range(3):
        _mha_case(masked=False)

def test_with_causal_mask():
    for _ in range(3):
        _mha_case(masked=True)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task5", "locked": true, "schema_version": 3, "solution": false}
# ## Task 5 — Layer normalization from scratch (2 points)
#
# For each token, normalise its `d` features to mean 0 and variance 1, then scale and shift with learned
# parameters: $\mathrm{LN}(x) = \gamma \odot \dfrac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$, where
# $\mu$ and $\sigma^2$ are the mean and the (biased, divide-by-$d$) variance over the last axis.
#
# Write `LayerNorm(d, eps=1e-5)` with parameters `self.weight` ($\gamma$, ones) and `self.bias`
# ($\beta$, zeros) of shape `(d,)`. It must match `nn.LayerNorm(d, eps=eps)` given the same parameters.

# %% nbgrader={"grade": false, "grade_id": "layer_norm", "locked": false, "schema_version": 3, "solution": true}
class LayerNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        ### BEGIN SOLUTION
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)   # biased: divide by d, as the paper
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "layer_norm_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_layer_norm(LayerNorm)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _layer_norm_case(eps, flat):
    d = int(torch.randint(2, 50, ()))
    ref, mine = nn.LayerNorm(d, eps=eps), LayerNorm(d, eps=eps)
    with torch.no_grad():
        ref.weight.normal_(); ref.bias.normal_()
    mine.load_state_dict({"weight": ref.weight.detach(), "bias": ref.bias.detach()})
    if flat:   # nearly constant rows: only eps keeps these finite and right
        x, tol = 2.0 + 1e-4 * torch.randn(4, d), 1e-3   # float32 rounding here is ~1e-4
    else:
        # spread >= 2: here eps changes the output by < 2e-5, so only real mistakes fail
        x, tol = torch.randn(3, 5, d) * float(2 + torch.rand(()) * 8) + float(torch.randn(()) * 5), 1e-4
    y = mine(x)
    assert type(y) is torch.Tensor and y.shape == x.shape, f"the output should have shape {tuple(x.shape)}"
    with torch.no_grad():
        assert torch.allclose(y, ref(x), atol=tol),             (f"differs from nn.LayerNorm({d}, eps={eps}) on {'nearly constant' if flat else 'random'} inputs: "
            "expected gamma * (x - mean) / sqrt(var + eps) + beta over the last axis, var dividing by d "
            "(unbiased=False)")

def test_random_inputs():
    for _ in range(2):
        _layer_norm_case(1e-5, flat=False)

def test_nearly_constant_rows():
    for eps in (1e-5, 1e-3):
        _layer_norm_case(eps, flat=True)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task6", "locked": true, "schema_version": 3, "solution": false}
# ## Task 6 — Sinusoidal positional encodings (1 point)
#
# Attention treats its inputs as a set: it needs the positions added to the token embeddings. Vaswani
# et al. (2017) use, for position $p$ and $i = 0, 1, \dots, d/2 - 1$:
#
# $$PE_{p,\,2i} = \sin\!\left(p / 10000^{2i/d}\right), \qquad PE_{p,\,2i+1} = \cos\!\left(p / 10000^{2i/d}\right)$$
#
# Write `sinusoidal_positions(n_positions, d_model)` returning a float tensor of shape
# `(n_positions, d_model)` (`d_model` is even).

# %% nbgrader={"grade": false, "grade_id": "sinusoidal_positions", "locked": false, "schema_version": 3, "solution": true}
def sinusoidal_positions(n_positions, d_model):
    """(n_positions, d_model): sines in even columns, cosines in odd columns."""
    ### BEGIN SOLUTION
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]          # (P, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)               # (d/2,)
    angle = pos / 10000 ** (two_i / d_model)                               # (P, d/2)
    pe = torch.zeros(n_positions, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sinusoidal_positions_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_sinusoidal_positions(sinusoidal_positions)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time
for _ in range(4):
    P, d = int(torch.randint(1, 200, ())), 2 * int(torch.randint(1, 64, ()))
    pe = sinusoidal_positions(P, d)
    assert type(pe) is torch.Tensor and pe.is_floating_point(), "return a float tensor"
    assert pe.shape == (P, d), f"sinusoidal_positions({P}, {d}) should have shape {(P, d)}"
    p = torch.arange(P, dtype=torch.float64)[:, None]
    angle = p / 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    assert torch.allclose(pe[:, 0::2].double(), torch.sin(angle), atol=1e-4),         f"even columns of sinusoidal_positions({P}, {d}) should be sin(p / 10000^(2i/d))"
    assert torch.allclose(pe[:, 1::2].double(), torch.cos(angle), atol=1e-4),         f"odd columns of sinusoidal_positions({P}, {d}) should be cos(p / 10000^(2i/d))"
### END HIDDEN TESTS
