"""Graded answers are the student's own: importing, wrapping or copying course code earns nothing.

Fast tests read code (``autograder.integrity.static_problems``) and run the guard cell in a
process of its own; the slow ones grade, per assignment, a submission that imports or wraps the
course library's versions and one that pastes their source, through the sandboxed grader."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import require_sandbox
from course_code_submissions import (LIBRARY, copied_cells, imported_cells, library_import,
                                     page_copy)

from autograder import course, integrity
from autograder.verdict import Source
from testkit.submissions import solution_cells, write

ASSIGNMENTS = course.assignments()
ROOT = Path(__file__).resolve().parent.parent


def _source(assignment):
    return Source.load(course.source_notebook(assignment))


def _task_of(source, cell):
    return next(g for g, t in source.tasks.items() if t.answer == cell)


def test_the_tables_by_answer_cell_name_answer_cells_that_exist():
    """FORBIDDEN, ALLOWED_IN and DENIED_IN are keyed by answer cell (COURSE_CODE, by task, is
    checked below): every cell they name is an answer cell of its assignment."""
    from autograder import assignment as model

    for table in ("FORBIDDEN", "ALLOWED_IN", "DENIED_IN"):
        for a, rows in getattr(integrity, table).items():
            cells = set(rows) if table == "FORBIDDEN" else \
                {cell for where in rows.values() for cell, _ in where}
            unknown = cells - set(model.of(a).answers)
            assert not unknown, f"integrity.{table}[{a!r}] names no answer cell: {sorted(unknown)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solution_is_its_own_code(assignment):
    assert integrity.static_problems(_source(assignment), solution_cells(assignment), {}) == {}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_library_counterpart_exists_and_every_task_is_listed(assignment):
    source = _source(assignment)
    assert set(integrity.COURSE_CODE[assignment]) == set(source.tasks)
    for path, *_ in integrity.gated(source):
        integrity.resolve(path)
    for cell, name, path, _ in LIBRARY[assignment]:
        integrity.resolve(path)
        assert name in integrity.graded_names(source)[_task_of(source, cell)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reading_the_code_catches_imports_and_copies(assignment):
    source = _source(assignment)
    nb = library_import(assignment)
    from autograder.verdict import student_cells

    answers, extra, _ = student_cells(nb, source)
    problems = integrity.static_problems(source, answers, extra)
    for cell in imported_cells(assignment):
        gid = _task_of(source, cell)
        assert gid in problems and ("switched off" in problems[gid] or "instead of" in
                                    problems[gid]), (cell, problems.get(gid))
    answers, extra, _ = student_cells(page_copy(assignment), source)
    problems = integrity.static_problems(source, answers, extra)
    for cell in copied_cells(assignment):
        assert "copied" in problems.get(_task_of(source, cell), ""), cell


HATCHES = [
    "import importlib\nimportlib.reload(bert)",
    "exec(open(bert.__file__).read())",
    "f = bert.mask_tokens.__code__",
    "import inspect\nsrc = inspect.getsource(bert)",
    "x = getattr(bert, 'mask_' + 'tokens')",
    "import subprocess\nsubprocess.run(['python', '-c', '1'])",
    "import os\nos.system('true')",
    "import torch\nm = torch.load('x.pt', weights_only=False)",
    "g = (lambda: 0).__globals__",
    "import gc\ngc.get_objects()",
    "import ctypes",
    "try:\n    bert.mask_tokens()\nexcept Exception as e:\n    f = e.__traceback__.tb_frame",
    "from importlib import import_module as im",
    "__import__('tlcourse.bert')",
    "import runpy",
    "import multiprocessing",
    "import pickle",
    "import builtins\nbuiltins.exec('1')",
    "sys.meta_path.clear()",
    "m = sys.meta_path",
    "import os\nos.execv(sys.executable, [sys.executable, '-c', 'import tlcourse'])",
    "import _posixsubprocess",
    "from torch import multiprocessing",
    "import torch.multiprocessing as mp",
    "g = getattr(bert, name)",
]


@pytest.mark.parametrize("payload", HATCHES)
def test_tools_that_undo_the_guard_cost_every_task(payload):
    source = _source("05_bert")
    answers = solution_cells("05_bert")
    problems = integrity.static_problems(source, answers, {"mask_tokens": [payload]})
    assert set(problems) == set(source.tasks), payload
    assert all("past the grader" in m for m in problems.values())


def test_honest_code_is_not_a_hatch():
    code = textwrap.dedent("""
        import math, random, copy, itertools
        from collections import Counter
        import numpy as np
        import torch
        class M(torch.nn.Module):
            def __init__(self, n):
                super().__init__()
                for i in range(n):
                    setattr(self, f"layer{i}", torch.nn.Linear(2, 2))
            def forward(self, x):
                for i in range(3):
                    x = getattr(self, f"layer{i}")(x)
                return x
        def f(model, opt):
            model.eval()
            n = sum(1 for _ in model.modules())
            g = opt.param_groups
            bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            return re.compile("x"), np.array([1]).sum(), n, g, sys.maxsize
        """)
    import ast

    assert integrity.hatches(ast.parse(code)) == []


GUARD_SCRIPT = r"""
import json, sys
from autograder import course
from autograder.verdict import Source, sandbox_cells
from testkit.submissions import solution_cells
source = Source.load(course.source_notebook(sys.argv[1]))
answers = solution_cells(sys.argv[1])
student = json.loads(sys.argv[2])
answers[student["cell"]] += "\n\n" + student["code"]
ns = {"__name__": "__main__"}
errors = {}
for cell in sandbox_cells(source, answers, {}):
    try:
        exec(compile(cell["source"], f"<cell {cell['id']}>", "exec"), ns)
    except BaseException as e:
        errors[cell["id"]] = f"{type(e).__name__}: {e}"
out = {}
for call in student["calls"]:
    cell, _, expr = call.rpartition("::")      # the cell the call is made from: student code
    try:
        value = eval(compile(expr, f"<cell {cell or 'probe'}>", "eval"), ns)
        out[call] = value if isinstance(value, str) else "ok"
    except BaseException as e:
        out[call] = f"{type(e).__name__}: {e}"
print(json.dumps({"errors": errors, "calls": out}))
"""


def _guarded(assignment, cell, code, calls):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", GUARD_SCRIPT, assignment,
                           json.dumps({"cell": cell, "code": code, "calls": calls})],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_guard_switches_off_aliases_wrappers_and_subclasses_but_not_the_checks():
    """Chapter 5, in a process of its own: the visible checks (which use the library as their
    reference) still pass, and every way of reaching the library's mask_tokens from student code
    raises a plain message."""
    code = textwrap.dedent("""
        _alias = bert.mask_tokens
        import tlcourse.bert as _b
        def _wrapper(*a, **k):
            return _alias(*a, **k)
        def _computed(*a, **k):
            return getattr(_b, "mask_" + "tokens")(*a, **k)
        ids = torch.tensor([[2, 5, 6, 3]])
        """)
    calls = ["_alias(ids, 10, [0, 2, 3], 4)", "_wrapper(ids, 10, [0, 2, 3], 4)",
             "_computed(ids, 10, [0, 2, 3], 4)",
             "bert.encode_pair([5], [6], 8, 2, 3)", "bert.pad([[1]], 0)"]
    code += textwrap.dedent("""
        import threading as _th
        def _in_a_thread(*a):
            box = []
            t = _th.Thread(target=lambda: box.append(_try(bert.mask_tokens, *a)))
            t.start(); t.join()
            return box[0]
        def _try(f, *a):
            try:
                f(*a)
                return "ok"
            except Exception as e:
                return f"{type(e).__name__}: {e}"
        """)
    code += textwrap.dedent("""
        def _reimport():
            import importlib, sys
            saved = sys.modules.pop("tlcourse.bert")
            try:
                import tlcourse.bert
                return "imported again"
            except ImportError as e:
                return f"ImportError: {e}"
            finally:
                sys.modules["tlcourse.bert"] = saved
        def _reload():
            import importlib
            try:
                importlib.reload(bert)
                return "reloaded"
            except ImportError as e:
                return f"ImportError: {e}"
        """)
    calls += ["_in_a_thread(ids, 10, [0, 2, 3], 4)", "_reimport()", "_reload()"]
    out = _guarded("05_bert", "mask_tokens", code, calls)
    # in a thread of the student's, the library's version is off too
    assert out["calls"]["_in_a_thread(ids, 10, [0, 2, 3], 4)"].startswith("CourseCodeOff"), out
    # a course module is never loaded a second time: its code would be the original's
    assert out["calls"]["_reimport()"].startswith("ImportError"), out["calls"]["_reimport()"]
    assert out["calls"]["_reload()"].startswith("ImportError"), out["calls"]["_reload()"]
    assert out["errors"] == {}, out["errors"]        # setup, guard, answers, visible checks
    for call in calls[:4]:
        assert out["calls"][call].startswith("CourseCodeOff: Task "), (call, out["calls"][call])
        assert "switched off while grading" in out["calls"][call]
    assert out["calls"]["bert.pad([[1]], 0)"] == "ok"          # not an answer: still usable


@pytest.mark.slow
def test_the_guard_allows_what_a_task_builds_on():
    """Chapter 1: Task 2 builds on the library's BasicBlock and Task 6 fine-tunes the library's
    ResNet (the solution does both); a subclass of a switched-off class is refused."""
    code = "class _Sub(vision.BasicBlock):\n    pass\n"
    out = _guarded("01_transfer_learning", "fine_tune", code,
                   ["fine_tune_tests::fine_tune(pretrained, target_images[:64], target_labels[:64], steps=2)",
                    "vision.BasicBlock(3, 3)"])
    assert "fine_tune-extra" not in out["errors"]
    assert out["errors"].keys() == {"fine_tune"}, out["errors"]   # the subclass, in that cell
    assert "CourseCodeOff" in out["errors"]["fine_tune"]
    # as the visible check calls it (a locked cell): fine_tune itself builds a library ResNet
    assert out["calls"]["fine_tune_tests::fine_tune(pretrained, target_images[:64], "
                        "target_labels[:64], steps=2)"] == "ok"
    assert out["calls"]["vision.BasicBlock(3, 3)"].startswith("CourseCodeOff")


# --------------------------------------------------------------------------- through the grader
@pytest.fixture(scope="module", params=ASSIGNMENTS)
def cheats_graded(request, tmp_path_factory):
    require_sandbox()
    from autograder import grade

    assignment = request.param
    folder = tmp_path_factory.mktemp("cheats")
    write(library_import(assignment), folder / "library-import.ipynb")
    write(page_copy(assignment), folder / "page-copy.ipynb")
    work = tmp_path_factory.mktemp("work")
    results = {r.student: r for r in grade.grade(assignment, folder, work, progress=False)}
    return assignment, results


@pytest.mark.slow
def test_library_import_and_page_copy_earn_nothing_on_their_tasks(cheats_graded):
    assignment, results = cheats_graded
    source = _source(assignment)
    for student, cells in (("library-import", imported_cells(assignment)),
                           ("page-copy", copied_cells(assignment))):
        r = results[student]
        assert r.status == "graded", r.error
        affected = {_task_of(source, c) for c in cells}
        for gid, t in r.tasks.items():
            if gid in affected:
                assert t.score == 0, (student, gid, t)
                assert "switched off" in t.message or "copied" in t.message or \
                    "instead of" in t.message, (student, gid, t.message)
            else:
                assert t.score == t.max_score, (student, gid, t)


# --------------------------------------------------------------------------- bad answers
BAD_ANSWERS = {   # student -> (answer of causal_mask, a phrase its message must contain)
    "not-a-function": ("causal_mask = torch.ones(3, 3).bool()", "instead of defining it"),
    "hidden-binding": ("if True:\n    causal_mask = 42", "does not define `causal_mask`"),
    "wrong-type": ("def causal_mask(T):\n    return 'lower triangle'", "return a boolean tensor"),
    "raises": ("def causal_mask(T):\n    raise ValueError('no mask today')",
               "your code raised ValueError: no mask today"),
}


@pytest.mark.slow
def test_bad_answers_get_a_plain_message_never_a_traceback(tmp_path):
    """An answer that is not a function, returns the wrong type or raises: its task gets 0 and a
    message naming the problem, the other tasks keep their points, and no traceback reaches the
    result or the feedback."""
    require_sandbox()
    from autograder import grade
    from testkit.submissions import filled

    for student, (answer, _) in BAD_ANSWERS.items():
        nb = filled("04_attention")
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "causal_mask":
                cell.source = answer
        write(nb, tmp_path / "subs" / f"{student}.ipynb")
    work = tmp_path / "work"
    results = {r.student: r for r in grade.grade("04_attention", tmp_path / "subs", work, progress=False)}
    for student, (_, phrase) in BAD_ANSWERS.items():
        r = results[student]
        task = r.tasks["causal_mask_tests"]
        assert task.score == 0 and phrase in task.message, (student, task.message)
        assert all(t.score == t.max_score for g, t in r.tasks.items() if g != "causal_mask_tests"), \
            (student, r.tasks)
        page = (work / "feedback" / student / "04_attention" / "04_attention.html").read_text()
        for text in [task.message, task.visible or "", page]:
            assert "Traceback" not in text and 'File "' not in text, (student, text[:300])
