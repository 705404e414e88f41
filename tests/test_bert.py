"""tlcourse.bert: BERT's pre-training data (WordPiece, pairs, masking, NSP), its losses and the
fine-tuning helpers; and the statistics behind the masking tests of Assignment 5."""
import json
import math
import random

import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from transformers import BertConfig, BertForPreTraining, BertForSequenceClassification, BertTokenizer

from tlcourse import bert, zoo

TEXTS = ["The Congress shall make laws for the nation.", "The nation is strong, and the people are free.",
         "Peace and commerce with all nations.", "Our people shall be free to trade."] * 20


@pytest.fixture(scope="module")
def tok():
    return bert.train_wordpiece(TEXTS, vocab_size=120, min_frequency=1)


def test_wordpiece_vocabulary_has_the_special_tokens_first(tok):
    assert tok.convert_tokens_to_ids(list(bert.SPECIAL_TOKENS)) == [0, 1, 2, 3, 4]
    assert len(tok) <= 120 and tok.tokenize("The NATION") == ["the", "nation"]
    pieces = tok.tokenize("nationhood")                       # an unseen word is spelled in pieces
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
    assert tok("peace", "trade")["token_type_ids"] == [0, 0, 0, 1, 1]


def test_wordpiece_training_is_reproducible():
    """Real text gives the same vocabulary and ids every time. (On a toy corpus where many pairs
    have exactly the same count, the tokenizers library breaks the ties in hash order, which
    changes between processes; the course numbers the tokens itself, so equal vocabularies always
    get equal ids.)"""
    from tlcourse import data

    sentences = data.corpus_sentences()[:3000]
    first = bert.train_wordpiece(sentences, vocab_size=600)
    assert first.get_vocab() == bert.train_wordpiece(sentences, vocab_size=600).get_vocab()
    assert first.convert_tokens_to_ids(list(bert.SPECIAL_TOKENS)) == list(range(len(bert.SPECIAL_TOKENS)))


def test_encode_pair_layout_and_longest_first_truncation(tok):
    a, b = list(range(10, 17)), list(range(20, 24))
    ids, types = bert.encode_pair(a, b, 64, 2, 3)
    assert ids == [2] + a + [3] + b + [3] and types == [0] * 9 + [1] * 5
    ids, types = bert.encode_pair(a, b, 10, 2, 3)            # 7 + 4 -> 4 + 3: A shrinks, then B
    assert ids == [2, 10, 11, 12, 13, 3, 20, 21, 22, 3] and types == [0] * 6 + [1] * 4
    assert bert.truncate_pair([1, 2, 3], [4, 5, 6], 5) == ([1, 2, 3], [4, 5])  # ties shorten B
    # the tokenizer's own pair encoding agrees wherever no tie is broken
    s1, s2 = "the congress shall make laws for the nation", "peace and commerce"
    enc = tok(s1, s2, truncation="longest_first", max_length=11)
    a, b = (tok(s, add_special_tokens=False)["input_ids"] for s in (s1, s2))
    assert (enc["input_ids"], enc["token_type_ids"]) == bert.encode_pair(a, b, 11, tok.cls_token_id,
                                                                         tok.sep_token_id)


def test_nsp_examples():
    docs = [[f"d{d}s{i}" for i in range(n)] for d, n in enumerate([30, 5, 40, 12])]
    out = bert.nsp_examples(docs, random.Random(0))
    assert [a for a, _, _ in out] == [s for d in docs for s in d[:-1]]
    doc = {s: d for d, sents in enumerate(docs) for s in sents}
    for a, b, label in out:
        if label == bert.IS_NEXT:
            assert docs[doc[a]][docs[doc[a]].index(a) + 1] == b
        else:
            assert doc[b] != doc[a]
    assert 0.3 < sum(label == bert.IS_NEXT for *_, label in out) / len(out) < 0.7
    assert out == bert.nsp_examples(docs, random.Random(0))


def test_mask_tokens_proportions_and_specials():
    g = torch.Generator().manual_seed(0)
    specials = [0, 1, 2, 3, 4]
    ids = torch.randint(5, 50, (256, 64), generator=g)
    ids[:, 0], ids[:, 30], ids[:, 63], ids[:8, 40:] = 2, 3, 3, 0
    masked, labels = bert.mask_tokens(ids, 50, specials, 4, generator=g)
    s = bert.masking_stats(ids, masked, labels, specials, 4)
    assert s["special_changed"] == s["special_labelled"] == s["random_special"] == 0
    assert s["labels_wrong"] == s["unchosen_changed"] == 0
    assert abs(s["chosen"] / s["eligible"] - 0.15) < 0.01
    assert abs(s["mask"] / s["chosen"] - 0.8) < 0.03 and abs(s["random"] / s["chosen"] - 0.1) < 0.03
    again = bert.mask_tokens(ids, 50, specials, 4, generator=torch.Generator().manual_seed(0))
    first = bert.mask_tokens(ids, 50, specials, 4, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(again, first))


def test_mlm_loss_and_accuracy_match_cross_entropy():
    logits, labels = torch.randn(3, 5, 7), torch.randint(7, (3, 5))
    labels[torch.rand(3, 5) < 0.6] = bert.IGNORE
    labels[0, 0] = 1
    loss, acc = bert.mlm_loss_and_accuracy(logits, labels)
    assert torch.allclose(loss, F.cross_entropy(logits.view(-1, 7), labels.view(-1), ignore_index=-100))
    keep = labels != -100
    assert acc == pytest.approx((logits.argmax(-1)[keep] == labels[keep]).float().mean().item())


def test_pretraining_outputs_equal_transformers_loss(tok):
    """The MLM head run on the masked positions only gives BertForPreTraining's own loss."""
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=32,
                                          max_position_embeddings=32)).eval()
    docs = bert.tokenize_documents(tok, [TEXTS[:6], TEXTS[6:12]])
    batch = bert.pretraining_batch(bert.nsp_examples(docs, random.Random(0)), tok, 24,
                                   torch.Generator().manual_seed(0))
    assert batch["input_ids"].shape[1] <= 24 and (batch["labels"] != -100).any()
    with torch.no_grad():
        ours = bert.pretraining_outputs(model, batch)
        theirs = model(**batch)
    assert torch.allclose(ours["loss"], theirs.loss, atol=1e-5)
    result = bert.evaluate_pretraining(model, tok, bert.nsp_examples(docs, random.Random(1)), 24)
    assert 0 <= result["mlm_accuracy"] <= 1 and result["masked_tokens"] > 0


def test_optimizer_leaves_biases_and_layer_norms_undecayed():
    model = BertForSequenceClassification(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16))
    decay, no_decay = bert.make_optimizer(model, 1e-3).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] > 0 and no_decay["weight_decay"] == 0
    assert all(n.endswith("bias") or "LayerNorm" in n for n in map(names.get, map(id, no_decay["params"])))
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


def test_fine_tune_learns_a_separable_task():
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=12, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32,
                                                     max_position_embeddings=16, num_labels=2))
    rows = [[2] + [5 + 5 * (i % 2)] * (1 + i % 3) + [3] for i in range(64)]     # token 5 or 10
    labels = [i % 2 for i in range(64)]
    losses = bert.fine_tune(model, rows, labels, 0, lr=3e-3, epochs=10, batch_size=16)
    assert len(losses) == 40 and sum(losses[-4:]) < sum(losses[:4])
    assert (bert.predict(model, rows, 0) == torch.tensor(labels)).float().mean() == 1.0


def test_mean_pool_classifier_ignores_padding_and_learns():
    """The pooled vector is the mean over a text's own tokens: padding it to the length of a longer
    text in the batch changes nothing; and it trains with the same loop as BERT's classifier."""
    from transformers import BertModel

    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=16), add_pooling_layer=False)
    model = bert.MeanPoolClassifier(encoder).eval()
    short, long = [2, 5, 3], [2, 10, 10, 10, 7, 3]
    alone = model(**bert.classification_batch([short], 0)).logits
    padded = model(**bert.classification_batch([short, long], 0)).logits
    assert padded.shape == (2, 2) and torch.allclose(alone[0], padded[0], atol=1e-5)
    # the classifier reads the mean of the encoder's output vectors over the text's tokens
    h = encoder(input_ids=torch.tensor([short])).last_hidden_state[0]              # (3, 16)
    assert torch.allclose(alone[0], model.classifier(h.mean(0)), atol=1e-5)
    assert not torch.allclose(alone[0], model.classifier(h[0]), atol=1e-3)           # not [CLS]
    rows = [[2] + [5 + 5 * (i % 2)] * (1 + i % 3) + [3] for i in range(64)]     # token 5 or 10
    labels = [i % 2 for i in range(64)]
    losses = bert.fine_tune(model, rows, labels, 0, lr=3e-3, epochs=10, batch_size=16)
    assert sum(losses[-4:]) < sum(losses[:4])
    assert (bert.predict(model, rows, 0) == torch.tensor(labels)).float().mean() == 1.0


def test_sotu_documents_split():
    train, test, rows = bert.sotu_documents(held_out=20, seed=0)
    assert len(test) == len(rows) == 20 and len(train) + 20 >= 237
    assert rows == bert.sotu_documents(held_out=20, seed=0)[2]
    assert all(len(d) > 1 for d in train + test)


def test_tiny_bert_recipe_is_registered():
    r = zoo.get("tiny-bert")
    assert r.model_class == "transformers:BertForPreTraining"
    assert r.params["vocab_size"] == 4096 and r.params["hidden_size"] == 128


@pytest.mark.slow
def test_tiny_bert_recipe_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    path = zoo.build("tiny-bert", steps=3, eval_every=3, eval_examples=64, progress=False)
    hist = json.loads((path / "history.json").read_text())
    assert len(hist["mlm_loss"]) == 3 and len(hist["eval_mlm_accuracy"]) == 1
    tok = BertTokenizer.from_pretrained(path)                 # the vocabulary is saved with the model
    assert len(tok) == 4096 and tok.convert_tokens_to_ids("[MASK]") == 4
    assert zoo.load("tiny-bert", steps=3, eval_every=3, eval_examples=64).config.vocab_size == 4096


# --------------------------------------------------------------------------- the hidden tests' statistics
# Assignment 5's masking tests accept a proportion p̂ measured over n tokens when
# |p̂ - p| <= Z * sqrt(p (1 - p) / n) + SLACK (SLACK: per-row rounding of exact-count answers).
Z, SLACK = 7.0, 0.004


def false_failure(n: int, p: float) -> float:
    """Probability that a right answer (each token chosen independently with probability p)
    falls outside the tolerance: the exact binomial tails."""
    tol = Z * math.sqrt(p * (1 - p) / n) + SLACK
    lo, hi = math.ceil(n * (p - tol)) - 1, math.floor(n * (p + tol))
    return float(stats.binom.cdf(lo, n, p) + stats.binom.sf(hi, n, p))


@pytest.mark.parametrize("n,p", [
    (30_000, 0.15),    # selection: at least ~30,000 eligible tokens per hidden test (6 draws)
    (30_000, 0.40),    # selection with the largest mlm_probability drawn
    (4_000, 0.8),      # the split: at least ~4,000 chosen tokens
    (4_000, 0.1), (4_000, 0.1 * (1 - 1 / 25)), (4_000, 0.1 * (1 + 1 / 25))])
def test_masking_tolerances_almost_never_fail_a_right_answer(n, p):
    assert false_failure(n, p) < 1e-10


@pytest.mark.parametrize("n,p_right,p_wrong", [
    (30_000, 0.15, 1.0),          # 80/10/10 applied to every token
    (30_000, 0.25, 0.15),         # mlm_probability ignored (hidden tests draw p in [0.25, 0.4])
    (4_000, 0.1, 0.02),           # random tokens drawn with p = 0.1 of the remaining 20%
    (4_000, 0.1, 0.18)])          # ... which leaves 18% unchanged
def test_masking_tolerances_reject_the_mutants(n, p_right, p_wrong):
    tol = Z * math.sqrt(p_right * (1 - p_right) / n) + SLACK
    # even at the edge of its own spread the wrong answer stays outside the tolerance
    spread = 7 * math.sqrt(p_wrong * (1 - p_wrong) / n)
    assert abs(p_wrong - p_right) - spread > tol
