"""Graded answers must be the student's own: not an import, a wrapper or a copy of course code.

Every graded task asks for something the course library (``tlcourse``) also implements, for its
pages, its model zoo or its checks. This module keeps those implementations out of a graded answer
in three ways:

1. **Switched off while grading** (in the student's process). :func:`guard_cell` is a cell the
   grader runs right after the locked setup cells and before any student cell. It replaces the
   code of every course object that implements a graded task (:data:`COURSE_CODE`, plus every
   ``reference_*`` helper of ``tlcourse/checks``) by a gate, in place: aliases and wrappers bound
   at import time, ``getattr`` with a computed name, subclasses and copies of the class all reach
   the gate. The gate runs the original only for the course's own code (the visible checks, the
   library calling itself); called while any student code is on the stack, or by the grader
   directly (a graded name bound to the library's object), it raises ``CourseCodeOff`` with a
   plain message. Re-importing or reloading a course module is refused.
2. **Read in the judge** (trusted, from the notebook itself): :func:`static_problems` parses the
   student's code. A graded name bound by an import or an assignment instead of a ``def`` /
   ``class``, course objects named in a graded answer (directly or through the student's own
   helpers), and the tools that can undo (1) (reloading modules, ``exec`` of source text,
   frames, code objects, a fresh interpreter) cost the task its points, with a message.
3. **Copies**: a graded function or class whose normalised syntax tree (names, docstrings and
   comments dropped) equals or nearly equals a course object's (the code the pages show with
   ``show_source``) is a copy: 0 for the task.
"""
from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re

# --------------------------------------------------------------------------- what is switched off
# assignment -> task (graded cell id) -> course objects that implement it (dotted paths).
COURSE_CODE: dict[str, dict[str, list[str]]] = {
    "01_transfer_learning": {
        "basic_block_tests": ["tlcourse.vision.BasicBlock", "tlcourse.checks.vision._block_variant"],
        "resnet_tests": ["tlcourse.vision.ResNet"],
        "replace_head_tests": ["tlcourse.vision.replace_head"],
        "freeze_backbone_tests": ["tlcourse.vision.freeze_backbone"],
        "param_groups_tests": ["tlcourse.vision.param_groups"],
        "fine_tune_tests": ["tlcourse.vision.transfer"],
    },
    "02_word_embeddings": {
        "vocabulary_tests": ["tlcourse.text.Vocab", "tlcourse.ulmfit.build_vocab"],
        "windows_tests": ["tlcourse.embeddings.skipgram_pairs"],
        "noise_distribution_tests": ["tlcourse.embeddings.noise_distribution",
                                     "tlcourse.embeddings.keep_probabilities"],
        "sgns_loss_tests": ["tlcourse.embeddings.sgns_loss", "tlcourse.embeddings.SkipGramNS"],
        "glove_tests": ["tlcourse.embeddings.glove_weight", "tlcourse.embeddings.glove_loss",
                        "tlcourse.embeddings.GloVe"],
        "similarity_tests": ["tlcourse.embeddings.nearest", "tlcourse.embeddings.three_cos_add",
                             "tlcourse.embeddings.WordVectors"],
    },
    "03_elmo_ulmfit": {
        "lm_loss_tests": ["tlcourse.ulmfit.lm_nll"],
        "bidirectional_lstm_tests": ["tlcourse.checks.ulmfit.bidirectional_state_dict"],
        "scalar_mix_tests": ["tlcourse.ulmfit.ScalarMix", "tlcourse.ulmfit.bilm_layers"],
        "stlr_tests": ["tlcourse.ulmfit.stlr", "tlcourse.ulmfit.stlr_scheduler"],
        "discriminative_param_groups_tests": ["tlcourse.ulmfit.discriminative_groups"],
        "concat_pool_tests": ["tlcourse.ulmfit.concat_pool", "tlcourse.ulmfit.ConcatPoolClassifier"],
    },
    "04_attention": {
        "basic_self_attention_tests": [],
        "scaled_dot_product_attention_tests": ["tlcourse.gpt.CausalSelfAttention"],
        "causal_mask_tests": ["tlcourse.gpt.CausalSelfAttention"],
        "multi_head_self_attention_tests": ["tlcourse.gpt.CausalSelfAttention",
                                            "tlcourse.checks.attention.torch_mha_output"],
        "layer_norm_tests": ["tlcourse.gpt.Block"],
        "sinusoidal_positions_tests": [],
    },
    "05_bert": {
        "mask_tokens_tests": ["tlcourse.bert.mask_tokens"],
        "make_nsp_examples_tests": ["tlcourse.bert.nsp_examples"],
        "encode_pair_tests": ["tlcourse.bert.encode_pair", "tlcourse.bert.truncate_pair"],
        "mlm_loss_and_accuracy_tests": ["tlcourse.bert.mlm_loss_and_accuracy",
                                        "tlcourse.bert.pretraining_outputs"],
        "bert_classifier_tests": ["tlcourse.bert.fine_tune", "tlcourse.bert.predict"],
    },
    "06_gpt": {
        "causal_lm_tests": ["tlcourse.gpt.CausalSelfAttention"],
        "sample_next_token_tests": [],
        "generate_tests": ["tlcourse.gpt.greedy_decode"],
        "build_prompt_tests": ["tlcourse.gpt.icl_prompt"],
        "count_params_tests": ["tlcourse.gpt.GPT.num_params"],
        "perplexity_tests": ["tlcourse.gpt.evaluate_loss"],
    },
    "07_t5_distilbert": {
        "span_corrupt_tests": ["tlcourse.t5.span_corrupt", "tlcourse.t5.random_spans_mask",
                               "tlcourse.t5.random_segmentation", "tlcourse.t5.noise_span_counts"],
        "text_to_text_tests": ["tlcourse.t5.to_text_to_text", "tlcourse.t5.parse_label"],
        "distillation_loss_tests": ["tlcourse.distillation.distillation_loss",
                                    "tlcourse.checks.distillation._distillation_variants"],
        "init_student_from_teacher_tests": ["tlcourse.distillation.init_student_from_teacher",
                                            "tlcourse.distillation.student_from_teacher"],
        "measurement_tests": ["tlcourse.distillation.count_parameters",
                              "tlcourse.distillation.forward_times",
                              "tlcourse.distillation.median_latency"],
    },
}

# Course objects a task may build on, though another task asks for them: (answer cell, function).
# Task 6 of Chapter 1 fine-tunes the library's ResNet with its training loop; what it grades is
# the recipe (start from the pre-trained weights, a new head, a smaller rate for the backbone).
ALLOWED_IN: dict[str, dict[str, set[tuple[str, str]]]] = {
    "01_transfer_learning": {
        "tlcourse.vision.ResNet": {("fine_tune", "fine_tune")},
        "tlcourse.vision.BasicBlock": {("resnet", "*")},     # Task 2 builds on the library's block
        "tlcourse.vision.replace_head": {("fine_tune", "fine_tune")},
        "tlcourse.vision.param_groups": {("fine_tune", "fine_tune")},
        "tlcourse.vision.freeze_backbone": {("fine_tune", "fine_tune")},
    },
}

# Course objects that are fine to use, except inside one graded function (answer cell, function):
# a GPT may be subclassed and built for Tasks 3 and 6, not built to count its own parameters.
DENIED_IN: dict[str, dict[str, set[tuple[str, str]]]] = {
    "06_gpt": {"tlcourse.gpt.GPT": {("count_params", "count_params")}},
}

# Calls an assignment's text forbids in a task (answer cell -> [(name, why)]): a dotted name that
# ends with ``name``, or ``name=True`` as a keyword. Read in the judge from the answer's code (and
# the student's helpers it uses): such an answer earns nothing for its task.
_ATTENTION_APIS = [("scaled_dot_product_attention", "F.scaled_dot_product_attention"),
                   ("MultiheadAttention", "nn.MultiheadAttention"), ("LayerNorm", "nn.LayerNorm"),
                   ("layer_norm", "F.layer_norm")]
FORBIDDEN: dict[str, dict[str, list[tuple[str, str]]]] = {
    "03_elmo_ulmfit": {"bidirectional_lstm": [("bidirectional", "nn.LSTM(..., bidirectional=True)")]},
    "04_attention": {
        "basic_self_attention": _ATTENTION_APIS,
        "scaled_dot_product_attention": _ATTENTION_APIS,
        "causal_mask": _ATTENTION_APIS,
        "multi_head_self_attention": _ATTENTION_APIS[1:],    # F.scaled_dot_product_attention: allowed
        "layer_norm": _ATTENTION_APIS,
        "sinusoidal_positions": _ATTENTION_APIS,
    },
    "06_gpt": {"causal_lm": [("scaled_dot_product_attention", "F.scaled_dot_product_attention")]},
}

CHECK_MODULES = ["tlcourse.checks.attention", "tlcourse.checks.bert", "tlcourse.checks.distillation",
                 "tlcourse.checks.embeddings", "tlcourse.checks.gpt", "tlcourse.checks.ulmfit",
                 "tlcourse.checks.vision"]
GUARD_ID = "course-code-guard"


@functools.lru_cache(maxsize=None)
def _reference_helpers() -> tuple[str, ...]:
    return tuple(_find_reference_helpers())


def reference_helpers() -> list[str]:
    return list(_reference_helpers())


def _find_reference_helpers() -> list[str]:
    """Every ``reference_*`` function of the visible checks: answers, for the checks' own use."""
    out = []
    for name in CHECK_MODULES:
        module = importlib.import_module(name)
        out += [f"{name}.{k}" for k, v in vars(module).items()
                if k.startswith("reference_") and inspect.isfunction(v) and v.__module__ == name]
    return sorted(out)


def resolve(path: str):
    """The object at a dotted path ``package.module.Name[.attr]``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(path)


def task_numbers(source) -> dict[str, int]:
    return {gid: i + 1 for i, gid in enumerate(source.tasks)}


def graded_names(source) -> dict[str, list[str]]:
    """Task (graded cell id) -> the top-level names its answer cell defines in the solution."""
    out = {}
    for gid, task in source.tasks.items():
        code = source.answers.get(task.answer or "", "")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        out[gid] = [n.name for n in tree.body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and _is_answer(ast.get_source_segment(code, n) or "")]
    return out


def _is_answer(code: str) -> bool:
    """A definition the student writes (the solution's region, or the release's placeholder),
    not one the assignment gives."""
    return "BEGIN SOLUTION" in code or "NotImplementedError" in code


def _describe_task(source, gid: str) -> str:
    names = graded_names(source).get(gid, [])
    n = task_numbers(source).get(gid, 0)
    return f"Task {n} asks you to write {' and '.join(names) or 'this'} yourself"


def gated(source) -> list[tuple[str, str, str, list]]:
    """(dotted path, mode, message, [(cell, function), ...]) for every course object the guard
    switches off in this assignment; mode ``gate`` (off for student code, but where allowed) or
    ``deny`` (off only inside the listed functions)."""
    name = source.name
    out, seen = [], set()
    for gid, paths in COURSE_CODE.get(name, {}).items():
        for path in paths:
            if path in seen:
                continue
            seen.add(path)
            allowed = sorted(ALLOWED_IN.get(name, {}).get(path, set()))
            msg = (f"{_describe_task(source, gid)}: the course library's version ({path}) is "
                   "switched off while grading")
            out.append((path, "gate", msg, [list(a) for a in allowed]))
    for path in reference_helpers():
        if path not in seen:
            seen.add(path)
            out.append((path, "gate", f"the course's reference helper {path} is switched off "
                        "while grading: graded answers are your own code", []))
    for path, where in DENIED_IN.get(name, {}).items():
        for cell, fn in sorted(where):
            gid = next((g for g, t in source.tasks.items() if t.answer == cell), "")
            out.append((path, "deny", f"{_describe_task(source, gid)}: {fn} may not use the "
                        f"course library's {path.rsplit('.', 1)[-1]} (switched off inside {fn} "
                        "while grading)", [[cell, fn]]))
    return out


# --------------------------------------------------------------------------- the guard cell
_GUARD = r'''
def __course_code_guard(spec, locked):
    import importlib
    import importlib.abc
    import sys
    import types

    import os
    import threading

    getframe = sys._getframe
    main, pid = threading.main_thread(), os.getpid()
    originals, trampolines, rules = {}, {}, {}
    runner_files = ("runner.py",)

    class CourseCodeOff(RuntimeError):
        """Raised when a graded answer uses the course's own implementation."""

    def outermost_student(frame):
        """The outermost frame of student code on the stack, as (cell, function), and whether
        the grader's calls are on it; ("inside", None) when the nearest of the student's frames
        and the gates' is a gate's: the library calling itself on behalf of an allowed call."""
        student, served = None, False
        while frame is not None:
            code = frame.f_code
            if code is gate_code and student is None:
                return "inside", False
            name = code.co_filename
            if name.startswith("<cell ") and name.endswith(">"):
                cell = name[6:-1]
                if cell not in locked:
                    student = (cell, code.co_name)
            elif code.co_name == "serve" and name.endswith(runner_files):
                served = True
            frame = frame.f_back
        return student, served

    def verdict(key, frame):
        mode, message, where = rules[key]
        if threading.current_thread() is not main or os.getpid() != pid:
            return message       # a thread or a process of the student's: never the checks'
        student, served = outermost_student(frame)
        if student == "inside":
            return None
        if mode == "deny":
            return message if student is not None and (list(student) in where or
                                                       [student[0], "*"] in where) else None
        if student is None and not served:
            return None          # the course's own code: the visible checks, the library
        if student is not None and (list(student) in where or [student[0], "*"] in where):
            return None
        return message

    def gate(key, args, kwargs):
        frame = getframe(1)
        if frame.f_code is not trampolines.get(key):
            raise CourseCodeOff("the course library's gate is not yours to call")
        problem = verdict(key, frame.f_back)
        frame = None
        if problem is not None:
            raise CourseCodeOff(problem) from None
        return originals[key](*args, **kwargs)

    gate_code = gate.__code__

    def trampoline(fn, key):
        free = fn.__code__.co_freevars
        body = "    " + ("(" + ", ".join(free) + ",)" if free else "pass") + "\n"
        src = ("def _outer():\n" + "".join(f"    {v} = None\n" for v in free) +
               "    def _t(*args, **kwargs):\n    " + body +
               f"        return __course_code_gate__({key!r}, args, kwargs)\n    return _t\n")
        scope = {}
        exec(compile(src, fn.__code__.co_filename, "exec"), scope)
        code = scope["_outer"]().__code__
        return code.replace(co_name=fn.__code__.co_name, co_qualname=fn.__code__.co_qualname,
                            co_firstlineno=fn.__code__.co_firstlineno)

    def switch_off(fn, key, rule):
        if not isinstance(fn, types.FunctionType) or key in originals:
            return
        orig = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                                  fn.__closure__)
        orig.__kwdefaults__ = fn.__kwdefaults__
        orig.__qualname__ = fn.__qualname__
        code = trampoline(fn, key)
        originals[key], trampolines[key], rules[key] = orig, code, rule
        fn.__globals__["__course_code_gate__"] = gate
        fn.__code__ = code

    def switch_off_class(cls, key, rule):
        for attr, value in list(vars(cls).items()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                for f in (value.fget, value.fset, value.fdel):
                    if f is not None:
                        switch_off(f, f"{key}.{attr}.{f.__name__}", rule)
                continue
            switch_off(value, f"{key}.{attr}", rule)
        rules[key] = rule
        previous = cls.__dict__.get("__init_subclass__")

        def __init_subclass__(sub, **kwargs):
            problem = verdict(key, getframe(1))
            if problem is not None:
                raise CourseCodeOff(problem) from None
            if previous is not None:
                previous.__func__(sub, **kwargs)
            else:
                super(cls, sub).__init_subclass__(**kwargs)

        cls.__init_subclass__ = classmethod(__init_subclass__)

    for path, mode, message, where in spec:
        parts = path.split(".")
        obj = None
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for p in parts[i:]:
                obj = getattr(obj, p)
            break
        rule = (mode, message, [list(w) for w in where])
        if isinstance(obj, type):
            switch_off_class(obj, path, rule)
        else:
            switch_off(obj, path, rule)

    loaded = frozenset(n for n in sys.modules if n == "tlcourse" or n.startswith("tlcourse."))

    import tlcourse
    roots = tuple(os.path.realpath(p) + os.sep for p in
                  {sys.prefix, sys.base_prefix, os.path.dirname(tlcourse.__path__[0])})
    finders = list(sys.meta_path)

    class NoReload(importlib.abc.MetaPathFinder):
        """Course modules are not loaded a second time (their code would be the original's),
        and no module is loaded from outside the Python installation and the course."""

        def find_spec(self, fullname, path=None, target=None):
            if fullname in loaded:
                raise ImportError(f"{fullname} cannot be imported again or reloaded while grading")
            for finder in finders:
                find = getattr(finder, "find_spec", None)
                spec = find(fullname, path, target) if find is not None else None
                if spec is None:
                    continue
                origin = spec.origin
                if origin and os.path.isabs(origin) and \
                        not os.path.realpath(origin).startswith(roots):
                    raise ImportError(f"{fullname} is not part of the Python installation: "
                                      "graded work imports no modules of its own")
                return spec
            return None

    sys.meta_path.insert(0, NoReload())


__course_code_guard(__SPEC__, __LOCKED__)
del __course_code_guard
'''


def guard_cell(source) -> str:
    """The guard's source for ``source`` (an assignment's release or source notebook)."""
    locked = sorted({gid for kind, gid in source.order if kind != "answer"} | {GUARD_ID})
    return (_GUARD.replace("__SPEC__", repr(gated(source)))
            .replace("__LOCKED__", repr(frozenset(locked))))


# --------------------------------------------------------------------------- reading the code
# Tools that reach the course's code past the guard: source text run as code (exec, compile,
# importlib, runpy, unpickling), code objects and closures, frames and tracing (the guard's own
# state), the import machinery (meta_path), a fresh interpreter (subprocess, exec*, spawn).
# An honest answer needs none of them. Threads and forked children need not be refused: the guard
# refuses them itself. Reading a file is harmless without a way to run it.
BANNED_MODULES = {"importlib", "imp", "runpy", "gc", "ctypes", "inspect", "linecache", "marshal",
                  "code", "codeop", "builtins", "subprocess", "multiprocessing", "pty", "pkgutil",
                  "zipimport", "dis", "pdb", "bdb", "trace", "cffi", "pickle", "dill",
                  "cloudpickle", "shelve", "copyreg", "joblib", "posix", "_posixsubprocess",
                  "_pickle", "_imp", "_frozen_importlib", "_frozen_importlib_external"}
BANNED_NAMES = {"exec", "eval", "compile", "__import__", "breakpoint", "__builtins__", "__loader__",
                "__spec__"}
BANNED_ATTRS = {"__code__", "__closure__", "__globals__", "__builtins__", "__getattribute__",
                "__reduce__", "__reduce_ex__", "__loader__", "__spec__", "__traceback__",
                "__init_subclass__", "cell_contents", "f_back", "f_locals", "f_globals", "f_code",
                "f_builtins", "tb_frame", "tb_next", "gi_frame", "cr_frame", "ag_frame", "gi_code",
                "_getframe", "settrace", "setprofile", "_current_frames", "meta_path",
                "path_hooks", "path_importer_cache", "walk_tb", "walk_stack",
                "system", "popen", "execv", "execve", "execl", "execle", "execlp", "execlpe",
                "execvp", "execvpe", "spawnv", "spawnve", "spawnl", "spawnle", "spawnlp",
                "spawnvp", "posix_spawn", "posix_spawnp", "multiprocessing", "hub", "load_inline",
                "cpp_extension", "__course_code_gate__", "read_pickle"}
# `torch.load`, `np.load` and the like can unpickle anything (a call to any function)
UNPICKLING_HEADS = {"torch", "np", "numpy", "pickle", "pd", "pandas", "joblib", "serialization"}
_ALLOWED_ATTR_BASES: dict[str, set] = {}


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> module, for every import in ``tree``."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def hatches(tree: ast.AST) -> list[str]:
    """The tools in ``tree`` (a student's code) that can reach switched-off course code."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names])
            for m in mods:
                parts = m.split(".")
                if parts[0] in BANNED_MODULES:
                    found.append(f"import {m}")
                if any(p in BANNED_ATTRS or p in BANNED_MODULES for p in parts[1:]):
                    found.append(f"import {m}")
            if isinstance(node, ast.ImportFrom) and node.level:
                found.append("a relative import")
        elif isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            found.append(node.id)
        elif isinstance(node, ast.Attribute):
            if node.attr in ("load", "loads") and \
                    (_dotted(node) or "").split(".")[0] in UNPICKLING_HEADS:
                found.append(f"{_dotted(node)}")
            elif node.attr in BANNED_ATTRS:
                base = node.value.id if isinstance(node.value, ast.Name) else None
                if base is not None and base in _ALLOWED_ATTR_BASES.get(node.attr, ()):
                    continue
                found.append(f".{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                if not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self"):
                    found.append(f"{node.func.id} with a computed name")
            elif name.value in BANNED_ATTRS or name.value in BANNED_MODULES:
                found.append(f"{node.func.id}(..., {name.value!r})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "__course_code_gate__" in node.value or "__code__" in node.value:
                found.append(f"the text {node.value[:30]!r}")
    return list(dict.fromkeys(found))


def _parse(code: str):
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _course_bindings(source, trees: list) -> dict[str, str]:
    """Names that refer to course modules or objects: the setup's imports and the student's."""
    out = {}
    for code in list(source.setup.values()):
        tree = _parse(code)
        if tree is not None:
            out.update({k: v for k, v in _module_aliases(tree).items() if v.startswith("tlcourse")})
    for tree in trees:
        out.update({k: v for k, v in _module_aliases(tree).items() if v.startswith("tlcourse")})
    return out


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


def _top_level_bindings(trees: list) -> dict[str, list[ast.AST]]:
    out: dict[str, list[ast.AST]] = {}
    for tree in trees:
        for node in tree.body:
            targets = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                targets = [node.name]
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    targets += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = [a.asname or a.name.split(".")[0] for a in node.names]
            for t in targets:
                out.setdefault(t, []).append(node)
    return out


def _reached(name: str, bindings: dict) -> list[ast.AST]:
    """The top-level statements that ``name`` depends on, through the student's own names."""
    seen, todo, nodes = set(), [name], []
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for node in bindings.get(n, []):
            nodes.append(node)
            todo += [x.id for x in ast.walk(node) if isinstance(x, ast.Name) and x.id in bindings]
    return nodes


def static_problems(source, answers: dict[str, str], extra: dict[str, list[str]]) -> dict[str, str]:
    """Task (graded cell id) -> why it earns nothing: its graded names are not the student's own
    code. ``answers`` and ``extra`` are the student's cells as :func:`verdict.student_cells`
    reads them from the notebook."""
    cells = [(gid, code) for gid, code in answers.items()]
    cells += [(f"{anchor or 'top'}-extra-{i}", code) for anchor, codes in extra.items()
              for i, code in enumerate(codes)]
    trees = {cid: _parse(code) for cid, code in cells}
    parsed = [t for t in trees.values() if t is not None]
    course = _course_bindings(source, parsed)
    bindings = _top_level_bindings(parsed)
    off = {}          # dotted course path -> tasks it implements
    for gid, paths in COURSE_CODE.get(source.name, {}).items():
        for p in paths:
            off.setdefault(p, set()).add(gid)
    refs = reference_helpers()
    numbers = task_numbers(source)
    problems: dict[str, str] = {}
    everywhere = []
    for cid, tree in trees.items():
        if tree is None:
            continue
        for h in hatches(tree):
            everywhere.append((cid, h))
    names = graded_names(source)
    defined = {n for n, nodes in bindings.items()
               if any(isinstance(x, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for x in nodes)}
    for gid, task in source.tasks.items():
        if not task.answer:
            continue
        tree = trees.get(task.answer)
        if tree is None:
            continue
        what = _describe_task(source, gid)
        for name in names.get(gid, []):
            for node in bindings.get(name, []):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                if not isinstance(node, (ast.Import, ast.ImportFrom)) and _wraps_own_code(node, defined):
                    continue      # `f = my_decorator(f)`: the student's own function, wrapped
                kind = "imports" if isinstance(node, (ast.Import, ast.ImportFrom)) else "assigns"
                problems.setdefault(gid, f"{what}: your code {kind} `{name}` instead of "
                                    f"defining it with `def` or `class`")
        allowed_paths = {p for p, where in ALLOWED_IN.get(source.name, {}).items()
                         if any(cell == task.answer for cell, _ in where)}
        if task.answer in {c for w in DENIED_IN.get(source.name, {}).values() for c, _ in w}:
            denied = {p for p, w in DENIED_IN[source.name].items()
                      if any(c == task.answer for c, _ in w)}
        else:
            denied = set()
        for name in names.get(gid, []):
            for node in _reached(name, bindings):
                for sub in ast.walk(node):
                    full = None
                    if isinstance(sub, (ast.Attribute, ast.Name)) and isinstance(sub.ctx, ast.Load):
                        d = _dotted(sub)
                        if d:
                            head, _, rest = d.partition(".")
                            if head in course:
                                full = course[head] + ("." + rest if rest else "")
                    if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("tlcourse"):
                        for a in sub.names:
                            hit = _course_hit(f"{sub.module}.{a.name}", off, refs)
                            if hit:
                                full = f"{sub.module}.{a.name}"
                    if full is None:
                        continue
                    hit = _course_hit(full, {**off, **{d: set() for d in denied}}, refs)
                    if hit and hit not in allowed_paths:
                        owner = sorted(off.get(hit) or {gid})[0]
                        which = (f"Task {numbers.get(owner, 0)}'s" if owner != gid else "the")
                        problems.setdefault(gid, f"{what}: your answer uses {which} course "
                                            f"library's version ({hit}), which is switched off "
                                            "while grading")
        forbidden = FORBIDDEN.get(source.name, {}).get(task.answer, [])
        for name in names.get(gid, []) if forbidden else []:
            for node in _reached(name, bindings):
                for sub in ast.walk(node):
                    used = None
                    if isinstance(sub, ast.Attribute):      # F.x, torch.nn.functional.x
                        d = _dotted(sub) or ""
                        used = next((w for n, w in forbidden if d.endswith("." + n)), None)
                    elif isinstance(sub, ast.ImportFrom):       # from torch... import x
                        used = next((w for n, w in forbidden for a in sub.names if a.name == n
                                     and (sub.module or "").split(".")[0] in ("torch", "transformers")),
                                    None)
                    elif isinstance(sub, ast.keyword) and isinstance(sub.value, ast.Constant) \
                            and sub.value.value is True:
                        used = next((w for n, w in forbidden if sub.arg == n), None)
                    if used:
                        problems.setdefault(gid, f"{what}: the assignment asks you not to use {used} "
                                            "here, and your answer does")
    if everywhere:
        cid, h = everywhere[0]
        msg = (f"your notebook uses {h} (cell {cid}), which can reach the course library's code "
               "past the grader: graded work may not use it")
        for gid in source.tasks:
            problems.setdefault(gid, msg)
    for gid, msg in copy_problems(source, trees, dict(cells)).items():
        problems.setdefault(gid, msg)
    return problems


def _wraps_own_code(node: ast.AST, defined: set[str]) -> bool:
    """An assignment whose value is built from the student's own functions or classes (a wrapper
    or decorator applied to their answer): not a borrowed binding. Course code it reaches is
    still found through :func:`_reached`."""
    value = getattr(node, "value", None)
    return value is not None and any(isinstance(n, ast.Name) and n.id in defined
                                     for n in ast.walk(value))


def _course_hit(full: str, off: dict, refs: list) -> str | None:
    """The switched-off course object that the dotted name ``full`` is, or is inside."""
    for p in list(off) + refs:
        if full == p or full.startswith(p + "."):
            return p
    return None


# --------------------------------------------------------------------------- copies
MIN_COPY_TOKENS = 100      # shorter code: an honest answer may well be the same


class _Normalise(ast.NodeTransformer):
    """Drops docstrings, and every identifier the writer chose (names, arguments, attributes of
    ``self``), renaming them by order of first use: what is left is the code's shape."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _n(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _body(self, body):
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        return body or [ast.Pass()]

    def visit_FunctionDef(self, node):
        node.name = self._n(node.name)
        node.body = self._body(node.body)
        node.returns = None
        node.decorator_list = []
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self._n(node.name)
        node.body = self._body(node.body)
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self._n(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        node.id = self._n(node.id)
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id == self.names.get("self", "\0"):
            node.attr = self._n("." + node.attr)
        return node

    def visit_keyword(self, node):
        self.generic_visit(node)
        return node


def shape_tokens(node: ast.AST) -> list[str]:
    """The normalised code of a function or class, as a list of tokens."""
    import copy

    node = _Normalise().visit(copy.deepcopy(node))
    text = ast.unparse(node)
    return re.findall(r"\w+|[^\s\w]", text)


MIN_MARKED_TOKENS = 10      # shorter code is too small to call a copy, marks or not
MIN_MARK_CHARS = 15         # a docstring or comment this long, word for word, is the course's


def _marks(code: str, node: ast.AST | None = None) -> set[str]:
    """The docstring and comments of ``code`` (or of ``node`` in it), whitespace normalised: the
    words a copy keeps that an independent answer does not write the same way."""
    import io
    import tokenize

    out = set()
    if node is not None:
        doc = ast.get_docstring(node, clean=True)
        if doc:
            out.add(" ".join(doc.split()))
        code = ast.get_source_segment(code, node) or ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                text = " ".join(tok.string.lstrip("#").split())
                if not text.startswith(("BEGIN SOLUTION", "END SOLUTION")):
                    out.add(text)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return {m for m in out if len(m) >= MIN_MARK_CHARS}


def _course_shapes(paths: list[str]) -> list[tuple[str, list[str], frozenset]]:
    return [s for p in paths for s in _course_shape(p)]


@functools.lru_cache(maxsize=None)
def _course_shape(p: str) -> tuple:
    import textwrap

    try:
        src = textwrap.dedent(inspect.getsource(resolve(p)))
    except (ImportError, AttributeError, OSError, TypeError):
        return ()
    tree = _parse(src)
    if tree is None or not tree.body:
        return ()
    return ((p, shape_tokens(tree.body[0]), frozenset(_marks(src, tree.body[0]))),)


def copy_problems(source, trees: dict, codes: dict | None = None) -> dict[str, str]:
    """Tasks whose graded function or class is a copy of a course object's code: the same
    normalised syntax tree (names, comments and docstrings dropped), when it is long enough that
    an independent answer would not come out the same (``MIN_COPY_TOKENS``), or, shorter, when it
    also keeps one of the course version's docstring or comments word for word."""
    problems = {}
    names = graded_names(source)
    refs = reference_helpers()
    codes = codes or {}
    for gid, task in source.tasks.items():
        tree = trees.get(task.answer or "")
        if tree is None:
            continue
        shapes = _course_shapes(COURSE_CODE.get(source.name, {}).get(gid, []) + refs)
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or \
                    node.name not in names.get(gid, []):
                continue
            mine = shape_tokens(node)
            if len(mine) < MIN_MARKED_TOKENS:
                continue
            marks = None
            for path, theirs, their_marks in shapes:
                if mine != theirs:
                    continue
                if len(mine) < MIN_COPY_TOKENS:
                    if marks is None:
                        marks = _marks(codes.get(task.answer, ""), node)
                    if not marks & their_marks:
                        continue
                problems[gid] = (f"{_describe_task(source, gid)}: your {node.name} is the course "
                                 f"library's {path}, copied (only names changed): it does not "
                                 "count as your work")
                break
            if gid in problems:
                break
    return problems


# --------------------------------------------------------------------------- plumbing
def preload(source) -> None:
    """Import every module the guard switches objects off in, and read their code for the copy
    check (the warm process does it once: its sandboxes and judges are copies of it)."""
    for path, *_ in gated(source):
        try:
            resolve(path)
        except (ImportError, AttributeError):
            pass
    for paths in COURSE_CODE.get(source.name, {}).values():
        _course_shapes(paths + reference_helpers())


def read_code(fd: int, source) -> tuple[dict, dict] | None:
    """The student's answers and extra cells, read by the judge from its own copy of the
    submission's file descriptor (the sandbox's reading moved the shared offset: ``pread``
    from 0). None when it cannot: the submission is then not judged (the grader refuses such
    files before they reach a sandbox; this is the judge's own check)."""
    import os

    from . import verdict

    try:
        size = os.fstat(fd).st_size
        if verdict.too_large(size, 0):
            return None
        raw, chunks, offset = b"", [], 0
        while offset < size:
            chunk = os.pread(fd, min(1 << 20, size - offset), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        raw = b"".join(chunks)
        if verdict.too_large(len(raw), verdict.containers(raw)):
            return None      # JSON built to expand into millions of objects: not decoded here
        nb = verdict.parse_submission(raw)
        answers, extra, _ = verdict.student_cells(nb, source)
        return answers, extra
    except (verdict.BadSubmission, OSError, MemoryError, RecursionError, ValueError):
        return None
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
