"""Chapter 7's library: span corruption and text-to-text formatting (tlcourse.t5), the distillation
loss, the student made from its teacher and the measurements (tlcourse.distillation), its recipes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tlcourse import distillation as kd
from tlcourse import t5
from tlcourse.checks import distillation as checks


# --------------------------------------------------------------------------- span corruption
@pytest.mark.parametrize("n,density,mean", [(11, 0.15, 3.0), (64, 0.15, 3.0), (100, 0.3, 2.0),
                                            (40, 0.5, 1.0), (2, 0.15, 3.0), (500, 0.15, 10.0)])
def test_span_corrupt_follows_t5s_rules(n, density, mean):
    rng = np.random.default_rng(0)
    tokens = [f"w{i % 7}" for i in range(n)]            # repeated words: spans are positions
    for _ in range(20):
        result = t5.span_corrupt(tokens, density, mean, rng=rng)
        assert checks.span_problem(tokens, result, density, mean) is None, result
        assert t5.uncorrupt(*result, checks.is_sentinel) == tokens


def test_span_corrupt_on_ids_uses_the_given_sentinels_and_random_positions():
    rng = np.random.default_rng(1)
    ids = list(range(100, 160))
    masks = set()
    for _ in range(30):
        inputs, targets = t5.span_corrupt(ids, 0.15, 3.0, sentinels=lambda k: -1 - k, rng=rng)
        sentinels = [t for t in inputs if t < 0]
        assert sentinels == [-1 - k for k in range(3)]
        assert [t for t in targets if t < 0] == sentinels + [-4] and targets[-1] == -4   # the final one
        assert t5.uncorrupt(inputs, targets, lambda t: t < 0) == ids
        masks.add(tuple(t5.random_spans_mask(60, 0.15, 3.0, rng)))
    assert len(masks) > 20
    big = t5.random_spans_mask(100_000, 0.15, 3.0, rng)
    assert big.sum() == 15_000 and (np.diff(big.astype(int)) == 1).sum() + big[0] == 5_000


def test_text_to_text_and_parsing():
    assert t5.to_text_to_text("year", " A  speech.\n", 1936) == ("year: A speech.", "1936")
    assert t5.to_text_to_text("party", "x")[1] is None
    labels = ["positive", "negative"]
    assert t5.parse_label("<pad> Positive </s>", labels) == "positive"
    assert t5.parse_label("not positive", labels) is None and t5.parse_label("", labels) is None
    assert t5.parse_year("<pad> 1936</s>") == 1936 and t5.parse_year("19 36") == 1936
    assert t5.parse_year("the") is None and t5.parse_year("123456") is None
    assert t5.parse_year("202</s>") is None             # an unfinished year is not the year 202
    checks.check_text_to_text(t5.to_text_to_text, t5.parse_label)


def test_span_corrupt_targets_end_with_a_final_sentinel():
    """Raffel et al. (2020), Figure 2: inputs ``Thank you <X> me to your party <Y> week .``,
    targets ``<X> for inviting <Y> last <Z>``."""
    tokens = "Thank you for inviting me to your party last week .".split()
    for seed in range(20):
        inputs, targets = t5.span_corrupt(tokens, 0.3, 1.5, rng=np.random.default_rng(seed))
        k = sum(checks.is_sentinel(t) for t in inputs)
        assert targets[-1] == t5.sentinel(k) and t5.sentinel(k) not in inputs
        assert [t for t in targets if checks.is_sentinel(t)] == [t5.sentinel(i) for i in range(k + 1)]
    figure = ("Thank you <extra_id_0> me to your party <extra_id_1> week .".split(),
              "<extra_id_0> for inviting <extra_id_1> last <extra_id_2>".split())
    assert checks.span_problem(tokens, figure, 0.3, 1.5) is None
    without = (figure[0], figure[1][:-1])
    assert "final sentinel" in checks.span_problem(tokens, without, 0.3, 1.5)


def test_library_span_corrupt_passes_the_assignments_check():
    rng = np.random.default_rng(2)
    checks.check_span_corrupt(lambda tokens, d, m: t5.span_corrupt(tokens, d, m, rng=rng))


def test_corpus_tasks_hold_out_whole_speeches():
    train_rows, test_rows = t5.speech_split()
    assert not set(train_rows) & set(test_rows) and len(train_rows) + len(test_rows) >= 237
    train, test = t5.corpus_tasks("train"), t5.corpus_tasks("test")
    assert {y for _, y in train["party"]} == {"democratic", "republican"}
    assert all(y.isdigit() and 1790 <= int(y) for _, y in test["year"])
    assert not {x for x, _ in train["year"]} & {x for x, _ in test["year"]}
    assert max(len(x.split()) for x, _ in train["year"]) <= 40
    assert len(t5.pretraining_texts()) == len(train_rows)


def test_tokenizer_has_t5s_special_tokens():
    texts = ["The Congress shall have power to lay and collect taxes."] * 50 + ["A gripping film."] * 50
    tok = t5.train_tokenizer(texts, vocab_size=80, n_sentinels=4)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = t5.sentinel_ids(tok)
    assert len(ids) == 4 and tok.convert_ids_to_tokens(ids) == [t5.sentinel(i) for i in range(4)]
    enc = tok("the congress <extra_id_1> film")["input_ids"]
    assert enc[-1] == tok.eos_token_id and ids[1] in enc
    assert tok.decode(enc, skip_special_tokens=True).split() == ["the", "congress", "film"]


def test_tokenizer_training_is_reproducible():
    # tokenizers' Unigram trainer iterates over hash maps seeded afresh for every call: its scores
    # and the order of equal-score pieces change from run to run, train_tokenizer's output must not
    from tlcourse import data

    texts = data.corpus_sentences()[:1000]
    first, second = (t5.train_tokenizer(texts, vocab_size=300, n_sentinels=4) for _ in range(2))
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()


# --------------------------------------------------------------------------- distillation
def test_distillation_loss_matches_the_reference_and_the_check():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g) * 3
    y = torch.randint(0, 4, (5,), generator=g)
    for T, alpha in [(1.0, 1.0), (2.0, 0.5), (4.0, 0.0), (3.0, 0.9)]:
        assert torch.allclose(kd.distillation_loss(s, t, y, T, alpha).double(),
                              checks.reference_distillation_loss(s, t, y, T, alpha), atol=1e-6)
    checks.check_distillation_loss(kd.distillation_loss)


def test_t_squared_keeps_the_soft_gradient_the_same_size():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g)
    norms = []
    for T in (2.0, 8.0):
        x = s.clone().requires_grad_(True)
        kd.distillation_loss(x, t, torch.zeros(256, dtype=torch.long), T=T, alpha=1.0).backward()
        norms.append(x.grad.norm().item())
    assert 0.5 < norms[1] / norms[0] < 2.0       # without T² the ratio would be about 1/16


def test_student_takes_every_other_layer():
    teacher = checks.bert_like_state(6)
    student = kd.init_student_from_teacher(teacher, 3)
    want = checks.reference_student_state(teacher, 3)
    assert sorted(student) == sorted(want) and all(torch.equal(student[k], want[k]) for k in want)
    checks.check_init_student_from_teacher(kd.init_student_from_teacher)
    with pytest.raises(ValueError):
        kd.init_student_from_teacher(teacher, 4)


def test_student_from_a_real_bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    teacher = BertForSequenceClassification(config).eval()
    student = kd.student_from_teacher(teacher, 2).eval()
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    for j, i in [(0, 0), (1, 2)]:
        assert torch.equal(student.bert.encoder.layer[j].output.dense.weight,
                           teacher.bert.encoder.layer[i].output.dense.weight)
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    # the student is the teacher's embeddings, layers 0 and 2, pooler and classifier
    x = torch.randint(0, 50, (3, 7))
    with torch.no_grad():
        h = teacher.bert.embeddings(input_ids=x)
        for i in (0, 2):
            h = teacher.bert.encoder.layer[i](h)                   # (B, T, hidden)
        want = teacher.classifier(teacher.bert.pooler(h))
        assert torch.allclose(student(input_ids=x).logits, want, atol=1e-5)
    assert kd.count_parameters(student) < kd.count_parameters(teacher)


def test_measurements_on_the_probe():
    probe = checks.TimingProbe([0.1, 0.01, 0.3, 0.01, 0.01, 0.01])
    assert kd.count_parameters(probe) == checks.TimingProbe.expected_parameters()
    times = kd.forward_times(probe, {"input_ids": torch.zeros(2, 3, dtype=torch.long)}, repeats=5, warmup=1)
    assert len(times) == 5 and len(probe.calls()) == 6
    assert not any(c["training"] or c["grad"] for c in probe.calls())
    assert 0.01 <= float(np.median(times)) < 0.05
    checks.check_measurement(kd.count_parameters,
                             lambda m, b, repeats, warmup: kd.median_latency(m, b, repeats, warmup))


def test_training_loop_learns_with_and_without_a_teacher():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    rng = np.random.default_rng(0)
    ids = [[1] + rng.integers(3, 20, rng.integers(2, 8)).tolist() for _ in range(256)]
    labels = np.array([int(5 in x) for x in ids])            # does the text contain token 5?
    for teacher_logits in (None, torch.tensor(np.eye(2)[labels] * 4.0, dtype=torch.float)):
        model = BertForSequenceClassification(config)
        kd.train_classifier(model, ids, labels, teacher_logits=teacher_logits, epochs=30,
                            batch_size=32, lr=3e-3, progress=False)
        accuracy = (kd.predict_logits(model, ids).argmax(-1).numpy() == labels).mean()
        assert accuracy > 0.85, accuracy


# --------------------------------------------------------------------------- recipes
def test_recipes_are_registered_and_chained():
    from tlcourse import zoo

    pretrain, multi, scratch = (zoo.get(n) for n in ("t5-tiny-sotu", "t5-tiny-multitask",
                                                      "t5-tiny-multitask-scratch"))
    assert multi.params["pretrained"] == pretrain.key == scratch.params["pretrained"]
    assert (multi.params["init"], scratch.params["init"]) == ("pretrained", "scratch")
    assert multi.key != scratch.key and multi.train is scratch.train
    assert 64 <= pretrain.params["d_model"] <= 128 and pretrain.params["num_layers"] == 2
    assert zoo.get("minilm-rt-teacher").model_class.endswith("BertForSequenceClassification")
