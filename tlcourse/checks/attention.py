"""Visible checks of Chapter 4's assignment (attention and the Transformer).

Each ``check_*`` takes the student's function or class, runs it on small fixed inputs, and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. References come from torch's own
implementations (``scaled_dot_product_attention``, ``nn.MultiheadAttention``, ``nn.LayerNorm``)
or, for the positional encodings, from the formula of Vaswani et al. (2017).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import expect_tensor, fail, is_close, max_diff, passed, randn


def _pair(task: str, result, what: str = "the function"):
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(task, f"{what} should return a tuple (output, weights), got {type(result).__name__}.")
    return result


def _rows_sum_to_one(task: str, w: torch.Tensor, axis_hint: str) -> None:
    sums = w.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        cols = w.sum(-2)
        if torch.allclose(cols, torch.ones_like(cols), atol=1e-4):
            fail(task, "the weights' columns sum to 1 but their rows do not: take the softmax "
                       f"over the last axis (dim=-1), {axis_hint}.")
        fail(task, f"each row of the weights should sum to 1 (a softmax over the keys), "
                   f"but the row sums range from {float(sums.min()):.3f} to {float(sums.max()):.3f}.")


# --------------------------------------------------------------------------- task 1
def check_basic_self_attention(fn) -> None:
    task = "basic_self_attention"
    x = randn(2, 5, 4, scale=0.5)
    y, w = _pair(task, fn(x.clone()))
    expect_tensor(task, w, (2, 5, 5), "the weights")
    expect_tensor(task, y, (2, 5, 4), "the output")
    _rows_sum_to_one(task, w, "so that each query's weights over all inputs sum to 1")
    ref_w = torch.softmax(x @ x.transpose(-2, -1), dim=-1)
    if not is_close(w, ref_w):
        if is_close(w, torch.softmax(x @ x.transpose(-2, -1) / math.sqrt(4), dim=-1)):
            fail(task, "basic self-attention has no scaling: the weights are softmax(x xᵀ), "
                       "without dividing by sqrt(d).")
        fail(task, f"the weights differ from softmax(x xᵀ) (max difference {max_diff(w, ref_w):.2e}).")
    if not is_close(y, ref_w @ x):
        fail(task, "the weights are right but the output is not: y_i = Σ_j w_ij x_j, i.e. weights @ x.")
    passed(task)


# --------------------------------------------------------------------------- task 2
def check_scaled_dot_product_attention(fn) -> None:
    task = "scaled_dot_product_attention"
    q, k, v = randn(2, 3, 8, seed=1), randn(2, 4, 8, seed=2), randn(2, 4, 6, seed=3)
    try:
        result = fn(q, k, v)
    except NotImplementedError:
        raise
    except (IndexError, RuntimeError) as exc:
        fail(task, f"it raised {type(exc).__name__} ({exc}) for q, k, v of shapes (2, 3, 8), "
                   "(2, 4, 8), (2, 4, 6). q, k and v may have any number of leading dimensions: "
                   "name the last two axes -2 and -1.")
    out, w = _pair(task, result)
    expect_tensor(task, w, (2, 3, 4), "the weights (queries × keys)")
    expect_tensor(task, out, (2, 3, 6), "the output (queries × value dim)")
    _rows_sum_to_one(task, w, "over the keys")
    ref = F.scaled_dot_product_attention(q, k, v)
    if not is_close(out, ref):
        if is_close(out, F.scaled_dot_product_attention(q, k, v, scale=1.0)):
            fail(task, "the result matches attention WITHOUT scaling: divide the scores q·k by "
                       "sqrt(d_k) before the softmax.")
        fail(task, f"the output differs from softmax(q kᵀ / sqrt(d_k)) v (max difference "
                   f"{max_diff(out, ref):.2e}).")
    mask = torch.tensor([[True, True, False, False],
                         [True, False, True, False],
                         [True, True, True, True]])
    out, w = _pair(task, fn(q, k, v, mask=mask))
    expect_tensor(task, w, (2, 3, 4), "the masked weights")
    if (w.detach()[:, ~mask].abs() > 1e-6).any():
        fail(task, "with a mask, the weights where mask is False must be exactly 0: the mask is "
                   "ignored. Set those scores to -inf (masked_fill) before the softmax.")
    sums = w.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        fail(task, "with a mask, the masked weights are 0 but the rows no longer sum to 1: the mask "
                   "is applied after the softmax. Fill the scores with -inf BEFORE the softmax.")
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if not is_close(out, ref):
        fail(task, f"with a mask, the output differs from the reference (max difference "
                   f"{max_diff(out, ref):.2e}).")
    passed(task)


# --------------------------------------------------------------------------- task 3
def check_causal_mask(fn) -> None:
    task = "causal_mask"
    m = fn(5)
    expect_tensor(task, m, (5, 5), "causal_mask(5)")
    if m.dtype != torch.bool:
        fail(task, f"the mask should be a boolean tensor (True = may attend), not {m.dtype}.")
    if not m.diagonal().all():
        fail(task, "the diagonal must be True: a token may attend to itself (otherwise the first "
                   "token attends to nothing and its softmax is NaN).")
    if m.triu(1).any():
        fail(task, "position i may not attend to a later position j > i: everything above the "
                   "diagonal must be False.")
    if not m.tril().equal(torch.ones(5, 5, dtype=torch.bool).tril()):
        fail(task, "every earlier position j ≤ i must be visible: everything on and below the "
                   "diagonal must be True.")
    passed(task)


# --------------------------------------------------------------------------- task 4
def copy_from_torch(mine: nn.Module, ref: nn.MultiheadAttention) -> None:
    """Give ``mine`` (with ``qkv`` and ``out`` Linear layers) the weights of a torch MHA."""
    # load_state_dict works on a real module and on the grader's proxy to a student's module
    mine.load_state_dict({"qkv.weight": ref.in_proj_weight.detach(),
                          "qkv.bias": ref.in_proj_bias.detach(),
                          "out.weight": ref.out_proj.weight.detach(),
                          "out.bias": ref.out_proj.bias.detach()})


def torch_mha_output(ref: nn.MultiheadAttention, x: torch.Tensor, mask=None) -> torch.Tensor:
    """torch's MHA on ``x`` with a boolean mask where True = may attend (torch's is the opposite)."""
    y, _ = ref(x, x, x, attn_mask=None if mask is None else ~mask, need_weights=False)
    return y


def _mha_matches(cls, d_model: int, n_heads: int, x: torch.Tensor, mask=None, task: str = ""):
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(d_model, n_heads, batch_first=True).eval()
    mine = cls(d_model, n_heads)
    for name in ("qkv", "out"):
        layer = getattr(mine, name, None)
        if not isinstance(layer, nn.Linear):
            fail(task, f"the module needs an nn.Linear attribute `{name}` (see the task text).")
    expect_tensor(task, mine.qkv.weight, (3 * d_model, d_model), "self.qkv.weight")
    expect_tensor(task, mine.out.weight, (d_model, d_model), "self.out.weight")
    copy_from_torch(mine, ref)
    with torch.no_grad():
        y = mine(x) if mask is None else mine(x, mask=mask)
        expect_tensor(task, y, tuple(x.shape), "the module's output")
        return is_close(y, torch_mha_output(ref, x, mask), atol=1e-5), y


def check_multi_head_self_attention(cls) -> None:
    task = "MultiHeadSelfAttention"
    x = randn(2, 5, 12, seed=4)
    ok_one, _ = _mha_matches(cls, 12, 1, x, task=task)
    ok_many, _ = _mha_matches(cls, 12, 4, x, task=task)
    if not ok_many:
        if ok_one:
            fail(task, "with one head you match torch.nn.MultiheadAttention, with 4 heads you do "
                       "not: check how you split into heads — (B, T, D) → view(B, T, h, D/h) → "
                       "transpose(1, 2) to (B, h, T, D/h) — and how you merge them back.")
        fail(task, "the output does not match torch.nn.MultiheadAttention given the same weights "
                   "(even with one head: check the q/k/v split of qkv, the scaling and out).")
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    ok_mask, _ = _mha_matches(cls, 12, 4, x, mask=mask, task=task)
    if not ok_mask:
        fail(task, "without a mask you match torch, with a causal mask you do not: pass the mask "
                   "on to the attention of every head.")
    passed(task)


# --------------------------------------------------------------------------- task 5
def check_layer_norm(cls) -> None:
    task = "LayerNorm"
    d = 6
    mine = cls(d)
    for name in ("weight", "bias"):
        p = getattr(mine, name, None)
        if not isinstance(p, nn.Parameter):
            fail(task, f"`self.{name}` should be an nn.Parameter of shape ({d},), so it is learned.")
        expect_tensor(task, p, (d,), f"self.{name}")
    ref = nn.LayerNorm(d)
    with torch.no_grad():
        for p in (ref.weight, ref.bias):
            p.copy_(randn(d, seed=5))
        mine.weight.copy_(ref.weight)
        mine.bias.copy_(ref.bias)
        x = randn(3, 4, d, seed=6) * 3 + 1
        y = mine(x)
        expect_tensor(task, y, (3, 4, d), "the output")
        if not is_close(y, ref(x)):
            unbiased = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + ref.eps)
            if is_close(y, unbiased * ref.weight + ref.bias):
                fail(task, "you use the unbiased variance (divide by d-1); layer norm divides by d: "
                           "use x.var(-1, unbiased=False) or ((x - mean)**2).mean(-1).")
            plain = (x - x.mean(-1, keepdim=True)) / x.std(-1, unbiased=False, keepdim=True)
            if is_close(y, plain):
                fail(task, "the output is normalised but not scaled and shifted: multiply by "
                           "self.weight and add self.bias.")
            fail(task, f"the output differs from nn.LayerNorm (max difference "
                       f"{max_diff(y, ref(x)):.2e}).")
        flat = torch.full((2, d), 3.0) + randn(2, d, seed=7) * 1e-4
        y_flat = mine(flat)
        if not is_close(y_flat, ref(flat), atol=1e-3):
            fail(task, "on nearly constant inputs (variance ≈ 1e-8) your output differs from "
                       "nn.LayerNorm: add eps inside the square root, sqrt(var + eps).")
    passed(task)


# --------------------------------------------------------------------------- task 6
def reference_positions(n_positions: int, d_model: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)) (Vaswani et al.)."""
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe.float()


def check_sinusoidal_positions(fn) -> None:
    task = "sinusoidal_positions"
    pe = fn(10, 8)
    expect_tensor(task, pe, (10, 8), "sinusoidal_positions(10, 8)")
    expected_row0 = torch.tensor([0.0, 1.0] * 4)
    if not is_close(pe[0], expected_row0):
        fail(task, f"position 0 should be [sin 0, cos 0, ...] = [0, 1, 0, 1, ...], got "
                   f"{[round(float(v), 3) for v in pe[0]]}: even columns are sines, odd columns "
                   "cosines (interleaved, not concatenated).")
    ref = reference_positions(10, 8)
    if not is_close(pe, ref, atol=1e-5):
        fail(task, "column pairs (2i, 2i+1) should use the frequency 1 / 10000^(2i / d_model): "
                   f"compare your column 2 with sin(p / 10000^(2/8)) (max difference "
                   f"{max_diff(pe, ref):.2e}).")
    passed(task)
