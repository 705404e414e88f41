# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # Assignment 3 — LSTM language models, ELMo and ULMFiT
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
# The tasks are the pieces of Chapter 3: the language-model loss, a bidirectional LSTM built from
# two one-directional ones (ELMo's biLM), ELMo's scalar mix, and ULMFiT's three fine-tuning tools —
# the slanted triangular learning rate, discriminative learning rates and concat pooling.
# Use PyTorch tensor operations; do not call `nn.LSTM(..., bidirectional=True)` in Task 2. Do not
# edit the check cells. Chapter 3 of the book explains everything used here.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math

import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.checks import fresh_inputs, run_tests
from tlcourse.checks.ulmfit import (check_bidirectional_lstm, check_concat_pool,
                                    check_discriminative_groups, check_lm_loss, check_scalar_mix,
                                    check_stlr)

torch.manual_seed(0)


# %% [markdown] nbgrader={"grade": false, "grade_id": "task1", "locked": true, "schema_version": 3, "solution": false}
# ## Task 1 — The language-model loss (1 point)
#
# A language model reads tokens $w_1, \dots, w_T$ and, at every position $t$, outputs logits for the
# **next** token: $p(w_{t+1} \mid w_1, \dots, w_t)$. Its loss is the mean negative log-likelihood of
# each next token, $-\frac{1}{N}\sum_t \log p(w_{t+1} \mid w_{\le t})$, in nats; $e^{\text{loss}}$
# is the perplexity.
#
# Write `lm_loss(logits, tokens, pad_id=0)`: `tokens` is an int64 tensor `(B, T)` (right-padded
# with `pad_id`), `logits` is `(B, T, V)`, the model's output when it read `tokens`, so
# `logits[:, t]` predicts `tokens[:, t + 1]`. Return the mean cross-entropy over every predicted
# position whose target is not padding, as a 0-dimensional tensor. (`F.cross_entropy` is allowed.)

# %% nbgrader={"grade": false, "grade_id": "lm_loss", "locked": false, "schema_version": 3, "solution": true}
def lm_loss(logits, tokens, pad_id=0):
    """Mean next-token cross-entropy. logits (B, T, V), tokens (B, T) -> scalar tensor."""
    ### BEGIN SOLUTION
    pred = logits[:, :-1]           # (B, T-1, V): positions 0..T-2 predict...
    target = tokens[:, 1:]          # (B, T-1): ...the token that follows each of them
    return F.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1),
                           ignore_index=pad_id)          # padding targets are not words
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "lm_loss_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_lm_loss(lm_loss)
### BEGIN HIDDEN TESTS
from tlcourse.checks.ulmfit import reference_lm_loss
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _lm_case(padded):
    B, T, V = int(torch.randint(1, 5, ())), int(torch.randint(4, 12, ())), int(torch.randint(3, 30, ()))
    logits = torch.randn(B, T, V) * 3
    pad_id = int(torch.randint(0, V, ()))
    tokens = torch.randint(0, V, (B, T))
    tokens[tokens == pad_id] = (pad_id + 1) % V              # no padding by accident
    if padded:
        for b in range(B):
            tokens[b, int(torch.randint(2, T, ())):] = pad_id  # 2 to T-1 real tokens
    loss = lm_loss(logits.clone(), tokens.clone(), pad_id=pad_id)
    assert type(loss) is torch.Tensor and loss.numel() == 1, "return the loss as a single-number tensor"
    assert torch.allclose(loss.reshape(()), reference_lm_loss(logits, tokens, pad_id), atol=1e-5), \
        (f"wrong loss for tokens of shape {(B, T)}, {'with' if padded else 'without'} padding (pad_id={pad_id}): "
            "expected the mean cross-entropy of logits[:, t] against tokens[:, t + 1], over the targets that are "
            "not padding")

def test_targets_are_the_next_tokens():
    for _ in range(4):
        _lm_case(padded=False)

def test_padding_targets_are_left_out():
    for _ in range(4):
        _lm_case(padded=True)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task2", "locked": true, "schema_version": 3, "solution": false}
# ## Task 2 — Forward and backward states, position by position (2 points)
#
# ELMo's biLM runs two LSTMs over a sentence: a forward one that reads $x_1, \dots, x_T$ and a
# backward one that reads $x_T, \dots, x_1$. At position $t$ the forward state
# $\overrightarrow{h}_t$ has seen $x_1..x_t$ and the backward state $\overleftarrow{h}_t$ has seen
# $x_t..x_T$; the representation of position $t$ is $[\overrightarrow{h}_t; \overleftarrow{h}_t]$.
#
# Write the `forward` of `BiLSTM(d_in, d_hidden)`, which owns two one-directional LSTMs `self.fwd`
# and `self.bwd` (`batch_first=True`): `x` is `(B, T, d_in)` with no padding; return
# `(B, T, 2 * d_hidden)`, the forward LSTM's states in the first `d_hidden` features and the
# backward LSTM's in the last `d_hidden`, each paired with its own position. Run `self.bwd` on the
# sequence read backwards (`x.flip(1)`). Given the same weights, your module must give the same
# output as `nn.LSTM(d_in, d_hidden, batch_first=True, bidirectional=True)`.

# %% nbgrader={"grade": false, "grade_id": "bidirectional_lstm", "locked": false, "schema_version": 3, "solution": true}
class BiLSTM(nn.Module):
    def __init__(self, d_in, d_hidden):
        super().__init__()
        self.fwd = nn.LSTM(d_in, d_hidden, batch_first=True)
        self.bwd = nn.LSTM(d_in, d_hidden, batch_first=True)

    def forward(self, x):
        ### BEGIN SOLUTION
        h_fwd, _ = self.fwd(x)            # (B, T, H): h_fwd[:, t] has read x_0..x_t
        h_bwd, _ = self.bwd(x.flip(1))    # (B, T, H): row t has read x_{T-1}..x_{T-1-t}
        h_bwd = h_bwd.flip(1)             # back to reading order: h_bwd[:, t] has read x_t..x_{T-1}
        return torch.cat([h_fwd, h_bwd], dim=-1)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bidirectional_lstm_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_bidirectional_lstm(BiLSTM)
### BEGIN HIDDEN TESTS
from tlcourse.checks.ulmfit import bidirectional_state_dict
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _bilstm_case():
    d_in, d_h, B = (int(n) for n in torch.randint(1, 7, (3,)))
    T = int(torch.randint(2, 10, ()))
    ref = nn.LSTM(d_in, d_h, batch_first=True, bidirectional=True)
    mine = BiLSTM(d_in, d_h)
    mine.load_state_dict(bidirectional_state_dict(ref))
    x = torch.randn(B, T, d_in)
    y = mine(x)
    assert type(y) is torch.Tensor and y.shape == (B, T, 2 * d_h), \
        f"the output should have shape {(B, T, 2 * d_h)} for x of shape {(B, T, d_in)}"
    with torch.no_grad():
        return y, ref(x)[0], d_h

def test_forward_states():
    for _ in range(3):
        y, want, d = _bilstm_case()
        assert torch.allclose(y[..., :d], want[..., :d], atol=1e-5), \
            "the first half differs from the forward LSTM's states"

def test_backward_states_in_reading_order():
    for _ in range(3):
        y, want, d = _bilstm_case()
        assert torch.allclose(y[..., d:], want[..., d:], atol=1e-5), \
            "the second half differs from the backward LSTM's states, position by position"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task3", "locked": true, "schema_version": 3, "solution": false}
# ## Task 3 — ELMo's scalar mix (2 points)
#
# ELMo does not use only the top layer of the biLM. A biLM with $L$ LSTM layers gives $L + 1$ layers
# of vectors, $h_0$ (the token embeddings) and $h_1, \dots, h_L$ (the LSTM layers), and for each task
# ELMo learns a mix of all of them (Peters et al., 2018, eq. 1; Section 3.3 of the chapter):
#
# $$\mathrm{ELMo} = \gamma \sum_{j=0}^{L} s_j\, h_j, \qquad s = \operatorname{softmax}(w),$$
#
# with learned raw weights $w \in \mathbb{R}^{L+1}$ and a learned scale $\gamma$.
#
# Write the `forward` of `ScalarMix(n_layers)`, where `n_layers` $= L + 1$: `layers` is a list of
# `n_layers` tensors of the same shape; return one tensor of that shape. The parameters `self.weights` ($w$) and `self.gamma`
# ($\gamma$) are given.

# %% nbgrader={"grade": false, "grade_id": "scalar_mix", "locked": false, "schema_version": 3, "solution": true}
class ScalarMix(nn.Module):
    def __init__(self, n_layers):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))   # raw layer weights w
        self.gamma = nn.Parameter(torch.ones(()))            # scale gamma

    def forward(self, layers):
        ### BEGIN SOLUTION
        s = torch.softmax(self.weights, dim=0)               # positive, sum to 1
        return self.gamma * sum(s[j] * h for j, h in enumerate(layers))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "scalar_mix_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_scalar_mix(ScalarMix)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _mix_case(weights, gamma, rank=3):
    L = len(weights)
    shape = tuple(int(n) for n in torch.randint(1, 5, (rank,)))   # any shape: (T, D), (B, T, D), ...
    mine = ScalarMix(L)
    mine.load_state_dict({"weights": weights, "gamma": gamma})
    layers = [torch.randn(*shape) for _ in range(L)]
    out = mine([h.clone() for h in layers])
    assert type(out) is torch.Tensor and out.shape == shape, f"the mix of {L} layers of shape {shape} has the wrong shape"
    want = gamma * sum(s * h for s, h in zip(torch.softmax(weights, 0), layers))
    assert torch.allclose(out, want, atol=1e-5), \
        f"wrong mix of {L} layers (weights {[round(float(v), 2) for v in weights]}, gamma {float(gamma):.2f})"

def test_softmax_weights():
    for L, rank in ((int(torch.randint(2, 4, ())), 3), (int(torch.randint(4, 8, ())), 2),
                    (int(torch.randint(2, 8, ())), 4)):
        _mix_case(torch.randn(L) * 2, torch.tensor(1.0), rank)

def test_gamma_scale():
    for L, rank in ((1, 3), (int(torch.randint(2, 4, ())), 1), (int(torch.randint(4, 8, ())), 5)):
        _mix_case(torch.zeros(L), torch.rand(()) * 3 + 0.2, rank)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task4", "locked": true, "schema_version": 3, "solution": false}
# ## Task 4 — The slanted triangular learning rate (2 points)
#
# ULMFiT fine-tunes with a learning rate that rises quickly, then decays slowly (Howard & Ruder,
# 2018, eq. 3). For iteration $t$ of $T$:
#
# $$
# \mathit{cut} = \lfloor T \cdot \mathit{cut\_frac} \rfloor, \qquad
# p = \begin{cases} t / \mathit{cut} & \text{if } t < \mathit{cut} \\[2pt]
# 1 - \dfrac{t - \mathit{cut}}{\mathit{cut} \cdot (1/\mathit{cut\_frac} - 1)} & \text{otherwise}
# \end{cases}, \qquad
# \eta_t = \eta_{\max} \cdot \frac{1 + p\,(\mathit{ratio} - 1)}{\mathit{ratio}} .
# $$
#
# Write `stlr(t, T, eta_max=0.01, cut_frac=0.1, ratio=32)` returning $\eta_t$ as a Python float,
# exactly as above (the paper's defaults). In every test $T \cdot \mathit{cut\_frac}$ is a whole
# number and $0 \le t \le T$.

# %% nbgrader={"grade": false, "grade_id": "stlr", "locked": false, "schema_version": 3, "solution": true}
def stlr(t, T, eta_max=0.01, cut_frac=0.1, ratio=32):
    """The learning rate at iteration t of T (ULMFiT, eq. 3)."""
    ### BEGIN SOLUTION
    cut = math.floor(T * cut_frac)                 # the iteration where the rate peaks
    if t < cut:
        p = t / cut                                # short linear warm-up
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))   # long linear decay
    return eta_max * (1 + p * (ratio - 1)) / ratio       # from eta_max / ratio up to eta_max
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "stlr_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_stlr(stlr)
### BEGIN HIDDEN TESTS
from tlcourse import ulmfit as _reference
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _schedules():
    for _ in range(4):
        cut_frac = [0.1, 0.2, 0.25, 0.5][int(torch.randint(0, 4, ()))]
        T = round(1 / cut_frac) * int(torch.randint(1, 40, ()))     # T * cut_frac is a whole number
        eta, ratio = float(torch.rand(()) * 0.1 + 1e-3), int(torch.randint(2, 64, ()))
        yield T, eta, cut_frac, ratio, math.floor(T * cut_frac)

def _compare(ts, T, eta, cut_frac, ratio, part):
    for t in ts:
        got = stlr(t, T, eta_max=eta, cut_frac=cut_frac, ratio=ratio)
        want = _reference.stlr(t, T, eta, cut_frac, ratio)
        assert type(got) is float, f"stlr should return a Python float, not a {type(got).__name__}"
        assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12), \
            f"{part}: stlr({t}, {T}, eta_max={eta:.4f}, cut_frac={cut_frac}, ratio={ratio}) should be {want:.6g}"

def test_warm_up():
    for T, eta, cut_frac, ratio, cut in _schedules():
        _compare(range(0, cut + 1), T, eta, cut_frac, ratio, "warm-up")

def test_decay():
    for T, eta, cut_frac, ratio, cut in _schedules():
        _compare(range(cut, T + 1), T, eta, cut_frac, ratio, "decay")

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task5", "locked": true, "schema_version": 3, "solution": false}
# ## Task 5 — Discriminative learning rates (1 point)
#
# Different layers capture different kinds of information, so ULMFiT tunes them at different
# speeds: the top layer with $\eta$, and each layer below with the rate of the layer above divided
# by 2.6, $\eta^{l-1} = \eta^{l} / 2.6$.
#
# Write `discriminative_param_groups(layer_groups, lr, factor=2.6)`: `layer_groups` is a list of
# layer groups **from the bottom (embeddings) to the top (the head)**, each a list of parameters.
# Return a list of optimizer parameter groups in the same order, one dict per layer group:
# `{"params": <that group's parameters, all of them, in order>, "lr": <its rate>}`, the top group at
# `lr`, the one below at `lr / factor`, and so on. The result must work as it is in
# `torch.optim.Adam(groups)`.

# %% nbgrader={"grade": false, "grade_id": "discriminative_param_groups", "locked": false, "schema_version": 3, "solution": true}
def discriminative_param_groups(layer_groups, lr, factor=2.6):
    """One optimizer group per layer group (bottom to top); the top one gets lr."""
    ### BEGIN SOLUTION
    n = len(layer_groups)
    # group i has n - 1 - i groups above it: its rate is divided by factor that many times
    return [{"params": list(group), "lr": lr / factor ** (n - 1 - i)}
            for i, group in enumerate(layer_groups)]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "discriminative_param_groups_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_discriminative_groups(discriminative_param_groups)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _groups_case():
    n = int(torch.randint(2, 7, ()))
    layer_groups = [[torch.randn(*(int(s) for s in torch.randint(1, 4, (2,))))
                     for _ in range(int(torch.randint(1, 4, ())))] for _ in range(n)]
    lr, factor = float(10 ** -torch.empty(()).uniform_(1, 4)), float(torch.empty(()).uniform_(1.5, 4))
    groups = discriminative_param_groups(layer_groups, lr, factor=factor)
    assert type(groups) is list and len(groups) == n, f"return a list of {n} groups for {n} layer groups"
    assert all(type(g) is dict and "params" in g and "lr" in g for g in groups), \
        "each group should be a dict with 'params' and 'lr'"
    return layer_groups, lr, factor, groups

def test_rates():
    for _ in range(4):
        layer_groups, lr, factor, groups = _groups_case()
        n = len(layer_groups)
        for i, g in enumerate(groups):
            assert math.isclose(float(g["lr"]), lr / factor ** (n - 1 - i), rel_tol=1e-6), \
                f"with {n} groups, lr={lr:.3g}, factor={factor:.3g}: group {i} (from the bottom) has the wrong rate"

def test_parameters_in_order():
    for _ in range(4):
        layer_groups, lr, factor, groups = _groups_case()
        torch.optim.Adam([dict(g, params=list(g["params"])) for g in groups])   # as the text promises
        for i, (g, params) in enumerate(zip(groups, layer_groups)):
            got = list(g["params"])
            assert len(got) == len(params) and all(torch.equal(a, b) for a, b in zip(got, params)), \
                f"group {i} should hold the parameters of layer group {i}, all of them, in order"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task6", "locked": true, "schema_version": 3, "solution": false}
# ## Task 6 — Concat pooling that ignores padding (2 points)
#
# ULMFiT's classifier does not look at the last hidden state only: the signal may be anywhere in a
# long document. It concatenates the last state with a max-pool and a mean-pool of all the states,
# $h_c = [h_T; \operatorname{maxpool}(H); \operatorname{meanpool}(H)]$.
#
# In a batch, texts are right-padded to the longest one; padding positions are not part of a text.
# Write `concat_pool(outputs, lengths)`: `outputs` is `(B, T, D)`, the LSTM's states of a padded
# batch, `lengths` is an int64 tensor `(B,)`, the number of real tokens of each text (at least 1).
# Return `(B, 3 * D)`: `[last, max, mean]`, where `last` is the state at each text's last real token,
# and `max` and `mean` are taken over its real positions only.

# %% nbgrader={"grade": false, "grade_id": "concat_pool", "locked": false, "schema_version": 3, "solution": true}
def concat_pool(outputs, lengths):
    """[last real state, max over real states, mean over real states]: (B, T, D) -> (B, 3D)."""
    ### BEGIN SOLUTION
    B, T, D = outputs.shape
    real = (torch.arange(T)[None, :] < lengths[:, None]).unsqueeze(-1)    # (B, T, 1): True on real tokens
    last = outputs[torch.arange(B), lengths - 1]                          # (B, D)
    max_pool = outputs.masked_fill(~real, float("-inf")).max(dim=1).values
    mean_pool = (outputs * real).sum(dim=1) / lengths[:, None]            # divide by the real length
    return torch.cat([last, max_pool, mean_pool], dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "concat_pool_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_concat_pool(concat_pool)
### BEGIN HIDDEN TESTS
from tlcourse import ulmfit as _reference
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _pool_cases():
    for _ in range(4):
        B, T, D = int(torch.randint(2, 6, ())), int(torch.randint(3, 10, ())), int(torch.randint(1, 8, ()))
        lengths = torch.randint(1, T + 1, (B,))
        lengths[0], lengths[1] = T, int(torch.randint(1, T, ()))         # one full, one padded
        outputs = torch.randn(B, T, D) * 2
        got = concat_pool(outputs.clone(), lengths.clone())
        assert type(got) is torch.Tensor and got.shape == (B, 3 * D), f"the result should have shape {(B, 3 * D)}"
        yield got, _reference.concat_pool(outputs, lengths), D

def test_last_state():
    for got, want, D in _pool_cases():
        assert torch.allclose(got[:, :D], want[:, :D], atol=1e-5), "the first block should be the state at the last real token"

def test_max_pool():
    for got, want, D in _pool_cases():
        assert torch.allclose(got[:, D:2 * D], want[:, D:2 * D], atol=1e-5), "the second block should be the max over the real positions"

def test_mean_pool():
    for got, want, D in _pool_cases():
        assert torch.allclose(got[:, 2 * D:], want[:, 2 * D:], atol=1e-5), "the third block should be the mean over the real positions"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS
