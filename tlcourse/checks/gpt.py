"""Visible checks of Chapter 6's assignment (GPT: causal language modelling, decoding, prompts, scale).

Each ``check_*`` takes the student's function or class, runs it on small fixed inputs, and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. References: torch's
``scaled_dot_product_attention`` and ``cross_entropy``, the exact sampling distributions computed
here, greedy decoding with :class:`tlcourse.gpt.GPT`, the prompt format of Brown et al. (2020,
Figure 2.1) and the published GPT-2 parameter counts.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
# The parameter counts are checked against transformers' own GPT-2 (its modelling code takes
# seconds to import: here it is imported once, with the checks, not in every grading run).
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: F401

from . import expect_tensor, fail, is_close, max_diff, passed, randn


def _reraise_unanswered(e: BaseException) -> None:
    if isinstance(e, NotImplementedError):   # a subclass of RuntimeError: the task is not done yet
        raise e


# --------------------------------------------------------------------------- task 1
def reference_next_token_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Position t predicts token t+1: logits[:, :-1] against ids[:, 1:], mean over all predictions."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


def check_causal_lm(causal_attention, next_token_loss) -> None:
    task = "causal_attention"
    q, k, v = randn(2, 3, 5, 4, seed=1), randn(2, 3, 5, 4, seed=2), randn(2, 3, 5, 6, seed=3)
    out = causal_attention(q, k, v)
    if isinstance(out, torch.Tensor) and out.shape == (2, 3, 5, 6) and torch.isnan(out).any():
        fail(task, "the output has NaN values: a row of the attention has no allowed key. Position 0 "
                   "must still see itself: keep the diagonal (j <= i), not only j < i.")
    expect_tensor(task, out, (2, 3, 5, 6), "causal_attention(q, k, v) for q, k: (2, 3, 5, 4), v: (2, 3, 5, 6)")
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if not is_close(out, ref):
        T = q.shape[-2]
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        tril = torch.ones(T, T, dtype=torch.bool).tril()
        if is_close(out, F.scaled_dot_product_attention(q, k, v)):
            fail(task, "the output equals attention WITHOUT a mask: every position sees the future. "
                       "Set the scores of keys j > i to -inf before the softmax.")
        if is_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=tril.T)):
            fail(task, "the mask is the wrong triangle: position i sees the later positions j >= i "
                       "instead of the earlier ones j <= i (use tril, not triu).")
        if is_close(out, (torch.softmax(scores, -1) * tril) @ v):
            fail(task, "the weights of future keys are zeroed after the softmax, so the rows no "
                       "longer sum to 1: fill the scores with -inf BEFORE the softmax.")
        if is_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)):
            fail(task, "the result matches causal attention WITHOUT scaling: divide the scores "
                       "q·k by sqrt(d_k) before the softmax.")
        fail(task, f"the output differs from causal attention, softmax(q kᵀ/sqrt(d_k) + mask) v "
                   f"(max difference {max_diff(out, ref):.2e}).")

    task = "next_token_loss"
    logits, ids = randn(2, 6, 7, seed=4, scale=2.0), torch.tensor([[1, 4, 2, 6, 0, 3], [5, 5, 2, 1, 6, 0]])
    loss = next_token_loss(logits, ids)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        fail(task, f"the loss should be a scalar tensor (0 dimensions), got "
                   f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__}.")
    ref = reference_next_token_loss(logits, ids)
    if not is_close(loss, ref):
        V = logits.shape[-1]
        if is_close(loss, F.cross_entropy(logits.reshape(-1, V), ids.reshape(-1))):
            fail(task, "the labels are not shifted: logits[:, t] is scored against ids[:, t], the "
                       "token the model was given. Position t must predict the NEXT token: use "
                       "logits[:, :-1] against ids[:, 1:].")
        if is_close(loss, F.cross_entropy(logits[:, 1:].reshape(-1, V), ids[:, :-1].reshape(-1))):
            fail(task, "the labels are shifted the wrong way: logits[:, t] should be scored against "
                       "ids[:, t + 1] (logits[:, :-1] with ids[:, 1:]), not against ids[:, t - 1].")
        if is_close(loss, ref * ids[:, 1:].numel()):
            fail(task, "the loss is the sum over all predictions: take the mean (F.cross_entropy's "
                       "default reduction).")
        fail(task, f"the loss is {float(loss):.4f}, expected {float(ref):.4f}: the mean cross-entropy "
                   "of predicting ids[:, t + 1] from logits[:, t].")
    passed("causal_attention and next_token_loss")


# --------------------------------------------------------------------------- task 2
def reference_next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k=None,
                               top_p=None) -> torch.Tensor:
    """The distribution sample_next_token draws from: temperature, then top-k, then top-p."""
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).double()
    z = logits.double() / temperature
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    if top_p is not None:
        p, order = torch.softmax(z, -1).sort(-1, descending=True)
        before = p.cumsum(-1) - p                       # probability of the tokens ranked above
        drop = torch.zeros_like(z, dtype=torch.bool).scatter(-1, order, before >= top_p)
        z = z.masked_fill(drop, float("-inf"))
    return torch.softmax(z, -1)


_ROW = torch.tensor([2.0, 1.4, 1.0, 0.6, 0.0, -0.6, -1.2, -2.0])   # softmax: .41 .23 .15 .10 .06 ...
_N = 20_000          # samples per check: frequencies within ±0.02 of the truth (≥ 5 std)


def _frequencies(task: str, fn, row: torch.Tensor, **kwargs) -> torch.Tensor:
    torch.manual_seed(0)
    logits = row.expand(_N, -1).clone()
    try:
        ids = fn(logits, **kwargs)
    except RuntimeError as e:
        _reraise_unanswered(e)
        fail(task, f"with {kwargs} your function raised: {str(e).splitlines()[0]} (did every logit of "
                   "a row become -inf? a filter must keep at least the most likely token).")
    expect_tensor(task, ids, (_N,), f"sample_next_token on logits of shape {(_N, len(row))}")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        fail(task, f"return token ids as an integer tensor (torch.long), not {ids.dtype}.")
    if ids.min() < 0 or ids.max() >= len(row):
        fail(task, f"token ids should lie in 0..{len(row) - 1}, got {int(ids.min())}..{int(ids.max())}.")
    return torch.bincount(ids.long(), minlength=len(row)).double() / _N


def _close_freq(freq: torch.Tensor, probs: torch.Tensor) -> bool:
    return bool((freq - probs).abs().max() < 0.02)


def _describe(ks) -> str:
    return "{" + ", ".join(str(int(i)) for i in ks) + "}"


def check_sample_next_token(fn) -> None:
    task = "sample_next_token"
    logits = randn(5, 8, seed=5, scale=2.0)
    torch.manual_seed(0)
    try:
        greedy = fn(logits, temperature=0)
    except (ZeroDivisionError, RuntimeError, ValueError) as e:
        _reraise_unanswered(e)
        fail(task, f"with temperature=0 your function raised {type(e).__name__}: temperature=0 means "
                   "greedy decoding, handle it first (return the argmax) instead of dividing by 0.")
    expect_tensor(task, greedy, (5,), "sample_next_token(logits of shape (5, 8), temperature=0)")
    if not torch.equal(greedy.long(), logits.argmax(-1)):
        fail(task, "with temperature=0 every row should get its most likely token (greedy "
                   "decoding, argmax), without any randomness.")
    freq = _frequencies(task, fn, _ROW)
    if not _close_freq(freq, reference_next_token_probs(_ROW)):
        fail(task, f"with temperature 1 and no filter, token frequencies should follow softmax(logits) "
                   f"{[round(float(p), 2) for p in reference_next_token_probs(_ROW)]}, got "
                   f"{[round(float(p), 2) for p in freq]}: sample with torch.multinomial(softmax(logits), 1).")
    freq = _frequencies(task, fn, _ROW, temperature=0.5)
    if not _close_freq(freq, reference_next_token_probs(_ROW, 0.5)):
        if _close_freq(freq, reference_next_token_probs(_ROW)):
            fail(task, "temperature 0.5 gives the same frequencies as temperature 1: the temperature "
                       "is applied after the softmax (or ignored), where it cancels out. Divide the "
                       "LOGITS by the temperature, then take the softmax.")
        if _close_freq(freq, reference_next_token_probs(_ROW, 2.0)):
            fail(task, "temperature 0.5 makes the distribution flatter instead of sharper: divide the "
                       "logits by the temperature, do not multiply.")
        fail(task, "with temperature=0.5 the frequencies differ from softmax(logits / 0.5).")
    for k in (3, 1):
        freq = _frequencies(task, fn, _ROW, top_k=k)
        support = freq.nonzero().flatten()
        if len(support) != k:
            fail(task, f"with top_k={k} exactly the {k} most likely tokens should be sampled, got "
                       f"tokens {_describe(support)}: keep the logits >= the k-th largest, set the rest to -inf.")
        if not _close_freq(freq, reference_next_token_probs(_ROW, top_k=k)):
            fail(task, f"with top_k={k} the kept tokens should keep their relative probabilities "
                       "(renormalised softmax over the k largest logits).")
    freq = _frequencies(task, fn, _ROW, top_p=0.7)
    want = reference_next_token_probs(_ROW, top_p=0.7)
    support, wanted = freq.nonzero().flatten(), want.nonzero().flatten()
    if len(support) == len(wanted) - 1 and set(support.tolist()) < set(wanted.tolist()):
        fail(task, f"with top_p=0.7 you keep tokens {_describe(support)} (probability "
                   f"{float(reference_next_token_probs(_ROW)[support].sum()):.3f} < 0.7): the token that "
                   f"crosses p is dropped. The nucleus is the SMALLEST set of most likely tokens whose "
                   f"probability reaches p, so it includes the token that crosses p: {_describe(wanted)}.")
    if not torch.equal(support, wanted) or not _close_freq(freq, want):
        fail(task, f"with top_p=0.7 the nucleus should be tokens {_describe(wanted)} (cumulative "
                   f"probabilities .41, .64, .79: the smallest set reaching 0.7), renormalised; "
                   f"you sample {_describe(support)}.")
    freq = _frequencies(task, fn, _ROW, temperature=2.0, top_p=0.7)
    want = reference_next_token_probs(_ROW, 2.0, top_p=0.7)
    if not torch.equal(freq.nonzero().flatten(), want.nonzero().flatten()) or not _close_freq(freq, want):
        fail(task, "with temperature=2 and top_p=0.7 the nucleus should be taken on the TEMPERED "
                   f"distribution softmax(logits / 2) (tokens {_describe(want.nonzero().flatten())}): "
                   "apply the temperature first, then top-k, then top-p.")
    freq = _frequencies(task, fn, _ROW, top_k=2, top_p=0.9)
    if not _close_freq(freq, reference_next_token_probs(_ROW, top_k=2, top_p=0.9)):
        fail(task, "with top_k=2 and top_p=0.9 only the 2 most likely tokens should remain (top-k "
                   "first, then the nucleus of what is left).")
    passed(task)


# --------------------------------------------------------------------------- task 3
def tiny_gpt(seed: int = 0, vocab_size: int = 11, n_ctx: int = 6, spread: float = 3.0):
    """A small random GPT (2 layers, 2 heads, d_model 16) fixed by ``seed``."""
    torch.manual_seed(seed)
    return random_gpt(vocab_size, n_ctx, spread)


@torch.no_grad()
def reference_generate(model, idx: torch.Tensor, max_new_tokens: int, eos_id=None,
                       crop: str = "last", position: int = -1) -> torch.Tensor:
    """Greedy decoding; ``crop="first"`` or ``position=0`` give two common wrong loops."""
    for _ in range(max_new_tokens):
        context = idx[:, -model.n_ctx:] if crop == "last" else idx[:, :model.n_ctx]
        nxt = model(context)[:, position].argmax(-1, keepdim=True)
        idx = torch.cat([idx, nxt], dim=1)
        if eos_id is not None and int(nxt) == eos_id:
            break
    return idx


def discriminating_gpt(vocab_size: int, n_ctx: int, prompt: torch.Tensor, n_new: int, tries: int = 50):
    """A random small GPT (drawn from torch's global generator) whose greedy continuation of
    ``prompt`` differs from what the common wrong loops produce: random models often fall into
    repeating one token, where reading the first position or the first n_ctx tokens goes unnoticed."""
    for _ in range(tries):
        model = random_gpt(vocab_size, n_ctx)
        right = reference_generate(model, prompt, n_new)
        wrong = [reference_generate(model, prompt, n_new, position=0)]
        if prompt.shape[1] + n_new > n_ctx:
            wrong.append(reference_generate(model, prompt, n_new, crop="first"))
        if all(not torch.equal(right, w) for w in wrong):
            return model
    return model


def random_gpt(vocab_size: int, n_ctx: int, spread: float = 3.0):
    from ..gpt import GPT

    model = GPT(vocab_size=vocab_size, n_ctx=n_ctx, n_layer=2, n_head=2, d_model=16)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(spread)                     # larger weights: varied greedy continuations
    return model.eval()


def _generate(task: str, m, idx, n, eos_id, what: str) -> torch.Tensor:
    out = m.generate(idx.clone(), n, eos_id=eos_id)
    if type(out) is not torch.Tensor or out.dim() != 2 or out.shape[0] != 1:
        fail(task, f"{what} should return a (1, T) tensor of token ids, got "
                   f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}.")
    if not torch.equal(out[:, :idx.shape[1]].long(), idx):
        fail(task, f"{what}: the result should start with the prompt itself, then the new tokens.")
    return out.long()


def check_generate(cls) -> None:
    task = "generate"
    ref = tiny_gpt(seed=11)    # its greedy path changes token and is not a fixed point
    m = cls(vocab_size=11, n_ctx=6, n_layer=2, n_head=2, d_model=16)
    m.load_state_dict(ref.state_dict())
    m.eval()
    prompt = torch.tensor([[1, 7, 2]])
    want = reference_generate(ref, prompt, 3)
    out = _generate(task, m, prompt, 3, None, "generate(prompt of 3 tokens, 3)")
    if out.shape[1] != want.shape[1]:
        fail(task, f"generate(prompt of 3 tokens, max_new_tokens=3) without eos_id should add exactly "
                   f"3 tokens, it added {out.shape[1] - 3}.")
    if not torch.equal(out, want):
        with torch.no_grad():
            first_position = int(ref(prompt)[0, 0].argmax())
        if int(out[0, 3]) == first_position != int(want[0, 3]):
            fail(task, "the first new token is the model's prediction after the FIRST prompt token: "
                       "the next token is predicted at the LAST position, logits[:, -1].")
        fail(task, f"greedy continuation of {prompt.tolist()[0]} should be {want.tolist()[0][3:]}, got "
                   f"{out.tolist()[0][3:]}: at each step append the argmax of logits[:, -1].")
    long_want = reference_generate(ref, prompt, 8)
    try:
        out = _generate(task, m, prompt, 8, None, "generate(prompt of 3 tokens, 8)")
    except (ValueError, IndexError, RuntimeError) as e:
        _reraise_unanswered(e)
        fail(task, f"generating past the model's context ({ref.n_ctx} positions) raised "
                   f"{type(e).__name__}: feed the model only the last n_ctx tokens, idx[:, -self.n_ctx:].")
    if not torch.equal(out, long_want):
        fail(task, f"past the context of {ref.n_ctx} tokens the continuation is wrong: feed the model the "
                   "LAST n_ctx tokens (idx[:, -self.n_ctx:]), not the first ones.")
    eos = int(long_want[0, 6])                # a token the greedy path produces at step 4
    k = int((long_want[0, 3:] == eos).nonzero()[0])   # first time it appears among the new tokens
    want = long_want[:, :3 + k + 1]
    out = _generate(task, m, prompt, 8, eos, f"generate(prompt, 8, eos_id={eos})")
    if out.shape[1] == long_want.shape[1]:
        fail(task, f"with eos_id={eos} generation should stop once token {eos} is produced; it ran all "
                   "8 steps: check the new token against eos_id after appending it.")
    if out.shape[1] == want.shape[1] - 1:
        fail(task, f"generation stops at eos_id={eos} but drops it: append the end-of-text token, "
                   "then stop.")
    if not torch.equal(out, want):
        fail(task, f"with eos_id={eos} the result should be {want.tolist()[0]} (stop right after the "
                   f"first {eos}), got {out.tolist()[0]}.")
    passed(task)


# --------------------------------------------------------------------------- task 4
def reference_prompt(task_description, examples, query) -> str:
    lines = [task_description] if task_description else []
    lines += [f"{x} => {y}" for x, y in examples]
    return "\n".join(lines + [f"{query} =>"])


def check_build_prompt(fn) -> None:
    task = "build_prompt"
    desc = "Translate English to French:"
    shots = [("sea otter", "loutre de mer"), ("peppermint", "menthe poivrée"), ("plush girafe", "girafe peluche")]
    cases = [(desc, [], "cheese", "zero-shot"), (desc, shots[:1], "cheese", "one-shot"),
             (desc, shots, "cheese", "few-shot"), ("", shots[:2], "cheese", "few-shot without a description")]
    for d, ex, q, name in cases:
        got, want = fn(d, list(ex), q), reference_prompt(d, ex, q)
        if not isinstance(got, str):
            fail(task, f"return a string, not a {type(got).__name__}.")
        if got == want:
            continue
        msg = f"the {name} prompt should be\n{want!r}\nbut it is\n{got!r}\n"
        if got.rstrip() == want and got != want:
            fail(task, msg + "Remove the trailing space/newline: the prompt ends with '=>', the model "
                             "writes the answer.")
        if not d and got.startswith("\n"):
            fail(task, msg + "With an empty description there is no description line at all.")
        if got.strip("\n") == want:
            fail(task, msg + "No blank line at the start or the end: join the lines with a single '\\n'.")
        if d and desc not in got:
            fail(task, msg + "The task description is missing: it is the first line.")
        if ex and f"{ex[0][1]} => {ex[0][0]}" in got:
            fail(task, msg + "An example is written output => input: write 'input => output'.")
        fail(task, msg + "Format: the description, then one line 'input => output' per example, then "
                         "'query =>', lines joined with '\\n'.")
    passed(task)


# --------------------------------------------------------------------------- task 5
# Published GPT-2 sizes (Radford et al., 2019), counted exactly on transformers' GPT2LMHeadModel.
GPT2_SIZES = {"small": (12, 768, 124_439_808), "medium": (24, 1024, 354_823_168),
              "large": (36, 1280, 774_030_080), "xl": (48, 1600, 1_557_611_200)}


def reference_count_params(n_layer: int, d_model: int, vocab_size: int, n_ctx: int) -> int:
    d = d_model
    per_block = (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (2 * d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    return vocab_size * d + n_ctx * d + n_layer * per_block + 2 * d


def check_count_params(fn) -> None:
    task = "count_params"
    for name, (L, d, published) in GPT2_SIZES.items():
        got = fn(L, d, 50257, 1024)
        if not isinstance(got, int) and not (hasattr(got, "__int__") and float(got) == int(got)):
            fail(task, f"return an integer, not a {type(got).__name__}.")
        got = int(got)
        if got == published:
            continue
        diff = published - got
        msg = f"GPT-2 {name} (n_layer={L}, d_model={d}) has {published:,} parameters, you count {got:,}. "
        if diff == 1024 * d:
            fail(task, msg + "The difference is n_ctx × d_model: the learned position embeddings are missing.")
        if diff == -50257 * d:
            fail(task, msg + "The difference is vocab_size × d_model: GPT-2's output layer is tied to the "
                             "token embedding (the same matrix), it adds no parameters.")
        if diff == 50257 * d:
            fail(task, msg + "The difference is vocab_size × d_model: the token embedding is missing.")
        if diff == L * 9 * d:
            fail(task, msg + "The difference is 9 d_model per block: the biases of the four linear "
                             "layers (3d + d + 4d + d) are missing.")
        if diff == L * 5 * d:
            fail(task, msg + "The difference is 5 d_model per block: the MLP's biases (4d for c_fc, d "
                             "for c_proj) are missing.")
        if diff == L * 4 * d + 2 * d:
            fail(task, msg + "The difference is the layer norms: two per block and a final one, each "
                             "with a weight and a bias of size d_model.")
        if diff == L * 4 * d:
            fail(task, msg + "The difference is 4 d_model per block: the two layer norms' weights and "
                             "biases, or the attention's biases (3d for c_attn, d for c_proj).")
        if diff == 2 * d:
            fail(task, msg + "The difference is 2 d_model: the final layer norm (ln_f) is missing.")
        fail(task, msg + "Per block: attention 4d² + 4d, MLP 8d² + 5d, two layer norms 4d.")
    passed(task)


# --------------------------------------------------------------------------- task 6
@torch.no_grad()
def reference_perplexity(model, ids: torch.Tensor) -> float:
    """exp(mean NLL of ids[1:]); windows of n_ctx tokens overlapping by one, each token predicted once."""
    n_ctx, total, s = model.n_ctx, 0.0, 0
    while s < len(ids) - 1:
        w = ids[s:s + n_ctx]
        logits = model(w[None])[0]
        total += F.cross_entropy(logits[:-1].double(), w[1:], reduction="sum").item()
        s += n_ctx - 1
    return math.exp(total / (len(ids) - 1))


def check_perplexity(cls) -> None:
    task = "perplexity"
    ref = tiny_gpt(seed=4, spread=1.5)
    m = cls(vocab_size=11, n_ctx=6, n_layer=2, n_head=2, d_model=16)
    m.load_state_dict(ref.state_dict())
    m.eval()
    short = torch.tensor([3, 1, 4, 1, 5])
    got = m.perplexity(short.clone())
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (int, float)):
        fail(task, f"return a number (a float), not a {type(got).__name__}.")
    want = reference_perplexity(ref, short)
    logits = ref(short[None])[0]
    nll = F.cross_entropy(logits[:-1], short[1:]).item()
    if not math.isclose(got, want, rel_tol=1e-4):
        if math.isclose(got, nll, rel_tol=1e-4):
            fail(task, f"for a text shorter than the context you return {got:.4f}, the mean negative "
                       f"log-likelihood: the perplexity is its exponential, exp({nll:.4f}) = {want:.4f}.")
        if math.isclose(got, 2 ** (nll / math.log(2)), rel_tol=1e-4) or math.isclose(got, 2 ** nll, rel_tol=1e-4):
            fail(task, f"use the natural exponential of the mean NLL in nats: expected {want:.4f}.")
        if math.isclose(got, math.exp(F.cross_entropy(logits, torch.cat([short[1:], short[:1]])).item()), rel_tol=1e-4) \
                or math.isclose(got, math.exp(F.cross_entropy(logits, short).item()), rel_tol=1e-4):
            fail(task, "score only the tokens 1..N-1, each predicted from the tokens before it "
                       "(logits[:-1] against ids[1:]).")
        fail(task, f"for the 5-token text {short.tolist()} (shorter than the context) the perplexity "
                   f"should be {want:.4f}, got {got:.4f}.")
    long = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4])   # 20 > n_ctx = 6
    try:
        got = m.perplexity(long.clone())
    except (ValueError, IndexError, RuntimeError) as e:
        _reraise_unanswered(e)
        fail(task, f"a text of {len(long)} tokens, longer than the context ({ref.n_ctx}), raised "
                   f"{type(e).__name__}: score it window by window.")
    got = float(got)
    want = reference_perplexity(ref, long)
    if not math.isclose(got, want, rel_tol=1e-4):
        chunks = [long[i:i + ref.n_ctx] for i in range(0, len(long), ref.n_ctx)]
        nlls = [F.cross_entropy(ref(c[None])[0][:-1], c[1:], reduction="sum").item() for c in chunks if len(c) > 1]
        n_pred = sum(len(c) - 1 for c in chunks)
        if any(math.isclose(got, math.exp(sum(nlls) / n), rel_tol=1e-4) for n in (n_pred, len(long) - 1)):
            fail(task, f"your windows do not overlap, so the first token of each window after the "
                       f"first is never predicted (you score {n_pred} of the {len(long) - 1} tokens): "
                       f"start each window on the last token of the previous one (stride n_ctx - 1).")
        windows, s = [], 0
        while s < len(long) - 1:
            windows.append(long[s:s + ref.n_ctx])
            s += ref.n_ctx - 1
        means = [F.cross_entropy(ref(w[None])[0][:-1], w[1:]).item() for w in windows]
        if math.isclose(got, math.exp(sum(means) / len(means)), rel_tol=1e-4):
            fail(task, "you average the windows' mean losses, but the last window is shorter: sum the "
                       "negative log-likelihoods of all predicted tokens and divide by their number "
                       "(N - 1) once.")
        fail(task, f"for a text of {len(long)} tokens with a context of {ref.n_ctx} the perplexity "
                   f"should be {want:.4f}, got {got:.4f} (windows of n_ctx tokens overlapping by one "
                   "token, every token but the first predicted once).")
    passed(task)
