"""Grading through real nbgrader: the solution scores full marks, the untouched release scores
zero, every mutant loses the points of its task, and a broken notebook does not stop the batch."""
import csv

import pytest

from autograder import course, grade
from autograder.mutants import load
from autograder.submissions import filled, release_notebook, write

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=course.assignments())
def graded(request, tmp_path_factory):
    assignment = request.param
    subs = tmp_path_factory.mktemp("submissions")
    write(filled(assignment), subs / "solution.ipynb")
    write(release_notebook(assignment), subs / "release.ipynb")
    for m in load(assignment):
        write(filled(assignment, m), subs / f"mutant-{m.name}.ipynb")
    (subs / "broken.ipynb").write_text('{"cells": [ this is not json')
    work = tmp_path_factory.mktemp("work")
    results = {r.student: r for r in grade.grade(assignment, subs, work, progress=False)}
    with open(work / "grades" / f"{assignment}.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return assignment, results, rows


def test_solution_scores_full_marks(graded):
    _, results, rows = graded
    r = results["solution"]
    assert not r.error and r.max_scores
    assert r.scores == r.max_scores, r.scores
    assert float(rows["solution"]["total"]) == float(rows["solution"]["max_score"]) > 0


def test_untouched_release_scores_zero(graded):
    _, results, rows = graded
    assert not results["release"].error
    assert results["release"].total == 0 and float(rows["release"]["total"]) == 0


def test_every_mutant_loses_its_task(graded):
    assignment, results, _ = graded
    mutants = load(assignment)
    assert mutants, f"{assignment} has no mutants in autograder/mutants/"
    for m in mutants:
        r = results[f"mutant-{m.name}"]
        assert not r.error, f"{m.name}: {r.error}"
        assert m.test_cell in r.max_scores, f"{m.name}: no graded cell {m.test_cell}"
        assert r.scores[m.test_cell] == 0, f"{m.name} ({m.why}) kept the points of {m.test_cell}"
        others = {t: s for t, s in r.scores.items() if t != m.test_cell}
        assert others == {t: r.max_scores[t] for t in others}, \
            f"{m.name} should cost only {m.test_cell}, got {r.scores}"


def test_broken_notebook_gets_zero_and_a_message(graded):
    _, results, rows = graded
    assert results["broken"].error and results["broken"].total == 0
    assert rows["broken"]["status"] != "graded" and float(rows["broken"]["total"]) == 0
    assert rows["solution"]["status"] == "graded"


def test_feedback_is_written_without_hidden_tests(graded):
    _, results, _ = graded
    html = open(results["solution"].feedback).read()
    assert "BEGIN HIDDEN TESTS" not in html and "torch.seed()" not in html
    assert "check_" in html  # the visible checks are shown
