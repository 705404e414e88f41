"""Chapter 5's recipes: a tiny BERT pre-trained on the State of the Union corpus (MLM + NSP), and
the label-budget experiment that measures what that pre-training buys on Rotten Tomatoes."""
from __future__ import annotations

from pathlib import Path

from ..zoo import RECIPES, recipe

# The 3-layer BERT of the label-budget experiment, by its two initialisations.
SMALL_SCRATCH, SMALL_PRE = "3-layer BERT, from scratch", "3-layer BERT, from MiniLM's layers"
SMALL_SCRATCH_LR = 1e-3


@recipe("tiny-bert",
        "A tiny BERT (transformers' BertForPreTraining: 2 layers, hidden 128) with its own 4,096-token "
        "WordPiece vocabulary, pre-trained with masked-LM and next-sentence prediction on the State "
        "of the Union addresses (20 held out): Chapter 5's pre-training and transfer experiments",
        "transformers:BertForPreTraining",
        vocab_size=4096, hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512,
        max_len=64, batch_size=32, steps=850, lr=2e-3, warmup=0.05, weight_decay=0.01,
        held_out=20, eval_every=170, eval_examples=512, seed=0)
def tiny_bert(params: dict, out: Path, progress: bool = True) -> dict:
    import random

    import torch
    from tqdm.auto import tqdm
    from transformers import BertConfig, BertForPreTraining

    from .. import bert

    torch.set_num_threads(1)          # small matrices: one thread is fastest, and fair to a shared CPU
    torch.manual_seed(params["seed"])
    rng = random.Random(params["seed"])
    train_docs, test_docs, held_out_rows = bert.sotu_documents(params["held_out"], params["seed"])
    # The vocabulary is learned from the training addresses only (the same ids on every run).
    tokenizer = bert.train_wordpiece([s for d in train_docs for s in d], params["vocab_size"])
    train_ids = bert.tokenize_documents(tokenizer, train_docs)
    test_examples = bert.nsp_examples(bert.tokenize_documents(tokenizer, test_docs),
                                      random.Random(params["seed"] + 1))
    test_examples = random.Random(params["seed"] + 2).sample(test_examples, params["eval_examples"])

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=params["hidden_size"],
                        num_hidden_layers=params["num_layers"], num_attention_heads=params["num_heads"],
                        intermediate_size=params["intermediate_size"],
                        max_position_embeddings=params["max_len"], pad_token_id=tokenizer.pad_token_id,
                        # no dropout while pre-training: one pass over the corpus cannot overfit
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForPreTraining(config)
    # Start the output layer at the unigram distribution (its bias = log token frequencies), so
    # the first steps go to using the context rather than to learning how common "the" is.
    counts = torch.bincount(torch.tensor([t for d in train_ids for s in d for t in s]),
                            minlength=len(tokenizer)).float() + 1
    with torch.no_grad():
        model.cls.predictions.bias.copy_(counts.log() - counts.sum().log())
    opt = bert.make_optimizer(model, params["lr"], params["weight_decay"])
    steps = params["steps"]
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: bert.warmup_linear(s, max(1, int(params["warmup"] * steps)), steps))
    g = torch.Generator().manual_seed(params["seed"])

    def evaluate(step):
        result = bert.evaluate_pretraining(model, tokenizer, test_examples, params["max_len"], seed=0)
        hist["eval_step"].append(step)
        for k in ("mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"):
            hist[f"eval_{k}"].append(round(result[k], 4))

    keys = ("mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy")
    hist = {"step": [], **{k: [] for k in keys}, "eval_step": [],
            **{f"eval_{k}": [] for k in keys}, "tokens": 0}
    examples, pos = [], 0
    model.train()
    for step in tqdm(range(steps), desc="tiny-bert", disable=not progress):
        if pos + params["batch_size"] > len(examples):        # a new epoch: fresh NSP pairs
            examples, pos = bert.nsp_examples(train_ids, rng), 0
            rng.shuffle(examples)
        batch = bert.pretraining_batch(examples[pos:pos + params["batch_size"]], tokenizer,
                                       params["max_len"], g)
        pos += params["batch_size"]
        outputs = bert.pretraining_outputs(model, batch)
        opt.zero_grad()
        outputs["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        hist["step"].append(step)
        hist["tokens"] += int(batch["attention_mask"].sum())
        for k in keys:
            value = outputs[k].item() if torch.is_tensor(outputs[k]) else outputs[k]
            hist[k].append(round(value, 4))
        if (step + 1) % params["eval_every"] == 0 or step + 1 == steps:
            evaluate(step + 1)
    hist["held_out_rows"] = held_out_rows
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return hist


@recipe("bert-transfer",
        "Chapter 5's label-budget experiment on Rotten Tomatoes: TF-IDF + logistic regression; the "
        "tiny BERT fine-tuned from scratch and from its pre-trained weights; a 3-layer BERT made of "
        "every other layer of MiniLM (DistilBERT's initialisation) fine-tuned from scratch and from "
        "those weights; frozen MiniLM + logistic regression; for several label budgets and seeds. "
        "Keeps, per method and budget, which test reviews each got right",
        "transformers:BertForSequenceClassification", work=900,        # 26 fine-tunings: 15 minutes
        budgets=[100, 500, 2000], seeds={"100": [0, 1, 2], "500": [0, 1, 2], "2000": [0]},
        lr=1e-3, epochs=3, min_steps=50, dropout=0.1, max_len=64, shuffle_seed=0,
        small_layers=3, small_budgets=[100, 500], small_lr=1e-4, small_scratch_lr=SMALL_SCRATCH_LR,
        source=RECIPES["tiny-bert"].key)
def bert_transfer(params: dict, out: Path, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from tqdm.auto import tqdm
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

    from .. import bert, data, distillation, zoo

    torch.set_num_threads(1)
    pretrained = zoo.build("tiny-bert")
    tok = BertTokenizer.from_pretrained(pretrained)
    rt_train, rt_test = data.rotten_tomatoes("train"), data.rotten_tomatoes("test")
    budgets = params["budgets"]
    # The first n reviews of one fixed shuffle of the training set: every budget extends the last.
    order = np.random.default_rng(params["shuffle_seed"]).permutation(len(rt_train))[:max(budgets)]
    texts, y = rt_train.text.to_numpy()[order], rt_train.label.to_numpy()[order]
    test_texts, y_test = rt_test.text.tolist(), rt_test.label.to_numpy()
    rows_train = bert.encode_texts(tok, list(texts), params["max_len"])
    rows_test = bert.encode_texts(tok, test_texts, params["max_len"])

    def fine_tuned_right(n, from_pretrained, seed):
        """Fine-tune a tiny BERT on the first n labelled reviews: 1 or 0 per test review."""
        torch.manual_seed(seed)             # the new layer's initialisation (and, from scratch, all of it)
        if from_pretrained:
            clf = BertForSequenceClassification.from_pretrained(
                pretrained, num_labels=2, hidden_dropout_prob=params["dropout"])
        else:
            clf = BertForSequenceClassification(BertConfig.from_pretrained(
                pretrained, num_labels=2, hidden_dropout_prob=params["dropout"]))
        bert.fine_tune(clf, rows_train[:n], y[:n], tok.pad_token_id, lr=params["lr"],
                       epochs=params["epochs"], min_steps=params["min_steps"], seed=seed)
        return (bert.predict(clf, rows_test, tok.pad_token_id).numpy() == y_test).astype(float)

    minilm, minilm_tok = data.minilm(), data.minilm_tokenizer()

    def minilm_features(batch_texts, batch_size=64):
        """Mean of MiniLM's output vectors over each text's tokens (how all-MiniLM-L6-v2 embeds a text)."""
        by_length = np.argsort([len(t) for t in batch_texts])      # similar lengths: less padding
        feats = np.zeros((len(batch_texts), minilm.config.hidden_size), dtype=np.float32)
        with torch.no_grad():
            for k in range(0, len(batch_texts), batch_size):
                idx = by_length[k:k + batch_size]
                enc = minilm_tok([batch_texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=params["max_len"], return_tensors="pt")
                m = enc.attention_mask[..., None].float()
                feats[idx] = ((minilm(**enc).last_hidden_state * m).sum(1) / m.sum(1)).numpy()
        return feats

    # DistilBERT's initialisation: a student made of every other layer of its teacher (here 3 of
    # MiniLM's 6, with its embeddings), fine-tuned like BERT but on the mean of its output vectors.
    small = distillation.student_from_teacher(minilm, params["small_layers"])
    small_train = bert.encode_texts(minilm_tok, list(texts), params["max_len"])
    small_test = bert.encode_texts(minilm_tok, test_texts, params["max_len"])

    def small_right(n, from_pretrained, seed):
        """Fine-tune the 3-layer BERT on the first n labelled reviews: 1 or 0 per test review."""
        torch.manual_seed(seed)
        encoder = BertModel(small.config, add_pooling_layer=False)         # random weights ...
        if from_pretrained:                                                 # ... or MiniLM's
            encoder.load_state_dict(small.state_dict(), strict=False)
        clf = bert.MeanPoolClassifier(encoder, dropout=params["dropout"])
        bert.fine_tune(clf, small_train[:n], y[:n], minilm_tok.pad_token_id,
                       lr=params["small_lr" if from_pretrained else "small_scratch_lr"],
                       epochs=params["epochs"], min_steps=params["min_steps"], seed=seed)
        return (bert.predict(clf, small_test, minilm_tok.pad_token_id).numpy() == y_test).astype(float)

    x_minilm, x_minilm_test = minilm_features(list(texts)), minilm_features(test_texts)
    right = {"TF-IDF + logistic regression": {}, "tiny BERT, from scratch": {},
             "tiny BERT, pre-trained": {}, SMALL_SCRATCH: {}, SMALL_PRE: {},
             "MiniLM frozen + logistic regression": {}}
    def jobs(ns):
        return [(n, p, s) for n in ns for p in (False, True) for s in params["seeds"][str(n)]]

    runs = {}
    for n, from_pretrained, seed in tqdm(jobs(budgets), desc="bert-transfer (tiny BERT)", disable=not progress):
        runs["tiny", n, from_pretrained, seed] = fine_tuned_right(n, from_pretrained, seed)
    # The 3-layer BERT costs ten times the tiny one per step: the small budgets only, where the
    # question is asked (2,000 labels would add minutes to the build for the least telling budget).
    for n, from_pretrained, seed in tqdm(jobs(params["small_budgets"]), desc="bert-transfer (3-layer BERT)",
                                         disable=not progress):
        runs["small", n, from_pretrained, seed] = small_right(n, from_pretrained, seed)
    for n in budgets:
        tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        lr = LogisticRegression(max_iter=2000).fit(tfidf.fit_transform(texts[:n]), y[:n])
        right["TF-IDF + logistic regression"][n] = lr.predict(tfidf.transform(test_texts)) == y_test
        for model, from_pretrained, name in [("tiny", False, "tiny BERT, from scratch"),
                                             ("tiny", True, "tiny BERT, pre-trained"),
                                             ("small", False, SMALL_SCRATCH), ("small", True, SMALL_PRE)]:
            seeds = params["seeds"][str(n)]
            if (model, n, from_pretrained, seeds[0]) in runs:       # (the 3-layer BERT: small budgets)
                # per test review, the share of seeds that got it right
                right[name][n] = np.mean([runs[model, n, from_pretrained, s] for s in seeds], axis=0)
        probe = LogisticRegression(max_iter=2000).fit(x_minilm[:n], y[:n])
        right["MiniLM frozen + logistic regression"][n] = probe.predict(x_minilm_test) == y_test
    return {"right": {m: {str(n): np.asarray(v, dtype=float).tolist() for n, v in by_n.items()}
                      for m, by_n in right.items()},
            "test_labels": y_test.tolist(), "train_size": len(rt_train)}
