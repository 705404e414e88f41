# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # Assignment 6 — GPT: causal language modelling, decoding, prompts and scale
#
# Six tasks, 10 points. Each task gives you a function, or a method of a class, to write where the
# cell says `raise NotImplementedError()`: replace that line with your code. Run the **check cell**
# under it: it tries your code on small fixed inputs and tells you in plain words what is wrong, or
# prints `✓ ... the visible checks passed`.
#
# **Points.** A task's points are shared equally among its hidden tests, which run your code at
# grading time on freshly drawn inputs: you earn the share of every hidden test your code passes. The
# check cell gives no points; it tells you what is wrong. An answer that imports, wraps or copies the
# course library's own version of what a task asks earns nothing for that task (those versions are
# switched off while grading).
#
# Rules: use PyTorch tensor operations (`torch.softmax`, `masked_fill`, `topk`, `sort`, `cumsum`,
# `torch.multinomial`, `F.cross_entropy`, ...). Do not call `F.scaled_dot_product_attention`, the
# helpers of `tlcourse.gpt` other than the `GPT` class you are given, or `transformers`' generation
# utilities. Do not edit the check cells. Chapter 6 of the book explains everything used here.
#
# `GPT` (from `tlcourse.gpt`) is the small GPT-2-style model of the chapter: `GPT(vocab_size=...,
# n_ctx=..., n_layer=..., n_head=..., d_model=...)`; calling it on token ids `(B, T)` with
# `T <= model.n_ctx` returns next-token logits `(B, T, vocab_size)`; `model.n_ctx` is its context length.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math

import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.checks import fresh_inputs, run_tests
from tlcourse.checks.gpt import (check_build_prompt, check_causal_lm, check_count_params,
                                 check_generate, check_perplexity, check_sample_next_token)
from tlcourse.gpt import GPT

torch.manual_seed(0)
torch.set_num_threads(1)   # small tensors: one thread is fastest, above all on a busy machine


# %% [markdown] nbgrader={"grade": false, "grade_id": "task1", "locked": true, "schema_version": 3, "solution": false}
# ## Task 1 — Causal attention and the next-token loss (2 points)
#
# GPT is trained to predict every token from the tokens before it. Two things make that honest:
#
# * **the causal mask**: position $i$ may only attend to positions $j \le i$. Write
#   `causal_attention(q, k, v)`: `q` and `k` have shape `(..., T, d_k)`, `v` has shape `(..., T, d_v)`
#   (any leading batch and head dimensions). Return
#   $\operatorname{softmax}\!\big(QK^\top/\sqrt{d_k} + M\big)V$ of shape `(..., T, d_v)`, where
#   $M_{ij} = 0$ for $j \le i$ and $-\infty$ for $j > i$.
# * **shifted labels**: `logits` of shape `(B, T, V)` computed from token ids `ids` of shape `(B, T)`
#   hold, at position $t$, the model's guess for token $t+1$. Write `next_token_loss(logits, ids)`: the
#   mean cross-entropy of predicting `ids[:, t + 1]` from `logits[:, t]`, over all $B(T-1)$
#   predictions (a scalar tensor).

# %% nbgrader={"grade": false, "grade_id": "causal_lm", "locked": false, "schema_version": 3, "solution": true}
def causal_attention(q, k, v):
    """Masked self-attention. q, k: (..., T, d_k), v: (..., T, d_v) -> (..., T, d_v)."""
    ### BEGIN SOLUTION
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])           # (..., T, T)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()   # True where j <= i
    scores = scores.masked_fill(~mask, float("-inf"))                   # the future: weight 0
    return torch.softmax(scores, dim=-1) @ v
    ### END SOLUTION


def next_token_loss(logits, ids):
    """logits: (B, T, V) computed from ids: (B, T). Mean cross-entropy of predicting ids[:, t + 1]."""
    ### BEGIN SOLUTION
    V = logits.shape[-1]
    # position t predicts token t + 1: drop the last position's logits and the first token
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_lm_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_causal_lm(causal_attention, next_token_loss)
### BEGIN HIDDEN TESTS
from tlcourse.checks.gpt import reference_next_token_loss
fresh_inputs(globals())  # new random inputs, drawn at grading time

def test_causal_attention():
    for rank in (2, 2, 0, 1, 3):                 # any leading batch and head dimensions
        lead = tuple(int(n) for n in torch.randint(1, 5, (rank,)))
        T, dk, dv = (int(n) for n in torch.randint(1, 9, (3,)))
        T += 1
        q, k, v = torch.randn(*lead, T, dk) * 2, torch.randn(*lead, T, dk) * 2, torch.randn(*lead, T, dv)
        out = causal_attention(q, k, v)
        assert type(out) is torch.Tensor and out.shape == (*lead, T, dv), \
            (f"causal_attention should return a tensor of shape {(*lead, T, dv)} for q of shape "
             f"{tuple(q.shape)} (any number of leading dimensions)")
        ref = F.scaled_dot_product_attention(q.reshape(-1, T, dk), k.reshape(-1, T, dk), v.reshape(-1, T, dv),
                                             is_causal=True).reshape(*lead, T, dv)
        assert torch.allclose(out, ref, atol=1e-5), \
            f"the output differs from causal attention (T={T}, d_k={dk}): check the mask (j <= i), " \
            "that it is applied before the softmax, and the 1/sqrt(d_k) scaling"

def test_next_token_loss():
    for _ in range(5):
        B, T, V = int(torch.randint(1, 5, ())), int(torch.randint(2, 12, ())), int(torch.randint(2, 40, ()))
        logits, ids = torch.randn(B, T, V) * 3, torch.randint(V, (B, T))
        loss = next_token_loss(logits, ids)
        assert type(loss) is torch.Tensor and loss.dim() == 0, "the loss should be a scalar tensor"
        assert torch.allclose(loss, reference_next_token_loss(logits, ids), atol=1e-5), \
            f"the loss differs from the mean cross-entropy of logits[:, t] against ids[:, t + 1] " \
            f"(B={B}, T={T}, V={V})"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task2", "locked": true, "schema_version": 3, "solution": false}
# ## Task 2 — Sampling the next token (2 points)
#
# Write `sample_next_token(logits, temperature=1.0, top_k=None, top_p=None)`. `logits` has shape
# `(B, V)`: one row of next-token logits per sequence. Return a `(B,)` tensor of token ids
# (`torch.long`), one per row, drawn as follows:
#
# 1. `temperature == 0` means **greedy** decoding: return the argmax of each row (no randomness).
# 2. Otherwise divide the logits by `temperature` (below 1: sharper, above 1: flatter).
# 3. If `top_k` is given, keep only the `top_k` largest logits of each row (set the others to $-\infty$).
# 4. If `top_p` is given (**nucleus sampling**, Holtzman et al., 2020), keep the *smallest* set of most
#    likely tokens whose total probability (after steps 2 and 3) is at least `top_p`: sort the
#    probabilities in decreasing order and keep every token up to and **including** the one whose
#    cumulative probability reaches `top_p`.
# 5. Sample one token from the softmax of what is left (`torch.multinomial`).

# %% nbgrader={"grade": false, "grade_id": "sample_next_token", "locked": false, "schema_version": 3, "solution": true}
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None):
    """logits: (B, V) -> (B,) token ids drawn with temperature, top-k and top-p (nucleus) sampling."""
    ### BEGIN SOLUTION
    if temperature == 0:
        return logits.argmax(dim=-1)                                     # greedy decoding
    logits = logits / temperature                                        # on the logits, before the softmax
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]           # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)
        before = probs.cumsum(dim=-1) - probs                            # mass of the tokens ranked above
        drop_sorted = before >= top_p                                    # the token crossing top_p stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)   # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1).squeeze(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sample_next_token_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_sample_next_token(sample_next_token)
### BEGIN HIDDEN TESTS
from tlcourse.checks.gpt import reference_next_token_probs
fresh_inputs(globals())  # new random inputs, drawn at grading time
N = 20_000   # samples per case: frequencies within ±0.025 of the truth (≥ 5 standard deviations)

def _sampling_case(temperature=1.0, top_k=None, top_p=None, row=None):
    V = len(row)
    ids = sample_next_token(row.expand(N, V).clone(), temperature=temperature, top_k=top_k, top_p=top_p)
    assert type(ids) is torch.Tensor and ids.shape == (N,), f"return a tensor of shape ({N},)"
    assert ids.dtype == torch.long and int(ids.min()) >= 0 and int(ids.max()) < V, \
        f"return token ids in 0..{V - 1} as a torch.long tensor (got {ids.dtype})"
    want = reference_next_token_probs(row, temperature, top_k, top_p)
    freq = torch.bincount(ids.long(), minlength=V).double() / N
    setting = f"temperature={temperature}, top_k={top_k}, top_p={top_p and round(top_p, 3)}"
    assert (want[freq > 0] > 0).all(), f"with {setting} you sample tokens that should be filtered out"
    assert (freq - want).abs().max() < 0.025, \
        f"with {setting} the token frequencies differ from the expected distribution " \
        f"({[round(float(p), 2) for p in want]}, got {[round(float(p), 2) for p in freq]})"

def _row():
    return torch.randn(int(torch.randint(5, 13, ()))) * 1.2

def test_greedy():
    logits = torch.randn(int(torch.randint(2, 9, ())), int(torch.randint(3, 30, ()))) * 3
    ids = sample_next_token(logits.clone(), temperature=0)
    assert type(ids) is torch.Tensor and torch.equal(ids.long(), logits.argmax(-1)), \
        "temperature=0 should return the argmax of every row"

def test_temperature():
    for t in (0.5, 1.0, 1.7):
        _sampling_case(temperature=t, row=_row())

def test_top_k():
    for _ in range(2):
        row, t = _row(), float(torch.empty(()).uniform_(0.6, 1.5))
        p = torch.softmax(row.double() / t, -1).sort(descending=True).values
        # a k whose k-th token keeps a share >= 0.06 of the top k: keeping k - 1 or k + 1 shows
        ks = [k for k in range(2, len(row)) if p[k - 1] / p[:k].sum() >= 0.06] or [1]
        _sampling_case(temperature=t, top_k=ks[int(torch.randint(len(ks), ()))], row=row)

def test_top_p():
    for _ in range(3):
        row, t = _row(), float(torch.empty(()).uniform_(0.6, 1.5))
        p = torch.softmax(row.double() / t, -1).sort(descending=True).values
        # a nucleus boundary j whose crossing token is likely enough to be seen (>= 0.08)
        j = next((j for j in range(1, len(p)) if p[j] >= 0.08 and p[:j].sum() < 0.9), 1)
        top_p = float(p[:j].sum() + p[j] * torch.empty(()).uniform_(0.2, 0.8))
        _sampling_case(temperature=t, top_p=top_p, row=row)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task3", "locked": true, "schema_version": 3, "solution": false}
# ## Task 3 — The generation loop (2 points)
#
# Generation is auto-regressive: the output at one step is the input at the next. Complete the
# method `generate(self, idx, max_new_tokens, eos_id=None)` of `GenerativeGPT`, a `GPT` with one
# more method (as in nanoGPT). `idx` is a `(1, T)` prompt. Repeat at most `max_new_tokens` times:
#
# * feed the model **at most its last `self.n_ctx` tokens** (it has no positions beyond that),
# * take the logits of the **last** position and append their argmax (greedy decoding) to `idx`,
# * if `eos_id` is given and the token just appended is `eos_id` (`<|endoftext|>`), stop.
#
# Return the `(1, T + n)` tensor: the prompt followed by the `n` new tokens (the end-of-text token
# included when it stopped the loop).

# %% nbgrader={"grade": false, "grade_id": "generate", "locked": false, "schema_version": 3, "solution": true}
class GenerativeGPT(GPT):
    @torch.no_grad()
    def generate(self, idx, max_new_tokens, eos_id=None):
        """idx: (1, T) prompt ids -> (1, T + n) ids, n <= max_new_tokens new tokens, greedy."""
        ### BEGIN SOLUTION
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.n_ctx:])                  # (1, T', V), T' <= n_ctx
            next_id = logits[:, -1].argmax(-1, keepdim=True)     # (1, 1): the last position predicts
            idx = torch.cat([idx, next_id], dim=1)
            if eos_id is not None and next_id.item() == eos_id:
                break
        return idx
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "generate_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_generate(GenerativeGPT)
### BEGIN HIDDEN TESTS
from tlcourse.checks.gpt import discriminating_gpt, reference_generate
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _generation_case(prompt_len, n_new, with_eos):
    V, n_ctx = int(torch.randint(5, 20, ())), int(torch.randint(4, 10, ()))
    prompt = torch.randint(V, (1, min(prompt_len, n_ctx)))
    T = prompt.shape[1]
    ref = discriminating_gpt(V, n_ctx, prompt, n_new)   # a random GPT whose path is not trivial
    mine = GenerativeGPT(vocab_size=V, n_ctx=n_ctx, n_layer=2, n_head=2, d_model=16)
    mine.load_state_dict(ref.state_dict())
    mine.eval()
    eos = None
    if with_eos:                              # a token the greedy path produces, so it must stop
        eos = int(reference_generate(ref, prompt, n_new)[0, T + int(torch.randint(n_new, ()))])
    want = reference_generate(ref, prompt, n_new, eos)
    out = mine.generate(prompt.clone(), n_new, eos_id=eos)
    assert type(out) is torch.Tensor and out.dim() == 2 and out.shape[0] == 1, "return a (1, T) tensor"
    assert torch.equal(out.long(), want), \
        f"greedy generation of {n_new} tokens (context {n_ctx}, prompt of {T}, eos_id={eos}) " \
        f"should give {want.tolist()[0]}, got {out.tolist()[0]}"

def test_within_the_context():
    for _ in range(3):
        _generation_case(prompt_len=2, n_new=2, with_eos=False)

def test_past_the_context():
    for _ in range(3):
        _generation_case(prompt_len=int(torch.randint(1, 5, ())), n_new=12, with_eos=False)

def test_end_of_text():
    for _ in range(3):
        _generation_case(prompt_len=int(torch.randint(1, 5, ())), n_new=10, with_eos=True)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task4", "locked": true, "schema_version": 3, "solution": false}
# ## Task 4 — Zero-, one- and few-shot prompts (1 point)
#
# GPT-3 is not fine-tuned for a task: the task is written into the prompt (Brown et al., 2020,
# Figure 2.1). Write `build_prompt(task_description, examples, query)` returning the string
#
# ```
# Translate English to French:
# sea otter => loutre de mer
# cheese =>
# ```
#
# for `build_prompt("Translate English to French:", [("sea otter", "loutre de mer")], "cheese")`:
# the description on the first line (no line at all when it is empty), one line `input => output` per
# example, then `query =>`; lines joined with `"\n"`, nothing after the final `=>` (the model writes
# the answer). With no examples it is a zero-shot prompt, with one a one-shot prompt, with a few a
# few-shot prompt.

# %% nbgrader={"grade": false, "grade_id": "build_prompt", "locked": false, "schema_version": 3, "solution": true}
def build_prompt(task_description, examples, query):
    """A zero/one/few-shot prompt: description line, 'x => y' lines, then 'query =>'."""
    ### BEGIN SOLUTION
    lines = [task_description] if task_description else []
    lines += [f"{x} => {y}" for x, y in examples]
    lines.append(f"{query} =>")
    return "\n".join(lines)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "build_prompt_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_build_prompt(build_prompt)
### BEGIN HIDDEN TESTS
from tlcourse.checks.gpt import reference_prompt
fresh_inputs(globals())  # new random inputs, drawn at grading time
words = ["red", "blue", "green", "cat", "dog", "sea", "sky", "rouge", "bleu", "vert", "chat", "chien"]

def _phrase():
    return " ".join(words[int(i)] for i in torch.randint(len(words), (int(torch.randint(1, 4, ())),)))

for n_shots in [0, 1, 2, 5]:
    for describe in (True, False):
        desc = _phrase().capitalize() + ":" if describe else ""
        examples = [(_phrase(), _phrase()) for _ in range(n_shots)]
        query = _phrase()
        got = build_prompt(desc, examples, query)
        assert isinstance(got, str) and got == reference_prompt(desc, examples, query), \
            f"the {n_shots}-shot prompt {'with' if describe else 'without'} a description should be " \
            f"{reference_prompt(desc, examples, query)!r}, got {got!r}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task5", "locked": true, "schema_version": 3, "solution": false}
# ## Task 5 — Counting GPT's parameters (1 point)
#
# Write `count_params(n_layer, d_model, vocab_size, n_ctx)`: the number of parameters of GPT-2's
# architecture (transformers' `GPT2LMHeadModel`) with these sizes, as an `int`. The model has
#
# * a token embedding (`vocab_size × d_model`) and a learned position embedding (`n_ctx × d_model`);
# * `n_layer` blocks, each with a layer norm (weight and bias), the attention's `c_attn`
#   (`d_model → 3 d_model`) and `c_proj` (`d_model → d_model`), a second layer norm, and the MLP's
#   `c_fc` (`d_model → 4 d_model`) and `c_proj` (`4 d_model → d_model`), every linear layer with a bias;
# * a final layer norm, and an output layer **tied** to the token embedding (the same matrix, so it
#   adds no parameters).
#
# GPT-2 small (12 layers, 768, vocabulary 50,257, context 1,024) must come out at 124,439,808.

# %% nbgrader={"grade": false, "grade_id": "count_params", "locked": false, "schema_version": 3, "solution": true}
def count_params(n_layer, d_model, vocab_size, n_ctx):
    """Parameters of a GPT-2 with these sizes (tied output layer counted once)."""
    ### BEGIN SOLUTION
    d = d_model
    embeddings = vocab_size * d + n_ctx * d                   # tokens + positions
    attention = (d * 3 * d + 3 * d) + (d * d + d)             # c_attn + c_proj
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)               # c_fc + c_proj
    layer_norms = 2 * (2 * d)                                 # ln_1, ln_2: weight and bias each
    return embeddings + n_layer * (attention + mlp + layer_norms) + 2 * d   # + the final ln_f
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "count_params_tests", "locked": true, "points": 1, "schema_version": 3, "solution": false}
check_count_params(count_params)
### BEGIN HIDDEN TESTS
import transformers
from transformers import GPT2Config, GPT2LMHeadModel
transformers.logging.set_verbosity_error()   # nothing on stderr
fresh_inputs(globals())  # new random inputs, drawn at grading time
for _ in range(4):
    L, d = int(torch.randint(1, 9, ())), int(torch.randint(1, 65, ()))
    V, n_ctx = int(torch.randint(10, 60000, ())), int(torch.randint(4, 3000, ()))
    with torch.device("meta"):      # shapes only: no memory, no time
        model = GPT2LMHeadModel(GPT2Config(n_layer=L, n_embd=d, n_head=1, vocab_size=V, n_positions=n_ctx,
                                            bos_token_id=None, eos_token_id=None))
    want = sum(p.numel() for p in model.parameters())
    got = count_params(L, d, V, n_ctx)
    assert type(got) is int, f"count_params should return a Python int, not a {type(got).__name__}"
    assert int(got) == want, \
        f"GPT2LMHeadModel with n_layer={L}, d_model={d}, vocab_size={V}, n_ctx={n_ctx} has {want:,} " \
        f"parameters, count_params gives {int(got):,}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task6", "locked": true, "schema_version": 3, "solution": false}
# ## Task 6 — Perplexity of a text (2 points)
#
# The perplexity of a text $x_0, \dots, x_{N-1}$ under a language model is
# $\exp\!\big(-\tfrac{1}{N-1}\sum_{t=1}^{N-1} \log p(x_t \mid x_{<t})\big)$: the exponential of the
# mean next-token loss, in nats. A model only sees `n_ctx` tokens at a time, so a long text is scored
# window by window. Complete the method `perplexity(self, ids)` of `ScoringGPT`: `ids` is a 1-D
# tensor of $N \ge 2$ token ids, possibly much longer than `self.n_ctx`.
#
# * Cut `ids` into windows of at most `n_ctx` tokens starting at positions $0,\ n_{ctx}-1,\
#   2(n_{ctx}-1), \dots$ while the start is below $N-1$: consecutive windows share one token.
# * In each window the model predicts the window's tokens $1, 2, \dots$ from the ones before them, so
#   every token except `ids[0]` is predicted exactly once.
# * Return $\exp(\text{total negative log-likelihood} / (N-1))$ as a Python `float`.

# %% nbgrader={"grade": false, "grade_id": "perplexity", "locked": false, "schema_version": 3, "solution": true}
class ScoringGPT(GPT):
    @torch.no_grad()
    def perplexity(self, ids):
        """ids: (N,) token ids, N >= 2, any length -> exp(mean NLL of ids[1:]) as a float."""
        ### BEGIN SOLUTION
        total, start = 0.0, 0
        while start < len(ids) - 1:
            window = ids[start:start + self.n_ctx]                         # (<= n_ctx,)
            logits = self(window[None])[0]                                 # (len, V)
            total += F.cross_entropy(logits[:-1], window[1:], reduction="sum").item()
            start += self.n_ctx - 1                                        # share one token
        return math.exp(total / (len(ids) - 1))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "perplexity_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_perplexity(ScoringGPT)
### BEGIN HIDDEN TESTS
from tlcourse.checks.gpt import reference_perplexity
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _perplexity_case(n_windows):
    V, n_ctx = int(torch.randint(5, 30, ())), int(torch.randint(4, 10, ()))
    ref = GPT(vocab_size=V, n_ctx=n_ctx, n_layer=2, n_head=2, d_model=16).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(2.0)
    mine = ScoringGPT(vocab_size=V, n_ctx=n_ctx, n_layer=2, n_head=2, d_model=16)
    mine.load_state_dict(ref.state_dict())
    mine.eval()
    # n_windows full windows (n_ctx - 1 predictions each), then a shorter last one
    N = 1 + n_windows * (n_ctx - 1) + int(torch.randint(1, n_ctx - 1, ()))
    ids = torch.randint(V, (N,))
    got, want = mine.perplexity(ids.clone()), reference_perplexity(ref, ids)
    assert type(got) is float, f"perplexity should return a Python float, not a {type(got).__name__}"
    assert math.isclose(got, want, rel_tol=1e-4), \
        f"a text of {N} tokens, context {n_ctx}: perplexity should be {want:.4f}, got {got:.4f}"

def test_short_texts():
    for _ in range(3):
        _perplexity_case(0)

def test_long_texts():
    for n in (1, 2, 5):
        _perplexity_case(n)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS
