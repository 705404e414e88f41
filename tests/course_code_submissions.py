"""Submissions that answer graded tasks with the course's own code, for the integrity tests.

* ``library_import``: every task that the course library (or a reference helper of its checks)
  implements is answered by importing it, aliasing it or wrapping it; the other tasks keep the
  reference solution.
* ``page_copy``: the same tasks answered by pasting the library's source, as the pages print it
  with ``show_source`` (``inspect.getsource``), renamed to the task's name.

``LIBRARY[assignment]`` lists (answer cell, graded name, course object, how): the tasks these
submissions should earn nothing on are the graded cells of those answer cells.
"""
from __future__ import annotations

import inspect
import re
import textwrap

from autograder.integrity import MIN_COPY_TOKENS, resolve
from testkit.submissions import grade_id, release_notebook, solution_cells

# how: "alias" (name = the library's object), "import" (from ... import ... as name),
# "wrap" (a def/class that calls it), or code (a wrapper written out).
LIBRARY: dict[str, list[tuple[str, str, str, str]]] = {
    "01_transfer_learning": [
        ("basic_block", "BasicBlock", "tlcourse.vision.BasicBlock", "subclass"),
        ("resnet", "ResNet", "tlcourse.vision.ResNet", "alias"),
        ("replace_head", "replace_head", "tlcourse.vision.replace_head", "import"),
        ("freeze_backbone", "freeze_backbone", "tlcourse.vision.freeze_backbone", "wrap"),
        ("param_groups", "param_groups", "tlcourse.vision.param_groups", "wrap"),
        ("fine_tune", "fine_tune", "tlcourse.vision.transfer",
         "def fine_tune(pretrained, images, labels, steps=40):\n"
         "    source = vision.ResNet(**SMALL, num_classes=5)\n"
         "    source.load_state_dict(pretrained)\n"
         "    model, optimizer = vision.transfer('fine-tune', source, 5, lr=1e-2, backbone_lr=1e-3)\n"
         "    vision.fit(model, images, labels, steps, optimizer)\n"
         "    return model\n"),
    ],
    "02_word_embeddings": [
        ("vocabulary", "build_vocab", "tlcourse.checks.embeddings.reference_vocab", "wrap"),
        ("windows", "skipgram_pairs", "tlcourse.checks.embeddings.reference_skipgram_pairs", "import"),
        ("noise_distribution", "noise_distribution", "tlcourse.embeddings.noise_distribution", "wrap"),
        ("sgns_loss", "sgns_loss", "tlcourse.embeddings.sgns_loss", "alias"),
        ("glove", "glove_loss", "tlcourse.embeddings.glove_loss", "wrap"),
        ("glove", "glove_weight", "tlcourse.embeddings.glove_weight", "wrap"),
        ("similarity", "nearest_neighbours", "tlcourse.checks.embeddings.reference_nearest", "wrap"),
        ("similarity", "analogy", "tlcourse.checks.embeddings.reference_analogy", "wrap"),
    ],
    "03_elmo_ulmfit": [
        ("lm_loss", "lm_loss", "tlcourse.checks.ulmfit.reference_lm_loss", "wrap"),
        ("scalar_mix", "ScalarMix", "tlcourse.ulmfit.ScalarMix", "subclass"),
        ("stlr", "stlr", "tlcourse.ulmfit.stlr", "import"),
        ("discriminative_param_groups", "discriminative_param_groups",
         "tlcourse.ulmfit.discriminative_groups", "wrap"),
        ("concat_pool", "concat_pool", "tlcourse.ulmfit.concat_pool", "alias"),
    ],
    "04_attention": [
        ("sinusoidal_positions", "sinusoidal_positions",
         "tlcourse.checks.attention.reference_positions", "wrap"),
    ],
    "05_bert": [
        ("mask_tokens", "mask_tokens", "tlcourse.bert.mask_tokens", "wrap"),
        ("make_nsp_examples", "make_nsp_examples", "tlcourse.bert.nsp_examples",
         "def make_nsp_examples(documents, seed=0):\n"
         "    return bert.nsp_examples(documents, random.Random(seed))\n"),
        ("encode_pair", "encode_pair", "tlcourse.bert.encode_pair", "alias"),
        ("mlm_loss_and_accuracy", "mlm_loss_and_accuracy", "tlcourse.bert.mlm_loss_and_accuracy",
         "import"),
    ],
    "06_gpt": [
        ("causal_lm", "next_token_loss", "tlcourse.checks.gpt.reference_next_token_loss", "wrap"),
        ("sample_next_token", "sample_next_token", "tlcourse.checks.gpt.reference_next_token_probs",
         "from tlcourse.checks.gpt import reference_next_token_probs\n"
         "def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None):\n"
         "    if temperature == 0:\n"
         "        return logits.argmax(dim=-1)\n"
         "    probs = reference_next_token_probs(logits, temperature, top_k, top_p)\n"
         "    return torch.multinomial(probs, 1).squeeze(-1)\n"),
        ("generate", "GenerativeGPT", "tlcourse.checks.gpt.reference_generate",
         "from tlcourse.checks import gpt as _g\n"
         "class GenerativeGPT(GPT):\n"
         "    @torch.no_grad()\n"
         "    def generate(self, idx, max_new_tokens, eos_id=None):\n"
         "        return _g.reference_generate(self, idx, max_new_tokens, eos_id)\n"),
        ("build_prompt", "build_prompt", "tlcourse.checks.gpt.reference_prompt", "import"),
        ("count_params", "count_params", "tlcourse.gpt.GPT",
         "def count_params(n_layer, d_model, vocab_size, n_ctx):\n"
         "    return GPT(n_layer=n_layer, n_head=1, d_model=d_model, vocab_size=vocab_size,\n"
         "               n_ctx=n_ctx).num_params()\n"),
        ("perplexity", "ScoringGPT", "tlcourse.checks.gpt.reference_perplexity",
         "from tlcourse.checks.gpt import reference_perplexity\n"
         "class ScoringGPT(GPT):\n"
         "    def perplexity(self, ids):\n"
         "        return reference_perplexity(self, ids)\n"),
    ],
    "07_t5_distilbert": [
        ("text_to_text", "to_text_to_text", "tlcourse.t5.to_text_to_text", "import"),
        ("text_to_text", "parse_label", "tlcourse.t5.parse_label", "wrap"),
        ("distillation_loss", "distillation_loss", "tlcourse.distillation.distillation_loss", "wrap"),
        ("init_student_from_teacher", "init_student_from_teacher",
         "tlcourse.distillation.init_student_from_teacher", "alias"),
        ("measurement", "measure_latency", "tlcourse.distillation.median_latency", "wrap"),
        ("measurement", "count_parameters", "tlcourse.distillation.count_parameters", "wrap"),
    ],
}


def _remove_def(code: str, name: str) -> str:
    """``code`` without its top-level ``def name``/``class name`` (and its decorators)."""
    lines = code.splitlines(keepends=True)
    out, skipping = [], False
    for line in lines:
        starts = re.match(rf"(def|class) {re.escape(name)}\b", line)
        if starts:
            while out and out[-1].startswith("@"):
                out.pop()
            skipping = True
            continue
        if skipping and line.strip() and not line[0].isspace():
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def _import_answer(name: str, path: str, how: str) -> str:
    module, _, obj = path.rpartition(".")
    if how == "alias":
        return f"import {module} as _course\n{name} = _course.{obj}\n"
    if how == "import":
        return f"from {module} import {obj} as {name}\n"
    if how == "subclass":
        return f"from {module} import {obj} as _Course\n\nclass {name}(_Course):\n    pass\n"
    if how == "wrap":
        return (f"from {module} import {obj} as _course_{name}\n\n"
                f"def {name}(*args, **kwargs):\n    return _course_{name}(*args, **kwargs)\n")
    return how


def _notebook(assignment: str, answers: dict[str, str]):
    nb = release_notebook(assignment)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def library_import(assignment: str):
    answers = solution_cells(assignment)
    for cell, name, path, how in LIBRARY[assignment]:
        answers[cell] = _remove_def(answers[cell], name) + "\n\n" + _import_answer(name, path, how)
    return _notebook(assignment, answers)


def page_source(path: str, name: str) -> str:
    """The course object's source as the pages show it (``show_source``), renamed ``name``."""
    src = textwrap.dedent(inspect.getsource(resolve(path)))
    return re.sub(r"^(def|class) \w+", rf"\1 {name}", src, count=1, flags=re.M)


def copyable(path: str) -> bool:
    """Whether a pasted copy of ``path`` is one the copy check must catch: long enough, or
    carrying the course version's docstring or comments (shorter code without them can be an
    honest answer that happens to read the same)."""
    from autograder.integrity import MIN_MARKED_TOKENS, _course_shape

    shape = _course_shape(path)
    if not shape:
        return False
    _, tokens, marks = shape[0]
    return len(tokens) >= MIN_COPY_TOKENS or (len(tokens) >= MIN_MARKED_TOKENS and bool(marks))


def page_copy(assignment: str):
    """Every task with a course counterpart long enough to be told from an honest answer,
    answered with that counterpart's source."""
    answers = solution_cells(assignment)
    for cell, name, path, how in LIBRARY[assignment]:
        if how in ("alias", "import", "wrap", "subclass") and copyable(path):
            answers[cell] = _remove_def(answers[cell], name) + "\n\n" + page_source(path, name)
    return _notebook(assignment, answers)


def copied_cells(assignment: str) -> set[str]:
    return {cell for cell, name, path, how in LIBRARY[assignment]
            if how in ("alias", "import", "wrap", "subclass") and copyable(path)}


def imported_cells(assignment: str) -> set[str]:
    return {cell for cell, *_ in LIBRARY[assignment]}
