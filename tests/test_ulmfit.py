"""Chapter 3's library: LSTM language models, ELMo's biLM and scalar mix, ULMFiT's tools."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tlcourse import ulmfit, zoo
from tlcourse.text import Vocab

torch.set_num_threads(1)   # tiny models: threads only add contention
ITOS = ["<pad>", "<unk>", "<bos>", "the", "film", "is", "good", "bad", "not", "a"]


def tiny_lm(**kw):
    torch.manual_seed(0)
    return ulmfit.LSTMLanguageModel(ITOS, dim=8, n_layers=2, **kw)


def test_tokens_vocab_and_stream():
    vocab = ulmfit.build_vocab(["The film is good.", "The film is bad!"], min_count=2)
    assert vocab.itos == ["<pad>", "<unk>", "<bos>", "film", "is", "the"]
    fwd = ulmfit.lm_stream(["The film", "is good"], vocab)
    assert vocab.decode(fwd) == ["<bos>", "the", "film", "<bos>", "is", "<unk>"]
    assert torch.equal(ulmfit.lm_stream(["The film", "is good"], vocab, backward=True), fwd.flip(0))


def test_bptt_batches_targets_are_inputs_shifted_and_rows_continue():
    stream = torch.arange(103)
    batches = list(ulmfit.bptt_batches(stream, batch_size=4, bptt=5))
    assert len(batches) == 5 and batches[0][0].shape == (4, 5)
    for x, y in batches:
        assert torch.equal(y, x + 1)                       # the next token of the stream
    assert torch.equal(batches[1][0][:, 0], batches[0][0][:, -1] + 1)   # each row goes on


def test_encode_batch_pads_on_the_right():
    vocab = Vocab(ITOS)
    ids, lengths = ulmfit.encode_batch(["The film is good", "bad"], vocab)
    assert lengths.tolist() == [5, 2] and ids.shape == (2, 5)
    assert ids[1].tolist() == [2, vocab["bad"], 0, 0, 0]


def test_language_model_shapes_tied_weights_and_round_trip(tmp_path):
    lm = tiny_lm()
    ids = torch.randint(0, len(ITOS), (3, 7))
    logits, state = lm(ids)
    assert logits.shape == (3, 7, len(ITOS)) and len(state) == 2
    assert lm.decoder.weight is lm.encoder.embedding.weight
    lm.save_pretrained(tmp_path)
    again = ulmfit.LSTMLanguageModel.from_pretrained(tmp_path).eval()
    assert again.vocab.itos == ITOS and again.decoder.weight is again.encoder.embedding.weight
    with torch.no_grad():
        assert torch.allclose(again(ids)[0], lm.eval()(ids)[0])


def test_state_carry_over_equals_one_long_pass():
    lm = tiny_lm().eval()
    ids = torch.randint(0, len(ITOS), (2, 10))
    with torch.no_grad():
        full, _ = lm(ids)
        a, state = lm(ids[:, :4])
        b, _ = lm(ids[:, 4:], state)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-6)


def test_bilm_layers_pair_each_position_with_its_own_past_and_future():
    fwd, bwd = tiny_lm().eval(), tiny_lm(backward=True).eval()
    ids = torch.randint(3, len(ITOS), (1, 6))
    layers = ulmfit.bilm_layers(fwd, bwd, ids)
    assert len(layers) == 3 and all(h.shape == (1, 6, 16) for h in layers)
    changed = ids.clone()
    changed[0, 0] = 2 if ids[0, 0] != 2 else 3
    after = ulmfit.bilm_layers(fwd, bwd, changed)
    # changing the first word changes every forward state but only the backward state at t = 0
    assert not torch.allclose(after[2][0, -1, :8], layers[2][0, -1, :8])
    assert torch.allclose(after[2][0, 1:, 8:], layers[2][0, 1:, 8:])
    assert not torch.allclose(after[2][0, 0, 8:], layers[2][0, 0, 8:])


def test_scalar_mix_starts_as_an_average_and_uses_softmax_weights():
    layers = [torch.randn(2, 3) for _ in range(3)]
    mix = ulmfit.ScalarMix(3)
    assert torch.allclose(mix(layers), sum(layers) / 3)
    mix.load_state_dict({"weights": torch.tensor([0.0, 100.0, 0.0]), "gamma": torch.tensor(2.0)})
    assert torch.allclose(mix(layers), 2 * layers[1], atol=1e-5)


def test_concat_pool_ignores_padding():
    outputs, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
    pooled = ulmfit.concat_pool(outputs, lengths)
    noisy = outputs.clone()
    noisy[1, 2:] = 100.0
    assert torch.equal(ulmfit.concat_pool(noisy, lengths), pooled)
    assert torch.equal(pooled[1, :3], outputs[1, 1])
    assert torch.allclose(pooled[1, 6:], outputs[1, :2].mean(0))


def test_stlr_shape_and_scheduler_keeps_discriminative_ratios():
    T = 200
    lrs = [ulmfit.stlr(t, T, 0.01) for t in range(T + 1)]
    assert lrs[0] == pytest.approx(0.01 / 32) and lrs[20] == pytest.approx(0.01)
    assert lrs[T] == pytest.approx(0.01 / 32) and max(lrs) == lrs[20]
    assert all(a < b for a, b in zip(lrs[:20], lrs[1:21])) and all(a > b for a, b in zip(lrs[20:], lrs[21:]))
    with pytest.raises(ValueError, match="cut_frac"):
        ulmfit.stlr(0, 5, cut_frac=0.1)
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2))
    groups = ulmfit.discriminative_groups([list(m.parameters()) for m in model], 0.01)
    assert [g["lr"] for g in groups] == pytest.approx([0.01 / 2.6 ** 2, 0.01 / 2.6, 0.01])
    opt = torch.optim.SGD(groups)
    sched = ulmfit.stlr_scheduler(opt, T)
    for _ in range(20):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 / 2.6 ** 2, 0.01 / 2.6, 0.01])


def test_freeze_to_and_classifier_groups_cover_every_parameter_once():
    lm = tiny_lm()
    clf = ulmfit.ConcatPoolClassifier.from_lm(lm)
    groups = clf.layer_groups()
    flat = [p for g in groups for p in g]
    assert len(groups) == 4 and len(flat) == len(set(map(id, flat))) == len(list(clf.parameters()))
    assert torch.equal(clf.encoder.rnns[1].weight_hh_l0, lm.encoder.rnns[1].weight_hh_l0)
    ulmfit.freeze_to(groups, 1)
    assert all(p.requires_grad for p in groups[-1]) and not any(p.requires_grad for g in groups[:-1] for p in g)
    ulmfit.freeze_to(groups, 4)
    assert all(p.requires_grad for p in flat)
    ids, lengths = torch.randint(0, len(ITOS), (3, 6)), torch.tensor([6, 3, 1])
    assert clf.eval()(ids, lengths).shape == (3, 2)


def test_match_embeddings_keeps_known_words_and_starts_new_ones_at_the_mean():
    lm = tiny_lm()
    new_itos = ["<pad>", "<unk>", "<bos>", "good", "movie", "the"]
    moved = ulmfit.match_embeddings(lm, new_itos)
    w_old, w_new = lm.encoder.embedding.weight, moved.encoder.embedding.weight
    assert torch.equal(w_new[3], w_old[ITOS.index("good")]) and torch.equal(w_new[5], w_old[3])
    assert torch.allclose(w_new[4], w_old.mean(0))
    assert torch.equal(moved.encoder.rnns[0].weight_ih_l0, lm.encoder.rnns[0].weight_ih_l0)
    assert moved.decoder.weight is moved.encoder.embedding.weight


def test_sampled_softmax_gradient_approaches_the_full_softmax_gradient():
    torch.manual_seed(0)
    V, d = 50, 6
    hidden, targets = torch.randn(64, d, requires_grad=True), torch.randint(0, V, (64,))
    weight, bias = torch.randn(V, d), torch.randn(V)
    full, = torch.autograd.grad(F.cross_entropy(hidden @ weight.T + bias, targets), hidden)
    proposal = ulmfit.log_uniform(V)
    assert proposal.sum().item() == pytest.approx(1.0) and (proposal[:-1] > proposal[1:]).all()
    for n_samples, min_cosine in [(20, 0.9), (1000, 0.999)]:
        grads = [torch.autograd.grad(ulmfit.sampled_softmax_loss(hidden, targets, weight, bias,
                                                                 n_samples, proposal), hidden)[0]
                 for _ in range(20)]
        cosine = F.cosine_similarity(sum(grads).flatten(), full.flatten(), dim=0)
        assert cosine > min_cosine, (n_samples, cosine)


@pytest.mark.parametrize("n_samples", [None, 20])
def test_train_lm_learns_a_repeating_pattern(n_samples):
    torch.manual_seed(0)
    lm = ulmfit.LSTMLanguageModel(ITOS, dim=16, n_layers=1)
    stream = torch.tensor([3, 4, 5, 6, 9, 7, 8] * 100)
    hist = ulmfit.train_lm(lm, stream, steps=40, lr=2e-2, batch_size=4, bptt=20, val_stream=stream[:300],
                           eval_every=20, n_samples=n_samples, progress=False)
    assert hist["val_nll"][0] > 2.0 and hist["val_nll"][-1] < 0.3
    assert len(hist["loss"]) == 40 and math.exp(hist["val_nll"][-1]) < 1.4


def test_recipes_are_registered_and_the_target_lm_hashes_its_base():
    assert zoo.get("sotu-lm").params["backward"] is False
    assert zoo.get("sotu-lm-backward").params["backward"] is True
    assert zoo.get("rt-lm").params["base"] == zoo.get("sotu-lm").key
