"""Chapter 5's recipe: a tiny BERT pre-trained on the State of the Union corpus (MLM + NSP)."""
from __future__ import annotations

from pathlib import Path

from ..zoo import recipe


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

