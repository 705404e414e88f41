"""Chapter 7's recipes: a tiny T5 pre-trained with span corruption on the State of the Union
corpus, then fine-tuned on three tasks at once; and the teacher of the distillation experiment,
the real all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes.

Everything is sized for one CPU thread: the chapter's recipes together take a few minutes.

The T5 recipes use T5's optimizer, Adafactor (Shazeer & Stern, 2018), at T5's learning rate of
0.01: its step for each weight matrix is relative to the matrix's own scale. T5 initialises its
embedding table with unit variance, and Adam at a small learning rate barely moves such large
weights in a few hundred steps; Adafactor moves them as fast as everything else.
"""
from __future__ import annotations

from pathlib import Path

from ..zoo import RECIPES, recipe

TASK_PREFIXES = {"sentiment": "sentiment", "party": "party", "year": "year"}
SENTIMENT = ("negative", "positive")          # the answers for label 0 and label 1


@recipe("t5-tiny-sotu",
        "A tiny T5 (transformers' T5ForConditionalGeneration, 2+2 layers, d_model 64) with its own "
        "Unigram vocabulary, pre-trained with span corruption on the training speeches of the corpus",
        "transformers:T5ForConditionalGeneration",
        vocab_size=4000, n_sentinels=32, tokenizer_sentences=8_000, tokenizer_reviews=4_000,
        d_model=64, d_ff=256, num_layers=2, num_heads=4, chunk=64, noise_density=0.15,
        mean_span_length=3.0, batch_size=64, steps=300, lr=1e-2, seed=0)
def t5_tiny_sotu(params: dict, out: Path, progress: bool = True) -> dict:
    import time

    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import T5Config, T5ForConditionalGeneration

    from .. import data, t5

    torch.set_num_threads(1)            # one thread: the budget and the timings are per thread
    torch.manual_seed(params["seed"])
    rng = np.random.default_rng(params["seed"])
    start = time.process_time()
    # The vocabulary: mostly corpus sentences, plus reviews and the fine-tuning tasks' answers, as
    # T5's vocabulary covered the languages of its tasks. Only the training speeches are read.
    texts = t5.pretraining_texts()
    sentences = [s for text in texts for s in data.split_sentences(text)]
    train = data.rotten_tomatoes("train")
    reviews = train["text"].tolist()
    picked = rng.permutation(len(reviews))[:params["tokenizer_reviews"]]
    sample = ([sentences[i] for i in rng.permutation(len(sentences))[:params["tokenizer_sentences"]]]
              + [reviews[i] for i in picked]
              + [SENTIMENT[y] for y in train["label"].to_numpy()[picked]])
    tokenizer = t5.train_tokenizer(sample, params["vocab_size"], params["n_sentinels"])
    tokenizer_seconds = time.process_time() - start

    # The pre-training stream: the training speeches and the text of the training reviews (no
    # labels), in a random order, tokenized, concatenated and cut into chunks of `chunk` tokens,
    # as T5 packs C4. Each chunk is seen once: we tokenize only as many documents as we need.
    documents = [(texts + reviews)[i] for i in rng.permutation(len(texts) + len(reviews))]
    needed, pieces, n = params["steps"] * params["batch_size"] * params["chunk"], [], 0
    for first in range(0, len(documents), 64):
        new = [np.array(x[:-1]) for x in tokenizer(documents[first:first + 64])["input_ids"]]
        pieces += new
        n += sum(len(p) for p in new)
        if n >= needed:
            break
    ids = np.concatenate(pieces)
    chunks = ids[:len(ids) // params["chunk"] * params["chunk"]].reshape(-1, params["chunk"])
    sentinels = t5.sentinel_ids(tokenizer)

    config = T5Config(vocab_size=len(tokenizer), d_model=params["d_model"],
                      d_kv=params["d_model"] // params["num_heads"], d_ff=params["d_ff"],
                      num_layers=params["num_layers"], num_decoder_layers=params["num_layers"],
                      num_heads=params["num_heads"], dropout_rate=0.0, feed_forward_proj="relu",
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    model = T5ForConditionalGeneration(config)
    opt = torch.optim.Adafactor(model.parameters(), lr=params["lr"])   # T5's: see the docstring
    order = rng.permutation(len(chunks))
    eos = tokenizer.eos_token_id
    hist = {"step": [], "loss": [], "cpu_seconds": []}
    model.train()
    for step in tqdm(range(params["steps"]), desc="t5 pre-training", disable=not progress):
        pairs = [t5.span_corrupt(chunks[i].tolist(), params["noise_density"], params["mean_span_length"],
                                 sentinels=sentinels.__getitem__, rng=rng)
                 for i in order[step * params["batch_size"]:(step + 1) * params["batch_size"]]]
        # every chunk has the same length, so every corrupted input (and target) has too: no padding
        inputs = torch.tensor([i + [eos] for i, _ in pairs])       # (B, chunk - noise + spans + 1)
        labels = torch.tensor([t + [eos] for _, t in pairs])       # (B, noise + spans + 1)
        loss = model(input_ids=inputs, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist["step"].append(step)
        hist["loss"].append(round(loss.item(), 4))
        hist["cpu_seconds"].append(round(time.process_time() - start, 2))
    hist.update(tokens_seen=int(params["steps"] * params["batch_size"] * params["chunk"]),
                tokenizer_cpu_seconds=round(tokenizer_seconds, 2))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return hist


def multitask_pairs(split: str, max_words: int = 30) -> dict[str, list[tuple[str, str]]]:
    """The three fine-tuning tasks as (source, target) text pairs, each source with its prefix."""
    from .. import data, t5

    reviews = data.rotten_tomatoes(split)
    tasks = {"sentiment": [(text, SENTIMENT[y]) for text, y in zip(reviews["text"], reviews["label"])]}
    tasks.update(t5.corpus_tasks("train" if split == "train" else "test", max_words))
    return {name: [t5.to_text_to_text(TASK_PREFIXES[name], x, y) for x, y in pairs]
            for name, pairs in tasks.items()}


@recipe("t5-tiny-multitask-scratch",
        "The tiny T5's architecture and vocabulary fine-tuned on the same three tasks from random "
        "weights: the baseline that shows what pre-training brings",
        "transformers:T5ForConditionalGeneration", init="scratch",
        pretrained=RECIPES["t5-tiny-sotu"].key, steps=240, per_task=32, lr=1e-2, max_source=48,
        seed=0)
@recipe("t5-tiny-multitask",
        "The pre-trained tiny T5 fine-tuned on three tasks at once, each written as text with a "
        "prefix: review sentiment, the party of a speech's president, the year of a speech",
        "transformers:T5ForConditionalGeneration", init="pretrained",
        pretrained=RECIPES["t5-tiny-sotu"].key, steps=240, per_task=32, lr=1e-2, max_source=48,
        seed=0)
def t5_tiny_multitask(params: dict, out: Path, progress: bool = True) -> dict:
    import time

    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import PreTrainedTokenizerFast, T5ForConditionalGeneration

    from .. import t5, zoo

    torch.set_num_threads(1)            # one thread: the budget and the timings are per thread
    torch.manual_seed(params["seed"])
    rng = np.random.default_rng(params["seed"])
    start = time.process_time()
    base = zoo.build("t5-tiny-sotu", progress=progress)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    model = T5ForConditionalGeneration.from_pretrained(base)
    if params["init"] == "scratch":          # same architecture and vocabulary, random weights
        model = T5ForConditionalGeneration(model.config)
    tasks = multitask_pairs("train")
    names = sorted(tasks)
    opt = torch.optim.Adafactor(model.parameters(), lr=params["lr"])
    hist = {"step": [], "loss": [], "cpu_seconds": []} | {f"loss_{n}": [] for n in names}
    model.train()
    for step in tqdm(range(params["steps"]), desc=f"t5 multi-task ({params['init']})",
                     disable=not progress):
        # Equal mixing: every batch holds `per_task` examples of each task.
        pairs = [tasks[n][i] for n in names for i in rng.integers(0, len(tasks[n]), params["per_task"])]
        batch = t5.collate_pairs(*t5.tokenize_pairs(tokenizer, pairs, params["max_source"]),
                                 pad_id=tokenizer.pad_token_id)
        logits = model(**batch).logits                                   # (B, T_out, vocab)
        token_loss = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), batch["labels"], ignore_index=-100, reduction="none")
        per_example = token_loss.sum(1) / (batch["labels"] != -100).sum(1)
        loss = token_loss.sum() / (batch["labels"] != -100).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist["step"].append(step)
        hist["loss"].append(round(loss.item(), 4))
        for k, n in enumerate(names):
            hist[f"loss_{n}"].append(round(per_example[k * params["per_task"]:(k + 1) * params["per_task"]]
                                           .mean().item(), 4))
        hist["cpu_seconds"].append(round(time.process_time() - start, 2))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return hist


@recipe("minilm-rt-teacher",
        "The real all-MiniLM-L6-v2 (6 layers, hidden 384) with a classification head "
        "(BertForSequenceClassification), fine-tuned on Rotten Tomatoes: the teacher of the "
        "distillation experiment",
        "transformers:BertForSequenceClassification", work=150,
        n_train=2048, epochs=1, batch_size=32, lr=1e-4, max_length=64, seed=0)
def minilm_rt_teacher(params: dict, out: Path, progress: bool = True) -> dict:
    import time

    import numpy as np
    import torch
    from transformers import BertForSequenceClassification

    from .. import data
    from ..bert import encode_texts
    from ..distillation import train_classifier

    torch.set_num_threads(1)            # one thread: the budget and the timings are per thread
    torch.manual_seed(params["seed"])
    start = time.process_time()
    tokenizer = data.minilm_tokenizer()
    train = data.rotten_tomatoes("train")
    rows = np.random.default_rng(params["seed"]).permutation(len(train))[:params["n_train"]]
    teacher = BertForSequenceClassification.from_pretrained(
        data.minilm_dir(), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1})
    # The 30,522 x 384 word embeddings (half the parameters) stay as pre-trained: it halves the
    # optimizer's work and a few thousand reviews could not improve them much anyway.
    teacher.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    ids = encode_texts(tokenizer, train["text"].iloc[rows], params["max_length"])
    hist = train_classifier(teacher, ids, train["label"].to_numpy()[rows], epochs=params["epochs"],
                            batch_size=params["batch_size"], lr=params["lr"], seed=params["seed"],
                            pad_id=tokenizer.pad_token_id, progress=progress, desc="teacher fine-tuning")
    hist.update(train_rows=rows.tolist(), cpu_seconds=round(time.process_time() - start, 1))
    teacher.save_pretrained(out)
    return hist


# The distillation experiment's two students. Both are DistilBERT's student: every other layer of
# the *pre-trained* MiniLM (3 of 6), a fresh classification head, the word embeddings frozen as for
# the teacher. Both are fine-tuned on the same `n_labelled` reviews that the teacher never saw.
# The distilled one first learns from the teacher alone, on `n_unlabelled` further reviews whose
# labels it never sees (soft targets at temperature T, as DistilBERT distils on unlabelled text),
# then fine-tunes with the distillation loss; the plain one fine-tunes on the labels only.
STUDENT = dict(teacher=RECIPES["minilm-rt-teacher"].key, student_layers=3, n_labelled=500,
               n_unlabelled=4000, epochs=3, T=2.0, alpha=0.5, batch_size=32, lr=1e-4,
               max_length=64, seed=0)


def _student_rows(n_train: int, teacher_rows, n_labelled: int, n_unlabelled: int, seed: int):
    """Training rows the teacher never saw: (labelled, unlabelled), disjoint, fixed by the seed."""
    import numpy as np

    seen = set(teacher_rows)
    free = np.array([i for i in np.random.default_rng(seed + 1).permutation(n_train) if i not in seen])
    return free[:n_labelled], free[n_labelled:n_labelled + n_unlabelled]


@recipe("distil-student-plain",
        "A 3-layer student made of every other layer of the pre-trained MiniLM, fine-tuned on 500 "
        "labelled reviews without a teacher: the baseline of Chapter 7's distillation experiment",
        "transformers:BertForSequenceClassification", work=40, distill=False, **STUDENT)
@recipe("distil-student",
        "The same 3-layer student, distilled from the fine-tuned MiniLM teacher on 4,000 unlabelled "
        "reviews (soft targets only), then fine-tuned on the same 500 labelled reviews with the "
        "distillation loss: Chapter 7's DistilBERT",
        "transformers:BertForSequenceClassification", work=200, distill=True, **STUDENT)
def distil_student(params: dict, out: Path, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from transformers import BertForSequenceClassification

    from .. import data, zoo
    from ..bert import encode_texts
    from ..distillation import predict_logits, student_from_teacher, train_classifier

    torch.set_num_threads(1)
    torch.manual_seed(params["seed"])
    tokenizer = data.minilm_tokenizer()
    train = data.rotten_tomatoes("train")
    labelled, unlabelled = _student_rows(len(train), zoo.history("minilm-rt-teacher")["train_rows"],
                                         params["n_labelled"], params["n_unlabelled"], params["seed"])
    texts, labels = train["text"].to_numpy(), train["label"].to_numpy()
    base = BertForSequenceClassification.from_pretrained(
        data.minilm_dir(), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1})
    student = student_from_teacher(base, params["student_layers"])
    student.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    common = dict(batch_size=params["batch_size"], lr=params["lr"], pad_id=tokenizer.pad_token_id,
                  progress=progress)
    ids_l = encode_texts(tokenizer, texts[labelled], params["max_length"])
    hist = {"labelled_rows": labelled.tolist(), "unlabelled_rows": unlabelled.tolist()}
    if params["distill"]:
        teacher = zoo.load("minilm-rt-teacher")
        ids_u = encode_texts(tokenizer, texts[unlabelled], params["max_length"])
        soft_u = predict_logits(teacher, ids_u, pad_id=tokenizer.pad_token_id)
        # alpha = 1: the soft targets alone; the labels passed are never used
        hist["distill"] = train_classifier(student, ids_u, np.zeros(len(ids_u), dtype=np.int64),
                                           teacher_logits=soft_u, T=params["T"], alpha=1.0, epochs=1,
                                           seed=params["seed"], desc="distilling (no labels)", **common)
        soft_l = predict_logits(teacher, ids_l, pad_id=tokenizer.pad_token_id)
        hist["fine_tune"] = train_classifier(student, ids_l, labels[labelled], teacher_logits=soft_l,
                                             T=params["T"], alpha=params["alpha"], epochs=params["epochs"],
                                             seed=params["seed"], desc="fine-tuning, distilled", **common)
    else:
        hist["fine_tune"] = train_classifier(student, ids_l, labels[labelled], epochs=params["epochs"],
                                             seed=params["seed"], desc="fine-tuning, plain", **common)
    student.save_pretrained(out)
    return hist
