"""Chapter 3's library: word-level LSTM language models (forward and backward), ELMo's scalar mix,
and ULMFiT's fine-tuning tools (slanted triangular learning rates, discriminative learning rates,
gradual unfreezing, concat pooling).

    from tlcourse import ulmfit, zoo
    lm = zoo.load("sotu-lm")                                # LSTMLanguageModel, pre-trained on SOTU
    ids = torch.tensor([lm.vocab.encode(ulmfit.tokens("The state of the Union is strong"))])
    logits, state = lm(ids)                                 # (1, T, V): next-word logits
    clf = ulmfit.ConcatPoolClassifier.from_lm(lm)           # the same encoder, a new head

The book page (``book/03_elmo_ulmfit.ipynb``) explains every piece; the zoo recipes
(``tlcourse/recipes/ulmfit.py``) pre-train the language models with :func:`train_lm`.
"""
from __future__ import annotations

import contextlib
import io
import math
import time
from typing import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .text import PAD, UNK, Vocab, words

BOS = "<bos>"                  # starts every text: the LM's "a new text begins here"
SPECIALS = (PAD, UNK, BOS)     # ids 0, 1, 2 in every vocabulary of this chapter


def tokens(text: str) -> list[str]:
    """A text as the chapter's models read it: ``<bos>`` then its lower-cased words."""
    return [BOS] + words(text)


def build_vocab(texts: Iterable[str], min_count: int) -> Vocab:
    """The words of ``texts`` seen at least ``min_count`` times, after ``<pad> <unk> <bos>``."""
    return Vocab.build((words(t) for t in texts), min_count=min_count, specials=SPECIALS)


def encode_batch(texts: Sequence[str], vocab: Vocab, max_len: int | None = None):
    """Texts -> right-padded ids (B, T) int64 and lengths (B,), each text as ``tokens(text)``."""
    seqs = [vocab.encode(tokens(t))[:max_len] for t in texts]
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((len(seqs), int(lengths.max())), vocab.stoi[PAD], dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
    return ids, lengths


# --------------------------------------------------------------------------- language-model data
def lm_stream(texts: Iterable[str], vocab: Vocab, backward: bool = False) -> torch.Tensor:
    """All texts as one stream of ids, ``<bos>`` before each: (N,) int64. A backward LM reads the
    same stream reversed, so it predicts each word from the words that follow it."""
    stream = torch.tensor([i for t in texts for i in vocab.encode(tokens(t))], dtype=torch.long)
    return stream.flip(0) if backward else stream


def bptt_batches(stream: torch.Tensor, batch_size: int, bptt: int) -> Iterator[tuple]:
    """Truncated back-propagation through time: cut the stream into ``batch_size`` contiguous
    rows and walk along them ``bptt`` steps at a time. Yields ``(x, y)``, both (B, bptt), with
    ``y`` the inputs shifted by one (the next word); the last batch may be shorter. Consecutive
    batches continue each row, so the hidden state can be carried over from one to the next."""
    n = (len(stream) - 1) // batch_size
    x_rows = stream[:n * batch_size].view(batch_size, n)
    y_rows = stream[1:n * batch_size + 1].view(batch_size, n)
    for i in range(0, n, bptt):
        yield x_rows[:, i:i + bptt], y_rows[:, i:i + bptt]


# --------------------------------------------------------------------------- the models
class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani, 2016): one mask per sequence, the same at every time
    step, as AWD-LSTM (and so ULMFiT) uses between LSTM layers."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x):                               # x: (B, T, D)
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


class LSTMEncoder(nn.Module):
    """Embedding, then ``n_layers`` LSTMs, all ``dim`` wide (so ELMo can mix the layers).

    ``forward(ids, state)`` returns every layer's output, ``[embeddings, lstm 1, ..., lstm n]``,
    each (B, T, dim), and the LSTMs' final states (to carry over in truncated BPTT).
    Dropouts (AWD-LSTM's, off by default): ``embed_p`` drops whole words from the embedding
    matrix, ``input_p`` and ``hidden_p`` are variational dropout on the LSTMs' inputs.
    """

    def __init__(self, vocab_size: int, dim: int = 50, n_layers: int = 2, embed_p: float = 0.0,
                 input_p: float = 0.0, hidden_p: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.rnns = nn.ModuleList(nn.LSTM(dim, dim, batch_first=True) for _ in range(n_layers))
        self.embed_p = embed_p
        self.input_drop, self.hidden_drop = LockedDropout(input_p), LockedDropout(hidden_p)

    def embed(self, ids):
        if self.training and self.embed_p > 0:         # drop word types, not single positions
            w = self.embedding.weight
            mask = w.new_empty(w.size(0), 1).bernoulli_(1 - self.embed_p) / (1 - self.embed_p)
            return F.embedding(ids, w * mask, padding_idx=0)
        return self.embedding(ids)

    def forward(self, ids, state=None):
        x = self.embed(ids)                              # (B, T, dim)
        layers, new_state = [x], []
        x = self.input_drop(x)
        for i, rnn in enumerate(self.rnns):
            x, s = rnn(x, None if state is None else state[i])
            layers.append(x)
            new_state.append(s)
            if i < len(self.rnns) - 1:
                x = self.hidden_drop(x)
        return layers, new_state


class LSTMLanguageModel(nn.Module, PyTorchModelHubMixin):
    """A word-level LSTM language model (AWD-LSTM's shape, small): encoder + tied softmax.

    ``itos`` is the vocabulary (saved with the model by ``save_pretrained``); ``backward=True``
    marks a model trained on reversed text (it reads ids right to left: flip them first).
    ``forward(ids (B, T), state)`` -> next-word logits (B, T, V) and the new state.
    """

    def __init__(self, itos: list[str], dim: int = 50, n_layers: int = 2, backward: bool = False,
                 embed_p: float = 0.0, input_p: float = 0.0, hidden_p: float = 0.0,
                 output_p: float = 0.0):
        super().__init__()
        self.vocab, self.backward = Vocab(itos), backward
        self.encoder = LSTMEncoder(len(itos), dim, n_layers, embed_p, input_p, hidden_p)
        self.output_drop = LockedDropout(output_p)
        self.decoder = nn.Linear(dim, len(itos))
        # Weight tying (Inan et al. 2017; Press & Wolf 2017): the output layer reuses the input
        # embeddings, which halves the parameters and trains the embeddings from both ends.
        self.decoder.weight = self.encoder.embedding.weight

    def forward(self, ids, state=None):
        layers, state = self.encoder(ids, state)
        return self.decoder(self.output_drop(layers[-1])), state

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # huggingface_hub's mixin print()s "Loading weights from local directory" on every load
        with contextlib.redirect_stdout(io.StringIO()):
            return super().from_pretrained(*args, **kwargs)

    @torch.no_grad()
    def init_embeddings(self, vectors: torch.Tensor, found: torch.Tensor, seed: int = 0) -> None:
        """Start the embedding from pre-trained word vectors (rows of ``vectors`` where ``found``);
        the other rows are drawn from a normal distribution with the vectors' own spread."""
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(self.encoder.embedding.weight.shape, generator=g) * vectors[found].std()
        w[found] = vectors[found]
        self.encoder.embedding.weight.copy_(w)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom to top for discriminative learning rates: the LSTMs, then the tied
        embedding/softmax, which is the LM's output layer (fastai's ``awd_lstm_lm_split``)."""
        return [list(r.parameters()) for r in self.encoder.rnns] + \
               [[self.encoder.embedding.weight, self.decoder.bias]]


def concat_pool(outputs, lengths):
    """ULMFiT's concat pooling: ``[h_last, max_t h_t, mean_t h_t]`` over the real positions.

    outputs (B, T, D) of right-padded sequences, lengths (B,) -> (B, 3D). Padding positions are
    left out of all three: the last state is the one at position ``length - 1``.
    """
    B, T, _ = outputs.shape
    real = (torch.arange(T, device=outputs.device)[None, :] < lengths[:, None])[..., None]  # (B, T, 1)
    last = outputs[torch.arange(B), lengths - 1]                                          # (B, D)
    max_pool = outputs.masked_fill(~real, float("-inf")).max(dim=1).values                # (B, D)
    mean_pool = (outputs * real).sum(dim=1) / lengths[:, None].to(outputs.dtype)          # (B, D)
    return torch.cat([last, max_pool, mean_pool], dim=-1)


class ConcatPoolClassifier(nn.Module):
    """ULMFiT's classifier: the LM's encoder, concat pooling of its last layer, then two linear
    blocks with batch norm and dropout (Howard & Ruder 2018, Section 3.3).

    ``forward(ids (B, T), lengths (B,))`` -> class logits (B, n_classes).
    """

    def __init__(self, vocab_size: int, dim: int = 50, n_layers: int = 2, n_classes: int = 2,
                 head_dim: int = 50, embed_p: float = 0.05, input_p: float = 0.25,
                 hidden_p: float = 0.15, head_p: float = 0.1):
        super().__init__()
        self.encoder = LSTMEncoder(vocab_size, dim, n_layers, embed_p, input_p, hidden_p)
        self.head = nn.Sequential(
            nn.BatchNorm1d(3 * dim), nn.Dropout(head_p), nn.Linear(3 * dim, head_dim), nn.ReLU(),
            nn.BatchNorm1d(head_dim), nn.Dropout(head_p), nn.Linear(head_dim, n_classes))

    @classmethod
    def from_lm(cls, lm: LSTMLanguageModel, **kwargs) -> "ConcatPoolClassifier":
        """A classifier whose encoder starts as a copy of the language model's."""
        enc = lm.encoder
        clf = cls(enc.embedding.num_embeddings, enc.embedding.embedding_dim, len(enc.rnns), **kwargs)
        clf.encoder.load_state_dict(enc.state_dict())
        return clf

    def forward(self, ids, lengths):
        layers, _ = self.encoder(ids)
        return self.head(concat_pool(layers[-1], lengths))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom to top: embedding, each LSTM, the head (fastai's ``awd_lstm_clas_split``)."""
        enc = self.encoder
        return [list(enc.embedding.parameters())] + [list(r.parameters()) for r in enc.rnns] + \
               [list(self.head.parameters())]


class ScalarMix(nn.Module):
    """ELMo's task-specific combination of the biLM's layers (Peters et al. 2018, eq. 1):
    ``gamma * sum_j softmax(w)_j * h_j``. ``forward`` takes a sequence of L tensors of one shape."""

    def __init__(self, n_layers: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))   # softmax(0, ..., 0): a plain average
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers):
        s = torch.softmax(self.weights, dim=0)
        return self.gamma * sum(w * h for w, h in zip(s, layers))


@torch.no_grad()
def bilm_layers(forward_lm: LSTMLanguageModel, backward_lm: LSTMLanguageModel, ids) -> list:
    """ELMo's biLM states: ids (B, T) in reading order, no padding -> one (B, T, 2*dim) tensor
    per layer (embeddings first), ``[forward state; backward state]`` of each position.

    The backward LM reads the flipped sequence, so its outputs come out right to left: flip them
    back before pairing position t of one direction with position t of the other.
    """
    fwd, _ = forward_lm.encoder(ids)
    bwd, _ = backward_lm.encoder(ids.flip(1))
    return [torch.cat([f, b.flip(1)], dim=-1) for f, b in zip(fwd, bwd)]


# --------------------------------------------------------------------------- ULMFiT's schedule
def stlr(t: int, T: int, eta_max: float = 0.01, cut_frac: float = 0.1, ratio: float = 32) -> float:
    """Slanted triangular learning rate (Howard & Ruder 2018, eq. 3) at iteration ``t`` of ``T``.

    Linear warm-up from ``eta_max / ratio`` to ``eta_max`` during the first ``cut_frac`` of the
    iterations, then a long linear decay back to ``eta_max / ratio`` at ``t = T``.
    """
    cut = math.floor(T * cut_frac)
    if cut < 1:
        raise ValueError(f"T * cut_frac = {T * cut_frac} < 1: no warm-up iteration; raise T")
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return eta_max * (1 + p * (ratio - 1)) / ratio


def stlr_scheduler(optimizer, T: int, cut_frac: float = 0.1, ratio: float = 32):
    """A ``LambdaLR`` that multiplies every group's own lr by STLR's shape (peak 1), so
    discriminative learning rates keep their ratios."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: stlr(min(t, T), T, 1.0, cut_frac, ratio))


def discriminative_groups(layer_groups: Sequence[Sequence[nn.Parameter]], lr: float,
                          factor: float = 2.6) -> list[dict]:
    """Optimizer parameter groups, bottom to top: the top group gets ``lr``, each lower one the
    rate of the group above divided by ``factor`` (ULMFiT: eta^{l-1} = eta^l / 2.6)."""
    n = len(layer_groups)
    return [{"params": list(g), "lr": lr / factor ** (n - 1 - i)} for i, g in enumerate(layer_groups)]


def freeze_to(layer_groups: Sequence[Sequence[nn.Parameter]], n_trainable: int) -> None:
    """Gradual unfreezing: only the top ``n_trainable`` groups receive gradients."""
    for i, group in enumerate(layer_groups):
        for p in group:
            p.requires_grad_(i >= len(layer_groups) - n_trainable)


# --------------------------------------------------------------------------- training and evaluation
def log_uniform(vocab_size: int) -> torch.Tensor:
    """Zipf's law as a proposal over frequency-sorted ids: P(k) = log((k+2)/(k+1)) / log(V+1)."""
    k = torch.arange(vocab_size, dtype=torch.float64)
    return ((torch.log(k + 2) - torch.log(k + 1)) / math.log(vocab_size + 1)).float()


def sampled_softmax_loss(hidden, targets, weight, bias, n_samples: int, proposal: torch.Tensor):
    """The softmax cross-entropy estimated on the target and ``n_samples`` words drawn from
    ``proposal`` (Jean et al. 2015; ELMo's biLM was trained this way). hidden (N, d), targets (N,),
    weight (V, d), bias (V,). Each logit is corrected by -log(expected count) so that frequent
    proposals are not over-counted; a sample equal to the target is masked out."""
    samples = torch.multinomial(proposal, n_samples, replacement=True)           # (S,), shared
    log_count = torch.log(n_samples * proposal)                                   # (V,)
    true = (hidden * weight[targets]).sum(-1) + bias[targets] - log_count[targets]        # (N,)
    sampled = hidden @ weight[samples].T + bias[samples] - log_count[samples]            # (N, S)
    sampled = sampled.masked_fill(samples[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([true[:, None], sampled], dim=1)                           # target is class 0
    return F.cross_entropy(logits, torch.zeros_like(targets))


@torch.no_grad()
def lm_nll(model: LSTMLanguageModel, stream: torch.Tensor, batch_size: int = 16, bptt: int = 100) -> float:
    """Mean negative log-likelihood (nats per word) of a stream of ids; exp() is the perplexity."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in bptt_batches(stream, batch_size, bptt):
        logits, state = model(x, state)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


def train_lm(model: LSTMLanguageModel, stream: torch.Tensor, steps: int, lr: float,
             batch_size: int = 32, bptt: int = 50, clip: float = 0.5,
             param_groups: list[dict] | None = None, val_stream: torch.Tensor | None = None,
             eval_every: int = 50, n_samples: int | None = None, progress: bool = True,
             desc: str = "LM") -> dict:
    """Train a language model for ``steps`` truncated-BPTT steps with Adam and an STLR schedule.

    ``param_groups`` (e.g. from :func:`discriminative_groups`) replaces the single group at ``lr``.
    ``n_samples``: train with a sampled softmax over that many words (the full softmax is most of
    the cost of a step on a CPU); validation always uses the full softmax.
    Returns the history: training loss per step, and validation NLL every ``eval_every`` steps.
    """
    from tqdm.auto import tqdm

    opt = torch.optim.Adam(param_groups or model.parameters(), lr=lr, betas=(0.8, 0.99))
    sched = stlr_scheduler(opt, steps)
    proposal = log_uniform(len(model.vocab))
    hist = {"step": [], "loss": [], "lr": [], "val_step": [], "val_nll": [], "tokens": []}

    def evaluate(step):
        if val_stream is not None:
            hist["val_step"].append(step)
            hist["val_nll"].append(round(lm_nll(model, val_stream), 4))

    model.train()
    evaluate(0)
    start, step, state = time.perf_counter(), 0, None
    bar = tqdm(total=steps, desc=desc, disable=not progress)
    while step < steps:
        for x, y in bptt_batches(stream, batch_size, bptt):
            if state is not None:   # carry the state over, but do not backpropagate into the past
                state = [(h.detach(), c.detach()) for h, c in state]
            if n_samples:
                layers, state = model.encoder(x, state)
                loss = sampled_softmax_loss(model.output_drop(layers[-1]).flatten(0, 1), y.flatten(),
                                            model.decoder.weight, model.decoder.bias, n_samples, proposal)
            else:
                logits, state = model(x, state)
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # targets: inputs shifted by one
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
            step += 1
            hist["step"].append(step)
            hist["loss"].append(round(loss.item(), 4))
            hist["lr"].append(opt.param_groups[-1]["lr"])
            hist["tokens"].append(step * x.numel())
            bar.update()
            if step % eval_every == 0 or step == steps:
                evaluate(step)
            if step == steps:
                break
        state = None
    bar.close()
    model.eval()
    hist["seconds"] = round(time.perf_counter() - start, 1)
    return hist


def glove_vectors(itos: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """GloVe 6B-50d rows for the words of ``itos`` (Chapter 2's pre-trained word vectors):
    a (V, 50) float32 matrix, zero where GloVe lacks the word, and the (V,) bool mask of found words."""
    from .data import glove_50d

    words_, vectors = glove_50d()
    index = {w: i for i, w in enumerate(words_)}
    found = torch.tensor([w in index for w in itos])
    matrix = torch.zeros(len(itos), vectors.shape[1])
    matrix[found] = torch.from_numpy(vectors[[index[w] for w in itos if w in index]])
    return matrix, found


def match_embeddings(lm: LSTMLanguageModel, itos: list[str], vectors: torch.Tensor | None = None,
                     found: torch.Tensor | None = None) -> LSTMLanguageModel:
    """The same LM over a new vocabulary (ULMFiT's step into the target domain): a word the old
    vocabulary knows keeps its embedding (and softmax bias); a new word starts from its row of
    ``vectors`` where ``found`` says there is one (e.g. GloVe), else at the mean embedding."""
    enc = lm.encoder
    new = LSTMLanguageModel(itos, enc.embedding.embedding_dim, len(enc.rnns), lm.backward)
    new.encoder.rnns.load_state_dict(enc.rnns.state_dict())
    old_w, old_b = enc.embedding.weight.detach(), lm.decoder.bias.detach()
    with torch.no_grad():
        w, b = old_w.mean(0).repeat(len(itos), 1), old_b.mean().repeat(len(itos))
        for i, word in enumerate(itos):
            j = lm.vocab.stoi.get(word)
            if j is not None:
                w[i], b[i] = old_w[j], old_b[j]
            elif vectors is not None and found[i]:
                w[i] = vectors[i]
        new.encoder.embedding.weight.copy_(w)
        new.decoder.bias.copy_(b)
    return new
