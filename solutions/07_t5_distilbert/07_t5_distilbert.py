# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false}
# # Assignment 7 — T5 and DistilBERT: text-to-text transfer and knowledge distillation
#
# Five tasks, 10 points. Each task gives you functions to write in the cell that says
# `raise NotImplementedError()`: replace that line with your code. Run the **check cell** under it:
# it tries your code on small fixed inputs and tells you in plain words what is wrong, or prints
# `✓ ... the visible checks passed`.
#
# **Points.** A task's points are shared equally among its hidden tests, which run your code at
# grading time on freshly drawn inputs: you earn the share of every hidden test your code passes. The
# check cell gives no points; it tells you what is wrong. An answer that imports, wraps or copies the
# course library's own version of what a task asks earns nothing for that task (those versions are
# switched off while grading).
#
# The first two tasks are the data side of T5 (span corruption, tasks written as text), the last
# three the pieces of DistilBERT (the distillation loss, a student made from its teacher's layers,
# measuring two models the same way). Rules: use Python, PyTorch and the standard library; do not
# import the course library's own versions (`tlcourse.t5`, `tlcourse.distillation`) in your answers.
# Do not edit the check cells. Chapter 7 of the book explains everything used here.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import math
import random
import re
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.checks import fresh_inputs, run_tests
from tlcourse.checks.distillation import (TimingProbe, check_distillation_loss,
                                          check_init_student_from_teacher, check_measurement,
                                          check_span_corrupt, check_text_to_text)

torch.manual_seed(0)
random.seed(0)


# %% [markdown] nbgrader={"grade": false, "grade_id": "task1", "locked": true, "schema_version": 3, "solution": false}
# ## Task 1 — Span corruption (2 points)
#
# T5 is pre-trained to fill gaps. Take a list of tokens, drop some **spans** (runs of consecutive
# tokens) and replace each span by one **sentinel** token, `<extra_id_0>` for the first span,
# `<extra_id_1>` for the second, and so on. The input is the corrupted text; the target lists each
# dropped span after its sentinel and ends with one more sentinel, which closes the last span (Raffel
# et al., 2020, Figure 2):
#
# ```
# tokens   Thank you for inviting me to your party last week .
# inputs   Thank you <extra_id_0> me to your party <extra_id_1> week .
# targets  <extra_id_0> for inviting <extra_id_1> last <extra_id_2>
# ```
#
# Write `span_corrupt(tokens, noise_density, mean_span_length)` for a list of `n` strings, returning
# `(inputs, targets)`, two lists of strings:
#
# * corrupt `n_noise = round(n * noise_density)` tokens (at least 1, at most `n - 1`),
# * in `n_spans = round(n_noise / mean_span_length)` spans (at least 1), each of at least one token,
#   with random lengths and random positions; two spans never touch (at least one kept token
#   between them), otherwise they would be one span;
# * one distinct sentinel per span, numbered in order; the targets start with `<extra_id_0>` and
#   end with the final sentinel, `<extra_id_k>` for `k` spans.
#
# One way, T5's: split `n_noise` into `n_spans` random positive lengths (choose `n_spans - 1` distinct
# cut points among `1 .. n_noise - 1`, e.g. with `random.sample`), split the `n - n_noise` kept tokens
# into `n_spans + 1` runs that lie around the spans (the first and the last may be empty, the ones
# between two spans may not), then walk through the tokens.

# %% nbgrader={"grade": false, "grade_id": "span_corrupt", "locked": false, "schema_version": 3, "solution": true}
def span_corrupt(tokens, noise_density=0.15, mean_span_length=3.0):
    """tokens: list of str -> (inputs, targets), lists of str with sentinels <extra_id_k>."""
    ### BEGIN SOLUTION
    n = len(tokens)
    n_noise = min(max(round(n * noise_density), 1), n - 1)
    n_spans = max(round(n_noise / mean_span_length), 1)

    def random_split(total, parts):          # `parts` random integers >= 1 that sum to `total`
        cuts = sorted(random.sample(range(1, total), parts - 1))
        return [b - a for a, b in zip([0] + cuts, cuts + [total])]

    span_lengths = random_split(n_noise, n_spans)
    gaps = random_split(n - n_noise + 2, n_spans + 1)   # kept runs before, between, after the spans:
    gaps[0] -= 1                                        # the first and the last may be empty,
    gaps[-1] -= 1                                       # the ones between two spans may not
    inputs, targets, i = [], [], 0
    for k, length in enumerate(span_lengths):
        sentinel = f"<extra_id_{k}>"
        inputs += tokens[i:i + gaps[k]] + [sentinel]
        i += gaps[k]
        targets += [sentinel] + tokens[i:i + length]
        i += length
    inputs += tokens[i:]
    targets += [f"<extra_id_{len(span_lengths)}>"]       # the final sentinel closes the last span
    return inputs, targets
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "span_corrupt_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_span_corrupt(span_corrupt)
### BEGIN HIDDEN TESTS
from tlcourse.checks.distillation import is_sentinel, noise_mask, span_problem
fresh_inputs(globals())  # new random inputs, drawn at grading time
SPAN_WORDS = ["the", "union", "of", "states", "we", "and", "peace", "war", ".", ","]

def _span_tokens(n):  # repeated words on purpose: spans are positions, not word types
    return [SPAN_WORDS[int(i)] for i in torch.randint(0, len(SPAN_WORDS), (n,))]

def test_span_sentinels_and_counts():
    for k in range(6):
        n = int(torch.randint(12, 90, ()))
        density = float(torch.empty(()).uniform_(0.1, 0.4))
        # short and long spans alike: a mean span length that is ignored shows
        mean = float(torch.empty(()).uniform_(1.5, 2.2) if k % 2 else torch.empty(()).uniform_(4.0, 6.0))
        tokens = _span_tokens(n)
        problem = span_problem(tokens, span_corrupt(list(tokens), density, mean), density, mean)
        assert problem is None, \
            f"span_corrupt(<{n} tokens>, noise_density={density:.3f}, mean_span_length={mean:.2f}): {problem}"

def test_span_targets_end_with_the_final_sentinel():
    for _ in range(4):
        n = int(torch.randint(12, 70, ()))
        inputs, targets = span_corrupt(_span_tokens(n), 0.2, 2.0)
        k = sum(is_sentinel(t) for t in inputs)
        assert targets and targets[-1] == f"<extra_id_{k}>", \
            (f"with {k} spans the targets should end with the final sentinel <extra_id_{k}> after the "
             f"last span (T5's <X> for inviting <Y> last <Z>); they end with {targets[-2:]}")

def test_span_random_positions():
    n = int(torch.randint(30, 60, ()))
    tokens = _span_tokens(n)
    masks = [noise_mask(*span_corrupt(list(tokens), 0.2, 2.0)) for _ in range(30)]
    assert len(set(masks)) >= 10, \
        f"30 calls on the same {n} tokens gave only {len(set(masks))} different corruptions: draw the spans at random"
    covered = sum(any(m[i] for m in masks) for i in range(n))
    assert covered >= n // 2, \
        f"in 30 calls only {covered} of {n} positions were ever corrupted: spans should fall anywhere"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task2", "locked": true, "schema_version": 3, "solution": false}
# ## Task 2 — Every task as text (2 points)
#
# T5 feeds every task to the same model as text, with a **prefix** naming the task, and reads the
# answer back from the text it generates: `"sentiment: A gripping, funny film."` → `"positive"`.
#
# * `to_text_to_text(prefix, text, label=None)` returns `(source, target)`: the source is the prefix,
#   a colon, a space and the text with its whitespace collapsed (runs of spaces, tabs and newlines
#   become one space; none at the ends); the target is the label as a string (`1936` → `"1936"`),
#   or `None` when there is no label.
# * `parse_label(generated, labels)` returns the label of `labels` (lower-case strings) that the
#   generated text names, or `None` if it names none — T5 counts such an answer as wrong. Ignore the
#   special tokens `<pad>` and `</s>`, the case, and the whitespace around and inside the text; the
#   text must be a whole label (`"not positive"` is not `"positive"`).

# %% nbgrader={"grade": false, "grade_id": "text_to_text", "locked": false, "schema_version": 3, "solution": true}
def to_text_to_text(prefix, text, label=None):
    """-> (source, target): ("<prefix>: <text>", "<label>" or None)."""
    ### BEGIN SOLUTION
    source = f"{prefix}: {' '.join(text.split())}"
    target = None if label is None else str(label)
    return source, target
    ### END SOLUTION


def parse_label(generated, labels):
    """The label named by the generated text, or None."""
    ### BEGIN SOLUTION
    for special in ("<pad>", "</s>"):
        generated = generated.replace(special, " ")
    text = " ".join(generated.split()).lower()
    for label in labels:
        if text == label:
            return label
    return None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "text_to_text_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_text_to_text(to_text_to_text, parse_label)
### BEGIN HIDDEN TESTS
fresh_inputs(globals())  # new random inputs, drawn at grading time
TT_WORDS = ["film", "Union", "Congress", "peace", "dull", "brilliant", "tax", "war", "the", "a,"]
TT_SPACES = [" ", "  ", "\n", "\t", " \n "]

def _tt_pick(options):
    return options[int(torch.randint(0, len(options), ()))]

def test_text_to_text_format():
    for prefix in ["sentiment", "party", "year", "summarize", "cola sentence"]:
        words = [_tt_pick(TT_WORDS) for _ in range(int(torch.randint(2, 10, ())))]
        text = _tt_pick(TT_SPACES) + "".join(w + _tt_pick(TT_SPACES) for w in words)
        label = _tt_pick([None, "positive", int(torch.randint(1790, 2027, ())), "new york"])
        want = (f"{prefix}: {' '.join(words)}", None if label is None else str(label))
        got = to_text_to_text(prefix, text, label)
        assert isinstance(got, tuple) and tuple(got) == want, \
            f"to_text_to_text({prefix!r}, {text!r}, {label!r}) should be {want}, got {got}"

def test_parse_label():
    sets = [["positive", "negative"], ["democratic", "republican"],
            ["entailment", "neutral", "contradiction"], ["new york", "boston", "san francisco"]]
    for k in range(6):
        labels = _tt_pick(sets)
        label = _tt_pick(labels)
        # every draw has a case in capitals and a case with special tokens around the label
        shown = label.upper() if k == 0 else _tt_pick([label, label.upper(), label.title(),
                                                       label.replace(" ", "   ")])
        template = "<pad>{}</s><pad><pad>" if k == 1 else _tt_pick(["{}", "{}</s>", "<pad> {} </s>", "  {}  ",
                                                                    "<pad>{}</s><pad><pad>"])
        generated = template.format(shown)
        got = parse_label(generated, list(labels))
        assert got == label, f"parse_label({generated!r}, {labels}) should be {label!r}, got {got!r}"
        other = _tt_pick([l for l in labels if l != label])
        wrong = _tt_pick(["", "maybe", f"{label} {other}", f"not {label}", label + "ly", label[:-1]])
        got = parse_label(wrong + "</s>", list(labels))
        assert got is None, f"parse_label({wrong + '</s>'!r}, {labels}) should be None, got {got!r}"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task3", "locked": true, "schema_version": 3, "solution": false}
# ## Task 3 — The distillation loss (2 points)
#
# The student learns from the teacher's **soft targets**: both distributions are softened by a
# temperature $T$, $p^{(T)} = \mathrm{softmax}(z / T)$, and the student minimises their KL divergence,
# plus the usual cross-entropy with the true labels:
#
# $$
# \mathcal{L} = \alpha \, T^2 \, \mathrm{KL}\!\left(p^{(T)}_{\text{teacher}} \,\middle\|\, p^{(T)}_{\text{student}}\right)
# + (1 - \alpha)\, \mathrm{CE}\!\left(\mathrm{softmax}(z_{\text{student}}), y\right),
# \qquad \mathrm{KL}(p \,\|\, q) = \sum_c p_c \log \frac{p_c}{q_c}.
# $$
#
# The KL divergence is summed over the classes and averaged over the batch; the cross-entropy uses
# the student's plain logits (temperature 1) and is averaged over the batch. The $T^2$ factor
# (Hinton et al., 2015) keeps the soft term's gradients the same size whatever $T$.
#
# Write `distillation_loss(student_logits, teacher_logits, labels, T=2.0, alpha=0.5)`: logits are
# `(B, C)` float tensors, labels `(B,)` int64; return a scalar tensor. You may use `F.log_softmax`, `F.softmax`,
# `F.kl_div` and `F.cross_entropy`.

# %% nbgrader={"grade": false, "grade_id": "distillation_loss", "locked": false, "schema_version": 3, "solution": true}
def distillation_loss(student_logits, teacher_logits, labels, T=2.0, alpha=0.5):
    """alpha T² KL(teacher_T || student_T) + (1 - alpha) CE(student, labels), a scalar."""
    ### BEGIN SOLUTION
    log_p_student = F.log_softmax(student_logits / T, dim=-1)       # (B, C)
    p_teacher = F.softmax(teacher_logits / T, dim=-1)               # (B, C): the soft targets
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean") * T ** 2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "distillation_loss_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_distillation_loss(distillation_loss)
### BEGIN HIDDEN TESTS
from tlcourse.checks.distillation import reference_distillation_loss
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _kd_case(T, alpha):
    B, C = int(torch.randint(1, 9, ())), int(torch.randint(2, 7, ()))
    s = torch.randn(B, C) * float(torch.empty(()).uniform_(0.5, 4.0))
    t = torch.randn(B, C) * float(torch.empty(()).uniform_(0.5, 4.0))
    y = torch.randint(0, C, (B,))
    got = distillation_loss(s, t, y, T=T, alpha=alpha)
    assert type(got) is torch.Tensor and got.numel() == 1, "return the loss as a scalar tensor"
    ref = reference_distillation_loss(s, t, y, T, alpha)
    assert torch.allclose(got.double().reshape(()), ref, atol=1e-5, rtol=1e-4), \
        f"with B={B}, C={C}, T={T:.2f}, alpha={alpha:.2f} the loss is {float(got):.5f}, expected {float(ref):.5f}"

def test_kd_random_temperatures_and_weights():
    for _ in range(5):
        _kd_case(float(torch.empty(()).uniform_(1.5, 6.0)), float(torch.empty(()).uniform_(0.1, 0.9)))

def test_kd_each_term_alone():
    _kd_case(1.0, 1.0)                                         # the KL divergence alone, at T = 1
    _kd_case(float(torch.empty(()).uniform_(2.0, 5.0)), 1.0)   # the soft term alone, scaled by T²
    _kd_case(float(torch.empty(()).uniform_(2.0, 5.0)), 0.0)   # the hard-label cross-entropy alone

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task4", "locked": true, "schema_version": 3, "solution": false}
# ## Task 4 — A student made from its teacher's layers (2 points)
#
# DistilBERT halves BERT's depth and starts the student from the teacher's own weights, "taking one
# layer out of two". Write `init_student_from_teacher(teacher_state, student_layers)`:
#
# * `teacher_state` is a state dict (`model.state_dict()`: name → tensor) of a BERT-family model
#   whose layers are the keys containing `encoder.layer.<i>.` (e.g.
#   `bert.encoder.layer.3.attention.self.query.weight`), `i = 0 .. L-1`; every other key (embeddings,
#   pooler, classifier) is outside the layers;
# * return the state dict of a student with `student_layers` layers (`L` is a multiple of it):
#   student layer `j` is a copy of teacher layer `j * (L // student_layers)` — for `L = 6` and 3
#   layers, teacher layers 0, 2, 4 become student layers 0, 1, 2 — and every key outside the layers is
#   copied unchanged.
#
# The result must load into the student with `student.load_state_dict(...)`, so layer numbers must
# be renumbered. Cloned tensors (`.clone()`) keep the student from sharing memory with the teacher.
# A regular expression such as
# `re.match(r"^(.*encoder\.layer\.)(\d+)\.(.*)$", key)` splits a key into its three parts.

# %% nbgrader={"grade": false, "grade_id": "init_student_from_teacher", "locked": false, "schema_version": 3, "solution": true}
def init_student_from_teacher(teacher_state, student_layers):
    """Teacher state dict -> student state dict, keeping one layer out of L // student_layers."""
    ### BEGIN SOLUTION
    layer_key = re.compile(r"^(.*encoder\.layer\.)(\d+)\.(.*)$")
    teacher_layers = 1 + max(int(m.group(2)) for m in map(layer_key.match, teacher_state) if m)
    step = teacher_layers // student_layers                      # 2: one layer out of two
    keep = {step * j: j for j in range(student_layers)}          # teacher layer -> student layer
    student = {}
    for key, value in teacher_state.items():
        m = layer_key.match(key)
        if m is None:                                            # embeddings, pooler, classifier
            student[key] = value.clone()
        elif int(m.group(2)) in keep:
            student[f"{m.group(1)}{keep[int(m.group(2))]}.{m.group(3)}"] = value.clone()
    return student
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "init_student_from_teacher_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_init_student_from_teacher(init_student_from_teacher)
### BEGIN HIDDEN TESTS
from tlcourse.checks.distillation import bert_like_state, reference_student_state
fresh_inputs(globals())  # new random inputs, drawn at grading time

def _student_case(n_teacher, n_student):
    prefix = ["bert.", "", "roberta.", "model.bert."][int(torch.randint(0, 4, ()))]
    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ())))
    teacher = bert_like_state(n_teacher, prefix, hidden=int(torch.randint(2, 6, ())), generator=g)
    got = init_student_from_teacher({k: v.clone() for k, v in teacher.items()}, n_student)
    want = reference_student_state(teacher, n_student)
    what = f"a {n_teacher}-layer teacher (keys '{prefix}encoder.layer.<i>...') and {n_student} student layers"
    assert type(got) is dict, f"return a dict of tensors (for {what})"
    assert sorted(got) == sorted(want), f"wrong keys for {what}"
    for key in want:
        assert type(got[key]) is torch.Tensor and torch.equal(got[key], want[key]), \
            f"{key} is not the right teacher tensor for {what}"

def test_student_half_depth():
    for n in [2, 4] + [2 * int(torch.randint(3, 7, ()))]:
        _student_case(n, n // 2)

def test_student_third_depth():
    for n in [3] + [3 * int(torch.randint(2, 5, ()))]:
        _student_case(n, n // 3)

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "task5", "locked": true, "schema_version": 3, "solution": false}
# ## Task 5 — Measuring two models the same way (2 points)
#
# "40% smaller, 60% faster" only means something if both models are measured the same way. Write:
#
# * `count_parameters(model)`: the number of parameters of a `torch.nn.Module`, **all** of them,
#   trainable or frozen; a tensor shared by two modules (tied input and output embeddings) counts
#   once, and buffers (`register_buffer`) are not parameters;
# * `measure_latency(model, batch, repeats=5, warmup=1)`: the **median** time in seconds of one
#   call `model(**batch)` (`batch` is a dict of tensors), over `repeats` timed calls made after
#   `warmup` untimed ones (the first calls pay for memory allocation and caches), with the model in
#   evaluation mode and without gradients, as at prediction time. `time.perf_counter()` is the clock
#   for this.
#
# `timing_probe` builds the stand-in model the hidden tests measure (`TimingProbe`, from the course
# library): keep it as it is.

# %% nbgrader={"grade": false, "grade_id": "measurement", "locked": false, "schema_version": 3, "solution": true}
def timing_probe(delays=(), vocab=20, dim=8):
    """The stand-in model of the checks (given: keep it as it is)."""
    return TimingProbe(delays, vocab, dim)


def count_parameters(model):
    """All parameters of `model`, a shared tensor once."""
    ### BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters())      # parameters() lists a shared tensor once
    ### END SOLUTION


def measure_latency(model, batch, repeats=5, warmup=1):
    """Median seconds of model(**batch) over `repeats` timed calls after `warmup` untimed ones."""
    ### BEGIN SOLUTION
    model.eval()                                  # dropout off: the model as it makes predictions
    times = []
    with torch.no_grad():                         # no autograd bookkeeping
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(**batch)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "measurement_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false}
check_measurement(count_parameters, measure_latency)
### BEGIN HIDDEN TESTS
from tlcourse.checks.distillation import count_problem, latency_problem
fresh_inputs(globals())  # new random inputs, drawn at grading time

def test_count_parameters():
    for _ in range(3):
        vocab, dim = int(torch.randint(5, 60, ())), int(torch.randint(2, 16, ()))
        # the grader's own probe (not the notebook's timing_probe): it runs and counts here
        problem = count_problem(count_parameters(TimingProbe([], vocab, dim)), vocab, dim)
        assert problem is None, f"on a model with vocab={vocab}, dim={dim}: {problem}"

def test_measure_latency():
    fast = float(torch.empty(()).uniform_(0.01, 0.03))
    for warmup, repeats in [(int(torch.randint(1, 3, ())), 5), (3, 3)]:
        delays = [fast + 0.4] * warmup + [fast] * repeats
        delays[warmup + 1] = fast + 0.8                       # one slow timed call
        # right: about `fast`; the mean is 0.16 s more at least, timed warm-ups 0.4 s more
        probe = TimingProbe(delays)
        batch = {"input_ids": torch.randint(0, 20, (int(torch.randint(1, 5, ())), 6))}
        seconds = measure_latency(probe, batch, repeats=repeats, warmup=warmup)
        problem = latency_problem(seconds, probe.calls(), warmup, repeats, fast, 0.08)
        assert problem is None, f"with warmup={warmup}, repeats={repeats}: {problem}"

run_tests(globals())  # in Jupyter or stock nbgrader; the course's grader runs each test itself
### END HIDDEN TESTS
