"""The course's GPT (tlcourse.gpt): it is GPT-2's architecture, it is causal, it saves and loads,
its tokenizer is GPT-2's, its batches are shifted, and its in-context-learning tasks are what the
chapter says; the assignment's references agree with torch and transformers."""
import math
import random

import pytest
import torch
import torch.nn.functional as F

from tlcourse import data, gpt
from tlcourse.checks import gpt as checks


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread is fastest, and on a busy machine two threads can be 100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _small_gpt2(vocab=97, n_ctx=16, n_layer=2, d=32, heads=4):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=n_ctx, n_layer=n_layer, n_embd=d,
                                    n_head=heads, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                                    bos_token_id=None, eos_token_id=None)).eval()
    ours = gpt.GPT(vocab_size=vocab, n_ctx=n_ctx, n_layer=n_layer, n_head=heads, d_model=d).eval()
    return hf, ours


def test_same_parameters_and_logits_as_transformers_gpt2():
    hf, ours = _small_gpt2()
    assert ours.num_params() == sum(p.numel() for p in hf.parameters())
    gpt.load_gpt2_weights(ours, hf.state_dict())
    ids = torch.randint(97, (3, 16))
    with torch.no_grad():
        assert torch.allclose(ours(ids), hf(input_ids=ids).logits, atol=1e-4)
        # transformers shifts the labels inside its loss (labels=input_ids); we shift in the batch
        assert torch.allclose(ours(ids[:, :-1], ids[:, 1:])[1], hf(input_ids=ids, labels=ids).loss, atol=1e-5)


def test_tied_output_layer_and_non_embedding_count():
    m = gpt.GPT(vocab_size=50, n_ctx=8, n_layer=3, n_head=2, d_model=16)
    assert m.lm_head.weight is m.transformer.wte.weight
    assert m.num_params() == checks.reference_count_params(3, 16, 50, 8)
    assert m.num_params(non_embedding=True) == m.num_params() - 50 * 16 - 8 * 16


def test_reference_count_matches_published_gpt2_sizes_on_meta_device():
    from transformers import GPT2Config, GPT2LMHeadModel

    for L, d, n in checks.GPT2_SIZES.values():
        assert checks.reference_count_params(L, d, 50257, 1024) == n
    with torch.device("meta"):
        small = GPT2LMHeadModel(GPT2Config())
    assert sum(p.numel() for p in small.parameters()) == checks.GPT2_SIZES["small"][2]


def test_causal_future_tokens_do_not_change_the_past():
    torch.manual_seed(1)
    m = gpt.GPT(vocab_size=30, n_ctx=10, n_layer=2, n_head=2, d_model=16).eval()
    a = torch.randint(30, (1, 10))
    b = a.clone()
    b[0, 6:] = (b[0, 6:] + 1) % 30
    with torch.no_grad():
        la, lb = m(a), m(b)
    assert torch.equal(la[:, :6], lb[:, :6])
    assert not torch.allclose(la[:, 6:], lb[:, 6:])
    with pytest.raises(ValueError, match="longer than the context"):
        m(torch.zeros(1, 11, dtype=torch.long))


def test_save_and_load(tmp_path):
    m = gpt.GPT(vocab_size=20, n_ctx=8, n_layer=1, n_head=2, d_model=8).eval()
    m.save_pretrained(tmp_path)
    back = gpt.GPT.from_pretrained(tmp_path).eval()
    ids = torch.randint(20, (2, 8))
    assert back.config == m.config and torch.equal(back(ids), m(ids))
    assert back.lm_head.weight is back.transformer.wte.weight


def test_gpt2_bpe_is_gpt2_and_its_cut_is_lossless():
    text = "The Congress shall have Power to lay and collect Taxes — naïve café 🙂 1790."
    full = gpt.gpt2_bpe()
    assert full.encode_ordinary(text) == data.gpt2_tokenizer()(text)["input_ids"]
    assert full.n_vocab == 50257
    small = gpt.gpt2_bpe(2048)
    ids = small.encode_ordinary(text)
    assert max(ids) < 2048 and small.decode(ids) == text and len(ids) > len(full.encode_ordinary(text))
    assert small.eot_token == 2048
    # the first 2,048 tokens keep GPT-2's ids: a word made of early merges is encoded the same
    assert small.encode_ordinary(" the") == full.encode_ordinary(" the")


def test_get_batch_targets_are_the_next_tokens():
    tokens = torch.arange(1000)
    x, y = gpt.get_batch(tokens, 4, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16) and torch.equal(y, x + 1)


def test_evaluate_loss_matches_cross_entropy():
    torch.manual_seed(0)
    m = gpt.GPT(vocab_size=11, n_ctx=5, n_layer=1, n_head=1, d_model=8).eval()
    tokens = torch.randint(11, (23,))
    windows = [tokens[i:i + 6] for i in range(0, 20, 5)]            # 4 windows of 5 + the next token
    want = sum(F.cross_entropy(m(w[None, :-1])[0], w[1:]).item() for w in windows) / 4
    assert math.isclose(gpt.evaluate_loss(m, tokens), want, rel_tol=1e-5)


def test_icl_rules_prompts_and_targets():
    for name, rule in gpt.ICL_RULES.items():
        assert sorted(rule(i) for i in range(8)) == list(range(8)), f"{name} is not a permutation"
    assert gpt.icl_apply("NEXT", "ah") == "ba" and gpt.icl_apply("FLIP", "a") == "h"
    ex = {"task": "NEXT", "shots": [("c", "d"), ("f", "g")], "query": "a", "answer": "b"}
    assert gpt.icl_prompt(ex, True) == ("NEXT:c>d;f>g;a>", "b;")
    assert gpt.icl_prompt(ex, False) == ("c>d;f>g;a>", "b;")
    x, y = gpt.icl_batch(random.Random(0), 8, n_shots=3)
    for row_x, row_y in zip(x, y):
        text = gpt.icl_decode(row_x)
        targets = [(text[t], gpt.ICL_CHARS[int(v)]) for t, v in enumerate(row_y) if v != -100]
        # 4 examples: each has a target after '>' (the output letter) and after it (the ';')
        assert len(targets) == 8 and all(c in ">" + gpt.ICL_LETTERS for c, _ in targets)
    assert abs(gpt.icl_ideal_accuracy(gpt.icl_examples(0, 600)) - 1 / 3) < 1e-9
    assert gpt.icl_ideal_accuracy(gpt.icl_examples(8, 600)) > 0.99


def test_training_loop_learns_and_icl_accuracy_is_measured():
    torch.manual_seed(0)
    m = gpt.GPT(vocab_size=len(gpt.ICL_CHARS), n_ctx=41, n_layer=1, n_head=2, d_model=32)
    rng = random.Random(0)
    hist = gpt.train(m, lambda s: gpt.icl_batch(rng, 16), 60, 3e-3, warmup=5, progress=False)
    assert hist["loss"][-1] < hist["loss"][0] - 0.5
    acc = gpt.icl_accuracy(m, gpt.icl_examples(2, 60), describe=True)
    assert 0.0 <= acc <= 1.0


def test_sampling_reference_agrees_with_transformers_warpers():
    from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                        TopPLogitsWarper)

    torch.manual_seed(0)
    for _ in range(20):
        logits = torch.randn(1, 12) * 2
        t, k, p = float(torch.empty(()).uniform_(0.5, 2)), int(torch.randint(2, 12, ())), float(torch.rand(()))
        z = TopPLogitsWarper(p)(None, TopKLogitsWarper(k)(None, TemperatureLogitsWarper(t)(None, logits.clone())))
        assert torch.allclose(checks.reference_next_token_probs(logits[0], t, k, p), torch.softmax(z[0].double(), -1),
                              atol=1e-6)


def test_reference_perplexity_of_a_short_text_is_exp_of_the_loss():
    m = checks.tiny_gpt(seed=0)
    ids = torch.randint(11, (6,))
    with torch.no_grad():
        nll = F.cross_entropy(m(ids[None])[0][:-1], ids[1:]).item()
    assert math.isclose(checks.reference_perplexity(m, ids), math.exp(nll), rel_tol=1e-5)
    long = torch.randint(11, (31,))
    windows = [long[s:s + 6] for s in range(0, 30, 5)]
    assert sum(len(w) - 1 for w in windows) == 30
