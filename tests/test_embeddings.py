"""Chapter 2's library: skip-gram pairs, negative sampling, GloVe, nearest neighbours and analogies,
checked against brute-force versions of the papers' formulas; the zoo recipes train, save and load."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tlcourse import embeddings as emb
from tlcourse.checks import embeddings as checks
from tlcourse.text import Vocab


def _random_corpus(seed, n_sentences=30, n_words=40):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 15, n_sentences)
    ids = rng.integers(0, n_words, lengths.sum())
    return ids, np.repeat(np.arange(n_sentences), lengths)


def _brute_pairs(ids, sentence_of, window):
    """(center, context, distance) for every ordered pair within `window[i]` of center i."""
    window = np.broadcast_to(window, ids.shape)
    return sorted((ids[i], ids[j], abs(i - j)) for i in range(len(ids)) for j in range(len(ids))
                  if i != j and abs(i - j) <= window[i] and sentence_of[i] == sentence_of[j])


@pytest.mark.parametrize("seed", range(3))
def test_skipgram_pairs_match_brute_force_with_fixed_and_dynamic_windows(seed):
    ids, sentence_of = _random_corpus(seed)
    rng = np.random.default_rng(seed)
    for window in (1, 3, rng.integers(1, 5, len(ids))):
        c, o, d = emb.skipgram_pairs(ids, sentence_of, window, with_distance=True)
        assert sorted(zip(c, o, d)) == _brute_pairs(ids, sentence_of, window)
        c2, o2 = emb.skipgram_pairs(ids, sentence_of, window)
        assert np.array_equal(c, c2) and np.array_equal(o, o2)


def test_skipgram_pairs_agree_with_the_assignment_reference():
    sentences = [[1, 2, 3, 4, 5], [6, 7], [8]]
    ids = np.array([w for s in sentences for w in s])
    sentence_of = np.repeat(np.arange(3), [len(s) for s in sentences])
    c, o = emb.skipgram_pairs(ids, sentence_of, 2)
    assert sorted(zip(c.tolist(), o.tolist())) == sorted(checks.reference_skipgram_pairs(sentences, 2))


def test_flatten_drops_unknown_words_and_keeps_sentence_indices():
    sentences = [["a", "b", "zzz"], ["zzz"], ["b", "a"]]
    vocab = Vocab.build([["a", "b", "b"]], specials=())
    ids, sentence_of = emb.flatten(sentences, vocab)
    assert ids.tolist() == [vocab["a"], vocab["b"], vocab["b"], vocab["a"]]
    assert sentence_of.tolist() == [0, 0, 2, 2]


def test_subsampling_keeps_rare_words_and_drops_frequent_ones():
    counts = np.array([1_000_000, 1_000, 10, 1])
    keep = emb.keep_probabilities(counts, 1e-3)
    assert keep[0] < 0.1 and np.all(keep[1:] == 1.0) and np.all(np.diff(keep) >= 0)
    f = counts[0] / counts.sum()
    assert math.isclose(keep[0], (math.sqrt(f / 1e-3) + 1) * 1e-3 / f)


def test_noise_distribution_is_the_three_quarter_power_unigram():
    counts = torch.tensor([100, 10, 1, 0])
    p = emb.noise_distribution(counts)
    assert p.dtype == torch.float32 and math.isclose(float(p.sum()), 1.0, rel_tol=1e-6)
    w = counts.double() ** 0.75
    assert torch.allclose(p.double(), w / w.sum())
    assert torch.allclose(emb.noise_distribution(counts, power=1.0).double(), (counts / counts.sum()).double())


def test_sgns_loss_matches_the_formula_and_the_check_reference():
    g = torch.Generator().manual_seed(0)
    v, u, un = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g), torch.randn(7, 3, 5, generator=g)
    expected = np.mean([-math.log(1 / (1 + math.exp(-float(u[b] @ v[b]))))
                        - sum(math.log(1 / (1 + math.exp(float(un[b, k] @ v[b])))) for k in range(3))
                        for b in range(7)])
    assert math.isclose(float(emb.sgns_loss(v, u, un)), expected, rel_tol=1e-5)
    assert torch.allclose(emb.sgns_loss(v, u, un).double(), checks.reference_sgns_loss(v, u, un))
    # all scores 0: every sigma is 1/2, the loss is (K + 1) log 2
    zero = torch.zeros(4, 5)
    assert math.isclose(float(emb.sgns_loss(zero, zero, torch.zeros(4, 3, 5))), 4 * math.log(2), rel_tol=1e-6)


def test_skipgram_models_compute_their_losses_and_train(tmp_path):
    torch.manual_seed(0)
    model = emb.SkipGramNS([f"w{i}" for i in range(20)], dim=8)
    assert torch.all(model.context.weight == 0) and model.center.weight.abs().max() <= 0.5 / 8
    c, o, n = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6]), torch.tensor([[7, 8], [9, 10], [11, 12]])
    with torch.no_grad():
        model.context.weight.normal_()
    loss = model(c, o, n).detach()
    assert torch.allclose(loss, emb.sgns_loss(model.center(c), model.context(o), model.context(n)))
    # training on one pair raises its score and lowers the noise pairs' scores
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        model(c, o, n).backward()
        opt.step()
    assert float(model(c, o, n).detach()) < 0.1 * float(loss)
    model.save_pretrained(tmp_path)
    again = emb.SkipGramNS.from_pretrained(tmp_path)
    assert again.words == model.words and torch.equal(again.vectors(), model.vectors())

    soft = emb.SkipGramSoftmax(20, 8)
    logits = soft.context(soft.center(c))
    assert logits.shape == (3, 20) and torch.allclose(soft(c, o), F.cross_entropy(logits, o))


def test_cooccurrence_counts_one_over_distance_symmetrically_within_sentences():
    ids = np.array([0, 1, 2, 0, 1])
    sentence_of = np.array([0, 0, 0, 1, 1])
    X = emb.cooccurrence(ids, sentence_of, 3, window=2).toarray()
    expected = np.zeros((3, 3))
    for i, j, d in [(0, 1, 1), (1, 2, 1), (0, 2, 2), (0, 1, 1)]:   # sentence 1: (0, 1) at distance 1
        expected[i, j] += 1 / d
        expected[j, i] += 1 / d
    assert np.allclose(X, expected) and np.allclose(X, X.T)


def test_glove_weight_and_loss():
    x = torch.tensor([1.0, 50.0, 100.0, 1000.0])
    assert torch.allclose(emb.glove_weight(x), torch.tensor([0.01 ** 0.75, 0.5 ** 0.75, 1.0, 1.0]))
    g = torch.Generator().manual_seed(1)
    w_i, w_j, b_i, b_j = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, generator=g), torch.randn(4, generator=g)
    for x_max, alpha in [(100.0, 0.75), (10.0, 0.5)]:
        assert torch.allclose(emb.glove_loss(w_i, w_j, b_i, b_j, x, x_max, alpha).double(),
                              checks.reference_glove_loss(w_i, w_j, b_i, b_j, x, x_max, alpha))
    model = emb.GloVe([f"w{i}" for i in range(6)], dim=3)
    i, j = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    expected = emb.glove_loss(model.w(i), model.w_ctx(j), model.b(i)[:, 0], model.b_ctx(j)[:, 0], x[:3])
    assert torch.allclose(model(i, j, x[:3]), expected)
    assert torch.allclose(model.vectors(), model.w.weight + model.w_ctx.weight)


def test_glove_fits_a_small_cooccurrence_matrix(tmp_path):
    torch.manual_seed(0)
    n = 12
    true = torch.randn(n, 4)
    X = torch.exp(true @ true.T / 2 + 1).clamp(min=1)             # a positive "count" matrix
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    i, j, x = i.flatten(), j.flatten(), X.flatten()
    model = emb.GloVe([f"w{k}" for k in range(n)], dim=6, x_max=10.0)
    opt = torch.optim.Adagrad(list(model.parameters()), lr=0.2)
    first = float(model(i, j, x).detach())
    for _ in range(300):
        opt.zero_grad()
        model(i, j, x).backward()
        with torch.sparse.check_sparse_tensor_invariants(enable=False):
            opt.step()
    assert float(model(i, j, x).detach()) < 0.02 * first
    model.save_pretrained(tmp_path)
    again = emb.GloVe.from_pretrained(tmp_path)
    assert again.x_max == 10.0 and torch.equal(again.vectors(), model.vectors())


def _brute_analogy(E, a, b, c):
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    out = []
    for qa, qb, qc in zip(a, b, c):
        t = unit[qb] - unit[qa] + unit[qc]
        cos = [(-np.inf if d in (qa, qb, qc) else unit[d] @ t / np.linalg.norm(t)) for d in range(len(E))]
        out.append(int(np.argmax(cos)))
    return out


def test_three_cos_add_and_nearest_match_brute_force_and_exclude_the_queries():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(60, 7)) * rng.uniform(0.1, 3, (60, 1))
    a, b, c = (rng.integers(0, 60, 40) for _ in range(3))
    unit = emb.normalize(E)
    got = emb.three_cos_add(unit, a, b, c, batch=7)[:, 0]
    assert got.tolist() == _brute_analogy(E, a, b, c)
    assert torch.equal(got, checks.reference_analogy(torch.tensor(E), *(torch.tensor(t) for t in (a, b, c))))
    _, nn_ids = emb.nearest(unit, unit[:5], k=3, exclude=torch.arange(5)[:, None])
    assert torch.equal(nn_ids, checks.reference_nearest(torch.tensor(E), torch.arange(5), 3))


def test_word_vectors_scores_on_a_space_built_to_answer_analogies():
    # capital = country + offset, so every "country : capital" question is answerable exactly
    rng = np.random.default_rng(1)
    countries = [f"country{i}" for i in range(6)]
    capitals = [f"capital{i}" for i in range(6)]
    base = rng.normal(size=(6, 20))
    vectors = np.concatenate([base, base + 3 * rng.normal(size=20)])
    wv = emb.WordVectors(countries + capitals, vectors)
    questions = [("capital-common-countries", countries[i], capitals[i], countries[j], capitals[j])
                 for i in range(6) for j in range(6) if i != j]
    questions.append(("gram8-plural", "Country0", "unknownword", "country1", "country2"))
    table = wv.evaluate_analogies(questions)
    index = {w: i for i, w in enumerate(countries + capitals)}
    q = np.array([[index[w] for w in qq[1:]] for qq in questions[:-1]])
    hits = sum(np.array(_brute_analogy(vectors, *q[:, :3].T)) == q[:, 3])
    assert table.loc["semantic", "correct"] == hits and table.loc["all", "covered"] == 30
    assert table.loc["semantic", "accuracy"] == hits / 30 > 0.8
    assert table.loc["syntactic", "questions"] == 1 and table.loc["syntactic", "covered"] == 0
    assert wv.analogy("country0", "capital0", "country1") == ["capital1"]
    assert wv.most_similar("country0", 1)[0][0] != "country0"
    import pandas as pd

    pairs = pd.DataFrame({"word1": ["country0"] * 5, "word2": capitals[:5], "score": [1.0, 2, 3, 4, 5]})
    cos = [float(wv.unit[0] @ wv.unit[wv.index[w]]) for w in capitals[:5]]
    rho, n = wv.evaluate_similarity(pairs)
    from scipy.stats import spearmanr

    assert n == 5 and math.isclose(rho, spearmanr(cos, [1, 2, 3, 4, 5]).statistic)
    assert len(wv.restrict(["capital3", "nope", "country1"])) == 2


@pytest.mark.slow
def test_recipes_train_save_and_load(tmp_path, monkeypatch):
    from tlcourse import zoo

    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    for name, cls in [("sotu-sgns", emb.SkipGramNS), ("sotu-glove", emb.GloVe)]:
        assert zoo.get(name).key != zoo.get(name, steps=2).key
        hist = zoo.history(name, steps=2)
        assert len(hist["loss"]) == 1 and hist["loss"][0] > 0 and hist["vocab_size"] > 10_000
        model = zoo.load(name, steps=2)
        assert isinstance(model, cls) and not model.training
        assert model.vectors().shape == (hist["vocab_size"], zoo.get(name).params["dim"])
