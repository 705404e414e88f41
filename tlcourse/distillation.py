"""Knowledge distillation (Chapter 7): the loss, a student made from every other layer of its
teacher, and measuring two models the same way.

DistilBERT (Sanh et al., 2019) trains a 6-layer student to reproduce the output distribution of
12-layer BERT: the student matches the teacher's probabilities softened by a temperature T
(Hinton et al., 2015), and starts from the teacher's own weights, one layer out of two. Used by the
book page and by the zoo recipe of the teacher (``tlcourse.recipes.t5``)::

    from tlcourse import distillation as kd
    student.load_state_dict(kd.init_student_from_teacher(teacher.state_dict(), 3))
    loss = kd.distillation_loss(student_logits, teacher_logits, labels, T=2.0, alpha=0.5)
    kd.count_parameters(student), np.median(kd.forward_times(student, batch, repeats=7))
"""
from __future__ import annotations

import re
import statistics
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bert import length_batches, pad      # Chapter 5's batching: texts of similar length


# --------------------------------------------------------------------------- the loss
def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      T: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """``alpha * T² * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)``.

    ``student_logits`` and ``teacher_logits`` are (B, C), ``labels`` (B,). ``p_T = softmax(z / T)``;
    the KL divergence is averaged over the batch. Softening divides the soft loss's gradients by
    about T², so the T² factor keeps the two terms' balance whatever T (Hinton et al., 2015, §2).
    """
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    p_teacher = F.softmax(teacher_logits.detach() / T, dim=-1)
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean") * T ** 2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard


# --------------------------------------------------------------------------- the student
_LAYER = re.compile(r"^(.*encoder\.layer\.)(\d+)\.(.*)$")


def init_student_from_teacher(teacher_state: dict, student_layers: int) -> dict:
    """A state dict for a student with ``student_layers`` layers, made from a teacher's state dict.

    Student layer j is a copy of teacher layer ``j * (teacher_layers // student_layers)``: for a
    6-layer teacher and 3 layers, teacher layers 0, 2, 4 (DistilBERT: "taking one layer out of
    two"). Everything outside ``encoder.layer.<i>.`` (embeddings, pooler, classifier) is copied.
    """
    teacher_layers = 1 + max(int(m.group(2)) for m in map(_LAYER.match, teacher_state) if m)
    if teacher_layers % student_layers:
        raise ValueError(f"{teacher_layers} teacher layers cannot be thinned to {student_layers}")
    step = teacher_layers // student_layers
    keep = {step * j: j for j in range(student_layers)}            # teacher layer -> student layer
    student = {}
    for key, value in teacher_state.items():
        m = _LAYER.match(key)
        if m is None:
            student[key] = value.clone()
        elif int(m.group(2)) in keep:
            student[f"{m.group(1)}{keep[int(m.group(2))]}.{m.group(3)}"] = value.clone()
    return student


def student_from_teacher(teacher, student_layers: int):
    """A copy of a transformers BERT-family model with ``student_layers`` layers, initialised by
    :func:`init_student_from_teacher`."""
    config = teacher.config.__class__.from_dict({**teacher.config.to_dict(),
                                                 "num_hidden_layers": student_layers})
    student = type(teacher)(config)
    student.load_state_dict(init_student_from_teacher(teacher.state_dict(), student_layers))
    return student


# --------------------------------------------------------------------------- measuring
def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or frozen; a tensor shared by two modules counts once."""
    return sum(p.numel() for p in model.parameters())


def forward_times(model: nn.Module, batch: dict, repeats: int = 7, warmup: int = 2) -> np.ndarray:
    """Seconds of ``model(**batch)`` for each of ``repeats`` timed calls after ``warmup`` untimed
    ones, in eval mode without gradients. Take the median: it ignores the odd slow call."""
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(**batch)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return np.array(times)


def median_latency(model: nn.Module, batch: dict, repeats: int = 7, warmup: int = 2) -> float:
    return statistics.median(forward_times(model, batch, repeats, warmup).tolist())


# --------------------------------------------------------------------------- training a classifier
def collate(ids: Sequence[Sequence[int]], pad_id: int = 0) -> dict:
    """Pad a list of id lists into ``input_ids`` and ``attention_mask`` tensors (B, T_max)."""
    input_ids = pad(ids, pad_id)
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long()}


def train_classifier(model, ids: Sequence[Sequence[int]], labels: Sequence[int], *, teacher_logits=None,
                     T: float = 2.0, alpha: float = 0.5, epochs: int = 1, batch_size: int = 32,
                     lr: float = 1e-4, warmup: float = 0.1, seed: int = 0, pad_id: int = 0,
                     progress: bool = True, desc: str = "training") -> dict:
    """Fine-tune a sequence classifier (``model(**batch).logits``) with AdamW and a linear
    warm-up/decay: on the labels alone, or with :func:`distillation_loss` when ``teacher_logits``
    (N, C) are given. Returns the history (step, loss, accuracy on each batch)."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    labels = torch.as_tensor(np.asarray(labels))
    plan = [b for _ in range(epochs) for b in length_batches([len(x) for x in ids], batch_size, rng)]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    n_warm = max(1, int(warmup * len(plan)))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / n_warm) * max(0.0, (len(plan) - s) / max(1, len(plan) - n_warm)))
    hist = {"step": [], "loss": [], "accuracy": []}
    model.train()
    for step, idx in enumerate(tqdm(plan, desc=desc, disable=not progress)):
        logits = model(**collate([ids[i] for i in idx], pad_id)).logits          # (B, C)
        y = labels[idx]
        if teacher_logits is None:
            loss = F.cross_entropy(logits, y)
        else:
            loss = distillation_loss(logits, teacher_logits[idx], y, T=T, alpha=alpha)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        hist["step"].append(step)
        hist["loss"].append(round(loss.item(), 4))
        hist["accuracy"].append(round((logits.argmax(-1) == y).float().mean().item(), 4))
    model.eval()
    return hist


def predict_logits(model, ids: Sequence[Sequence[int]], batch_size: int = 128, pad_id: int = 0,
                   progress: bool = False, desc: str = "predicting") -> torch.Tensor:
    """Logits (N, C) of a classifier for each text, in the input order."""
    from tqdm.auto import tqdm

    order = np.argsort([len(x) for x in ids], kind="stable")     # similar lengths together
    out = torch.empty(len(ids), model.config.num_labels)
    model.eval()
    with torch.no_grad():
        for start in tqdm(range(0, len(ids), batch_size), desc=desc, disable=not progress):
            idx = order[start:start + batch_size]
            out[idx] = model(**collate([ids[i] for i in idx], pad_id)).logits.float()
    return out
