"""Visible checks of Chapter 5's assignment (BERT: masking, NSP, pair encoding, MLM loss, fine-tuning).

Each ``check_*`` takes the student's function or class, runs it on small fixed inputs and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. References: BERT's recipe as
written in :mod:`tlcourse.bert` (Devlin et al., 2019, and Google's ``create_pretraining_data.py``),
``torch.nn.functional.cross_entropy`` and transformers' ``BertForSequenceClassification``.
Masking and NSP are random: their checks measure proportions over thousands of draws, with
tolerances the right answer passes essentially always (at least 6 standard deviations).
"""
from __future__ import annotations

import copy
import math
import random

import torch
import torch.nn.functional as F

from .. import bert as ref
from ..bert import masking_stats  # noqa: F401  (the hidden tests use it)
from . import expect_tensor, fail, passed


# A toy vocabulary for the checks: ids 0-4 are the special tokens, like our WordPiece vocabulary.
PAD, UNK, CLS, SEP, MASK = range(5)
SPECIALS = [PAD, UNK, CLS, SEP, MASK]


def toy_batch(n_rows: int, length: int, vocab_size: int, g: torch.Generator) -> torch.Tensor:
    """(n_rows, length) ids shaped like BERT inputs: [CLS] A [SEP] B [SEP] [PAD]..., the words
    drawn uniformly from the non-special ids."""
    ids = torch.randint(len(SPECIALS), vocab_size, (n_rows, length), generator=g)
    for row in ids:
        n = int(torch.randint(length // 2, length + 1, (), generator=g))   # real tokens
        cut = int(torch.randint(2, n - 2, (), generator=g))                 # first [SEP]
        row[0], row[cut], row[n - 1] = CLS, SEP, SEP
        row[n:] = PAD
    return ids


def _tensor_pair(task, result, shape, what=("the masked ids", "the labels")):
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(task, f"return a tuple (masked_ids, labels), not a {type(result).__name__}.")
    for value, name in zip(result, what):
        expect_tensor(task, value, shape, name)
        if value.dtype != torch.long:
            fail(task, f"{name} should be int64 (torch.long) token ids, not {value.dtype}.")
    return result


# --------------------------------------------------------------------------- task 1
def check_mask_tokens(fn) -> None:
    task = "mask_tokens"
    vocab_size = 40
    g = torch.Generator().manual_seed(0)
    ids = toy_batch(48, 96, vocab_size, g)
    torch.manual_seed(0)
    totals = None
    for _ in range(8):   # 8 draws, ~27,000 eligible tokens in all
        masked, labels = _tensor_pair(task, fn(ids.clone(), vocab_size, list(SPECIALS), MASK), ids.shape)
        s = masking_stats(ids, masked, labels, SPECIALS, MASK)
        totals = s if totals is None else {k: totals[k] + v for k, v in s.items()}
    s = totals
    if s["special_changed"]:
        fail(task, "special tokens ([CLS], [SEP], [PAD], ...) were changed: they are never chosen nor "
                   "masked; choose only among tokens whose id is not in special_ids.")
    if s["labels_wrong"]:
        fail(task, "at a chosen position the label must be the ORIGINAL token id (what the model "
                   "must predict), not the replacement.")
    rate, changed = s["chosen"] / s["eligible"], s["changed"] / s["eligible"]
    if rate > 0.5 or s["special_labelled"]:
        if changed < 0.3:
            fail(task, f"{rate:.0%} of the tokens have a label, but only {changed:.0%} were changed: "
                       "labels must be -100 everywhere except at the chosen positions (the loss "
                       "ignores -100), and special tokens are never chosen.")
        fail(task, f"{rate:.0%} of the non-special tokens were chosen and {changed:.0%} changed. It looks "
                   "like every token goes through the 80/10/10 step: first choose mlm_probability "
                   "(15%) of the tokens, then split only those.")
    # Right answers give 0.15 ± 0.002 (one standard deviation) here: 0.02 is 9 of them.
    if abs(rate - 0.15) > 0.02:
        fail(task, f"{rate:.1%} of the non-special tokens were chosen for prediction, expected about "
                   "15% (mlm_probability).")
    fractions = {k: s[k] / s["chosen"] for k in ("mask", "random", "unchanged")}
    expected = {"mask": 0.8, "random": 0.1, "unchanged": 0.1}
    for k in ("mask", "random", "unchanged"):
        # ~4,000 chosen tokens: one standard deviation is at most 0.0063, 0.04 is over 6 of them
        if abs(fractions[k] - expected[k]) > 0.04:
            fail(task, "of the chosen tokens, 80% should become [MASK], 10% a random token and 10% "
                       f"stay unchanged; yours: {fractions['mask']:.1%} [MASK], {fractions['random']:.1%} "
                       f"random, {fractions['unchanged']:.1%} unchanged. Hint: after taking 80% for "
                       "[MASK], the random tokens are HALF of the remaining 20%.")
    if s["random_special"]:
        fail(task, f"{s['random_special']} random replacements are special tokens ([CLS], [SEP], "
                   "[PAD] or [UNK]): draw the random token among the non-special ids only.")
    normal = vocab_size - len(SPECIALS)
    if len(s["random_values"]) < 0.8 * normal:
        fail(task, f"the random replacements use only {len(s['random_values'])} different ids out of "
                   f"{normal} non-special ones: draw them uniformly from the whole vocabulary "
                   "(minus the special tokens).")
    if s["unchosen_changed"]:
        fail(task, "tokens that were not chosen were changed: only chosen tokens may be replaced.")
    passed(task)


# --------------------------------------------------------------------------- task 2
def toy_documents(n_docs: int, lengths, tag: str = "") -> list[list[str]]:
    """Documents whose sentences say where they come from: 'doc 2, sentence 5'."""
    return [[f"{tag}doc {d}, sentence {i}" for i in range(n)] for d, n in zip(range(n_docs), lengths)]


def where(sentence: str) -> tuple[int, int]:
    doc, sent = sentence.split("doc ")[1].split(", sentence ")
    return int(doc), int(sent)


def nsp_problems(docs: list[list[str]], examples) -> tuple[list[str], dict]:
    """What is wrong with a list of NSP examples (plain-words messages) and counts."""
    problems = []
    if not isinstance(examples, (list, tuple)):
        return [f"return a list of (A, B, label) tuples, not a {type(examples).__name__}."], {}
    expected_a = [s for d in docs for s in d[:-1]]
    if any(not (isinstance(e, (list, tuple)) and len(e) == 3) for e in examples):
        return ["every example should be a tuple (A, B, label)."], {}
    got_a = [e[0] for e in examples]
    if len(examples) != len(expected_a):
        problems.append(f"expected one example per pair of consecutive sentences, "
                        f"{len(expected_a)} for these documents, got {len(examples)}: A runs over every "
                        "sentence of every document except the last one of each document.")
        return problems, {}
    if got_a != expected_a:
        problems.append("the A sentences should be every sentence of every document but the last, in "
                        "order (document by document).")
        return problems, {}
    counts = {"next": 0, "random": 0, "same_doc": 0, "bad_next": 0, "bad_label": 0, "random_is_next": 0,
              "random_docs": set()}
    for a, b, label in examples:
        label = int(label)
        (da, ia), (db, ib) = where(a), where(b)
        if label not in (ref.IS_NEXT, ref.NOT_NEXT):
            counts["bad_label"] += 1
        elif label == ref.IS_NEXT:
            counts["next"] += 1
            counts["bad_next"] += (db, ib) != (da, ia + 1)
        else:
            counts["random"] += 1
            counts["same_doc"] += db == da
            counts["random_is_next"] += (db, ib) == (da, ia + 1)
            counts["random_docs"].add(db)
    if counts["bad_label"]:
        problems.append("labels must be 0 (B is the next sentence) or 1 (B is random).")
    elif counts["bad_next"]:
        if counts["bad_next"] == counts["next"] and counts["random_is_next"] == counts["random"]:
            problems.append("the labels are the wrong way round: 0 means B IS the next sentence "
                            "(IsNext) and 1 that B is random (NotNext), transformers' convention.")
        else:
            problems.append(f"{counts['bad_next']} examples have label 0 (IsNext) but B is not the "
                            "sentence right after A in the same document.")
    elif counts["same_doc"]:
        problems.append(f"{counts['same_doc']} of the {counts['random']} random B sentences come from "
                        "A's own document: draw the random sentence from ANOTHER document (otherwise the "
                        "model cannot tell a random sentence from a related one).")
    return problems, counts


def check_make_nsp_examples(fn) -> None:
    task = "make_nsp_examples"
    docs = toy_documents(4, [30, 12, 45, 20])
    n_next = n_total = 0
    docs_seen = set()
    outputs = []
    for seed in range(12):   # 12 × 103 = 1,236 examples
        examples = fn(copy.deepcopy(docs), seed)
        problems, counts = nsp_problems(docs, examples)
        if problems:
            fail(task, problems[0])
        n_next += counts["next"]
        n_total += len(examples)
        docs_seen |= counts["random_docs"]
        outputs.append(examples)
    if [tuple(e) for e in fn(copy.deepcopy(docs), 3)] != [tuple(e) for e in outputs[3]]:
        fail(task, "the same seed should give the same examples: make every random choice with "
                   "rng = random.Random(seed).")
    if all(o == outputs[0] for o in outputs[1:]):
        fail(task, "every seed gives the same examples: use the seed's generator for the choices.")
    share = n_next / n_total
    # one standard deviation is 0.014 here: 0.09 is over 6 of them
    if abs(share - 0.5) > 0.09:
        fail(task, f"B should be the real next sentence half of the time; yours is in {share:.0%} of "
                   "the examples. Decide with one coin flip per example: rng.random() < 0.5.")
    if len(docs_seen) < len(docs):
        fail(task, f"random B sentences came from only {len(docs_seen)} of the {len(docs)} documents: "
                   "draw the other document uniformly among all the others.")
    passed(task)


# --------------------------------------------------------------------------- task 3
def _ids_list(task: str, value, what: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or any(isinstance(v, (list, tuple)) for v in value):
        fail(task, f"{what} should be a flat list of ints, got {type(value).__name__}.")
    return [int(v) for v in value]


def check_encode_pair(fn) -> None:
    task = "encode_pair"
    cases = [  # (len A, len B, max_len): fits, B longer, A longer, a tie, both cut hard
        (3, 4, 16), (4, 12, 12), (12, 3, 11), (8, 8, 12), (20, 18, 9)]
    for n_a, n_b, max_len in cases:
        a, b = list(range(100, 100 + n_a)), list(range(200, 200 + n_b))
        out = fn(list(a), list(b), max_len, CLS, SEP)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(task, f"return a tuple (input_ids, token_type_ids), not a {type(out).__name__}.")
        ids, types = _ids_list(task, out[0], "input_ids"), _ids_list(task, out[1], "token_type_ids")
        want_ids, want_types = ref.encode_pair(a, b, max_len, CLS, SEP)
        where_ = f"(A has {n_a} tokens, B {n_b}, max_len={max_len})"
        if len(ids) != len(types):
            fail(task, f"input_ids and token_type_ids must have the same length {where_}.")
        if len(ids) > max_len:
            fail(task, f"the encoding has {len(ids)} tokens, more than max_len={max_len} {where_}: "
                       "the 3 special tokens count too, so A and B may have max_len - 3 tokens together.")
        if ids[:1] != [CLS] or ids[-1:] != [SEP] or ids.count(SEP) != 2:
            fail(task, f"the layout is [CLS] A [SEP] B [SEP]; got {ids} {where_}.")
        got_a, got_b = ids[1:ids.index(SEP)], ids[ids.index(SEP) + 1:-1]
        if ids == want_ids and types != want_types:
            first_sep = ids.index(SEP)
            if types[first_sep] == 1 and types[:first_sep] == want_types[:first_sep]:
                fail(task, "the first [SEP] belongs to segment A: its token_type_id is 0 (only B and "
                           "the final [SEP] get 1).")
            fail(task, f"token_type_ids should be 0 for [CLS], A and the first [SEP], 1 for B and the "
                       f"last [SEP]: expected {want_types}, got {types} {where_}.")
        if ids != want_ids:
            want_a = want_ids[1:want_ids.index(SEP)]
            want_b = want_ids[want_ids.index(SEP) + 1:-1]
            if len(ids) < len(want_ids):
                fail(task, f"the encoding is shorter than needed ({len(ids)} tokens, max_len={max_len}) "
                           f"{where_}: truncate only until A + B + 3 special tokens fit.")
            if got_a == a[len(a) - len(got_a):] and len(got_a) < len(a) or \
                    got_b == b[len(b) - len(got_b):] and len(got_b) < len(b):
                fail(task, f"tokens were dropped from the START of a segment {where_}: drop them from "
                           "the end.")
            if (len(got_a), len(got_b)) != (len(want_a), len(want_b)):
                tie = "; when A and B are equally long, shorten B" if n_a == n_b else ""
                fail(task, f"longest-first truncation keeps {len(want_a)} tokens of A and {len(want_b)} "
                           f"of B here, you kept {len(got_a)} and {len(got_b)} {where_}: remove one token "
                           f"at a time from the currently longer segment{tie}.")
            fail(task, f"expected input_ids {want_ids}, got {ids} {where_}.")
    passed(task)


# --------------------------------------------------------------------------- task 4
def check_mlm_loss_and_accuracy(fn) -> None:
    task = "mlm_loss_and_accuracy"
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 7, 11, generator=g) * 2
    labels = torch.full((3, 7), ref.IGNORE)
    labels[0, [1, 4]] = torch.tensor([3, 9])
    labels[1, 2] = int(logits[1, 2].argmax())          # one right prediction
    labels[2, [0, 3, 5, 6]] = torch.tensor([1, int(logits[2, 3].argmax()), 7, 2])
    out = fn(logits.clone().requires_grad_(True), labels.clone())
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(task, f"return a tuple (loss, accuracy), not a {type(out).__name__}.")
    loss, acc = out
    expect_tensor(task, loss, (), "the loss")
    if not loss.requires_grad:
        fail(task, "the loss should be a tensor connected to the logits (requires_grad), so that "
                   "loss.backward() trains the model: do not convert it with .item().")
    want_loss = F.cross_entropy(logits.view(-1, 11), labels.view(-1), ignore_index=ref.IGNORE)
    keep = labels != ref.IGNORE
    want_acc = (logits.argmax(-1)[keep] == labels[keep]).float().mean().item()
    acc, loss_value = float(acc), float(loss.detach())
    if not math.isclose(loss_value, float(want_loss), rel_tol=1e-4, abs_tol=1e-5):
        per_token = F.cross_entropy(logits.view(-1, 11), labels.view(-1), ignore_index=ref.IGNORE,
                                    reduction="sum") / labels.numel()
        if math.isclose(loss_value, float(per_token), rel_tol=1e-4):
            fail(task, "the loss is averaged over ALL positions; average it over the masked positions "
                       "only (labels != -100): the others are not predicted.")
        fail(task, f"the loss should be the mean cross-entropy over the 7 masked positions, "
                   f"{float(want_loss):.4f}; got {loss_value:.4f}.")
    if not math.isclose(acc, want_acc, abs_tol=1e-6):
        all_pos = ((logits.argmax(-1) == labels) | ~keep).float().mean().item()
        if math.isclose(acc, all_pos, abs_tol=1e-6) or \
                math.isclose(acc, (logits.argmax(-1) == labels).float().mean().item(), abs_tol=1e-6):
            fail(task, "the accuracy is computed over all positions; count only the masked ones "
                       "(labels != -100).")
        fail(task, f"accuracy should be the fraction of masked positions whose highest logit is the "
                   f"label, {want_acc:.4f}; got {acc:.4f}.")
    passed(task)


# --------------------------------------------------------------------------- task 5
TINY_CONFIG = dict(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=32, max_position_embeddings=24, hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0)


def reference_classifier(config: dict, num_labels: int, seed: int):
    """transformers' BertForSequenceClassification with random weights (biases too)."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(BertConfig(**config, num_labels=num_labels)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    return model


def classifier_batch(config: dict, n: int, length: int, num_labels: int, g: torch.Generator) -> dict:
    """Random input ids with segments and right padding, and labels."""
    ids = torch.randint(5, config["vocab_size"], (n, length), generator=g)
    lens = torch.randint(3, length + 1, (n,), generator=g)
    lens[0] = length
    mask = (torch.arange(length)[None] < lens[:, None]).long()
    types = ((torch.arange(length)[None] >= (lens[:, None] // 2)) & mask.bool()).long()
    ids = ids * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
            "labels": torch.randint(0, num_labels, (n,), generator=g)}


def reference_steps(model, batches, lr: float) -> list[float]:
    """One fine-tuning step per batch, the reference way; returns the losses."""
    opt = ref.make_optimizer(model, lr)
    losses = []
    for b in batches:
        model.train()
        opt.zero_grad()
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                       token_type_ids=b["token_type_ids"]).logits
        loss = F.cross_entropy(logits, b["labels"])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _logits(task, model, b, n, k):
    out = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
    return expect_tensor(task, out, (n, k), "the logits")


def check_bert_classifier(cls, step_fn, make_optimizer) -> None:
    task = "BertClassifier"
    g = torch.Generator().manual_seed(5)
    reference = reference_classifier(TINY_CONFIG, 3, seed=5)
    mine = cls(dict(TINY_CONFIG), 3)
    for name in ("bert", "classifier"):
        if not hasattr(mine, name):
            fail(task, f"the module needs the attribute `self.{name}` (see the task text).")
    try:
        mine.load_state_dict(reference.state_dict())
    except RuntimeError as e:
        fail(task, "your module's parameters do not have the names and shapes of "
                   "BertForSequenceClassification's (self.bert = BertModel(...) WITH its pooler, "
                   f"self.classifier = nn.Linear(hidden_size, num_labels)): {str(e).splitlines()[0]}")
    mine.eval()
    b = classifier_batch(TINY_CONFIG, 4, 10, 3, g)
    with torch.no_grad():
        got = _logits(task, mine, b, 4, 3)
        want = reference(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                         token_type_ids=b["token_type_ids"]).logits
        if not torch.allclose(got, want, atol=1e-5):
            h = reference.bert(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                               token_type_ids=b["token_type_ids"])
            no_pool = reference.classifier(h.last_hidden_state[:, 0])
            no_mask = reference(input_ids=b["input_ids"], token_type_ids=b["token_type_ids"]).logits
            no_types = reference(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            if torch.allclose(got, no_pool, atol=1e-5):
                fail(task, "you classify the raw [CLS] vector; BERT first passes it through the "
                           "pooler (a dense layer + tanh trained by next-sentence prediction): use "
                           "the encoder's pooler_output.")
            if torch.allclose(got, no_mask, atol=1e-5):
                fail(task, "padding changes your logits: pass attention_mask to self.bert so that no "
                           "token attends to [PAD].")
            if torch.allclose(got, no_types, atol=1e-5):
                fail(task, "the segment ids are ignored: pass token_type_ids to self.bert.")
            if torch.allclose(got[:1], want[:1], atol=1e-5):
                fail(task, "the first example (no padding) is right, the padded ones are not: pass "
                           "attention_mask to self.bert.")
            fail(task, "the logits differ from BertForSequenceClassification's with the same weights: "
                       "pooler_output -> dropout -> classifier.")
    # fine-tuning steps
    torch.manual_seed(0)
    batches = [classifier_batch(TINY_CONFIG, 6, 9, 3, g) for _ in range(3)]
    reference_copy = copy.deepcopy(reference)
    want_losses = reference_steps(reference_copy, batches, lr=1e-2)
    before = {k: v.clone() for k, v in mine.state_dict().items()}
    opt = make_optimizer(mine, 1e-2)
    got_losses = []
    for b in batches:
        loss = step_fn(mine, opt, b["input_ids"], b["attention_mask"], b["token_type_ids"], b["labels"])
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, (float, int)):
            fail(task, f"fine_tune_step should return the loss as a float, not {type(loss).__name__}.")
        got_losses.append(float(loss))
    if not math.isclose(got_losses[0], want_losses[0], rel_tol=1e-4):
        fail(task, f"the first step's loss should be the cross-entropy of the logits, "
                   f"{want_losses[0]:.4f}; got {got_losses[0]:.4f}.")
    state, want_state = mine.state_dict(), reference_copy.state_dict()
    worst = max((state[k] - want_state[k]).abs().max().item() for k in want_state)
    if not torch.allclose(torch.tensor(got_losses), torch.tensor(want_losses), rtol=1e-4) or worst > 1e-4:
        if all(torch.equal(state[k], before[k]) for k in before):
            fail(task, "the weights did not change after 3 steps: update them with optimizer.step() "
                       "after loss.backward().")
        fail(task, f"after 3 steps the losses are {[round(x, 4) for x in got_losses]}, expected "
                   f"{[round(x, 4) for x in want_losses]} (weights off by up to {worst:.1e}): zero the "
                   "gradients before each backward (optimizer.zero_grad()), otherwise they accumulate "
                   "across steps.")
    passed(task)
