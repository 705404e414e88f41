"""Grade one submission: run it in the sandbox, then judge it in a trusted context.

The source notebook (``solutions/``, read by :mod:`autograder.assignment`) is the authority on
what a submission contains: its setup cells, its graded cells (the visible check, then the hidden
tests) and the ids of the answer cells.
From the student's notebook only the answer cells (by nbgrader ``grade_id``) and any extra code cells
are taken; locked cells come from the source, so deleting, editing or reordering them changes
nothing.

1. The sandbox runs: the source's setup cells, the student's answers and extra cells, and each
   task's visible check (its message is feedback, never a verdict).
2. The grader runs each task's hidden tests *in its own process*, in a namespace made from the
   source's setup cell, where every function or class the student defined is a
   :class:`~autograder.sandbox.Remote` proxy. Only plain tensors and numbers come back, so the
   student's code cannot patch the comparisons, return an object equal to everything, or see the
   tests.
3. Points: :data:`SCORING_RULE`, the rule every assignment's introduction and the README state.
   A hidden-test block's ``test_*`` functions are its tests (a block without them is one test):
   the task's points times the fraction of them that pass. A task whose answer is the course's
   own code (:mod:`autograder.integrity`) earns nothing.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .assignment import Assignment, Task, test_names
from .course import grade_id
from .sandbox import Limits, Sandbox, SandboxError, StudentError

SCORING_RULE = (
    "**Points.** A task's points are shared equally among its hidden tests, which run your code "
    "at grading time on freshly drawn inputs: you earn the share of every hidden test your code "
    "passes. The check cell gives no points; it tells you what is wrong. An answer that imports, "
    "wraps or copies the course library's own version of what a task asks earns nothing for that "
    "task (those versions are switched off while grading).")
MAX_NOTEBOOK_MB = 200          # a notebook's size (its outputs included), checked before reading
MAX_CONTAINERS = 1_000_000     # JSON lists and objects (a notebook's cells hold thousands)


def containers(raw: bytes) -> int:
    """An upper bound on the JSON lists and objects in ``raw`` (brackets inside strings count
    too), computed before anything is decoded."""
    return raw.count(b"[") + raw.count(b"{")


def too_large(size: int, n_containers: int) -> str | None:
    """Why a submission is refused before it is read, or None: the limits that keep the grader's
    own decoding of it bounded (a notebook whose JSON expands in memory is refused here)."""
    if size > MAX_NOTEBOOK_MB * 2**20:
        return (f"the file is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_MB} MB limit: clear "
                "the outputs (Kernel > Restart & Clear Output) and resubmit")
    if n_containers > MAX_CONTAINERS:
        return (f"the file holds over {MAX_CONTAINERS:,} JSON lists and objects: clear the "
                "outputs (Kernel > Restart & Clear Output) and resubmit")
    return None


class BadSubmission(ValueError):
    """The file cannot be read as a notebook; the message says why, in plain words."""


# --------------------------------------------------------------------------- the source
@dataclass
class Source:
    """What the grader needs from an assignment's source notebook."""
    name: str
    setup: dict[str, str]                  # id -> code of locked, non-graded code cells, in order
    order: list[tuple[str, str]]           # ("setup"|"answer"|"task", id) in notebook order
    answers: dict[str, str]                # answer grade_id -> the reference solution's code
    tasks: dict[str, Task]
    _guard: str | None = field(default=None, repr=False, compare=False)

    def answer_names(self) -> set[str]:
        """Top-level functions and classes the answer cells define: all the hidden tests may call."""
        import ast
        import builtins

        names = set()
        for code in self.answers.values():
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            names |= {n.name for n in tree.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        return {n for n in names if not hasattr(builtins, n)}

    @classmethod
    def load(cls, path: Path, public: bool = False) -> "Source":
        """The source notebook; ``public=True`` reads a release (no hidden tests, no solutions):
        what the sandbox needs to assemble a submission's cells. Read and checked by
        :class:`autograder.assignment.Assignment`."""
        return cls.of(Assignment.load(path, public))

    @classmethod
    def of(cls, assignment: Assignment) -> "Source":
        """What the grader takes of an :class:`~autograder.assignment.Assignment`."""
        return cls(assignment.name, assignment.setup, assignment.order, assignment.answers,
                   dict(assignment.tasks))

    @property
    def guard(self) -> str:
        """The cell that switches the course's own implementations of the graded tasks off
        before any student cell runs (:mod:`autograder.integrity`); computed once, and imported
        with the rest in the warm process (``_preload`` loads a release)."""
        if self._guard is None:
            from . import integrity

            self._guard = integrity.guard_cell(self)
            integrity.preload(self)
        return self._guard


# --------------------------------------------------------------------------- the submission
def read_submission(path: Path):
    """The student's notebook, or :class:`BadSubmission` saying what is wrong with the file."""
    size = path.stat().st_size
    if size == 0:
        raise BadSubmission("the file is empty")
    why = too_large(size, 0)
    if why:
        raise BadSubmission(why)
    raw = path.read_bytes()
    why = too_large(len(raw), containers(raw))
    if why:
        raise BadSubmission(why)
    return parse_submission(raw)


MAX_DEPTH = 64              # nesting of the notebook's JSON


def _json_depth_ok(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets nest at most ``limit`` deep (strings skipped): checked before parsing."""
    import re as _re

    depth = 0
    for m in _re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return False
        elif c in "]}":
            depth -= 1
    return True


def parse_submission(raw: bytes):
    """The notebook in ``raw`` (the bytes of a submitted file), or :class:`BadSubmission`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadSubmission(f"the file is not UTF-8 text (byte {e.start}): it is not a notebook "
                            "saved by Jupyter") from None
    if not text.lstrip().startswith("{"):
        raise BadSubmission("the file is not a readable Jupyter notebook (a notebook is a JSON "
                            "object, this is not)")
    if not _json_depth_ok(text):
        raise BadSubmission(f"the file is not a readable Jupyter notebook (its JSON nests more "
                            f"than {MAX_DEPTH} levels deep)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several types for JSON and schema errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadSubmission(f"the file is not a readable Jupyter notebook ({first[:200]})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise BadSubmission("the file is JSON but not a notebook: it has no list of cells")
    return nb


def student_cells(nb, source: Source) -> tuple[dict[str, str], dict[str, list[str]], list[str]]:
    """From the student's notebook: answers by grade_id, extra code cells attached to the
    nbgrader cell before them, and notes on anything odd (deleted or duplicated cells)."""
    answers, extra, notes = {}, {}, []
    anchor = None
    known = {gid for _, gid in source.order}
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(map(str, src)) if isinstance(src, list) else str(src)
        gid = grade_id(cell)
        if gid in source.answers:
            if gid in answers:
                notes.append(f"answer cell {gid} appears twice: the first one was graded")
            else:
                answers[gid] = src
            anchor = gid
        elif gid in known:
            anchor = gid      # a locked cell: the source's version is used
        elif src.strip():
            extra.setdefault(anchor or "", []).append(src)
    for gid in source.answers:
        if gid not in answers:
            notes.append(f"answer cell {gid} is missing from the notebook (deleted?)")
    return answers, extra, notes


def sandbox_cells(source: Source, answers: dict, extra: dict) -> list[dict]:
    """The cells the sandbox runs, in order. The locked setup cells at the top run first, then
    the guard that switches the course's own answers off (:mod:`autograder.integrity`), then the
    student's cells, the first of them any cells above the setup."""
    from .integrity import GUARD_ID

    cells = []
    top = [{"id": f"extra-{i}", "source": s} for i, s in enumerate(extra.get("", []))]
    guarded = False
    for kind, gid in source.order:
        if not guarded and kind != "setup":
            cells += [{"id": GUARD_ID, "source": source.guard}] + top
            guarded = True
        if kind == "setup":
            cells.append({"id": gid, "source": source.setup[gid]})
        elif kind == "answer":
            cells.append({"id": gid, "source": answers.get(gid, "")})
        else:
            cells.append({"id": gid, "source": source.tasks[gid].visible})
        cells += [{"id": f"{gid}-extra-{i}", "source": s} for i, s in enumerate(extra.get(gid, []))]
    if not guarded:
        cells += [{"id": GUARD_ID, "source": source.guard}] + top
    return cells


# --------------------------------------------------------------------------- the verdict
@dataclass
class TaskResult:
    score: float
    max_score: float
    passed: int
    total: int
    visible: str | None = None     # the visible check's complaint, if any (from the sandbox)
    message: str = ""              # why hidden tests failed, in plain words


@dataclass
class Result:
    student: str
    assignment: str
    sha256: str = ""
    status: str = "graded"          # graded | error
    error: str = ""
    notes: list[str] = field(default_factory=list)
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)   # the sandbox's per-cell errors and output
    answers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(t.score for t in self.tasks.values())

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Result":
        """A result from its JSON, every field checked, capped and cleaned (whatever wrote it:
        a stored result can never break feedback or exports)."""
        if not isinstance(d, dict):
            raise ValueError("a result must be a JSON object")
        tasks = {}
        raw_tasks = d.get("tasks") or {}
        if not isinstance(raw_tasks, dict):
            raise ValueError("tasks must be an object")
        for k, v in list(raw_tasks.items())[:MAX_ITEMS]:
            if not isinstance(v, dict):
                raise ValueError("a task must be an object")
            tasks[clean_text(k, 200)] = TaskResult(
                score=_number(v.get("score")), max_score=_number(v.get("max_score")),
                passed=int(_number(v.get("passed"))), total=int(_number(v.get("total"), 1)),
                visible=None if v.get("visible") is None else clean_text(v["visible"], MAX_MESSAGE),
                message=clean_text(v.get("message", ""), MAX_MESSAGE))
        cells = []
        for c in (d.get("cells") or [])[:MAX_ITEMS] if isinstance(d.get("cells"), list) else []:
            if isinstance(c, dict):
                cells.append({"id": clean_text(c.get("id", ""), 200),
                              "error": None if c.get("error") is None
                              else clean_text(c["error"], MAX_MESSAGE),
                              "output": clean_text(c.get("output", ""), MAX_OUTPUT)})
        answers = d.get("answers") if isinstance(d.get("answers"), dict) else {}
        notes = d.get("notes") if isinstance(d.get("notes"), list) else []
        status = d.get("status") if d.get("status") in ("graded", "error") else "error"
        return cls(student=clean_text(d.get("student", ""), 400),
                   assignment=clean_text(d.get("assignment", ""), 200),
                   sha256=clean_text(d.get("sha256", ""), 64), status=status,
                   error=clean_text(d.get("error", ""), MAX_MESSAGE),
                   notes=[clean_text(n, MAX_MESSAGE) for n in notes[:50]],
                   tasks=tasks, cells=cells,
                   answers={clean_text(k, 200): clean_text(v, MAX_ANSWER)
                            for k, v in list(answers.items())[:MAX_ITEMS]},
                   seconds=_number(d.get("seconds")))

    def cleaned(self) -> "Result":
        return Result.from_json(self.to_json())


# What a result may hold of what came from the student's side (messages, outputs, answers):
# a result is at most a few MB, whatever the submission printed or raised.
MAX_MESSAGE = 2_000
MAX_OUTPUT = 20_000
MAX_ANSWER = 100_000
MAX_ITEMS = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value, limit: int) -> str:
    """``value`` as text that any writer accepts: no lone surrogates, no control characters but
    new lines and tabs, at most ``limit`` characters (cut with a note)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + " ... (cut)"
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("\ufffd", text)


def _number(value, default: float = 0.0) -> float:
    import math

    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return x if math.isfinite(x) else default


def _failure(exc: BaseException) -> str:
    if isinstance(exc, StudentError):
        if str(exc).startswith("CourseCodeOff: "):
            return str(exc).removeprefix("CourseCodeOff: ")
        if str(exc).startswith("NotImplementedError"):
            return "not answered yet: the answer cell still raises NotImplementedError"
        if str(exc).startswith("time limit"):
            return f"{exc} (an endless loop?)"
        return f"your code raised {exc}"
    if isinstance(exc, SandboxError):
        return str(exc)
    if isinstance(exc, AssertionError):
        return str(exc) or "the result differs from the reference on freshly drawn inputs"
    if isinstance(exc, NameError) and getattr(exc, "name", None):
        return (f"your notebook does not define `{exc.name}` as a function or class (the task asks "
                "for one, with that name)")
    if isinstance(exc, TypeError) and "submission" in str(exc):
        return f"your code returned the wrong kind of value ({exc})"
    return (f"a hidden test could not use your code ({type(exc).__name__}: {exc}): check that it "
            "takes the arguments the task describes and returns the kind of value it asks for")


def _hidden_tests(code: str, ns: dict) -> list[tuple[str, object]]:
    """The hidden block's ``test_*`` functions, or the whole block as one test."""
    compiled = compile(code, "<hidden tests>", "exec")
    names = test_names(code)
    if not names:
        return [("hidden tests", lambda: exec(compiled, ns))]
    exec(compiled, ns)
    return [(n, ns[n]) for n in names]


# Hidden tests draw their inputs from the global torch/numpy/random generators. The sandboxed
# grader judges each submission in a process of its own (autograder.forkserver): no lock. Judged
# in one process (--no-sandbox, the benchmarks' direct timings), one test at a time, so that
# seeding them makes a verdict reproducible.
_RNG_LOCK = threading.Lock()


def _seed_everything(*parts: str) -> None:
    import random

    import numpy as np
    import torch

    seed = int(hashlib.sha256(":".join(parts).encode()).hexdigest()[:15], 16)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def judge(source: Source, box: Sandbox, ready: dict, seed: str,
          code: tuple[dict, dict]) -> dict[str, TaskResult]:
    """Run every task's hidden tests in a fresh trusted namespace with proxies to the student.

    ``seed`` (a secret of the grading run plus the student) seeds each test: its inputs are drawn
    at grading time, unknown in advance, and the same when the same submission is graded again.
    """
    waited = time.monotonic()
    with _RNG_LOCK:
        if box.deadline is not None:   # time spent waiting for another submission is not ours
            box.deadline += time.monotonic() - waited
        return _judge(source, box, ready, seed, code)


# --------------------------------------------------------------------------- warm setup
_warm: dict | None = None     # in a fork server: the leading setup cells, already run


def _leading_setup(source: Source) -> list[tuple[str, str]]:
    lead = []
    for kind, gid in source.order:
        if kind != "setup":
            break
        lead.append((gid, source.setup[gid]))
    return lead


def warm_setup(source: Source) -> bool:
    """Run the assignment's leading setup cells once, in the fork server, before it forks
    anything: each judge and sandbox forked from it then starts from that namespace (its own
    copy-on-write copy) instead of running them again. Chapter 1's trains a small ResNet: seconds,
    twice per submission. Setup cells are public (they are the release's) and the instructor's.
    Not done when a cell defines a function or class (it would keep this namespace as its
    globals), raises, or leaves a second thread behind (forking must stay safe)."""
    import ast
    import contextlib
    import io
    import os

    global _warm
    lead = _leading_setup(source)
    if not lead or any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                      ast.Lambda))
                       for _, code in lead for n in ast.walk(ast.parse(code))):
        return False
    ns: dict = {"__name__": "__main__"}
    outputs = {}
    try:
        for gid, code in lead:
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compile(code, f"<cell {gid}>", "exec"), ns)
            outputs[gid] = out.getvalue()
    except BaseException:
        return False
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        return False
    _warm = {"ran": lead, "ns": ns, "outputs": outputs}
    return True


def take_warm(source: Source, name: str) -> tuple[dict, dict[str, str]] | None:
    """The warm namespace (see :func:`warm_setup`) and the output of each cell it ran, for the
    first caller in this process whose setup cells are the ones that ran; None otherwise."""
    global _warm
    warm, _warm = _warm, None
    if warm is None or _leading_setup(source) != warm["ran"]:
        return None
    warm["ns"]["__name__"] = name
    return warm["ns"], warm["outputs"]


def grader_namespace(source: Source, defined: dict) -> dict:
    """The namespace hidden tests run in: the source's setup cells, then, of ``defined`` (the
    student's names, as proxies when sandboxed), only what the answer cells define: a student's
    global named `range` or `len` (or anything else) never reaches the hidden tests."""
    warm = take_warm(source, "__grader__")
    ns, ran = warm if warm else ({"__name__": "__grader__"}, {})
    for gid, code in source.setup.items():
        if gid not in ran:
            exec(compile(code, "<setup>", "exec"), ns)
    wanted = source.answer_names()
    for name, value in defined.items():
        if name in wanted and name not in ns:
            ns[name] = value
    return ns


def _judge(source: Source, box: Sandbox, ready: dict, seed: str,
           code: tuple[dict, dict]) -> dict[str, TaskResult]:
    """``code``: the student's (answers, extra cells), read by the grader from the notebook
    itself, never taken from what the sandbox reports."""
    from .integrity import static_problems

    try:
        own = static_problems(source, *code)
    except RecursionError:
        own = {g: "your code is nested too deeply to be read" for g in source.tasks}
    ns = grader_namespace(source, box.proxies())
    cell_errors = {c["id"]: c["error"] for c in ready.get("cells", [])}
    results = {}
    for gid, task in source.tasks.items():
        passed, messages = 0, []
        try:  # each task in its own copy: one task's helpers never leak into the next
            _seed_everything(seed, gid)
            tests = _hidden_tests(task.hidden, dict(ns))
        except BaseException as exc:  # a hidden block that fails at definition time
            tests, messages = [], [_failure(exc)]
        if gid in own:           # not the student's own code: no test runs
            tests, messages = [], [own[gid]]
        for name, test in tests:
            try:
                _seed_everything(seed, gid, name)
                test()
                passed += 1
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                messages.append(_failure(exc))
        total = max(len(tests), 1)
        results[gid] = TaskResult(
            score=round(task.points * passed / total, 4), max_score=task.points,
            passed=passed, total=total, visible=cell_errors.get(gid),
            message=messages[0] if messages else "")
    return results


def zero(source: Source, why: str) -> dict[str, TaskResult]:
    """No points on any task, each saying why."""
    return {g: TaskResult(0.0, t.points, 0, 1, message=why) for g, t in source.tasks.items()}


def grade_notebook(path: Path, source: Source, student: str, hide: list[str],
                   limits: Limits | None = None, uid: int = 0, isolate: bool = True,
                   secret: str = "") -> Result:
    """Grade one submitted notebook. Never raises for a bad submission: it becomes the result."""
    start = time.perf_counter()
    result = Result(student=student, assignment=source.name)
    try:
        with open(path, "rb") as f:              # streamed: a huge file is not read twice
            result.sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        nb = read_submission(Path(path))
    except (BadSubmission, OSError) as exc:
        result.status, result.error = "error", str(exc)
        result.tasks = zero(source, str(exc))
        return result
    answers, extra, result.notes = student_cells(nb, source)
    result.answers = answers
    box = Sandbox(sandbox_cells(source, answers, extra), hide=hide, limits=limits or Limits(),
                  uid=uid, isolate=isolate)
    try:
        ready = box.start()
        result.cells = ready.get("cells", [])
        result.tasks = judge(source, box, ready, seed=f"{secret}:{student}", code=(answers, extra))
    except SandboxError as exc:
        result.error = str(exc)
        result.tasks = zero(source, str(exc))
    finally:
        box.close()
    result.seconds = round(time.perf_counter() - start, 2)
    return result
