"""GPT, written in the open: the model, its data, and the synthetic in-context-learning tasks (Chapter 6).

The model follows nanoGPT (Karpathy) and GPT-2 (Radford et al., 2019): token and learned position
embeddings, a stack of pre-LN blocks (causal self-attention, then an MLP, each inside a residual
connection), a final layer norm and an output layer tied to the token embedding. Parameter names
are GPT-2's (``transformer.h.0.attn.c_attn`` ...), so the weights of transformers'
``GPT2LMHeadModel`` load into it (its ``Conv1D`` weights transposed)::

    from tlcourse import gpt
    model = gpt.GPT(vocab_size=2049, n_ctx=128, n_layer=2, n_head=4, d_model=128)
    logits, loss = model(x, y)                      # x, y: (B, T) inputs and next-token targets
    model.save_pretrained(folder); gpt.GPT.from_pretrained(folder)

Data: :func:`gpt2_bpe` is GPT-2's byte-level BPE, optionally cut to its first ``n`` tokens (still
lossless: every text is bytes); :func:`sotu_tokens` is the State of the Union corpus encoded with
it, split by address into train and validation; :func:`get_batch` draws training windows.

In-context learning: :data:`ICL_RULES` are six letter-to-letter mappings; :func:`icl_example`
draws one rule and solved examples, :func:`icl_prompt` writes them as a prompt whose rule must be
inferred from the examples (or read from its name), :func:`icl_batch` makes training batches of the
mixture, :func:`icl_accuracy` measures a model's exact-match accuracy and
:func:`icl_ideal_accuracy` the best any learner can do from the examples alone.
"""
from __future__ import annotations

import base64
import functools
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

EOS = "<|endoftext|>"


# --------------------------------------------------------------------------- the model
@dataclass
class GPTConfig:
    vocab_size: int = 50257      # GPT-2's byte-level BPE
    n_ctx: int = 1024            # the longest context (number of learned positions)
    n_layer: int = 12
    n_head: int = 12
    d_model: int = 768
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t only sees positions <= t."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model)   # q, k, v in one matrix
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model)       # mixes the heads' outputs
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.c_attn(x).split(D, dim=-1)                                  # 3 × (B, T, D)
        q, k, v = (t.view(B, T, self.n_head, D // self.n_head).transpose(1, 2)     # (B, h, T, D/h)
                   for t in (q, k, v))
        # is_causal=True is the lower-triangular mask of Chapter 4: score[i, j] = -inf for j > i
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, D))                    # (B, T, D)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)       # GPT-2: d_ff = 4 d_model
        self.gelu = nn.GELU(approximate="tanh")                   # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    """GPT-2's pre-LN block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class GPT(nn.Module):
    """A decoder-only Transformer language model: ids (B, T) -> next-token logits (B, T, V).

    ``GPT(config)`` or ``GPT(vocab_size=..., n_ctx=..., n_layer=..., n_head=..., d_model=...)``.
    """

    def __init__(self, config: GPTConfig | None = None, **kwargs):
        super().__init__()
        cfg = self.config = config if config is not None else GPTConfig(**kwargs)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.d_model),     # token embeddings
            wpe=nn.Embedding(cfg.n_ctx, cfg.d_model),          # learned position embeddings
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer)),
            ln_f=nn.LayerNorm(cfg.d_model),                    # GPT-2 adds a last layer norm
        ))
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight      # tied: one matrix, used twice
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            # GPT-2: "scale the weights of residual layers at initialization by 1/sqrt(N)",
            # N = the number of residual additions (2 per block)
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def n_ctx(self) -> int:
        return self.config.n_ctx

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters, the tied output layer counted once; ``non_embedding``: without the
        token and position embeddings (the N of Kaplan et al.'s scaling laws)."""
        n = sum(p.numel() for p in self.parameters())   # parameters() lists a tied tensor once
        if non_embedding:
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx: (B, T) token ids, T <= n_ctx. Returns logits (B, T, V), and the mean cross-entropy
        against ``targets`` (B, T) when given (positions with target -100 are ignored)."""
        B, T = idx.shape
        if T > self.config.n_ctx:
            raise ValueError(f"a sequence of {T} tokens is longer than the context ({self.config.n_ctx})")
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, D)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))                                  # (B, T, V)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss

    # ---- saving and loading, the ecosystem's way (config.json + model.safetensors)
    def save_pretrained(self, folder) -> None:
        from safetensors.torch import save_model

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=2))
        save_model(self, str(folder / "model.safetensors"))   # stores the tied matrix once

    @classmethod
    def from_pretrained(cls, folder) -> "GPT":
        from safetensors.torch import load_model

        folder = Path(folder)
        model = cls(GPTConfig(**json.loads((folder / "config.json").read_text())))
        load_model(model, str(folder / "model.safetensors"))
        return model


@torch.no_grad()
def load_gpt2_weights(model: GPT, hf_state_dict: dict) -> GPT:
    """Copy the weights of transformers' ``GPT2LMHeadModel`` (its ``state_dict()``) into ``model``.

    The names are the same; GPT-2's ``Conv1D`` layers store their weight as (in, out), the
    transpose of ``nn.Linear``'s (out, in).
    """
    state = {}
    for name in model.state_dict():
        w = hf_state_dict[name]
        if name.endswith("weight") and any(f".{k}." in name for k in ("c_attn", "c_proj", "c_fc")):
            w = w.t()
        state[name] = w
    model.load_state_dict(state)
    return model


@torch.no_grad()
def greedy_decode(model: GPT, idx: torch.Tensor, n_new: int) -> torch.Tensor:
    """Append ``n_new`` argmax tokens to every row of ``idx`` (B, T); returns only the new (B, n_new)."""
    out = []
    for _ in range(n_new):
        logits = model(idx[:, -model.n_ctx:])[:, -1]           # (B, V): the last position only
        nxt = logits.argmax(-1, keepdim=True)
        out.append(nxt)
        idx = torch.cat([idx, nxt], dim=1)
    return torch.cat(out, dim=1)


# --------------------------------------------------------------------------- tokens
def _gpt2_ranks() -> dict[bytes, int]:
    from .data import gpt2_bpe_file

    lines = gpt2_bpe_file().read_text().split("\n")
    return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in lines if line)}


@functools.lru_cache(maxsize=4)
def gpt2_bpe(n_tokens: int | None = None):
    """GPT-2's byte-level BPE as a ``tiktoken.Encoding``, cut to its first ``n_tokens`` tokens.

    GPT-2's token ids are its merge order: ids 0-255 are the 256 bytes, id 256 the first merge, and
    so on to 50,255; ``<|endoftext|>`` is 50,256. Keeping the first ``n_tokens`` gives the tokenizer
    GPT-2 would have had with fewer merges: still lossless (any text is a sequence of bytes), just
    more tokens per word. Its ids are GPT-2's ids; ``<|endoftext|>`` becomes id ``n_tokens``.
    ``gpt2_bpe()`` is the full 50,257-token GPT-2 tokenizer.
    """
    import tiktoken

    from .data import GPT2_PATTERN

    ranks = _gpt2_ranks()
    if n_tokens is None:
        n_tokens = len(ranks)
    if not 256 <= n_tokens <= len(ranks):
        raise ValueError(f"n_tokens must be between 256 (the bytes) and {len(ranks)}, not {n_tokens}")
    return tiktoken.Encoding(f"gpt2-first-{n_tokens}", pat_str=GPT2_PATTERN,
                             mergeable_ranks={b: r for b, r in ranks.items() if r < n_tokens},
                             special_tokens={EOS: n_tokens})


@functools.lru_cache(maxsize=2)
def sotu_tokens(n_tokens: int = 2048, val_every: int = 20) -> dict[str, torch.Tensor]:
    """The State of the Union corpus encoded with :func:`gpt2_bpe` (``n_tokens``), addresses joined
    by ``<|endoftext|>``. Every ``val_every``-th address (in date order, starting with the 5th) is
    held out for validation (12 of the 237 addresses): ``{"train": (N,), "val": (M,)}`` int64 tensors.
    """
    from .data import corpus

    enc = gpt2_bpe(n_tokens)
    texts = corpus().sort_values("year", kind="stable")["text"].tolist()
    ids = enc.encode_ordinary_batch(texts)
    split = {"train": [], "val": []}
    for i, doc in enumerate(ids):
        split["val" if i % val_every == 4 else "train"] += doc + [enc.eot_token]
    return {k: torch.tensor(v, dtype=torch.int64) for k, v in split.items()}


def get_batch(tokens: torch.Tensor, batch_size: int, n_ctx: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of a token stream: inputs x (B, n_ctx) and targets y, the same
    windows shifted one token to the left (y[:, t] is the token that follows x[:, t])."""
    start = torch.randint(len(tokens) - n_ctx, (batch_size,), generator=generator)
    offsets = torch.arange(n_ctx)
    x = tokens[start[:, None] + offsets]           # (B, T)
    y = tokens[start[:, None] + offsets + 1]       # (B, T): the next token of each position
    return x, y


@torch.no_grad()
def evaluate_loss(model: GPT, tokens: torch.Tensor, n_ctx: int | None = None,
                  batch_size: int = 32, max_windows: int | None = None) -> float:
    """Mean next-token cross-entropy (nats) over non-overlapping windows of ``n_ctx`` tokens of
    ``tokens``: all of them, or ``max_windows`` spread evenly over the stream."""
    n_ctx = n_ctx or model.n_ctx
    n = (len(tokens) - 1) // n_ctx
    starts = torch.arange(n) * n_ctx
    if max_windows and max_windows < n:
        starts = starts[torch.linspace(0, n - 1, max_windows).long()]
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(starts), batch_size):
        s = starts[i:i + batch_size, None] + torch.arange(n_ctx)
        _, loss = model(tokens[s], tokens[s + 1])
        total += loss.item() * len(s)
    model.train(was_training)
    return total / len(starts)


def train(model: GPT, next_batch, steps: int, lr: float, warmup: int = 20,
          weight_decay: float = 0.1, eval_fn=None, eval_every: int = 0, progress: bool = True,
          desc: str = "training", stop_after: int | None = None) -> dict:
    """AdamW with linear warm-up and cosine decay to lr/10 (GPT-2/3's schedule, shortened).

    ``next_batch(step) -> (x, y)``; ``eval_fn() -> float`` is called every ``eval_every`` steps and
    at the end. Returns the history: step, train loss, tokens seen, and the evaluations.
    ``stop_after`` ends the run early with the schedule of the full ``steps`` (to replay the first
    steps of a long run exactly).
    """
    from tqdm.auto import tqdm

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]        # matrices: weight decay
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]      # biases, norms: none
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))

    def lr_at(step):
        if step < warmup:
            return lr * (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    hist = {"step": [], "loss": [], "tokens": [], "eval_step": [], "eval": []}
    seen = 0
    model.train()
    bar = tqdm(range(steps if stop_after is None else min(steps, stop_after)), desc=desc,
               disable=not progress)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x, y = next_batch(step)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += int((y != -100).sum())
        hist["step"].append(step)
        hist["loss"].append(round(loss.item(), 4))
        hist["tokens"].append(seen)
        if eval_fn is not None and ((eval_every and (step + 1) % eval_every == 0) or step == steps - 1):
            hist["eval_step"].append(step)
            hist["eval"].append(round(float(eval_fn()), 4))
            bar.set_postfix(loss=hist["loss"][-1], eval=hist["eval"][-1], refresh=False)
            model.train()
    model.eval()
    return hist


# --------------------------------------------------------------------------- in-context learning
# A tiny character-level world for in-context learning. Inputs are letters a-h; a task is a rule
# that maps each letter to a letter. Which rule a prompt uses is drawn at random, so a model can
# only answer the query by inferring the rule from the prompt's solved examples, or from the
# rule's name when the prompt starts with it (the "task description").
ICL_LETTERS = "abcdefgh"
_N = len(ICL_LETTERS)
ICL_RULES = {                                   # letter index i -> letter index
    "COPY": lambda i: i,                        # a->a
    "NEXT": lambda i: (i + 1) % _N,             # a->b ... h->a
    "PREV": lambda i: (i - 1) % _N,             # a->h, b->a ...
    "FLIP": lambda i: _N - 1 - i,               # the alphabet backwards: a<->h, b<->g ...
    "PAIR": lambda i: i ^ 1,                    # swap neighbours: a<->b, c<->d ...
    "HALF": lambda i: (i + _N // 2) % _N,       # half-way round: a<->e, b<->f ...
}
ICL_HELD_OUT = {"SKIP": lambda i: (i + 2) % _N}  # never in the training mixture
ICL_ARROW, ICL_SEP, ICL_COLON = ">", ";", ":"
ICL_CHARS = ["<pad>"] + sorted(set(ICL_LETTERS + ICL_ARROW + ICL_SEP + ICL_COLON
                                   + "".join(ICL_RULES) + "".join(ICL_HELD_OUT)))
ICL_STOI = {c: i for i, c in enumerate(ICL_CHARS)}
ICL_PAD = 0


def icl_apply(task: str, word: str) -> str:
    """Apply rule ``task`` to every letter of ``word``."""
    rule = {**ICL_RULES, **ICL_HELD_OUT}[task]
    return "".join(ICL_LETTERS[rule(ICL_LETTERS.index(c))] for c in word)


def icl_example(rng: random.Random, n_shots: int, task: str | None = None, word_len: int = 1) -> dict:
    """A task (drawn from :data:`ICL_RULES` unless given), ``n_shots`` solved examples and a query."""
    task = task or rng.choice(list(ICL_RULES))
    words = ["".join(rng.choice(ICL_LETTERS) for _ in range(word_len)) for _ in range(n_shots + 1)]
    return {"task": task, "shots": [(w, icl_apply(task, w)) for w in words[:-1]],
            "query": words[-1], "answer": icl_apply(task, words[-1])}


def icl_prompt(example: dict, describe: bool) -> tuple[str, str]:
    """``(prompt, answer)``: ``[TASK:]x1>y1;x2>y2;...;xq>`` and ``yq;``.

    Example: ``NEXT:c>d;f>g;a>`` -> ``b;`` with the description, ``c>d;f>g;a>`` without it.
    """
    head = example["task"] + ICL_COLON if describe else ""
    shots = "".join(x + ICL_ARROW + y + ICL_SEP for x, y in example["shots"])
    return head + shots + example["query"] + ICL_ARROW, example["answer"] + ICL_SEP


def icl_encode(text: str) -> list[int]:
    return [ICL_STOI[c] for c in text]


def icl_decode(ids) -> str:
    return "".join(ICL_CHARS[int(i)] for i in ids if int(i) != ICL_PAD)


def icl_batch(rng: random.Random, batch_size: int, n_shots: int = 8,
              p_describe: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch of the task mixture: x (B, T) and next-character targets y (B, T).

    Each row is one sequence of ``n_shots + 1`` solved examples of one random rule, preceded by the
    rule's name with probability ``p_describe``. The targets are the characters after each '>'
    (the outputs and their closing ';'); everything else is -100, ignored by the loss: the inputs
    are random letters, there is nothing to learn there. Predicting the output of an example from
    the k examples before it is k-shot learning, so one row trains every number of shots at once.
    """
    rows = []
    for _ in range(batch_size):
        ex = icl_example(rng, n_shots)
        prompt, answer = icl_prompt(ex, rng.random() < p_describe)
        rows.append(prompt + answer)
    T = max(map(len, rows)) - 1
    x = torch.full((batch_size, T), ICL_PAD, dtype=torch.int64)
    y = torch.full((batch_size, T), -100, dtype=torch.int64)
    for b, text in enumerate(rows):
        ids = icl_encode(text)
        x[b, :len(ids) - 1] = torch.tensor(ids[:-1])
        inside = False
        for t, c in enumerate(text[:-1]):
            inside = (inside or c == ICL_ARROW) and c != ICL_SEP   # from '>' up to the ';'
            if inside:
                y[b, t] = ids[t + 1]
    return x, y


def icl_examples(n_shots: int, n: int = 600, seed: int = 1234, tasks=None) -> list[dict]:
    """``n`` evaluation examples, the tasks in turn (balanced), drawn with a fixed seed."""
    rng = random.Random(seed)
    tasks = list(tasks or ICL_RULES)
    return [icl_example(rng, n_shots, task=tasks[i % len(tasks)]) for i in range(n)]


@torch.no_grad()
def icl_accuracy(model: GPT, examples: list[dict], describe: bool) -> float:
    """Exact-match accuracy of greedy decoding (answer and its closing ';') on ``examples``."""
    by_len: dict[int, list[int]] = {}       # decode prompts of equal length together
    prompts = [icl_prompt(ex, describe) for ex in examples]
    for i, (p, _) in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    correct = 0
    for rows in by_len.values():
        idx = torch.tensor([icl_encode(prompts[i][0]) for i in rows])
        n_new = max(len(prompts[i][1]) for i in rows)
        out = greedy_decode(model, idx, n_new)
        correct += sum(icl_decode(o)[:len(prompts[i][1])] == prompts[i][1] for o, i in zip(out, rows))
    return correct / len(examples)


def icl_ideal_accuracy(examples: list[dict]) -> float:
    """The best expected accuracy any learner can reach from the examples alone.

    A learner that knows the six rules, and that each is equally likely, can only narrow the rule
    down to those that agree with every example; they remain equally probable. Its best guess is
    the answer most of them give, right with probability (rules giving it) / (consistent rules).
    """
    total = 0.0
    for ex in examples:
        consistent = [t for t in ICL_RULES if all(icl_apply(t, x) == y for x, y in ex["shots"])]
        votes: dict[str, int] = {}
        for t in consistent:
            a = icl_apply(t, ex["query"])
            votes[a] = votes.get(a, 0) + 1
        total += max(votes.values()) / len(consistent)
    return total / len(examples)
