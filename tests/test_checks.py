"""The visible checks: the solution passes them, the release's stubs do not, and each common
wrong answer (mutant) gets a message that names the mistake."""
import pytest

from autograder import assignment as model
from autograder import course
from testkit.mutants import load
from testkit.submissions import solution_cells
from tlcourse.checks import CheckFailed

import nbformat

CASES = [(a, m) for a in course.assignments() for m in load(a)]


def _namespace(assignment, answers):
    """Run the setup cells and every answer cell of the assignment in a fresh namespace."""
    a = model.of(assignment)
    ns = {}
    for cell in a.cells:
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
