"""Chapter 2's recipes: word vectors pre-trained on the State of the Union corpus.

``sotu-sgns``: skip-gram with negative sampling (Mikolov et al. 2013) in PyTorch;
``sotu-glove``: GloVe (Pennington et al. 2014) on the corpus's co-occurrence counts. Both keep the
words seen at least ``min_count`` times and save a model with ``save_pretrained``.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..zoo import recipe


@recipe("sotu-sgns",
        "skip-gram with negative sampling, 50-d, trained on the State of the Union corpus",
        "tlcourse.embeddings:SkipGramNS", work=480,
        dim=50, window=5, negatives=5, min_count=5, sample=1e-3, epochs=3, batch_size=4096,
        lr=0.05, seed=0, steps=None)
def sotu_sgns(params: dict, out: Path, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from .. import embeddings as emb
    from ..text import Vocab

    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # the course's time budgets assume one thread (restored below)
    torch.manual_seed(params["seed"])
    rng = np.random.default_rng(params["seed"])
    sentences = emb.corpus_words()
    vocab = Vocab.build(sentences, min_count=params["min_count"], specials=())
    ids, sentence_of = emb.flatten(sentences, vocab)
    counts = np.bincount(ids, minlength=len(vocab))
    keep = emb.keep_probabilities(counts, params["sample"])
    noise = emb.noise_distribution(counts)                       # unigram^(3/4)
    model = emb.SkipGramNS(vocab.itos, params["dim"])

    def epoch_pairs():
        # word2vec's two tricks, drawn afresh every epoch: drop frequent words at random
        # (subsampling), and give each center a window drawn uniformly in 1..window
        kept = rng.random(len(ids)) < keep[ids]
        window = rng.integers(1, params["window"] + 1, int(kept.sum()))
        center, context = emb.skipgram_pairs(ids[kept], sentence_of[kept], window)
        order = torch.from_numpy(rng.permutation(len(center)))
        return torch.from_numpy(center)[order], torch.from_numpy(context)[order]

    B, K = params["batch_size"], params["negatives"]
    pairs = epoch_pairs()
    per_epoch = len(pairs[0]) // B
    n_steps = params["steps"] or params["epochs"] * per_epoch
    # word2vec's optimiser: plain SGD (sparse updates), the learning rate decayed linearly to ~0.
    # The loss is a mean over the batch, so the per-pair rate is multiplied by the batch size.
    opt = torch.optim.SGD(list(model.parameters()), lr=params["lr"] * B)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(1e-4, 1 - s / n_steps))
    hist = {"step": [], "loss": [], "pairs_per_epoch": len(pairs[0]), "vocab_size": len(vocab),
            "tokens": len(ids)}
    running, start = 0.0, time.perf_counter()
    model.train()
    for step in tqdm(range(n_steps), desc="sotu-sgns", disable=not progress):
        if step and step % per_epoch == 0:
            pairs = epoch_pairs()
        k = step % per_epoch
        center, context = pairs[0][k * B:(k + 1) * B], pairs[1][k * B:(k + 1) * B]
        negatives = torch.multinomial(noise, B * K, replacement=True).view(B, K)
        loss = model(center, context, negatives)
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
        running += loss.item()
        if (step + 1) % 50 == 0 or step + 1 == n_steps:
            n = (step % 50) + 1
            hist["step"].append(step + 1)
            hist["loss"].append(round(running / n, 4))
            running = 0.0
    hist["train_seconds"] = round(time.perf_counter() - start, 1)   # the training loop alone
    model.eval()
    model.save_pretrained(out)
    torch.set_num_threads(threads)
    return hist


@recipe("sotu-glove",
        "GloVe, 50-d, trained on the co-occurrence counts of the State of the Union corpus",
        "tlcourse.embeddings:GloVe", work=480,
        dim=50, window=10, min_count=5, x_max=10.0, alpha=0.75, epochs=10, batch_size=8192,
        lr=0.2, seed=0, steps=None)
def sotu_glove(params: dict, out: Path, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from .. import embeddings as emb
    from ..text import Vocab

    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # the course's time budgets assume one thread (restored below)
    torch.manual_seed(params["seed"])
    sentences = emb.corpus_words()
    vocab = Vocab.build(sentences, min_count=params["min_count"], specials=())
    ids, sentence_of = emb.flatten(sentences, vocab)
    X = emb.cooccurrence(ids, sentence_of, len(vocab), params["window"])        # sparse (V, V)
    rows, cols = torch.from_numpy(X.row.astype(np.int64)), torch.from_numpy(X.col.astype(np.int64))
    counts = torch.from_numpy(X.data.astype(np.float32))
    model = emb.GloVe(vocab.itos, params["dim"], params["x_max"], params["alpha"])
    # AdaGrad as in the paper; the loss is a mean over a batch of counts, so its rate is larger
    opt = torch.optim.Adagrad(list(model.parameters()), lr=params["lr"])

    B = params["batch_size"]
    per_epoch = (len(counts) + B - 1) // B
    n_steps = params["steps"] or params["epochs"] * per_epoch
    hist = {"step": [], "loss": [], "nonzero": len(counts), "vocab_size": len(vocab)}
    running, order, start = 0.0, None, time.perf_counter()
    model.train()
    for step in tqdm(range(n_steps), desc="sotu-glove", disable=not progress):
        if step % per_epoch == 0:
            order = torch.randperm(len(counts))                  # a new pass over the nonzero X_ij
        idx = order[(step % per_epoch) * B:(step % per_epoch + 1) * B]
        loss = model(rows[idx], cols[idx], counts[idx])
        opt.zero_grad()
        loss.backward()
        with torch.sparse.check_sparse_tensor_invariants(enable=False):   # explicit: no warning
            opt.step()
        running += loss.item()
        if (step + 1) % 50 == 0 or step + 1 == n_steps:
            hist["step"].append(step + 1)
            hist["loss"].append(round(running / ((step % 50) + 1), 5))
            running = 0.0
    hist["train_seconds"] = round(time.perf_counter() - start, 1)   # the training loop alone
    model.eval()
    model.save_pretrained(out)
    torch.set_num_threads(threads)
    return hist
