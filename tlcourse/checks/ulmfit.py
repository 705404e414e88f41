"""Visible checks of Chapter 3's assignment (LSTM language models, ELMo, ULMFiT).

Each ``check_*`` runs the student's function or class on small fixed inputs and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. References: torch's own
``cross_entropy`` and bidirectional ``nn.LSTM``, and the course library :mod:`tlcourse.ulmfit`
(the formulas of Peters et al. 2018 and Howard & Ruder 2018).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import expect_tensor, fail, is_close, max_diff, passed, randn
from .. import ulmfit
from ..ulmfit import ScalarMix as ScalarMixReference


def _scalar(task: str, value, what: str = "the loss") -> torch.Tensor:
    if type(value) is not torch.Tensor:
        fail(task, f"{what} should be a torch.Tensor (a scalar), but it is a {type(value).__name__}.")
    if value.numel() != 1:
        fail(task, f"{what} should be a single number (a 0-dimensional tensor), but it has shape "
                   f"{tuple(value.shape)}: average over the positions.")
    if not torch.isfinite(value).all():
        fail(task, f"{what} is NaN or inf.")
    return value.reshape(())


# --------------------------------------------------------------------------- task 1
def reference_lm_loss(logits, tokens, pad_id=0):
    """Mean cross-entropy of logits[:, t] against tokens[:, t+1], padding targets left out."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=pad_id)


def check_lm_loss(fn) -> None:
    task = "lm_loss"
    logits = randn(2, 6, 7, seed=1, scale=2.0)
    tokens = torch.tensor([[2, 4, 5, 3, 6, 1],
                           [2, 3, 3, 6, 0, 0]])           # the second text is padded with 0
    loss = _scalar(task, fn(logits.clone(), tokens.clone()))
    ref = reference_lm_loss(logits, tokens)
    if not is_close(loss, ref):
        flat = dict(ignore_index=0)
        no_shift = F.cross_entropy(logits.flatten(0, 1), tokens.flatten(), **flat)
        backwards = F.cross_entropy(logits[:, 1:].flatten(0, 1), tokens[:, :-1].flatten(), **flat)
        with_pad = F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())
        n_targets = int((tokens[:, 1:] != 0).sum())
        if is_close(loss, no_shift) or is_close(loss, F.cross_entropy(logits.flatten(0, 1), tokens.flatten())):
            fail(task, "the logits at each position are compared with the token at the same "
                       "position, which the model was given as input. The logits at position t "
                       "predict the NEXT token: compare logits[:, :-1] with tokens[:, 1:].")
        if is_close(loss, backwards):
            fail(task, "the shift goes the wrong way: you compare the logits at position t with "
                       "the previous token t-1. Compare logits[:, :-1] with tokens[:, 1:].")
        if is_close(loss, with_pad):
            fail(task, "the shift is right, but targets that are padding (pad_id) are counted in "
                       "the loss: leave them out (e.g. ignore_index=pad_id) and average over the "
                       "real targets only.")
        if is_close(loss, ref * n_targets):
            fail(task, "the loss is a sum over the positions: return the mean over the predicted "
                       "(non-padding) targets.")
        fail(task, f"expected {float(ref):.4f} (mean cross-entropy of logits[:, t] against "
                   f"tokens[:, t+1], padding targets left out), got {float(loss):.4f}.")
    # another padding id: the function must use pad_id, not a hard-coded 0
    tokens2 = torch.tensor([[2, 4, 5, 3, 6, 6], [2, 3, 0, 1, 4, 4]])
    loss2 = _scalar(task, fn(logits.clone(), tokens2.clone(), pad_id=4))
    if not is_close(loss2, reference_lm_loss(logits, tokens2, 4)):
        fail(task, "with pad_id=4 the result is wrong: leave out the targets equal to pad_id "
                   "(the argument), not a fixed id.")
    passed(task)


# --------------------------------------------------------------------------- task 2
def bidirectional_state_dict(ref: nn.LSTM) -> dict:
    """The weights of a bidirectional ``nn.LSTM`` as the ``fwd`` and ``bwd`` LSTMs of the task."""
    sd = {}
    for name, value in ref.state_dict().items():
        direction = "bwd" if name.endswith("_reverse") else "fwd"
        sd[f"{direction}.{name.removesuffix('_reverse')}"] = value.clone()
    return sd


def check_bidirectional_lstm(cls) -> None:
    task = "BiLSTM"
    with torch.random.fork_rng():
        torch.manual_seed(3)
        ref = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    mine = cls(3, 4)
    mine.load_state_dict(bidirectional_state_dict(ref))
    x = randn(2, 5, 3, seed=4)
    y = expect_tensor(task, mine(x.clone()), (2, 5, 8), "the output (B, T, 2 * d_hidden)")
    with torch.no_grad():
        want = ref(x)[0]
        fwd_alone = mine.fwd(x)[0]
        bwd_unflipped = mine.bwd(x)[0]
    f, b = y[..., :4], y[..., 4:]
    if is_close(f, want[..., 4:]) and is_close(b, want[..., :4]):
        fail(task, "the two halves are swapped: position t should hold [forward state; backward "
                   "state], the forward LSTM's features first.")
    if not is_close(f, want[..., :4]):
        fail(task, "the first half (the forward states) differs from the forward LSTM run over x "
                   f"left to right (max difference {max_diff(f, want[..., :4]):.2e}).")
    if not is_close(b, want[..., 4:]):
        if is_close(b, want[..., 4:].flip(1)):
            fail(task, "the backward states are in reversed order: the backward LSTM reads "
                       "x.flip(1), so its output at row t belongs to position T-1-t. Flip its "
                       "output back (.flip(1)) before concatenating.")
        if is_close(b, bwd_unflipped) or is_close(b, bwd_unflipped.flip(1)):
            fail(task, "the backward LSTM read the sequence left to right, like the forward one: "
                       "feed it x.flip(1) (the last token first), then flip its output back.")
        if is_close(b, fwd_alone):
            fail(task, "the second half repeats the forward states: use self.bwd for it.")
        fail(task, "the second half (the backward states) differs from a backward LSTM over x "
                   f"(max difference {max_diff(b, want[..., 4:]):.2e}).")
    passed(task)


# --------------------------------------------------------------------------- task 3
def check_scalar_mix(cls) -> None:
    task = "ScalarMix"
    mix = cls(3)
    names = set(mix.state_dict())
    if names != {"weights", "gamma"}:
        fail(task, f"the module's parameters should be exactly `weights` and `gamma` (as given), "
                   f"found {sorted(names)}.")
    layers = [randn(2, 4, 5, seed=10 + j) for j in range(3)]
    w, gamma = torch.tensor([0.5, -1.0, 2.0]), torch.tensor(0.7)
    mix.load_state_dict({"weights": w, "gamma": gamma})
    out = expect_tensor(task, mix([h.clone() for h in layers]), (2, 4, 5), "the mix of three (2, 4, 5) layers")
    ref = ScalarMixReference(3)
    ref.load_state_dict({"weights": w, "gamma": gamma})
    with torch.no_grad():
        want = ref(layers)
    if not is_close(out, want):
        raw = gamma * sum(wj * h for wj, h in zip(w, layers))
        by_sum = gamma * sum(wj * h for wj, h in zip(w / w.sum(), layers))
        if is_close(out, raw):
            fail(task, "the layer weights are used as they are: normalise them with a softmax "
                       "first (s = softmax(weights)), so they are positive and sum to 1.")
        if is_close(out, by_sum):
            fail(task, "the weights are divided by their sum: use a softmax instead, which keeps "
                       "them positive whatever the raw values.")
        if is_close(out, want / gamma):
            fail(task, "gamma is missing: multiply the weighted sum by self.gamma.")
        if is_close(out, gamma * sum(layers) / 3):
            fail(task, "the layer weights are ignored: weight layer j by softmax(weights)[j].")
        fail(task, f"the mix differs from gamma * sum_j softmax(weights)_j * layers[j] "
                   f"(max difference {max_diff(out, want):.2e}).")
    mix.load_state_dict({"weights": torch.zeros(3), "gamma": torch.ones(())})
    out = expect_tensor(task, mix([h.clone() for h in layers]), (2, 4, 5), "the mix")
    if not is_close(out, sum(layers) / 3):
        fail(task, "with weights 0 and gamma 1 the mix should be the plain average of the layers: "
                   "softmax(0, 0, 0) = (1/3, 1/3, 1/3).")
    passed(task)


# --------------------------------------------------------------------------- task 4
def check_stlr(fn) -> None:
    task = "stlr"
    T, eta = 100, 0.01
    got = []
    for t in range(T + 1):
        v = fn(t, T, eta_max=eta)
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            fail(task, f"stlr({t}, {T}) should return a number, got {v!r}.")
        got.append(float(v))
    want = [ulmfit.stlr(t, T, eta) for t in range(T + 1)]

    def off(t):
        return not math.isclose(got[t], want[t], rel_tol=1e-6, abs_tol=1e-12)

    cut = 10
    if off(0):
        fail(task, f"at t = 0 the rate should be eta_max / ratio = {want[0]:.6g} (the training "
                   f"starts slow), got {got[0]:.6g}. Check the last line: "
                   "eta_max * (1 + p * (ratio - 1)) / ratio.")
    if any(off(t) for t in range(cut)):
        t = next(t for t in range(cut) if off(t))
        fail(task, f"the warm-up is wrong: at t = {t} expected {want[t]:.6g}, got {got[t]:.6g} "
                   "(p = t / cut while t < cut, with cut = floor(T * cut_frac)).")
    if off(T):
        fail(task, f"the decay segment is wrong: at the last iteration t = T = {T} the rate should "
                   f"be back down to eta_max / ratio = {want[T]:.6g}, got {got[T]:.6g} "
                   "(p = 1 - (t - cut) / (cut * (1 / cut_frac - 1)) for t >= cut).")
    if any(off(t) for t in range(cut, T + 1)):
        t = next(t for t in range(cut, T + 1) if off(t))
        fail(task, f"the decay segment is wrong: at t = {t} expected {want[t]:.6g}, got "
                   f"{got[t]:.6g} (the peak eta_max at t = cut = {cut}, then "
                   "p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))).")
    # other hyper-parameters must be used, not the defaults
    v, w = fn(20, 80, eta_max=0.5, cut_frac=0.25, ratio=8), ulmfit.stlr(20, 80, 0.5, 0.25, 8)
    v = v.item() if isinstance(v, torch.Tensor) else v
    if not math.isclose(float(v), w, rel_tol=1e-6):
        fail(task, f"stlr(20, 80, eta_max=0.5, cut_frac=0.25, ratio=8) should be {w:.6g}, got "
                   f"{float(v):.6g}: use the arguments cut_frac and ratio, not fixed values.")
    passed(task)


# --------------------------------------------------------------------------- task 5
def check_discriminative_groups(fn) -> None:
    task = "discriminative_param_groups"
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 3), nn.Linear(3, 2))
    layer_groups = [list(m.parameters()) for m in model]      # bottom to top
    for lr, factor in [(0.01, 2.6), (1e-3, 4.0)]:
        groups = fn(layer_groups, lr, factor=factor)
        if not isinstance(groups, list) or len(groups) != 3 or \
                not all(isinstance(g, dict) and {"params", "lr"} <= set(g) for g in groups):
            fail(task, "return a list with one dict {'params': [...], 'lr': ...} per layer group "
                       f"(3 here), in the same order; got {type(groups).__name__}.")
        lrs = [float(g["lr"]) for g in groups]
        want = [lr / factor ** 2, lr / factor, lr]
        if not all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(lrs, want)):
            got = ", ".join(f"{v:.4g}" for v in lrs)
            exp = ", ".join(f"{v:.4g}" for v in want)
            msg = f"with lr={lr}, factor={factor} the rates from bottom to top should be [{exp}], got [{got}]. "
            if all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(lrs, want[::-1])):
                msg += "They are in reverse: the TOP group (the last) gets lr, lower groups smaller rates."
            elif all(math.isclose(a * factor, b, rel_tol=1e-6) for a, b in zip(lrs, want)):
                msg += "The top group should get lr itself, not lr / factor."
            elif math.isclose(lrs[0], lr / (2 * factor), rel_tol=1e-6):
                msg += "Divide by factor once per group above: lr / factor**k, not lr / (factor * k)."
            elif lrs[0] > lrs[-1]:
                msg += "Lower groups must get smaller rates: divide by factor, do not multiply."
            fail(task, msg)
        for g, params in zip(groups, layer_groups):
            got_params = list(g["params"])
            if len(got_params) != len(params) or any(a is not b for a, b in zip(got_params, params)):
                fail(task, "each dict's 'params' should hold that layer group's parameters (the "
                           "same Parameter objects, in order), so the optimizer updates the model.")
    torch.optim.Adam(groups)   # usable as they are
    passed(task)


# --------------------------------------------------------------------------- task 6
def check_concat_pool(fn) -> None:
    task = "concat_pool"
    lengths = torch.tensor([5, 2, 3])
    outputs = randn(3, 5, 4, seed=7)
    pad = torch.arange(5)[None, :] >= lengths[:, None]
    outputs[pad] = 10.0                                   # padding holds large values
    res = expect_tensor(task, fn(outputs.clone(), lengths.clone()), (3, 12), "the pooled features (B, 3 * D)")
    want = ulmfit.concat_pool(outputs, lengths)
    if is_close(res, want):
        passed(task)
        return
    last, mx, mean = res[:, :4], res[:, 4:8], res[:, 8:]
    w_last, w_max, w_mean = want[:, :4], want[:, 4:8], want[:, 8:]
    parts = {"last": w_last, "max": w_max, "mean": w_mean}
    for name, got in [("first", last), ("second", mx), ("third", mean)]:
        for other, value in parts.items():
            if is_close(got, value) and not is_close(got, dict(first=w_last, second=w_max, third=w_mean)[name]):
                fail(task, f"the {name} block holds the {other} pooling: concatenate in the order "
                           "[last, max, mean].")
    if not is_close(last, w_last):
        if is_close(last, outputs[:, -1]):
            fail(task, "the last state is taken at position T-1, which is padding for the shorter "
                       "sequences: take outputs[b, lengths[b] - 1] for each sequence b.")
        fail(task, "the first block should be the output at each sequence's last real token, "
                   "outputs[b, lengths[b] - 1].")
    if not is_close(mx, w_max):
        if is_close(mx, outputs.max(dim=1).values):
            fail(task, "the max includes the padding positions: set them to -inf (masked_fill) "
                       "before taking the max over time.")
        fail(task, "the second block should be the max over the real positions of each sequence.")
    if is_close(mean, outputs.mean(dim=1)) or is_close(mean, (outputs * ~pad[..., None]).mean(dim=1)):
        fail(task, "the mean includes the padding positions: sum over the real positions and "
                   "divide by the length of each sequence, not by T.")
    fail(task, "the third block should be the mean over the real positions of each sequence "
               f"(max difference {max_diff(mean, w_mean):.2e}).")
