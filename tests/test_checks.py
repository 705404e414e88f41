"""The visible checks: the solution passes them, the release's stubs do not, and each common
wrong answer (mutant) gets a message that names the mistake."""
import ast
import copy
import functools
import random

import numpy as np
import pytest
import torch

from autograder import assignment as model
from autograder import course
from testkit.mutants import load
from testkit.submissions import solution_cells
from tlcourse.checks import CheckFailed

import nbformat

CASES = [(a, m) for a in course.assignments() for m in load(a)]


@functools.cache
def _after_setup(assignment):
    """The namespace and random states after the assignment's leading setup cells, run once
    (Chapter 1's pre-trains a ResNet): (namespace, states, cells after them). None when a setup
    cell defines a function or class, whose globals would be this namespace and not a copy."""
    cells = [c for c in model.of(assignment).cells if c.kind != "text"]
    lead = []
    for cell in cells:
        if cell.kind != "setup":
            break
        if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
               for n in ast.walk(ast.parse(cell.source))):
            return None
        lead.append(cell)
    ns = {}
    for cell in lead:
        exec(cell.source, ns)
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    return ns, states, cells[len(lead):]


def _fresh(value):
    """A copy of what a cell could change in place (tensors, models, containers)."""
    if isinstance(value, (torch.Tensor, torch.nn.Module, np.ndarray, dict, list, set)):
        return copy.deepcopy(value)
    return value


def _namespace(assignment, answers):
    """The setup cells and every answer cell of the assignment, run in a fresh namespace (the
    setup's result copied from its one run, with the random states it left)."""
    cached = _after_setup(assignment)
    if cached is None:
        ns, rest = {}, model.of(assignment).cells
    else:
        base, (py, npy, pt), rest = cached
        ns = {k: _fresh(v) for k, v in base.items()}
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(pt)
    for cell in rest:
        if cell.kind in ("setup", "answer"):
            exec(answers.get(cell.id, cell.source), ns)
    return ns


def _checks(assignment):
    """(answer grade_id, the visible check) of every task."""
    return [(t.answer_id, t.visible) for t in model.of(assignment).tasks.values()]


@pytest.mark.parametrize("assignment", course.assignments())
def test_solution_passes_every_visible_check(assignment, capsys):
    ns = _namespace(assignment, solution_cells(assignment))
    for _, visible in _checks(assignment):
        exec(visible, ns)
    assert capsys.readouterr().out.count("✓") == len(_checks(assignment))


@pytest.mark.parametrize("assignment", course.assignments())
def test_release_stubs_fail_every_visible_check(assignment):
    stubs = model.of(assignment, public=True).answers      # the release's answer cells
    assert set(stubs) == set(solution_cells(assignment))
    ns = _namespace(assignment, stubs)
    for _, visible in _checks(assignment):
        with pytest.raises(NotImplementedError):
            exec(visible, ns)


@pytest.mark.parametrize("assignment,mutant", CASES, ids=[f"{a}-{m.name}" for a, m in CASES])
def test_visible_check_names_the_mistake(assignment, mutant):
    answers = solution_cells(assignment)
    answers[mutant.cell] = mutant.apply(answers[mutant.cell])
    ns = _namespace(assignment, answers)
    visible = dict(_checks(assignment))[mutant.cell]
    if mutant.hint is None:  # a wrong answer the visible check cannot see: hidden tests catch it
        exec(visible, ns)
        return
    with pytest.raises(CheckFailed) as err:
        exec(visible, ns)
    assert mutant.hint in str(err.value), f"message was: {err.value}"


def test_run_tests_runs_each_blocks_tests_once():
    """In Jupyter and stock nbgrader, a task's hidden block must not re-run the blocks before it:
    one wrong answer would cost every later task its points too."""
    from tlcourse.checks import run_tests

    ran = []
    ns = {"__name__": "__main__", "test_first": lambda: ran.append("first")}
    run_tests(ns)
    ns["test_second"] = lambda: ran.append("second")
    run_tests(ns)
    assert ran == ["first", "second"]
    grader = {"__name__": "__grader__", "test_x": lambda: ran.append("x")}
    run_tests(grader)
    assert ran == ["first", "second"] and "test_x" in grader


def test_a_failing_check_shows_its_message_once_without_a_traceback_in_jupyter():
    """In Jupyter a failed visible check is one error line: the message, once, no checker frames.
    Any other error keeps its traceback."""
    import nbclient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell("from tlcourse.checks import fail\n"
                      "fail('causal_mask', 'the mask lets a token see the future')"),
        new_code_cell("1 / 0")])
    nbclient.NotebookClient(nb, allow_errors=True, kernel_name="python3", timeout=120).execute()
    (check,), (other,) = nb.cells[0].outputs, nb.cells[1].outputs
    assert check.output_type == "error" and check.ename == "CheckFailed"
    text = "\n".join(check.traceback)
    assert text.count("the mask lets a token see the future") == 1, text
    assert "Traceback" not in text and "fail(" not in text and len(check.traceback) == 1, text
    assert other.ename == "ZeroDivisionError" and len(other.traceback) > 1


def test_one_scoring_rule_everywhere():
    """The rule of points is stated the same way in every assignment, the README and the grader."""
    import re

    from autograder.verdict import SCORING_RULE

    def flat(text):
        return re.sub(r"\s+", " ", text)

    rule = flat(SCORING_RULE)
    readme = (course.ROOT / "README.md").read_text()
    assert rule in flat(readme)
    for assignment in course.assignments():
        for folder in (course.SOLUTIONS, course.EXERCISES):
            nb = nbformat.read(folder / assignment / f"{assignment}.ipynb", as_version=4)
            assert rule in flat(nb.cells[0].source), (folder.name, assignment)
            others = [c.source for c in nb.cells if c.cell_type == "markdown"]
            assert not any("only awarded when" in flat(s) for s in others), assignment
