"""Chapter 3's recipes: ULMFiT's language models.

* ``sotu-lm`` — stage 1, a general-domain word-level LSTM LM pre-trained on the State of the
  Union corpus; ``sotu-lm-backward`` is the same on reversed text (with it, the biLM of ELMo).
* ``rt-lm`` — stage 2, ``sotu-lm`` moved to the Rotten Tomatoes vocabulary and fine-tuned on
  the review texts of the training split (no labels) with discriminative learning rates and STLR.
"""
from __future__ import annotations

from pathlib import Path

from ..zoo import RECIPES, recipe

MODEL = "tlcourse.ulmfit:LSTMLanguageModel"


def sotu_split():
    """State of the Union texts: (train, held-out) addresses; every 20th address is held out."""
    from ..data import corpus

    texts = corpus()["text"].tolist()
    return ([t for i, t in enumerate(texts) if i % 20 != 10],
            [t for i, t in enumerate(texts) if i % 20 == 10])


def sotu_sentences(texts):
    from ..data import split_sentences

    return [s for t in texts for s in split_sentences(t)]


def _sotu_lm(params: dict, out: Path, progress: bool = True) -> dict:
    import torch

    from .. import ulmfit

    torch.manual_seed(params["seed"])
    train, held_out = (sotu_sentences(t) for t in sotu_split())
    vocab = ulmfit.build_vocab(train, params["min_count"])
    back = params["backward"]
    stream = ulmfit.lm_stream(train, vocab, backward=back)
    val = ulmfit.lm_stream(held_out, vocab, backward=back)[:params["val_tokens"]]
    model = ulmfit.LSTMLanguageModel(vocab.itos, params["dim"], params["n_layers"], backward=back)
    hist = ulmfit.train_lm(model, stream, params["steps"], params["lr"], params["batch_size"],
                           params["bptt"], val_stream=val, eval_every=params["eval_every"],
                           n_samples=params["n_samples"], progress=progress, desc="sotu-lm" + ("-backward" if back else ""))
    hist.update(vocab_size=len(vocab), train_tokens=len(stream), val_tokens=len(val),
                val_unk=round(float((val == vocab.unk_id).float().mean()), 4))
    model.save_pretrained(out)
    return hist


_LM = dict(dim=128, n_layers=2, min_count=30, batch_size=32, bptt=50, lr=3e-3, steps=400,
           n_samples=512, eval_every=100, val_tokens=20_000, seed=0)

recipe("sotu-lm", "Stage 1 of ULMFiT: a word-level 2-layer LSTM LM (128 wide, tied softmax) "
       "pre-trained on the State of the Union corpus", MODEL, backward=False, **_LM)(_sotu_lm)
recipe("sotu-lm-backward", "The same LSTM LM trained on the State of the Union read backwards: "
       "with sotu-lm, the biLM of ELMo", MODEL, backward=True, **_LM)(_sotu_lm)


@recipe("rt-lm", "Stage 2 of ULMFiT: sotu-lm moved to the Rotten Tomatoes vocabulary and "
        "fine-tuned on the training reviews' text (no labels), discriminative lrs + STLR",
        MODEL, base=RECIPES["sotu-lm"].key, base_overrides={}, min_count=2, batch_size=32, bptt=50, lr=3e-3,
        factor=2.6, steps=200, n_samples=512, eval_every=50, seed=0)
def rt_lm(params: dict, out: Path, progress: bool = True) -> dict:
    import torch

    from .. import ulmfit, zoo
    from ..data import rotten_tomatoes

    torch.manual_seed(params["seed"])
    # params["base"] is the key of sotu-lm's recipe: when the base model changes, so does this key.
    general = zoo.load("sotu-lm", **params["base_overrides"])
    train, val = rotten_tomatoes("train")["text"], rotten_tomatoes("val")["text"]
    vocab = ulmfit.build_vocab(train, params["min_count"])
    model = ulmfit.match_embeddings(general, vocab.itos)
    stream, val_stream = ulmfit.lm_stream(train, vocab), ulmfit.lm_stream(val, vocab)
    known = sum(w in general.vocab.stoi for w in vocab.itos)
    groups = ulmfit.discriminative_groups(model.layer_groups(), params["lr"], params["factor"])
    hist = ulmfit.train_lm(model, stream, params["steps"], params["lr"], params["batch_size"],
                           params["bptt"], param_groups=groups, val_stream=val_stream,
                           eval_every=params["eval_every"], n_samples=params["n_samples"],
                           progress=progress, desc="rt-lm")
    hist.update(vocab_size=len(vocab), known_words=known, train_tokens=len(stream),
                val_tokens=len(val_stream),
                val_unk=round(float((val_stream == vocab.unk_id).float().mean()), 4))
    model.save_pretrained(out)
    return hist
