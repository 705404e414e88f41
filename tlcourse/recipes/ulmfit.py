"""Chapter 3's recipes: ULMFiT's language models.

* ``sotu-lm`` — stage 1, a general-domain word-level LSTM LM pre-trained on the State of the
  Union corpus, its embedding started from GloVe; ``sotu-lm-backward`` is the same on reversed
  text (with it, the biLM of ELMo).
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

    torch.set_num_threads(1)         # a small model: more threads only add contention
    torch.manual_seed(params["seed"])
    train, held_out = (sotu_sentences(t) for t in sotu_split())
    vocab = ulmfit.build_vocab(train, params["min_count"])
    back = params["backward"]
    stream = ulmfit.lm_stream(train, vocab, backward=back)
    val = ulmfit.lm_stream(held_out, vocab, backward=back)[:params["val_tokens"]]
    model = ulmfit.LSTMLanguageModel(vocab.itos, params["dim"], params["n_layers"], backward=back)
    if params["glove"]:              # the first layer starts from Chapter 2's word vectors
        model.init_embeddings(*ulmfit.glove_vectors(vocab.itos), seed=params["seed"])
    hist = ulmfit.train_lm(model, stream, params["steps"], params["lr"], params["batch_size"],
                           params["bptt"], val_stream=val, eval_every=params["eval_every"],
                           n_samples=params["n_samples"], progress=progress,
                           desc="sotu-lm" + ("-backward" if back else ""))
    hist.update(vocab_size=len(vocab), train_tokens=len(stream), val_tokens=len(val),
                val_unk=round(float((val == vocab.unk_id).float().mean()), 4))
    model.save_pretrained(out)
    return hist


_LM = dict(dim=50, n_layers=2, glove=True, min_count=30, batch_size=32, bptt=50, lr=3e-3,
           n_samples=512, eval_every=200, val_tokens=20_000, seed=0)

recipe("sotu-lm", "Stage 1 of ULMFiT: a word-level 2-layer LSTM LM (50 wide, tied softmax, "
       "GloVe-initialised embedding) pre-trained on the State of the Union corpus", MODEL,
       backward=False, steps=1600, **_LM)(_sotu_lm)
recipe("sotu-lm-backward", "The same LSTM LM trained on the State of the Union read backwards: "
       "with sotu-lm, the biLM of ELMo", MODEL, backward=True, steps=1200, **_LM)(_sotu_lm)


@recipe("rt-lm", "Stage 2 of ULMFiT: sotu-lm moved to the Rotten Tomatoes vocabulary and "
        "fine-tuned on the training reviews' text (no labels), discriminative lrs + STLR",
        MODEL, base=RECIPES["sotu-lm"].key, min_count=3, glove=True, batch_size=32, bptt=50,
        lr=3e-3, factor=2.6, steps=800, n_samples=512, eval_every=100, seed=0)
def rt_lm(params: dict, out: Path, progress: bool = True) -> dict:
    import torch

    from .. import ulmfit, zoo
    from ..data import rotten_tomatoes

    torch.set_num_threads(1)
    torch.manual_seed(params["seed"])
    general = zoo.load("sotu-lm")    # params["base"] is its recipe's key: a new base retrains this
    train, val = rotten_tomatoes("train")["text"], rotten_tomatoes("val")["text"]
    vocab = ulmfit.build_vocab(train, params["min_count"])
    # Words the general LM knows keep their vectors; new ones start from GloVe, else the mean.
    glove = ulmfit.glove_vectors(vocab.itos) if params["glove"] else (None, None)
    model = ulmfit.match_embeddings(general, vocab.itos, *glove)
    stream, val_stream = ulmfit.lm_stream(train, vocab), ulmfit.lm_stream(val, vocab)
    groups = ulmfit.discriminative_groups(model.layer_groups(), params["lr"], params["factor"])
    peak_lrs = [g["lr"] for g in groups]       # the scheduler rescales the groups' "lr" in place
    hist = ulmfit.train_lm(model, stream, params["steps"], params["lr"], params["batch_size"],
                           params["bptt"], param_groups=groups, val_stream=val_stream,
                           eval_every=params["eval_every"], n_samples=params["n_samples"],
                           progress=progress, desc="rt-lm")
    known = sum(w in general.vocab.stoi for w in vocab.itos)
    in_glove = int(glove[1].sum()) if params["glove"] else 0
    hist.update(vocab_size=len(vocab), known_words=known, train_tokens=len(stream),
                val_tokens=len(val_stream), group_lrs=peak_lrs,
                val_unk=round(float((val_stream == vocab.unk_id).float().mean()), 4),
                new_from_glove=sum(bool(f) and w not in general.vocab.stoi
                                   for w, f in zip(vocab.itos, glove[1])) if params["glove"] else 0,
                in_glove=in_glove)
    model.save_pretrained(out)
    return hist
