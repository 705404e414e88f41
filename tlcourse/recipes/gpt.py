"""Chapter 6's recipes: a tiny GPT pre-trained on the State of the Union corpus, the models of the
mini scaling study, and a small GPT trained on the synthetic in-context-learning task mixture.

All use :class:`tlcourse.gpt.GPT` and its training loop, one thread, fixed seeds. The scaling
study and the few-shot learner train in a few minutes on a laptop core; the language model itself
is trained for longer and shipped (see ``SOTU_GPT``).
"""
from __future__ import annotations

from pathlib import Path

from ..zoo import recipe


# The tiny GPT, Chapter 6's language model: about 4.7 passes over the training addresses, an hour
# and a quarter on one core. That is more than the course's build budget, so its weights are
# shipped with the course (``tlcourse/weights/sotu-gpt``) with their recipe key and training log;
# ``make assets RETRAIN=1`` trains it again, and a test replays its first steps exactly.
SOTU_GPT = dict(n_tokens=2048, n_layer=2, d_model=128, n_ctx=128, batch_size=32, steps=4000, lr=3e-3,
                warmup=100, eval_every=250, eval_windows=64, seed=0)
# The mini scaling study: four widths trained on the same batches for the same short budget; only
# the width (and with it the number of heads, 32 wide) changes.
SCALING = dict(n_tokens=2048, n_layer=2, n_ctx=128, batch_size=16, steps=300, lr=3e-3, warmup=20,
               eval_every=50, eval_windows=64, seed=0)
SCALING_SIZES = {"sotu-gpt-xs": 16, "sotu-gpt-s": 32, "sotu-gpt-m": 64, "sotu-gpt-l": 128}


@recipe("sotu-gpt",
        "tiny GPT (2 layers, d_model 128, 4 heads, context 128) pre-trained on the State of the Union "
        "corpus with GPT-2's first 2,048 BPE tokens for 4,000 steps of 32 windows: Chapter 6's "
        "language model (shipped weights)",
        "tlcourse.gpt:GPT", shipped=True, **SOTU_GPT)
def sotu_gpt(params: dict, out: Path, progress: bool = True) -> dict:
    import torch

    from .. import gpt

    torch.manual_seed(params["seed"])
    torch.set_num_threads(1)                 # one thread: bit-for-bit the same run on every machine
    data = gpt.sotu_tokens(params["n_tokens"])
    d = params["d_model"]
    model = gpt.GPT(vocab_size=params["n_tokens"] + 1, n_ctx=params["n_ctx"], n_layer=params["n_layer"],
                    n_head=max(1, d // 32), d_model=d)
    g = torch.Generator().manual_seed(params["seed"])        # the same batches for every size
    stop_after = params.get("stop_after")                    # set by zoo.replay only
    hist = gpt.train(
        model, lambda step: gpt.get_batch(data["train"], params["batch_size"], params["n_ctx"], g),
        params["steps"], params["lr"], warmup=params["warmup"],
        eval_fn=lambda: gpt.evaluate_loss(model, data["val"], max_windows=params["eval_windows"]),
        eval_every=params["eval_every"], progress=progress, desc=f"GPT d_model={d}", stop_after=stop_after)
    if stop_after is None:
        hist["val_loss"] = gpt.evaluate_loss(model, data["val"])          # the whole validation split
    hist["params"] = model.num_params()
    hist["non_embedding_params"] = model.num_params(non_embedding=True)
    model.save_pretrained(out)
    return hist


for _name, _d in SCALING_SIZES.items():
    recipe(_name, f"GPT with d_model {_d}, 2 layers, trained for 300 steps of 16 windows on the same "
                  "batches as every other size: one size of Chapter 6's mini scaling study",
           "tlcourse.gpt:GPT", d_model=_d, **SCALING)(sotu_gpt)


@recipe("icl-gpt",
        "small GPT (2 layers, d_model 64) trained on a mixture of letter-mapping rules whose rule "
        "must be inferred from the prompt: Chapter 6's few-shot learner",
        "tlcourse.gpt:GPT",
        n_layer=2, n_head=4, d_model=64, n_shots=8, p_describe=0.25, batch_size=32, steps=1500,
        lr=3e-3, warmup=30, weight_decay=0.0, eval_every=100, seed=0)
def icl_gpt(params: dict, out: Path, progress: bool = True) -> dict:
    import random

    import torch

    from .. import gpt

    torch.manual_seed(params["seed"])
    torch.set_num_threads(1)
    rng = random.Random(params["seed"])
    n_ctx = 5 + (params["n_shots"] + 1) * 4        # "RULE:" + n_shots + 1 examples "x>y;"
    model = gpt.GPT(vocab_size=len(gpt.ICL_CHARS), n_ctx=n_ctx, n_layer=params["n_layer"],
                    n_head=params["n_head"], d_model=params["d_model"])
    probe = gpt.icl_examples(4, n=120, seed=params["seed"] + 1)
    hist = gpt.train(
        model, lambda step: gpt.icl_batch(rng, params["batch_size"], params["n_shots"], params["p_describe"]),
        params["steps"], params["lr"], warmup=params["warmup"], weight_decay=params["weight_decay"],
        eval_fn=lambda: gpt.icl_accuracy(model, probe, describe=False),
        eval_every=params["eval_every"], progress=progress, desc="icl-gpt")
    model.save_pretrained(out)
    return hist
