"""BERT's pre-training data and fine-tuning loop (Chapter 5), used by the page and the zoo.

    from tlcourse import bert
    tok = bert.train_wordpiece(texts, vocab_size=4096)              # a BertTokenizer, our vocabulary
    docs = bert.tokenize_documents(tok, documents)                  # per document: its sentences' ids
    pairs = bert.nsp_examples(docs, random.Random(0))               # (A, B, is_random) triples
    batch = bert.pretraining_batch(pairs[:64], tok, max_len=64, generator=g)
    out = bert.pretraining_outputs(model, batch)                    # MLM and NSP losses and accuracies

The pieces follow Devlin et al. (2019) and Google's ``create_pretraining_data.py``: sentence pairs
``[CLS] A [SEP] B [SEP]`` truncated longest-first, B the real next sentence half of the time, 15% of
the tokens chosen for prediction and of those 80% replaced by ``[MASK]``, 10% by a random token,
10% left as they are. Chapter 5's assignment has students write the same functions themselves.
"""
from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
IGNORE = -100          # label of a position that is not predicted (cross_entropy's ignore_index)
IS_NEXT, NOT_NEXT = 0, 1   # transformers' convention for next_sentence_label


# --------------------------------------------------------------------------- WordPiece
def train_wordpiece(texts: Sequence[str], vocab_size: int, min_frequency: int = 2):
    """A WordPiece vocabulary of ``vocab_size`` tokens learned from ``texts`` with the ``tokenizers``
    library, as a ``transformers`` ``BertTokenizer`` (the class of bert-base-uncased's tokenizer:
    lower-casing, accent stripping, punctuation split, ``##`` continuation pieces)."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizer

    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=min_frequency,
                                special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    # The library numbers tokens in an order that varies between runs (ties are broken by hash
    # order): number them ourselves, special tokens first, so the same texts give the same ids.
    learned = sorted(set(trainer.get_vocab()) - set(SPECIAL_TOKENS))
    vocab = {t: i for i, t in enumerate(list(SPECIAL_TOKENS) + learned)}
    return BertTokenizer(vocab=vocab, do_lower_case=True)


def special_ids(tokenizer) -> list[int]:
    return sorted(tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)))


def tokenize_documents(tokenizer, documents: Sequence[Sequence[str]]) -> list[list[list[int]]]:
    """Token ids (no special tokens) of every sentence of every document."""
    out = []
    for sentences in documents:
        ids = tokenizer(list(sentences), add_special_tokens=False)["input_ids"]
        out.append([s for s in ids if s])          # a sentence of only unknown characters is dropped
    return out


# --------------------------------------------------------------------------- next-sentence prediction
def nsp_examples(documents: Sequence[Sequence], rng: random.Random) -> list[tuple]:
    """One example per pair of consecutive sentences: ``(A, B, label)`` with A = sentence i of a
    document and, with probability 1/2, B = sentence i+1 (label ``IS_NEXT`` = 0), otherwise a
    random sentence of a random *other* document (label ``NOT_NEXT`` = 1)."""
    assert len(documents) >= 2, "random sentences must come from another document"
    out = []
    for d, sentences in enumerate(documents):
        for i in range(len(sentences) - 1):
            if rng.random() < 0.5:
                out.append((sentences[i], sentences[i + 1], IS_NEXT))
            else:
                other = rng.randrange(len(documents) - 1)
                other += other >= d                      # any document but this one
                while not documents[other]:
                    other = rng.randrange(len(documents))
                    other = other if other != d else (d + 1) % len(documents)
                out.append((sentences[i], rng.choice(documents[other]), NOT_NEXT))
    return out


# --------------------------------------------------------------------------- input encoding
def truncate_pair(a: list, b: list, max_tokens: int) -> tuple[list, list]:
    """Longest-first truncation (Google's ``truncate_seq_pair``): while the pair is too long, drop
    the last token of the longer segment, of B when they are equally long."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def encode_pair(a: list[int], b: list[int], max_len: int, cls_id: int, sep_id: int):
    """``[CLS] A [SEP] B [SEP]`` with A and B truncated longest-first to fit ``max_len`` tokens.

    Returns ``(input_ids, token_type_ids)``: segment 0 for ``[CLS]``, A and the first ``[SEP]``,
    segment 1 for B and the last ``[SEP]``."""
    a, b = truncate_pair(a, b, max_len - 3)
    ids = [cls_id] + a + [sep_id] + b + [sep_id]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return ids, types


def pad(rows: Sequence[list[int]], value: int, length: int | None = None) -> torch.Tensor:
    """Right-pad lists of ints to a (len(rows), length) tensor."""
    length = length or max(len(r) for r in rows)
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r[:length], dtype=torch.long)
    return out


# --------------------------------------------------------------------------- masked LM
def mask_tokens(input_ids: torch.Tensor, vocab_size: int, special_ids: Sequence[int], mask_id: int,
                mlm_probability: float = 0.15, generator: torch.Generator | None = None):
    """BERT's masking. Each non-special token is chosen for prediction with probability
    ``mlm_probability``; a chosen token becomes ``[MASK]`` 80% of the time, a random non-special
    token 10% of the time, and stays unchanged 10% of the time.

    input_ids: (B, T) int64. Returns ``(masked_ids, labels)``, both (B, T): labels hold the
    original id where a token was chosen and ``IGNORE`` (-100) everywhere else.
    """
    special = torch.isin(input_ids, torch.tensor(list(special_ids)))
    u = torch.rand(input_ids.shape, generator=generator)
    chosen = (u < mlm_probability) & ~special                     # (B, T) ~15% of real tokens
    labels = torch.where(chosen, input_ids, IGNORE)
    # One more uniform draw splits the chosen tokens 80 / 10 / 10.
    v = torch.rand(input_ids.shape, generator=generator)
    to_mask, to_random = chosen & (v < 0.8), chosen & (v >= 0.8) & (v < 0.9)
    normal = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_ids = normal[torch.randint(len(normal), input_ids.shape, generator=generator)]
    masked = torch.where(to_mask, mask_id, torch.where(to_random, random_ids, input_ids))
    return masked, labels


def masking_stats(original: torch.Tensor, masked: torch.Tensor, labels: torch.Tensor,
                  special_ids, mask_id: int) -> dict:
    """Counts describing one masking: what was chosen, and what chosen tokens became."""
    special = torch.isin(original, torch.tensor(list(special_ids)))
    chosen = labels != IGNORE
    eligible = ~special
    became_mask = chosen & (masked == mask_id)
    unchanged = chosen & (masked == original)
    became_random = chosen & ~became_mask & ~unchanged
    return {
        "eligible": int(eligible.sum()), "chosen": int(chosen.sum()),
        "special_changed": int((special & (masked != original)).sum()),
        "unchosen_changed": int((~chosen & (masked != original)).sum()),
        "labels_wrong": int((chosen & (labels != original)).sum()),
        "special_labelled": int((special & chosen).sum()),
        "changed": int((eligible & (masked != original)).sum()),
        "mask": int(became_mask.sum()), "unchanged": int(unchanged.sum()),
        "random": int(became_random.sum()),
        "random_special": int((became_random & torch.isin(masked, torch.tensor(list(special_ids)))).sum()),
        "random_values": masked[became_random].unique().tolist(),
    }


def mlm_loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor):
    """Cross-entropy and accuracy over the predicted positions only (labels != -100).

    logits: (..., V), labels: (...). Returns ``(loss, accuracy)``: a scalar tensor and a float."""
    keep = labels != IGNORE
    loss = F.cross_entropy(logits[keep], labels[keep])
    accuracy = (logits[keep].argmax(-1) == labels[keep]).float().mean().item()
    return loss, accuracy


# --------------------------------------------------------------------------- pre-training batches
def pretraining_batch(examples: Sequence[tuple], tokenizer, max_len: int,
                      generator: torch.Generator | None = None, mlm_probability: float = 0.15) -> dict:
    """Tensors for ``BertForPreTraining`` from ``(A ids, B ids, label)`` examples: the pair encoded
    and padded, 15% of its tokens masked."""
    pairs = [encode_pair(a, b, max_len, tokenizer.cls_token_id, tokenizer.sep_token_id)
             for a, b, _ in examples]
    ids = pad([p[0] for p in pairs], tokenizer.pad_token_id)
    masked, labels = mask_tokens(ids, len(tokenizer), special_ids(tokenizer), tokenizer.mask_token_id,
                                 mlm_probability, generator)
    return {"input_ids": masked,
            "token_type_ids": pad([p[1] for p in pairs], 0, ids.shape[1]),
            "attention_mask": (ids != tokenizer.pad_token_id).long(),
            "labels": labels,
            "next_sentence_label": torch.tensor([label for *_, label in examples])}


def pretraining_outputs(model, batch: dict) -> dict:
    """MLM and NSP losses and accuracies of a ``BertForPreTraining`` on a batch.

    As in Google's ``run_pretraining.py``, the MLM head (a dense layer and the vocabulary-sized
    decoder) runs on the masked positions only: the other 85% of its work would be thrown away.
    """
    out = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     token_type_ids=batch["token_type_ids"])
    keep = batch["labels"] != IGNORE
    logits = model.cls.predictions(out.last_hidden_state[keep])      # (n_masked, V)
    mlm_loss, mlm_acc = mlm_loss_and_accuracy(logits, batch["labels"][keep])
    nsp_logits = model.cls.seq_relationship(out.pooler_output)       # (B, 2)
    nsp_loss = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
    nsp_acc = (nsp_logits.argmax(-1) == batch["next_sentence_label"]).float().mean().item()
    return {"loss": mlm_loss + nsp_loss, "mlm_loss": mlm_loss, "nsp_loss": nsp_loss,
            "mlm_accuracy": mlm_acc, "nsp_accuracy": nsp_acc, "n_masked": int(keep.sum())}


def warmup_linear(step: int, warmup: int, total: int) -> float:
    """BERT's learning-rate schedule: linear warm-up, then linear decay to 0 (a multiplier)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


# --------------------------------------------------------------------------- fine-tuning
def make_optimizer(model, lr: float, weight_decay: float = 0.01):
    """AdamW as BERT fine-tunes: epsilon 1e-6, no weight decay on biases and LayerNorm weights."""
    params = list(model.named_parameters())
    no_decay = [p for n, p in params if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in params if not (n.endswith("bias") or "LayerNorm" in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, eps=1e-6)


def encode_texts(tokenizer, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """``[CLS] text [SEP]`` ids of each text, truncated to ``max_len`` tokens."""
    return tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]


class MeanPoolClassifier(torch.nn.Module):
    """A BERT encoder and one linear layer on the *mean* of its output vectors, where
    ``BertForSequenceClassification`` reads the pooled ``[CLS]`` vector. Sentence-BERT (Reimers &
    Gurevych, 2019) pools this way, and all-MiniLM-L6-v2 was trained to embed a text by the mean of
    its token vectors: its ``[CLS]`` vector was never trained to summarise the text.

    ``encoder``: a ``transformers`` ``BertModel``. Called like ``BertForSequenceClassification``:
    ``model(input_ids, attention_mask, token_type_ids).logits`` is (B, num_labels)."""

    def __init__(self, encoder, num_labels: int = 2, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids).last_hidden_state        # (B, T, H)
        m = attention_mask[..., None].to(h.dtype)                                # (B, T, 1)
        pooled = (h * m).sum(1) / m.sum(1)                                       # (B, H), pads left out
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))


def classification_batch(rows: Sequence[list[int]], pad_id: int) -> dict:
    ids = pad(rows, pad_id)
    return {"input_ids": ids, "attention_mask": (ids != pad_id).long(),
            "token_type_ids": torch.zeros_like(ids)}


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                   pool: int = 50) -> list[np.ndarray]:
    """Shuffled batches of indices, each made of texts of similar length (little padding):
    shuffle, sort each pool of ``pool`` batches by length, cut, shuffle the batches."""
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    out = []
    for start in range(0, len(order), pool * batch_size):
        chunk = order[start:start + pool * batch_size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def fine_tune(model, rows: Sequence[list[int]], labels: Sequence[int], pad_id: int, *, lr: float,
              epochs: int, batch_size: int = 32, min_steps: int = 0, warmup: float = 0.1,
              seed: int = 0, progress: bool = False, desc: str = "fine-tuning") -> list[float]:
    """Fine-tune a ``BertForSequenceClassification`` (or any ``model(**batch).logits``) on encoded
    texts: AdamW with BERT's settings, BERT's warm-up and linear decay, ``epochs`` passes (more if
    needed to make ``min_steps`` updates, so that tiny label budgets still train), each in shuffled
    batches of texts of similar length (:func:`length_batches`). Returns the loss of every step."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    per_epoch = math.ceil(len(rows) / batch_size)
    epochs = max(epochs, math.ceil(min_steps / per_epoch))
    plan = [b for _ in range(epochs) for b in length_batches([len(r) for r in rows], batch_size, rng)]
    opt = make_optimizer(model, lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_linear(s, int(warmup * len(plan)), len(plan)))
    labels = torch.as_tensor(np.asarray(labels))
    losses = []
    model.train()
    for idx in tqdm(plan, desc=desc, disable=not progress, leave=False):
        batch = classification_batch([rows[j] for j in idx], pad_id)
        loss = F.cross_entropy(model(**batch).logits, labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def predict(model, rows: Sequence[list[int]], pad_id: int, batch_size: int = 256) -> torch.Tensor:
    """Predicted class of each encoded text (batched by length to avoid padding)."""
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = torch.empty(len(rows), dtype=torch.long)
    for i in range(0, len(rows), batch_size):
        idx = order[i:i + batch_size]
        out[idx] = model(**classification_batch([rows[j] for j in idx], pad_id)).logits.argmax(-1)
    return out


# --------------------------------------------------------------------------- the corpus as documents
def sotu_documents(held_out: int = 20, seed: int = 0) -> tuple[list[list[str]], list[list[str]], list[int]]:
    """The State of the Union addresses as documents (lists of sentences), split for pre-training:
    ``(train_documents, held_out_documents, held_out_rows)``, ``held_out`` addresses drawn at
    random (fixed ``seed``) and kept out of training, tokenizer included."""
    from . import data

    texts = data.corpus()["text"].tolist()
    rows = sorted(random.Random(seed).sample(range(len(texts)), held_out))
    docs = [data.split_sentences(t) for t in texts]
    return ([d for i, d in enumerate(docs) if i not in rows], [docs[i] for i in rows], rows)


@torch.no_grad()
def evaluate_pretraining(model, tokenizer, examples: Sequence[tuple], max_len: int, seed: int = 0,
                         batch_size: int = 256) -> dict:
    """MLM accuracy and loss over all masked tokens, NSP accuracy and loss over all examples, with
    a fixed masking (``seed``) so that evaluations are comparable."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    sums = {"mlm_loss": 0.0, "mlm_accuracy": 0.0, "nsp_loss": 0.0, "nsp_accuracy": 0.0}
    n_masked = n = 0
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        out = pretraining_outputs(model, pretraining_batch(chunk, tokenizer, max_len, g))
        sums["mlm_loss"] += out["mlm_loss"].item() * out["n_masked"]
        sums["mlm_accuracy"] += out["mlm_accuracy"] * out["n_masked"]
        sums["nsp_loss"] += out["nsp_loss"].item() * len(chunk)
        sums["nsp_accuracy"] += out["nsp_accuracy"] * len(chunk)
        n_masked, n = n_masked + out["n_masked"], n + len(chunk)
    model.train(was_training)
    return {"mlm_loss": sums["mlm_loss"] / n_masked, "mlm_accuracy": sums["mlm_accuracy"] / n_masked,
            "nsp_loss": sums["nsp_loss"] / n, "nsp_accuracy": sums["nsp_accuracy"] / n,
            "masked_tokens": n_masked, "examples": n}
