"""Visible checks of Chapter 7's assignment (T5's text-to-text transfer, DistilBERT's distillation).

Each ``check_*`` runs the student's code on small fixed inputs and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. References: the span-corruption
rules of Raffel et al. (2020), the distillation loss of Hinton et al. (2015) computed here in
float64, DistilBERT's "one layer out of two" initialisation (Sanh et al., 2019), and
:class:`TimingProbe`, a stand-in model whose running time and size are known exactly.
"""
from __future__ import annotations

import re
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from . import expect_tensor, fail, is_close, max_diff, passed

SENTINEL_RE = re.compile(r"<extra_id_(\d+)>")


# --------------------------------------------------------------------------- task 1
def is_sentinel(token) -> bool:
    return isinstance(token, str) and SENTINEL_RE.fullmatch(token) is not None


def spans_of(targets: list) -> list[tuple[str, list]]:
    """The targets as ``[(sentinel, span tokens), ...]`` (tokens before the first sentinel are
    returned under the key None)."""
    out = []
    for t in targets:
        if is_sentinel(t):
            out.append((t, []))
        elif out:
            out[-1][1].append(t)
        else:
            out.append((None, [t]))
    return out


def put_back(inputs: list, targets: list) -> list:
    """Each sentinel of ``inputs`` replaced by its span from ``targets``."""
    spans = dict(spans_of(targets))
    return [x for t in inputs for x in (spans.get(t, []) if is_sentinel(t) else [t])]


def noise_mask(inputs: list, targets: list) -> tuple:
    """Which original positions were corrupted (True), as a tuple of bools."""
    spans = dict(spans_of(targets))
    return tuple(flag for t in inputs
                 for flag in ([True] * len(spans.get(t, [])) if is_sentinel(t) else [False]))


def span_problem(tokens: list, result, noise_density: float, mean_span_length: float,
                 exact_counts: bool = True) -> str | None:
    """What is wrong with ``result = span_corrupt(tokens, ...)``, in words, or None."""
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(r, list) for r in result)):
        return f"span_corrupt should return a tuple of two lists (inputs, targets), got {type(result).__name__}."
    inputs, targets = result
    if not all(isinstance(t, str) for t in inputs + targets):
        return "inputs and targets should be lists of strings (tokens and sentinels)."
    sent_in = [t for t in inputs if is_sentinel(t)]
    sent_out = [t for t in targets if is_sentinel(t)]
    if not sent_in:
        return "the inputs contain no sentinel: each corrupted span must be replaced by one sentinel."
    if len(set(sent_in)) < len(sent_in):
        twice = max(set(sent_in), key=sent_in.count)
        return (f"the sentinel {twice} appears {sent_in.count(twice)} times in the inputs: every span "
                "needs its own, distinct sentinel (<extra_id_0>, <extra_id_1>, ... in order), or the "
                "model cannot tell which span goes where.")
    if sent_in != [f"<extra_id_{k}>" for k in range(len(sent_in))]:
        return (f"the inputs' sentinels are {sent_in}: number them in order of appearance, "
                "<extra_id_0>, <extra_id_1>, ...")
    final = f"<extra_id_{len(sent_in)}>"
    if not set(sent_out) & set(sent_in):
        return ("the targets must contain the sentinels too: each dropped span is written after "
                "its sentinel (<extra_id_0> span0 <extra_id_1> span1 ...).")
    if sent_out == sent_in and is_sentinel(targets[0]):
        return (f"the targets should end with one more sentinel, {final}, after the last span: "
                "T5's targets close the last span with a final sentinel (Raffel et al., 2020, "
                "Figure 2: <X> for inviting <Y> last <Z>).")
    if sent_out != sent_in + [final] or not is_sentinel(targets[0]):
        return (f"the targets' sentinels {sent_out} should be the inputs' ones {sent_in}, in the "
                f"same order, then the final sentinel {final}; the targets should start with "
                "<extra_id_0>.")
    if targets[-1] != final:
        return (f"the final sentinel {final} should be the last token of the targets: nothing "
                "comes after it.")
    if any(not span for _, span in spans_of(targets)[:-1]):
        return "a sentinel in the targets is followed by no token: every span holds at least one token."
    if put_back(inputs, targets) != list(tokens):
        return ("putting each span back in place of its sentinel does not give back the original "
                "tokens: a span must be replaced in the inputs by its sentinel, in place, and the "
                "kept tokens must stay in order.")
    if any(is_sentinel(a) and is_sentinel(b) for a, b in zip(inputs, inputs[1:])):
        return ("two sentinels are next to each other in the inputs: two spans touch, so they are "
                "really one span. Keep at least one token between two spans.")
    n = len(tokens)
    n_noise = sum(len(span) for _, span in spans_of(targets))
    expected = min(max(n * noise_density, 1), n - 1)
    if abs(n_noise - expected) > 0.5 + 1e-9:
        return (f"with {n} tokens and noise_density={noise_density}, about {round(expected)} tokens "
                f"should be corrupted (round(len(tokens) * noise_density)), but {n_noise} were.")
    expected_spans = max(n_noise / mean_span_length, 1)
    if exact_counts and abs(len(sent_in) - expected_spans) > 0.5 + 1e-9:
        iid = " Spans of a single token are BERT-style i.i.d. masking, not span corruption." \
            if len(sent_in) == n_noise else ""
        return (f"{n_noise} corrupted tokens with mean_span_length={mean_span_length} should form "
                f"{max(round(n_noise / mean_span_length), 1)} spans (round(noise tokens / "
                f"mean_span_length)), but there are {len(sent_in)}.{iid}")
    return None


def check_span_corrupt(fn) -> None:
    task = "span_corrupt"
    for n, density in [(40, 0.15), (100, 0.15), (60, 0.3)]:
        tokens = [f"w{i}" for i in range(n)]
        problem = span_problem(tokens, fn(list(tokens), density, 3.0), density, 3.0)
        if problem:
            fail(task, f"on {n} tokens, noise_density={density}, mean_span_length=3.0: {problem}")
    tokens = [f"w{i}" for i in range(40)]
    masks = {noise_mask(*fn(list(tokens), 0.15, 3.0)) for _ in range(20)}
    if len(masks) < 3:
        fail(task, f"20 calls on the same 40 tokens corrupted the same positions every time "
                   f"({len(masks)} distinct pattern(s)): the spans are always in the same place. "
                   "Draw their lengths and positions at random (e.g. with the random module).")
    passed(task)


# --------------------------------------------------------------------------- task 2
def check_text_to_text(to_text_to_text, parse_label) -> None:
    task = "text_to_text"
    got = to_text_to_text("sentiment", "  A  gripping,\n funny film.  ", "positive")
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(task, f"to_text_to_text should return a tuple (source, target), got {type(got).__name__}.")
    want = ("sentiment: A gripping, funny film.", "positive")
    if got != want:
        if isinstance(got[0], str) and got[0].replace(":", "") == want[0].replace(":", "") and got[0] != want[0]:
            fail(task, f"the source should be the prefix, a colon and a space, then the text: "
                       f"{want[0]!r}, got {got[0]!r}.")
        if isinstance(got[0], str) and " ".join(got[0].split()) == want[0]:
            fail(task, f"collapse the whitespace of the text (runs of spaces and newlines become one "
                       f"space, none at the ends): expected {want[0]!r}, got {got[0]!r}.")
        if isinstance(got[0], str) and not got[0].startswith("sentiment: "):
            fail(task, f"the source should start with the task prefix and a colon, 'sentiment: ...', "
                       f"got {got[0]!r}.")
        fail(task, f"to_text_to_text('sentiment', '  A  gripping,\\n funny film.  ', 'positive') "
                   f"should be {want}, got {got}.")
    if to_text_to_text("year", "We hold these truths.", 1936) != ("year: We hold these truths.", "1936"):
        fail(task, "a label that is not a string (the year 1936) should become its text, '1936'.")
    if to_text_to_text("party", "Text.")[1] is not None:
        fail(task, "without a label (label=None) the target should be None.")
    labels = ["positive", "negative"]
    cases = [("positive", "positive"), ("negative</s>", "negative"),
             ("<pad> negative </s><pad>", "negative"), ("Positive", "positive"),
             ("  positive  ", "positive"), ("neutral", None), ("", None),
             ("positive negative", None), ("not positive", None)]
    for generated, want in cases:
        got = parse_label(generated, labels)
        if got == want:
            continue
        if want is None:
            hint = (" When the text is not one of the labels, return None (T5 counts such an "
                    "answer as wrong), never a default label; and compare the whole text, not "
                    "whether it contains a label.")
        elif "<pad>" in generated or "</s>" in generated:
            hint = " Remove the special tokens <pad> and </s> before comparing."
        elif generated != generated.lower():
            hint = " Compare without case: the model may capitalise the word."
        else:
            hint = " Strip the whitespace around the generated text."
        fail(task, f"parse_label({generated!r}, {labels}) should be {want!r}, got {got!r}.{hint}")
    if parse_label("new   york", ["boston", "new york"]) != "new york":
        fail(task, "parse_label('new   york', ['boston', 'new york']) should be 'new york': "
                   "collapse repeated whitespace inside the text too.")
    passed(task)


# --------------------------------------------------------------------------- task 3
def reference_distillation_loss(s, t, labels, T, alpha):
    """alpha T² KL(softmax(t/T) || softmax(s/T)) (batch mean) + (1 - alpha) CE(s, labels), float64."""
    s, t = s.detach().double(), t.detach().double()
    log_ps, log_pt = F.log_softmax(s / T, -1), F.log_softmax(t / T, -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean()
    return alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(s, labels)


def _distillation_variants(s, t, labels, T, alpha):
    s, t = s.double(), t.double()
    log_ps, log_pt = F.log_softmax(s / T, -1), F.log_softmax(t / T, -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean()
    kl_reversed = (log_ps.exp() * (log_ps - log_pt)).sum(-1).mean()
    ce = F.cross_entropy(s, labels)
    return {
        "no_t2": (alpha * kl + (1 - alpha) * ce,
                  "the soft-target term lacks the T² factor: multiply the KL divergence by T ** 2 "
                  "(softening by T shrinks its gradients by about 1/T², the factor restores them)."),
        "reversed": (alpha * T ** 2 * kl_reversed + (1 - alpha) * ce,
                     "the KL divergence goes in the wrong direction: use KL(p_teacher ‖ p_student) = "
                     "Σ p_teacher (log p_teacher − log p_student); with F.kl_div the first argument "
                     "is the student's log-probabilities, the second the teacher's probabilities."),
        "mean": (alpha * T ** 2 * kl / s.shape[-1] + (1 - alpha) * ce,
                 "the KL divergence is divided by the number of classes too: it should be summed "
                 "over the classes and averaged over the batch (F.kl_div(..., reduction='batchmean'))."),
        "alpha": ((1 - alpha) * T ** 2 * kl + alpha * ce,
                  "alpha weighs the wrong term: alpha multiplies the soft-target (distillation) "
                  "term, 1 - alpha the hard-label cross-entropy."),
        "hard_T": (alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(s / T, labels),
                   "the hard-label loss uses the softened logits: compute the cross-entropy with "
                   "the labels on the student's plain logits (temperature 1)."),
        "soft_only": (alpha * T ** 2 * kl,
                      "the hard-label term is missing: add (1 - alpha) * cross_entropy(student_logits, labels)."),
    }


def check_distillation_loss(fn) -> None:
    task = "distillation_loss"
    g = torch.Generator().manual_seed(7)
    s, t = torch.randn(4, 3, generator=g) * 2, torch.randn(4, 3, generator=g) * 3
    labels = torch.tensor([0, 2, 1, 2])
    s_req = s.clone().requires_grad_(True)
    loss = fn(s_req, t.clone(), labels.clone(), T=3.0, alpha=0.7)
    expect_tensor(task, loss, (), "the loss (a scalar)")
    if not loss.requires_grad:
        fail(task, "the loss does not depend on student_logits through autograd (no gradient would "
                   "reach the student): use torch operations, not .item() or numpy.")
    ref = reference_distillation_loss(s, t, labels, 3.0, 0.7)
    if not is_close(loss, ref):
        for value, message in _distillation_variants(s, t, labels, 3.0, 0.7).values():
            if is_close(loss, value):
                fail(task, message)
        fail(task, f"distillation_loss(T=3, alpha=0.7) = {float(loss):.5f}, expected {float(ref):.5f}: "
                   "alpha · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − alpha) · CE(s, labels).")
    same = fn(s.clone(), s.clone(), labels.clone(), T=2.0, alpha=1.0)
    if abs(float(same)) > 1e-5:
        fail(task, f"when the student's logits equal the teacher's, the soft term must be 0 "
                   f"(alpha=1 leaves only it), got {float(same):.5f}.")
    passed(task)


# --------------------------------------------------------------------------- task 4
LAYER_SUFFIXES = ("attention.self.query.weight", "attention.self.query.bias",
                  "attention.self.key.weight", "attention.self.key.bias",
                  "attention.self.value.weight", "attention.self.value.bias",
                  "attention.output.dense.weight", "attention.output.dense.bias",
                  "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
                  "intermediate.dense.weight", "intermediate.dense.bias",
                  "output.dense.weight", "output.dense.bias",
                  "output.LayerNorm.weight", "output.LayerNorm.bias")
OTHER_KEYS = ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
              "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
              "embeddings.LayerNorm.bias", "pooler.dense.weight", "pooler.dense.bias")


def bert_like_state(n_layers: int, prefix: str = "bert.", hidden: int = 4, generator=None) -> dict:
    """A state dict with the keys of transformers' BertForSequenceClassification (tiny sizes):
    every tensor of layer i holds values in [i, i + 0.5), so a copied layer is recognisable."""
    g = generator or torch.Generator().manual_seed(0)

    def tensor(*shape, base=0.0):
        return base + 0.5 * torch.rand(*shape, generator=g)

    state = {}
    for key in OTHER_KEYS:
        state[prefix + key] = tensor(hidden, hidden, base=-1.0) if key.endswith("weight") and \
            "LayerNorm" not in key else tensor(hidden, base=-1.0)
    for i in range(n_layers):
        for suffix in LAYER_SUFFIXES:
            shape = (hidden, hidden) if suffix.endswith("weight") and "LayerNorm" not in suffix else (hidden,)
            state[f"{prefix}encoder.layer.{i}.{suffix}"] = tensor(*shape, base=float(i))
    state["classifier.weight"] = tensor(2, hidden, base=-2.0)
    state["classifier.bias"] = tensor(2, base=-2.0)
    return state


def reference_student_state(teacher: dict, student_layers: int) -> dict:
    """Student layer j <- teacher layer j * (teacher_layers // student_layers); the rest copied."""
    pattern = re.compile(r"^(.*encoder\.layer\.)(\d+)\.(.*)$")
    n = 1 + max(int(m.group(2)) for m in map(pattern.match, teacher) if m)
    step = n // student_layers
    out = {}
    for key, value in teacher.items():
        m = pattern.match(key)
        if m is None:
            out[key] = value.clone()
        elif int(m.group(2)) % step == 0:
            out[f"{m.group(1)}{int(m.group(2)) // step}.{m.group(3)}"] = value.clone()
    return out


def check_init_student_from_teacher(fn) -> None:
    task = "init_student_from_teacher"
    teacher = bert_like_state(6)
    student = fn({k: v.clone() for k, v in teacher.items()}, 3)
    if not isinstance(student, dict):
        fail(task, f"return a state dict (a dict of name -> tensor), got {type(student).__name__}.")
    want = reference_student_state(teacher, 3)
    missing, extra = sorted(set(want) - set(student)), sorted(set(student) - set(want))
    if any("embeddings" in k or "classifier" in k or "pooler" in k for k in missing):
        fail(task, f"the student lacks {[k for k in missing if 'layer.' not in k][:3]}: copy everything "
                   "outside the encoder layers (the embeddings, the pooler and the classifier) as it is.")
    if any(re.search(r"encoder\.layer\.([3-9])\.", k) for k in extra):
        fail(task, f"the student has keys like {extra[0]!r}: a 3-layer student has layers 0, 1, 2 "
                   "only. Renumber the copied layers: teacher layer 2 becomes student layer 1, "
                   "teacher layer 4 becomes student layer 2.")
    if missing or extra:
        fail(task, f"the student's keys differ from the expected ones: missing {missing[:3]}, "
                   f"unexpected {extra[:3]}.")
    for key, value in student.items():
        expect_tensor(task, value, tuple(want[key].shape), f"student[{key!r}]")
    for j in range(3):
        key = f"bert.encoder.layer.{j}.attention.self.query.weight"
        source = int(student[key].min().floor())          # layer i holds values in [i, i + 0.5)
        if source != 2 * j:
            order = [int(student[f"bert.encoder.layer.{k}.attention.self.query.weight"].min().floor())
                     for k in range(3)]
            if order == [0, 1, 2]:
                fail(task, "the student's layers are teacher layers 0, 1, 2, the first half of the "
                           "teacher: take every other layer, 0, 2, 4 (one layer out of two).")
            if order == [1, 3, 5]:
                fail(task, "the student's layers are teacher layers 1, 3, 5: start from layer 0, "
                           "the one nearest the embeddings, and take 0, 2, 4.")
            fail(task, f"the student's layers are teacher layers {order}, expected 0, 2, 4.")
    for key, value in want.items():
        if not torch.equal(student[key], value):
            fail(task, f"student[{key!r}] is not an exact copy of the teacher's tensor.")
    passed(task)


# --------------------------------------------------------------------------- task 5
class TimingProbe(nn.Module):
    """A stand-in model whose running time and size are known exactly.

    Its k-th call sleeps ``delays[k]`` seconds (the last delay repeats; no delays: no sleep) and
    records whether it ran in training mode and with gradients enabled. Its decoder shares its
    weight with the embedding (tied weights: one tensor in two modules), its hidden layer is
    frozen (``requires_grad=False``) and it holds a buffer, which is not a parameter.
    """

    def __init__(self, delays=(), vocab: int = 20, dim: int = 8):
        super().__init__()
        self.delays = [float(d) for d in delays]
        self.embed = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, dim)
        self.hidden.requires_grad_(False)
        self.decoder = nn.Linear(dim, vocab, bias=False)
        self.decoder.weight = self.embed.weight
        self.register_buffer("scale", torch.ones(dim))
        self.log = []

    def forward(self, input_ids, attention_mask=None):
        k = len(self.log)
        self.log.append({"training": self.training, "grad": torch.is_grad_enabled()})
        if self.delays:
            time.sleep(self.delays[min(k, len(self.delays) - 1)])
        return self.decoder(self.hidden(self.embed(input_ids)) * self.scale)

    def calls(self) -> list[dict]:
        """One record per call: ``{"training": bool, "grad": bool}``."""
        return [dict(r) for r in self.log]

    @staticmethod
    def expected_parameters(vocab: int = 20, dim: int = 8) -> int:
        return vocab * dim + dim * dim + dim          # embedding (= decoder), hidden weight and bias


def count_problem(n, vocab: int, dim: int) -> str | None:
    want = TimingProbe.expected_parameters(vocab, dim)
    if isinstance(n, torch.Tensor) and n.numel() == 1:
        n = n.item()
    if not isinstance(n, int) or isinstance(n, bool):
        return f"count_parameters should return an int, got {type(n).__name__}."
    if n == want:
        return None
    if n == vocab * dim:
        return ("only the trainable parameters were counted: a frozen layer (requires_grad=False) "
                "is part of the model too, in memory and on disk. Count them all.")
    if n in (want + vocab * dim, want + vocab * dim + dim, want + dim):
        return ("a weight shared by two modules (tied embedding and decoder) was counted twice, or a "
                "buffer was counted: use model.parameters(), which lists a shared tensor once and "
                "leaves out buffers (model.state_dict() lists both).")
    return f"expected {want:,} parameters, got {n:,}."


SLOW = ("one timed call was very slow and the warm-up calls are slow: return the median of the timed "
        "calls (not their mean or sum), and do not time the warm-up calls.")


def latency_problem(seconds, calls: list, warmup: int, repeats: int, fast: float, tolerance: float,
                    slow_hint: str = SLOW) -> str | None:
    if isinstance(seconds, torch.Tensor) and seconds.numel() == 1:
        seconds = seconds.item()
    if not isinstance(seconds, float):
        return f"measure_latency should return the median in seconds, a float, got {type(seconds).__name__}."
    if not math.isfinite(seconds):
        return f"measure_latency returned {seconds}, not a number of seconds."
    if len(calls) != warmup + repeats:
        return (f"with warmup={warmup} and repeats={repeats} the model should be called "
                f"{warmup + repeats} times (the warm-up calls first, untimed), it was called "
                f"{len(calls)} times.")
    if any(c["training"] for c in calls):
        return ("the model ran in training mode (dropout on): call model.eval() before timing, "
                "as you would use it for predictions.")
    if any(c["grad"] for c in calls):
        return ("the model ran with gradients enabled: time it inside torch.no_grad(), as at "
                "prediction time (autograd bookkeeping costs time and memory).")
    if seconds < fast * 0.9:
        return (f"the result ({seconds:.4f} s) is shorter than one call can take ({fast:.3f} s): "
                "time each call with time.perf_counter() before and after it.")
    if seconds > fast + tolerance:
        return f"the result ({seconds:.4f} s) is far above the typical call ({fast:.3f} s): {slow_hint}"
    return None


def check_measurement(count_parameters, measure_latency) -> None:
    task = "measurement"
    problem = count_problem(count_parameters(TimingProbe([], 20, 8)), 20, 8)
    if problem:
        fail(task, problem)
    batch = {"input_ids": torch.randint(0, 20, (2, 5), generator=torch.Generator().manual_seed(0))}
    # slow warm-up calls, then fast ones (0.02 s), with one slow outlier in the first case
    cases = [(1, 5, [0.3, 0.02, 0.5, 0.02, 0.02, 0.02],
              "one timed call was very slow: return the median of the timed calls, not their mean "
              "or their sum."),
             (3, 3, [0.3, 0.3, 0.3, 0.02, 0.02, 0.02],
              "here the 3 warm-up calls are slow and they leaked into the result: run the warm-up "
              "calls first and do not time them.")]
    for warmup, repeats, delays, slow_hint in cases:
        probe = TimingProbe(delays)
        seconds = measure_latency(probe, dict(batch), repeats=repeats, warmup=warmup)
        # a correct answer is about 0.02 s; the mistakes give 0.1 s more at least: the margin
        # leaves room for a busy machine waking a sleeping call late
        problem = latency_problem(seconds, probe.calls(), warmup, repeats, 0.02, 0.05, slow_hint)
        if problem:
            fail(task, f"(warmup={warmup}, repeats={repeats}) {problem}")
    passed(task)
