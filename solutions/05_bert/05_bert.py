# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # Assignment 5 — BERT: masked language modelling, next-sentence prediction, fine-tuning
#
# Five tasks, 12 points. Each task gives you a function or a class to write in the cell that says
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
# Masking and next-sentence sampling are random: for those, the hidden tests measure proportions over
# tens of thousands of draws, with tolerances a right answer passes essentially always.
#
# These are the pieces of BERT's pre-training and fine-tuning (Devlin et al., 2019): choosing and
# masking tokens (Task 1), next-sentence examples (Task 2), the input layout
# `[CLS] A [SEP] B [SEP]` (Task 3), the masked-LM loss (Task 4), and a classifier on the `[CLS]`
# representation with one fine-tuning step (Task 5). Chapter 5 of the book explains all of them and
# uses the course library's versions (`tlcourse.bert`) to pre-train a tiny BERT.
#
# Rules: use Python and PyTorch (`torch.rand`, `torch.where`, `torch.isin`, `F.cross_entropy`, ...);
# transformers' `BertModel` is allowed in Task 5 only. Do not call `tlcourse.bert` in your answers
# (except the given `make_optimizer`). Do not edit the check cells.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math
import random

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel

from tlcourse import bert
from tlcourse.checks import fresh_inputs, run_tests
from tlcourse.checks.bert import (check_bert_classifier, check_encode_pair, check_make_nsp_examples,
                                  check_mask_tokens, check_mlm_loss_and_accuracy)

torch.manual_seed(0)


# %% [markdown] nbgrader={"grade": false, "grade_id": "task1", "locked": true, "schema_version": 3, "solution": false}
# ## Task 1 — Masking tokens for the masked language model (3 points)
#
# BERT hides part of its input and learns to predict it. Each token that is not a special token is
# **chosen** for prediction with probability `mlm_probability` (15% in BERT). A chosen token is then
#
# * replaced by `[MASK]` (`mask_id`) 80% of the time,
# * replaced by a **random token** 10% of the time — drawn uniformly among the ids in
#   `range(vocab_size)` that are **not** in `special_ids`,
# * left **unchanged** 10% of the time.
#
# The model must predict the original token at every chosen position, and only there: the labels
# are the original ids at chosen positions and `-100` everywhere else (`F.cross_entropy` ignores
# `-100`). Special tokens (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`: every id in `special_ids`)
# are never chosen and never changed.
#
# Write `mask_tokens(input_ids, vocab_size, special_ids, mask_id, mlm_probability=0.15)`:
# `input_ids` is an int64 tensor `(B, T)`; return `(masked_ids, labels)`, two new int64 tensors
# `(B, T)`. The checks seed torch's global random generator, which `torch.rand` and
# `torch.randint` draw from.

# %% nbgrader={"grade": false, "grade_id": "mask_tokens", "locked": false, "schema_version": 3, "solution": true}
def mask_tokens(input_ids, vocab_size, special_ids, mask_id, mlm_probability=0.15):
    """BERT's 15% / 80-10-10 masking. input_ids: (B, T) int64 -> (masked_ids, labels), (B, T) each."""
    ### BEGIN SOLUTION
    special = torch.isin(input_ids, torch.tensor(special_ids))
    chosen = (torch.rand(input_ids.shape) < mlm_probability) & ~special    # ~15% of the real tokens
    labels = torch.where(chosen, input_ids, -100)                          # predict those only
    u = torch.rand(input_ids.shape)                    # one more draw splits the chosen 80/10/10
    to_mask = chosen & (u < 0.8)
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    normal = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = normal[torch.randint(len(normal), input_ids.shape)]       # never a special token
    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked[to_random] = random_ids[to_random]
    return masked, labels
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mask_tokens_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
check_mask_tokens(mask_tokens)
### BEGIN HIDDEN TESTS
from tlcourse.checks.bert import masking_stats
fresh_inputs(globals())  # new random inputs, drawn at grading time
# Tolerances are 7 standard deviations of the right answer's proportions (binomial, n = the
# realised counts): a right answer fails one of these checks with probability < 1e-10.
Z = 7.0

def _batch():
    V = int(torch.randint(30, 80, ()))
    specials = torch.randperm(V)[:5].tolist()              # pad, unk, cls, sep, mask: anywhere
    pad, _, cls, sep, mask = specials
    normal = torch.tensor([i for i in range(V) if i not in specials])
    ids = normal[torch.randint(len(normal), (64, 128))]
    for row in ids:
        n = int(torch.randint(40, 129, ()))
        cut = int(torch.randint(2, n - 2, ()))
        row[0], row[cut], row[n - 1] = cls, sep, sep
        row[n:] = pad
    return ids, V, specials, mask

def _masked_stats(p=None, draws=6):
    ids, V, specials, mask = _batch()
    total = None
    for _ in range(draws):                                 # ~40,000 eligible tokens in all
        args = (ids.clone(), V, list(specials), mask) + (() if p is None else (p,))
        masked, labels = mask_tokens(*args)
        assert type(masked) is torch.Tensor and type(labels) is torch.Tensor, "return two tensors"
        assert masked.shape == ids.shape and labels.shape == ids.shape, "outputs must have the input's shape"
        assert masked.dtype == torch.int64 and labels.dtype == torch.int64, \
            f"masked_ids and labels should be int64 tensors, not {masked.dtype} and {labels.dtype}"
        s = masking_stats(ids, masked, labels, specials, mask)
        s["random_values"] = set(s["random_values"])
        total = s if total is None else {k: total[k] + v if k != "random_values" else total[k] | v
                                         for k, v in s.items()}
    total["n_normal"] = V - len(specials)
    return total

def _close(observed, n, p, what):
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(observed / n - p) <= Z * sd + 0.004, \
        f"{what}: expected {p:.1%}, got {observed / n:.2%} (over {n:,} tokens)"   # 0.004: per-row rounding

def test_chooses_mlm_probability_of_the_tokens():
    s = _masked_stats()
    _close(s["chosen"], s["eligible"], 0.15, "share of non-special tokens chosen (default mlm_probability)")
    p = float(torch.empty(()).uniform_(0.25, 0.4))
    s = _masked_stats(p)
    _close(s["chosen"], s["eligible"], p, f"share of non-special tokens chosen with mlm_probability={p:.3f}")

def test_80_10_10_split():
    s = _masked_stats()
    n, q = s["chosen"], 1 / s["n_normal"]          # a random token equals the original with prob. q
    _close(s["mask"], n, 0.8, "share of the chosen tokens replaced by [MASK]")
    _close(s["random"], n, 0.1 * (1 - q), "share of the chosen tokens replaced by a random token")
    _close(s["unchanged"], n, 0.1 + 0.1 * q, "share of the chosen tokens left unchanged")

def test_special_tokens_are_never_chosen_or_drawn():
    s = _masked_stats()
    assert s["special_labelled"] == 0, "special or padding tokens were chosen for prediction (labelled)"
    assert s["special_changed"] == 0, "special or padding tokens were changed"
    assert s["random_special"] == 0, "a random replacement was a special token"
    # ~700 random draws over at most 75 ids: each id is missing with probability < e^-9
    assert len(s["random_values"]) >= 0.8 * s["n_normal"], \
        "the random replacements do not cover the vocabulary: draw them uniformly among non-special ids"

def test_labels():
    s = _masked_stats()
    assert s["labels_wrong"] == 0, "at a chosen position the label must be the original token id"
    assert s["unchosen_changed"] == 0, "a token whose label is -100 (not chosen) was changed"
    _close(s["chosen"], s["eligible"], 0.15, "share of positions with a label other than -100")

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task2", "locked": true, "schema_version": 3, "solution": false}
# ## Task 2 — Next-sentence prediction examples (2 points)
#
# BERT's second pre-training task: given two segments A and B, is B the sentence that really
# follows A? Build the examples from a list of documents (each a list of sentences, at least two per
# document; there are at least two documents): one example per pair of consecutive sentences, in
# order, document by document. For sentence `i` of a document (every sentence but the last), A is
# that sentence and
#
# * with probability 1/2, B is the next sentence `i + 1` of the same document: label **0** (IsNext);
# * otherwise B is a random sentence of a random **other** document (the document drawn uniformly
#   among the other documents, then the sentence uniformly in it): label **1** (NotNext).
#
# The labels follow transformers' `BertForPreTraining` (`next_sentence_label`: 0 = continuation).
# Write `make_nsp_examples(documents, seed=0)` returning a list of tuples `(A, B, label)`. Make every
# random choice with `rng = random.Random(seed)`, so that a seed always gives the same examples.

# %% nbgrader={"grade": false, "grade_id": "make_nsp_examples", "locked": false, "schema_version": 3, "solution": true}
def make_nsp_examples(documents, seed=0):
    """One (A, B, label) per pair of consecutive sentences; label 0 = B follows A, 1 = B is random."""
    ### BEGIN SOLUTION
    rng = random.Random(seed)                     # every random choice below uses it
    examples = []
    for d, sentences in enumerate(documents):
        for i in range(len(sentences) - 1):
            if rng.random() < 0.5:
                examples.append((sentences[i], sentences[i + 1], 0))                     # IsNext
            else:
                other = rng.choice([j for j in range(len(documents)) if j != d])
                examples.append((sentences[i], rng.choice(documents[other]), 1))          # NotNext
    return examples
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "make_nsp_examples_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_make_nsp_examples(make_nsp_examples)
### BEGIN HIDDEN TESTS
from tlcourse.checks.bert import nsp_problems, toy_documents, where
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _nsp_documents(n_docs):
    lengths = torch.randint(2, 40, (n_docs,)).tolist()
    return toy_documents(n_docs, lengths, tag=f"{int(torch.randint(1000, ())):03d} ")

def _nsp_examples(docs, seed):
    out = make_nsp_examples([list(d) for d in docs], seed)
    problems, counts = nsp_problems(docs, out)
    assert not problems, problems[0] if problems else ""
    return out, counts

def test_pairs_and_labels():
    for _ in range(3):
        docs = _nsp_documents(int(torch.randint(2, 7, ())))
        _nsp_examples(docs, int(torch.randint(10**6, ())))

def test_half_of_the_b_sentences_are_random():
    docs = _nsp_documents(5)
    n = n_random = 0
    for seed in torch.randint(10**6, (20,)).tolist():      # ~20 × 95 = 1,900 examples
        out, counts = _nsp_examples(docs, seed)
        n, n_random = n + len(out), n_random + counts["random"]
    # a right answer's share has standard deviation 0.5 / sqrt(n) (~0.011): 7 of them
    assert abs(n_random / n - 0.5) <= 7 * 0.5 / math.sqrt(n), \
        f"B should be random in half of the examples, yours is in {n_random / n:.1%}"

def test_random_sentences_come_from_other_documents():
    docs = _nsp_documents(3)     # a random document drawn among ALL three would be A's own 1/3 of the time
    seen = set()
    for seed in torch.randint(10**6, (6,)).tolist():
        _, counts = _nsp_examples(docs, seed)
        seen |= counts["random_docs"]
    assert seen == {0, 1, 2}, "the random sentences should come from every other document"

def test_seeded():
    docs = _nsp_documents(4)
    seed = int(torch.randint(10**6, ()))
    first, again = make_nsp_examples(docs, seed), make_nsp_examples(docs, seed)
    assert [tuple(e) for e in first] == [tuple(e) for e in again], "the same seed must give the same examples"
    other = make_nsp_examples(docs, seed + 1)
    assert [tuple(e) for e in first] != [tuple(e) for e in other], "different seeds should give different examples"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task3", "locked": true, "schema_version": 3, "solution": false}
# ## Task 3 — Encoding a sentence pair (2 points)
#
# BERT reads a pair as one sequence, `[CLS] A [SEP] B [SEP]`, and adds a **segment embedding** to
# every token: segment 0 for `[CLS]`, the tokens of A and the first `[SEP]`; segment 1 for the tokens
# of B and the final `[SEP]` (`token_type_ids` in transformers). (Position embeddings are added too;
# the model numbers the positions itself.)
#
# When the pair is too long for `max_len` tokens (the three special tokens included), BERT truncates
# it **longest first**: remove the last token of the currently longer segment, one token at a time,
# until it fits; when A and B are equally long, shorten B (as Google's `truncate_seq_pair` does).
#
# Write `encode_pair(a, b, max_len, cls_id, sep_id)`: `a` and `b` are lists of token ids; return `(input_ids, token_type_ids)`, two lists of ints of the same length, at most
# `max_len` (you may assume `max_len >= 5`).

# %% nbgrader={"grade": false, "grade_id": "encode_pair", "locked": false, "schema_version": 3, "solution": true}
def encode_pair(a, b, max_len, cls_id, sep_id):
    """[CLS] A [SEP] B [SEP] with longest-first truncation -> (input_ids, token_type_ids)."""
    ### BEGIN SOLUTION
    a, b = list(a), list(b)
    while len(a) + len(b) > max_len - 3:          # [CLS], [SEP] and [SEP] need 3 places
        if len(a) > len(b):
            a.pop()                                # drop the last token of the longer segment
        else:
            b.pop()                                # ... of B when they are equally long
    input_ids = [cls_id] + a + [sep_id] + b + [sep_id]
    token_type_ids = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return input_ids, token_type_ids
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "encode_pair_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_encode_pair(encode_pair)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _pair_case(n_a, n_b, max_len):
    cls_id, sep_id = (int(i) for i in torch.randperm(1000)[:2])
    a, b = torch.randint(1000, 2000, (n_a,)).tolist(), torch.randint(2000, 3000, (n_b,)).tolist()
    ids, types = encode_pair(list(a), list(b), max_len, cls_id, sep_id)
    assert type(ids) is list and type(types) is list and all(type(i) is int for i in ids + types), \
        f"return two lists of Python ints, not {type(ids).__name__} and {type(types).__name__}"
    want_ids, want_types = bert.encode_pair(a, b, max_len, cls_id, sep_id)
    assert len(ids) <= max_len, f"{len(ids)} tokens for max_len={max_len}"
    assert ids == want_ids, (f"wrong input_ids for len(A)={n_a}, len(B)={n_b}, max_len={max_len}: expected [CLS] A [SEP] B [SEP], "
        "removing the LAST token of the longer segment (B when equally long) until the three special "
        "tokens fit too")
    assert types == want_types, (f"wrong token_type_ids for len(A)={n_a}, len(B)={n_b}, max_len={max_len}: expected 0 for [CLS], A "
        "and the first [SEP], 1 for B and the last [SEP]")

def test_pairs_that_fit():
    for _ in range(4):
        n_a, n_b = (int(n) for n in torch.randint(1, 20, (2,)))
        _pair_case(n_a, n_b, n_a + n_b + 3 + int(torch.randint(0, 5, ())))

def test_longest_first_truncation():
    for _ in range(8):
        n_a, n_b = (int(n) for n in torch.randint(1, 60, (2,)))
        _pair_case(n_a, n_b, int(torch.randint(5, max(6, n_a + n_b + 3), ())))
    n = int(torch.randint(10, 40, ()))
    removed = 2 * int(torch.randint(0, n - 2, ())) + 1               # odd: one segment ends longer
    _pair_case(n, n, 2 * n + 3 - removed)                           # equal lengths: B is shortened first

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task4", "locked": true, "schema_version": 3, "solution": false}
# ## Task 4 — The masked-LM loss and accuracy (2 points)
#
# The model outputs logits over the vocabulary at every position, but only the chosen positions
# (labels other than `-100`) are predicted. Write `mlm_loss_and_accuracy(logits, labels)`: `logits`
# is `(..., V)`, `labels` is `(...)` with `-100` at the positions not predicted. Return
# `(loss, accuracy)`: the mean cross-entropy over the predicted positions only, as a scalar tensor
# (not a float: training back-propagates through it), and the fraction of predicted positions whose largest logit is the
# label, as a Python float. You may assume at least one position is predicted.

# %% nbgrader={"grade": false, "grade_id": "mlm_loss_and_accuracy", "locked": false, "schema_version": 3, "solution": true}
def mlm_loss_and_accuracy(logits, labels):
    """Cross-entropy and accuracy over the positions whose label is not -100."""
    ### BEGIN SOLUTION
    keep = labels != -100                                    # the predicted positions
    loss = F.cross_entropy(logits[keep], labels[keep])       # mean over those only
    accuracy = (logits[keep].argmax(-1) == labels[keep]).float().mean().item()
    return loss, accuracy
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mlm_loss_and_accuracy_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_mlm_loss_and_accuracy(mlm_loss_and_accuracy)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _mlm_case(rank):
    """logits (..., V) with `rank` leading dimensions (the text promises any), labels (...)."""
    lead = tuple(int(n) for n in torch.randint(2, 6, (rank,)))    # two sequences or more
    V = int(torch.randint(5, 50, ()))
    logits = torch.randn(*lead, V) * float(torch.empty(()).uniform_(0.5, 4))
    labels = torch.randint(V, lead)
    right = torch.rand(lead) < 0.4
    labels[right] = logits.argmax(-1)[right]                   # some right predictions
    labels[torch.rand(lead) < 0.7] = -100                      # most positions are not predicted
    labels.view(-1)[0] = int(torch.randint(V, ()))             # at least one is
    return logits, labels

def test_loss():
    for rank in (2, 2, 2, 1, 3, int(torch.randint(1, 4, ()))):       # logits (B, T, V), (N, V), (B, T, U, V)
        logits, labels = _mlm_case(rank)
        loss, _ = mlm_loss_and_accuracy(logits.clone(), labels.clone())
        assert type(loss) is torch.Tensor and loss.dim() == 0, "the loss should be a scalar tensor"
        want = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=-100)
        assert torch.allclose(loss.float(), want, rtol=1e-4, atol=1e-5), \
            (f"logits of shape {tuple(logits.shape)}: loss {float(loss):.4f}, expected the mean over "
             f"the predicted positions {float(want):.4f} (logits are (..., V): any number of leading "
             "dimensions)")

def test_accuracy():
    for rank in (2, 2, 1, 3, int(torch.randint(1, 4, ()))):
        logits, labels = _mlm_case(rank)
        _, acc = mlm_loss_and_accuracy(logits.clone(), labels.clone())
        assert type(acc) is float, \
            f"the accuracy should be a Python float (.item()), not a {type(acc).__name__}"
        keep = labels != -100
        want = (logits.argmax(-1)[keep] == labels[keep]).float().mean().item()
        assert abs(float(acc) - want) < 1e-6, \
            (f"logits of shape {tuple(logits.shape)}: accuracy {float(acc):.4f}, expected {want:.4f}, "
             "the fraction of predicted positions whose largest logit is the label")

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task5", "locked": true, "schema_version": 3, "solution": false}
# ## Task 5 — A classifier on the `[CLS]` representation, and one fine-tuning step (3 points)
#
# To fine-tune BERT for a sentence classification task, put a linear layer on the representation
# of the first token, `[CLS]`. In BERT (and transformers' `BertForSequenceClassification`) that
# representation is the **pooler output**: the final hidden state of `[CLS]` through a dense layer and
# a tanh, the layer that next-sentence prediction pre-trained. Then dropout, then the classifier.
#
# 1. Complete `BertClassifier.forward(input_ids, attention_mask, token_type_ids)` → logits
#    `(B, num_labels)`. `__init__` is given: its attribute names are those of
#    `BertForSequenceClassification`, so both load the same weights.
# 2. Write `fine_tune_step(model, optimizer, input_ids, attention_mask, token_type_ids, labels)`:
#    one step of fine-tuning on a batch — put the model in training mode, compute the cross-entropy
#    of the logits with `labels` (B,), back-propagate, update the weights with `optimizer` (made by
#    the given `make_optimizer`: AdamW as BERT uses it), and return the loss as a Python float.
#    Gradients must not leak from one step into the next.

# %% nbgrader={"grade": false, "grade_id": "bert_classifier", "locked": false, "schema_version": 3, "solution": true}
def make_optimizer(model, lr):
    """Given: AdamW with BERT's fine-tuning settings (see tlcourse.bert.make_optimizer)."""
    return bert.make_optimizer(model, lr)


class BertClassifier(nn.Module):
    def __init__(self, config, num_labels):
        """config: a dict of BertConfig arguments (vocab_size, hidden_size, ...)."""
        super().__init__()
        config = BertConfig(**config)
        self.bert = BertModel(config)                         # embeddings, encoder and pooler
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids):
        ### BEGIN SOLUTION
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        cls = out.pooler_output              # (B, H): tanh(W h_[CLS] + b), pre-trained by NSP
        return self.classifier(self.dropout(cls))
        ### END SOLUTION


def fine_tune_step(model, optimizer, input_ids, attention_mask, token_type_ids, labels):
    """One optimisation step on a batch; returns the loss (a float)."""
    ### BEGIN SOLUTION
    model.train()
    optimizer.zero_grad()                    # forget the previous step's gradients
    logits = model(input_ids, attention_mask, token_type_ids)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bert_classifier_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false}
check_bert_classifier(BertClassifier, fine_tune_step, make_optimizer)
### BEGIN HIDDEN TESTS
from tlcourse.checks.bert import classifier_batch, reference_classifier, reference_steps
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _config():
    heads = int(torch.randint(1, 4, ()))
    return dict(vocab_size=int(torch.randint(20, 60, ())), hidden_size=heads * int(torch.randint(4, 9, ())),
                num_hidden_layers=int(torch.randint(1, 3, ())), num_attention_heads=heads,
                intermediate_size=int(torch.randint(8, 40, ())), max_position_embeddings=40,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

def _classifier_pair():
    config, k = _config(), int(torch.randint(2, 5, ()))
    ref = reference_classifier(config, k, seed=int(torch.randint(10**6, ())))
    mine = BertClassifier(dict(config), k)
    mine.load_state_dict(dict(ref.state_dict()))
    return config, k, ref, mine

def _compare_logits(padded):
    config, k, ref, mine = _classifier_pair()
    g = torch.Generator().manual_seed(int(torch.randint(10**6, ())))
    b = classifier_batch(config, 5, int(torch.randint(4, 20, ())), k, g)
    if not padded:
        b["attention_mask"] = torch.ones_like(b["attention_mask"])
    mine.eval()
    got = mine(b["input_ids"], b["attention_mask"], b["token_type_ids"])
    with torch.no_grad():
        want = ref(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                   token_type_ids=b["token_type_ids"]).logits
    assert type(got) is torch.Tensor and got.shape == want.shape, f"the logits should have shape {tuple(want.shape)}"
    assert torch.allclose(got, want, atol=1e-5), \
        f"logits differ from BertForSequenceClassification's{' on a padded batch' if padded else ''}"

def test_logits():
    for _ in range(2):
        _compare_logits(padded=False)

def test_logits_with_padding():
    for _ in range(2):
        _compare_logits(padded=True)

def test_fine_tune_steps():
    import copy
    config, k, ref, mine = _classifier_pair()
    g = torch.Generator().manual_seed(int(torch.randint(10**6, ())))
    batches = [classifier_batch(config, 6, int(torch.randint(4, 16, ())), k, g) for _ in range(3)]
    lr = float(torch.empty(()).uniform_(1e-3, 1e-2))
    want = reference_steps(ref, batches, lr)
    opt = make_optimizer(mine, lr)
    got = [fine_tune_step(mine, opt, b["input_ids"], b["attention_mask"], b["token_type_ids"],
                          b["labels"]) for b in batches]
    assert all(type(x) is float for x in got), \
        f"fine_tune_step should return the loss as a Python float (.item()), not a {type(got[0]).__name__}"
    assert all(abs(x - y) <= 1e-4 * max(1, abs(y)) for x, y in zip(got, want)), \
        f"losses of 3 steps {[round(x, 4) for x in got]}, expected {[round(y, 4) for y in want]}"
    state, want_state = mine.state_dict(), ref.state_dict()
    worst = max(float((state[n] - want_state[n]).abs().max()) for n in want_state)
    assert worst <= 1e-4, f"after 3 steps the weights differ from the reference by up to {worst:.1e}"

def test_fine_tune_step_trains_in_training_mode():
    from tlcourse.checks import module_state
    config, k, ref, mine = _classifier_pair()
    g = torch.Generator().manual_seed(int(torch.randint(10**6, ())))
    b = classifier_batch(config, 4, int(torch.randint(4, 12, ())), k, g)
    mine.eval()                                        # as after an evaluation
    fine_tune_step(mine, make_optimizer(mine, 1e-3), b["input_ids"], b["attention_mask"],
                   b["token_type_ids"], b["labels"])
    modes = module_state(mine)["training"]
    assert all(modes.values()), \
        ("after fine_tune_step the model is still in eval mode: call model.train() first, or dropout "
         "stays off while fine-tuning")

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS
