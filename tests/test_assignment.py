"""The one reader of assignment notebooks (``autograder.assignment``): what it makes of every
assignment, and the loud errors of a notebook that breaks the rules."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import assignment as model
from autograder import course
from autograder.assignment import Assignment, AssignmentError

ASSIGNMENTS = course.assignments()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_answer_is_graded_by_the_task_after_it(assignment):
    a = model.of(assignment)
    assert a.tasks and a.setup
    assert [t.answer_id for t in a.tasks.values()] == list(a.answers), \
        "one task per answer cell, in the same order"
    kinds = [kind for kind, _ in a.order]
    for t in a.tasks.values():
        i = a.order.index(("task", t.test_id))
        assert a.order[i - 1] == ("answer", t.answer_id) and t.test_id == f"{t.answer_id}_tests"
        assert t.title and t.points > 0 and t.visible and t.hidden.strip()
        assert "HIDDEN TESTS" not in t.visible + t.hidden
    assert kinds.count("task") == len(a.tasks)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_reads_as_the_same_assignment_without_its_secrets(assignment):
    source, release = model.of(assignment), model.of(assignment, public=True)
    assert release.order == source.order and release.setup == source.setup
    for gid, t in source.tasks.items():
        r = release.tasks[gid]
        assert (r.answer_id, r.title, r.points, r.visible) == \
            (t.answer_id, t.title, t.points, t.visible)
        assert r.hidden == "" and r.test_names == ()
    assert all("raise NotImplementedError()" in code for code in release.answers.values())


def test_test_names_are_the_top_level_test_functions_once_each():
    hidden = ("fresh_inputs(globals())\ndef test_a():\n    def test_inner(): pass\n"
              "def test_b ():\n    pass\ndef test_a():\n    pass\nrun_tests(globals())\n")
    assert model.test_names(hidden) == ("test_a", "test_b")
    assert model.test_names("assert True\n") == ()


def _cells(test_source="check(f)\n### BEGIN HIDDEN TESTS\ndef test_f():\n    assert f()\n"
                       "### END HIDDEN TESTS", answer="f", test="f_tests", markdown=True):
    def meta(gid, **kw):
        return {"nbgrader": {"grade_id": gid, "grade": False, "solution": False, "locked": True,
                             "schema_version": 3, **kw}}
    cells = [new_code_cell("import math", metadata=meta("setup"))]
    if markdown:
        cells.append(new_markdown_cell("## Task 1 — f (1 point)", metadata=meta("task1")))
    if answer:
        cells.append(new_code_cell("def f():\n    return 1", metadata=meta(answer, solution=True,
                                                                           locked=False)))
    cells.append(new_code_cell(test_source, metadata=meta(test, grade=True, points=1)))
    return cells


def _load(tmp_path, cells, public=False):
    path = tmp_path / "demo.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return Assignment.load(path, public=public)


def test_a_small_assignment(tmp_path):
    a = _load(tmp_path, _cells())
    assert a.name == "demo" and [c.kind for c in a.cells] == ["setup", "text", "answer", "task"]
    (t,) = a.tasks.values()
    assert (t.test_id, t.answer_id, t.title, t.points) == ("f_tests", "f", "Task 1 — f (1 point)", 1)
    assert t.visible == "check(f)" and t.hidden == "def test_f():\n    assert f()\n"
    assert t.test_names == ("test_f",) and a.task_of("f") is t


@pytest.mark.parametrize("cells,error", [
    (_cells(test_source="check(f)"), "no hidden tests"),
    (_cells(test_source="check(f)\n### BEGIN HIDDEN TESTS\n\n### END HIDDEN TESTS"),
     "no hidden tests"),
    (_cells(test_source="check(f)\n### BEGIN HIDDEN TESTS\nassert f()"), "unbalanced"),
    (_cells(test_source="check(f)\n### END HIDDEN TESTS\nassert f()\n### BEGIN HIDDEN TESTS"),
     "whole lines"),
    (_cells(test_source="### BEGIN HIDDEN TESTS\na\n### END HIDDEN TESTS\n"
                        "### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS"), "unbalanced"),
    (_cells(test_source="check(f)\n### BEGIN HIDDEN TESTS\nassert f()\n### END HIDDEN TESTS\n"
                        "print('after')"), "code after"),
    (_cells(answer=None), "no answer cell before it"),
    (_cells(test="f_checks"), "must be named 'f_tests'"),
    (_cells(answer="setup"), "used twice"),
], ids=["no-markers", "empty-block", "no-end", "end-first", "two-blocks", "code-after",
        "no-answer", "misnamed", "duplicate-id"])
def test_a_broken_notebook_is_a_loud_error_naming_the_file_and_cell(tmp_path, cells, error):
    with pytest.raises(AssignmentError, match=error) as err:
        _load(tmp_path, cells)
    assert "demo.ipynb" in str(err.value)
    cell = {"used twice": "setup", "must be named 'f_tests'": "f_checks"}.get(error, "f_tests")
    assert f"cell {cell}:" in str(err.value)


def test_markers_outside_a_graded_cell_and_unmarked_code_cells_are_errors(tmp_path):
    cells = _cells()
    cells[0].source += "\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"
    with pytest.raises(AssignmentError, match="cell setup: hidden-test markers outside"):
        _load(tmp_path, cells)
    cells = _cells() + [new_code_cell("x = 1")]
    with pytest.raises(AssignmentError, match="cell #5: a code cell without an nbgrader grade_id"):
        _load(tmp_path, cells)


def test_a_release_has_no_hidden_tests_to_read(tmp_path):
    a = _load(tmp_path, _cells(test_source="check(f)\n"), public=True)
    assert a.tasks["f_tests"].visible == "check(f)" and a.tasks["f_tests"].hidden == ""
