"""Where an assignment's reference solution and the course library implement the same function,
the two agree on seeded inputs: the solution's answer cells (executed after the setup cell, as a
student's notebook runs them) against the library function the page and the zoo use.

The library is the side that stays (the zoo's cache keys hash its source); a disagreement is
fixed in the solution. Random functions are compared under the same seed where both draw the
same numbers (masking, NSP examples); span corruption draws from different generators in the two,
so what the task fixes is compared instead (how many tokens and spans are corrupted, what the
corruption keeps). Timings (Chapter 7's latency) are not compared, nor answers whose library
counterpart has another signature or purpose (Chapter 6's `build_prompt` and `gpt.icl_prompt`).
"""
import copy
import functools
import random

import numpy as np
import pytest
import torch
from torch import nn

from autograder import assignment as model
from tlcourse import bert, distillation, embeddings, t5, ulmfit, vision

SEEDS = range(5)


@functools.lru_cache(maxsize=None)
def solution(assignment: str) -> dict:
    """The namespace of the source notebook's setup and answer cells (no test cell run)."""
    ns = {"__name__": "solution"}
    for cell in model.of(assignment).cells:
        if cell.kind in ("setup", "answer"):
            exec(compile(cell.source, f"<{assignment} {cell.id}>", "exec"), ns)
    return ns


def same(ours, theirs, what: str) -> None:
    """Equal values: tensors of the same shape and dtype, equal to float precision."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"{what}: {type(ours).__name__}, not a tensor"
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, \
            f"{what}: {ours.dtype} {tuple(ours.shape)} vs {theirs.dtype} {tuple(theirs.shape)}"
        assert torch.allclose(ours.double(), theirs.double(), rtol=1e-5, atol=1e-6), what
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), f"{what}: {len(ours)} items vs {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, f"{what}[{i}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), what
    else:
        assert ours == theirs, f"{what}: {ours!r} vs {theirs!r}"


def _groups(groups, model_or_names) -> list:
    """Optimizer groups as comparable values: (lr, the names or positions of their parameters)."""
    names = {id(p): n for n, p in model_or_names}
    return [(g["lr"], [names[id(p)] for p in g["params"]]) for g in groups]


# --------------------------------------------------------------------------- Chapter 1
@pytest.mark.parametrize("seed", SEEDS)
def test_01_transfer_learning_head_freezing_and_groups(seed):
    S = solution("01_transfer_learning")
    torch.manual_seed(seed)
    model = vision.ResNet(widths=(4, 8, 8), num_classes=10)
    ours, theirs = copy.deepcopy(model), copy.deepcopy(model)
    torch.manual_seed(seed + 100)
    S["replace_head"](ours, 3)
    torch.manual_seed(seed + 100)
    vision.replace_head(theirs, 3)
    same(list(ours.state_dict().values()), list(theirs.state_dict().values()), "replace_head")
    ours.train(), theirs.train()
    same(S["freeze_backbone"](ours), vision.freeze_backbone(theirs), "freeze_backbone's count")
    same([p.requires_grad for p in ours.parameters()], [p.requires_grad for p in theirs.parameters()],
         "requires_grad after freeze_backbone")
    same([m.training for m in ours.modules()], [m.training for m in theirs.modules()],
         "training modes after freeze_backbone")
    same(_groups(S["param_groups"](ours, 1e-2, 1e-4), ours.named_parameters()),
         _groups(vision.param_groups(theirs, 1e-2, 1e-4), theirs.named_parameters()), "param_groups")


# --------------------------------------------------------------------------- Chapter 2
@pytest.mark.parametrize("seed", SEEDS)
def test_02_word_embeddings_losses_and_noise(seed):
    S = solution("02_word_embeddings")
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(1, 10_000, (50,), generator=g)
    for power in (0.75, 1.0, 0.5):
        same(S["noise_distribution"](counts, power), embeddings.noise_distribution(counts, power),
             f"noise_distribution(power={power})")
    v, u_pos, u_neg = (torch.randn(*shape, generator=g) for shape in [(8, 5), (8, 5), (8, 4, 5)])
    same(S["sgns_loss"](v, u_pos, u_neg), embeddings.sgns_loss(v, u_pos, u_neg), "sgns_loss")
    x = torch.rand(16, generator=g) * 300 + 0.5
    w_i, w_j = torch.randn(16, 5, generator=g), torch.randn(16, 5, generator=g)
    b_i, b_j = torch.randn(16, generator=g), torch.randn(16, generator=g)
    for x_max, alpha in [(100.0, 0.75), (10.0, 0.5)]:
        same(S["glove_weight"](x, x_max, alpha), embeddings.glove_weight(x, x_max, alpha), "glove_weight")
        same(S["glove_loss"](w_i, w_j, b_i, b_j, x, x_max, alpha),
             embeddings.glove_loss(w_i, w_j, b_i, b_j, x, x_max, alpha), "glove_loss")


# --------------------------------------------------------------------------- Chapter 3
def test_03_elmo_ulmfit_stlr():
    S = solution("03_elmo_ulmfit")
    for T, cut_frac, ratio in [(100, 0.1, 32), (1000, 0.2, 10), (37, 0.3, 8)]:
        same([S["stlr"](t, T, 0.01, cut_frac, ratio) for t in range(T)],
             [ulmfit.stlr(t, T, 0.01, cut_frac, ratio) for t in range(T)], f"stlr(T={T})")


@pytest.mark.parametrize("seed", SEEDS)
def test_03_elmo_ulmfit_pooling_and_groups(seed):
    S = solution("03_elmo_ulmfit")
    g = torch.Generator().manual_seed(seed)
    outputs = torch.randn(6, 9, 4, generator=g)
    lengths = torch.randint(1, 10, (6,), generator=g)
    same(S["concat_pool"](outputs, lengths), ulmfit.concat_pool(outputs, lengths), "concat_pool")
    params = [nn.Parameter(torch.zeros(1)) for _ in range(7)]
    layer_groups = [params[:2], params[2:3], params[3:6], params[6:]]
    named = [(i, p) for i, p in enumerate(params)]
    same(_groups(S["discriminative_param_groups"](layer_groups, 0.01, 2.6), named),
         _groups(ulmfit.discriminative_groups(layer_groups, 0.01, 2.6), named),
         "discriminative_param_groups")


# --------------------------------------------------------------------------- Chapter 5
@pytest.mark.parametrize("seed", SEEDS)
def test_05_bert_mask_tokens(seed):
    S = solution("05_bert")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 60, (8, 24), generator=g)
    ids[:, 0], ids[:, 12], ids[:, -3:] = 2, 3, 0           # [CLS], [SEP], padding
    for p in (0.15, 0.4):
        torch.manual_seed(seed)
        ours = S["mask_tokens"](ids.clone(), 60, [0, 1, 2, 3, 4], 4, p)
        torch.manual_seed(seed)
        theirs = bert.mask_tokens(ids.clone(), 60, [0, 1, 2, 3, 4], 4, p)
        same(ours, theirs, f"mask_tokens(mlm_probability={p})")


@pytest.mark.parametrize("seed", SEEDS)
def test_05_bert_nsp_pairs_and_mlm_loss(seed):
    S = solution("05_bert")
    rng = random.Random(seed)
    docs = [[f"d{d}s{i}" for i in range(rng.randint(1, 7))] for d in range(rng.randint(2, 8))]
    same(S["make_nsp_examples"](docs, seed), bert.nsp_examples(docs, random.Random(seed)),
         "make_nsp_examples")
    for n_a, n_b, max_len in [(3, 7, 16), (10, 2, 9), (5, 5, 8), (20, 30, 40), (0, 4, 7)]:
        a, b = list(range(100, 100 + n_a)), list(range(200, 200 + n_b))
        same(S["encode_pair"](list(a), list(b), max_len, 1, 2), bert.encode_pair(list(a), list(b), max_len, 1, 2),
             f"encode_pair({n_a}, {n_b}, {max_len})")
    g = torch.Generator().manual_seed(seed)
    logits, labels = torch.randn(3, 5, 11, generator=g), torch.randint(0, 11, (3, 5), generator=g)
    labels[torch.rand(3, 5, generator=g) < 0.5] = -100
    labels[0, 0] = 4
    same(S["mlm_loss_and_accuracy"](logits, labels), bert.mlm_loss_and_accuracy(logits, labels),
         "mlm_loss_and_accuracy")


# --------------------------------------------------------------------------- Chapter 7
def _spans(inputs, targets):
    sentinels = [t for t in inputs if t.startswith("<extra_id_")]
    return len(sentinels), len([t for t in targets if not t.startswith("<extra_id_")])


@pytest.mark.parametrize("seed", SEEDS)
def test_07_t5_distilbert_span_corruption_corrupts_what_the_library_does(seed):
    S = solution("07_t5_distilbert")
    rng = random.Random(seed)
    for _ in range(20):
        # densities up to 1/2: there are always enough kept tokens to keep the spans apart (above,
        # the library caps the number of spans; the task text leaves that case open)
        n = rng.randint(2, 60)
        density, mean = rng.choice([0.15, 0.3, 0.5]), rng.choice([1.0, 2.0, 3.0, 5.0])
        n_noise, n_spans = t5.noise_span_counts(n, density, mean)
        tokens = [f"w{i}" for i in range(n)]
        random.seed(seed)
        ours = S["span_corrupt"](tokens, density, mean)
        theirs = t5.span_corrupt(tokens, density, mean, rng=np.random.default_rng(seed))
        assert _spans(*ours) == _spans(*theirs) == (n_spans, n_noise), (n, density, mean)
        for inputs, targets in (ours, theirs):
            assert t5.uncorrupt(inputs, targets, lambda t: t.startswith("<extra_id_")) == tokens
            assert targets[-1] == t5.sentinel(n_spans)


@pytest.mark.parametrize("seed", SEEDS)
def test_07_t5_distilbert_text_to_text_distillation_and_students(seed):
    S = solution("07_t5_distilbert")
    for prefix, text, label in [("sst2", "a  fine\tfilm \n", "positive"), ("party", "We the people", None),
                                ("year", " 1861 ", 1861)]:
        same(S["to_text_to_text"](prefix, text, label), t5.to_text_to_text(prefix, text, label),
             "to_text_to_text")
    for generated in ["<pad> positive</s>", " Negative ", "neutral", "positive negative", "</s>", ""]:
        same(S["parse_label"](generated, ["positive", "negative"]),
             t5.parse_label(generated, ["positive", "negative"]), f"parse_label({generated!r})")
    g = torch.Generator().manual_seed(seed)
    s, t, y = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g), torch.randint(0, 3, (6,), generator=g)
    for T, alpha in [(2.0, 0.5), (1.0, 0.9), (4.0, 0.0)]:
        same(S["distillation_loss"](s, t, y, T, alpha), distillation.distillation_loss(s, t, y, T, alpha),
             f"distillation_loss(T={T}, alpha={alpha})")
    teacher = {"bert.embeddings.word_embeddings.weight": torch.randn(7, 4, generator=g),
               **{f"bert.encoder.layer.{i}.{k}": torch.randn(4, 4, generator=g)
                  for i in range(6) for k in ("attention.self.query.weight", "output.dense.bias")},
               "bert.pooler.dense.weight": torch.randn(4, 4, generator=g),
               "classifier.weight": torch.randn(2, 4, generator=g)}
    for layers in (1, 2, 3, 6):
        ours = S["init_student_from_teacher"](teacher, layers)
        theirs = distillation.init_student_from_teacher(teacher, layers)
        assert sorted(ours) == sorted(theirs), f"init_student_from_teacher({layers}): keys"
        same([ours[k] for k in sorted(theirs)], [theirs[k] for k in sorted(theirs)],
             f"init_student_from_teacher({layers})")
    tied = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10))
    tied[1].weight = tied[0].weight
    same(S["count_parameters"](tied), distillation.count_parameters(tied), "count_parameters")
