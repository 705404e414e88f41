"""Grading end to end, on the reference solution, the untouched release, every mutant and a
broken file: through the course's sandboxed grader (``autograder.grade``) and, as the baseline,
through stock ``nbgrader autograde`` (``testkit.stock``).

Stock nbgrader re-runs the whole notebook for each submission (about 9 s for a chapter with a
training task), so it grades every assignment's solution and release, and one mutant of each task
of one assignment (``STOCK_MUTANTS``); ``bench/grade_mutants.py`` puts both graders side by side on
every mutant of every assignment."""
import csv
import functools

import pytest
from conftest import require_sandbox

from autograder import course, grade
from testkit import stock
from testkit.mutants import load
from testkit.submissions import filled, release_notebook, solution_cells, write

pytestmark = pytest.mark.slow
ASSIGNMENTS = course.assignments()


STOCK_MUTANTS = "04_attention"


@functools.cache
def _one_per_task(assignment) -> tuple:
    """The first mutant of each task that its tests must catch: stock nbgrader's share. A mutant
    that breaks a rule only the course's grader reads from the code (a forbidden call) is left
    out: stock nbgrader runs the tests only, so it is not expected to catch it."""
    from autograder.integrity import static_problems
    from autograder.verdict import Source

    source = Source.load(course.source_notebook(assignment))
    first = {}
    for m in load(assignment):
        if m.cell in first:
            continue
        answers = solution_cells(assignment)
        answers[m.cell] = m.apply(answers[m.cell])
        if m.test_cell not in static_problems(source, answers, {}):
            first[m.cell] = m
    return tuple(first.values())


def _submissions(assignment, folder, mutants=None):
    """The solution, the release, a broken file and ``mutants`` (default: every mutant)."""
    write(filled(assignment), folder / "solution.ipynb")
    write(release_notebook(assignment), folder / "release.ipynb")
    for m in load(assignment) if mutants is None else mutants:
        write(filled(assignment, m), folder / f"mutant-{m.name}.ipynb")
    (folder / "broken.ipynb").write_text('{"cells": [ this is not json')
    return folder


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory):
    require_sandbox()
    assignment = request.param
    subs = _submissions(assignment, tmp_path_factory.mktemp("submissions"))
    work = tmp_path_factory.mktemp("work")
    results = {r.student: r for r in grade.grade(assignment, subs, work, progress=False)}
    return assignment, results, work


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def stock_graded(request, tmp_path_factory):
    assignment = request.param
    subs = _submissions(assignment, tmp_path_factory.mktemp("submissions"),
                        mutants=_one_per_task(assignment) if assignment == STOCK_MUTANTS else [])
    results = {r.student: r for r in stock.grade(assignment, subs, tmp_path_factory.mktemp("w"),
                                                 progress=False)}
    return assignment, results


def _max(source_tasks):
    return sum(source_tasks.values())


def test_solution_scores_full_marks(graded):
    _, results, _ = graded
    r = results["solution"]
    assert r.status == "graded" and r.tasks
    assert all(t.score == t.max_score for t in r.tasks.values()), r.tasks
    assert all(t.visible is None for t in r.tasks.values())


def test_untouched_release_scores_zero(graded):
    _, results, _ = graded
    r = results["release"]
    assert r.status == "graded" and r.total == 0
    assert all("NotImplementedError" in t.message for t in r.tasks.values())


def test_every_mutant_loses_points_of_its_task_only(graded):
    assignment, results, _ = graded
    mutants = load(assignment)
    assert mutants, f"{assignment} has no mutants in testkit/mutants/"
    for m in mutants:
        r = results[f"mutant-{m.name}"]
        assert r.status == "graded", f"{m.name}: {r.error}"
        assert m.test_cell in r.tasks, f"{m.name}: no graded cell {m.test_cell}"
        task = r.tasks[m.test_cell]
        assert task.score < task.max_score, f"{m.name} ({m.why}) kept all of {m.test_cell}"
        assert task.message, f"{m.name}: a failing task must say why"
        others = {g: t.score for g, t in r.tasks.items() if g != m.test_cell}
        assert others == {g: r.tasks[g].max_score for g in others}, f"{m.name}: {others}"


def test_broken_notebook_gets_zero_and_a_message(graded):
    _, results, _ = graded
    r = results["broken"]
    assert r.status == "error" and r.total == 0 and "not a readable Jupyter notebook" in r.error


def test_grades_reach_nbgraders_gradebook_and_csvs(graded):
    from nbgrader.api import Gradebook

    assignment, results, work = graded
    with Gradebook("sqlite:///" + str(work / "gradebook.db"), "tlcourse") as gb:
        for sid, r in results.items():
            nb = gb.find_submission_notebook(assignment, assignment, sid)
            assert {g.name: g.score for g in nb.grades} == {g: t.score for g, t in r.tasks.items()}
    with open(work / "grades" / f"{assignment}.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert float(rows["solution"]["total"]) == float(rows["solution"]["max_score"]) > 0
    assert float(rows["release"]["total"]) == 0 and rows["broken"]["status"] == "error"
    with open(work / "grades" / f"{assignment}-lms.csv") as f:
        assert len(list(csv.DictReader(f))) == len(results)
    assert (work / "summary" / f"{assignment}.html").read_text().count("<img") == len(results["solution"].tasks) + 1


def test_feedback_shows_points_and_messages_never_hidden_tests(graded):
    assignment, results, work = graded
    from autograder.feedback import points
    from autograder.verdict import Source

    source = Source.load(course.source_notebook(assignment))
    hidden_lines = {line.strip() for t in source.tasks.values() for line in t.hidden.splitlines()
                    if len(line.strip()) > 25}
    for sid, r in results.items():
        html = (work / "feedback" / sid / assignment / f"{assignment}.html").read_text()
        assert f"{points(r.total)} / " in html and len(html) < 60_000, len(html)
        assert "BEGIN HIDDEN TESTS" not in html and "Traceback" not in html
        own = "\n".join(r.answers.values())      # the student's own code is shown back to them
        leaked = [line for line in hidden_lines if line in html and line not in own]
        assert not leaked, f"{sid}: hidden test code in feedback: {leaked[:2]}"
        for t in r.tasks.values():
            if t.message:
                assert t.message[:40].replace("<", "&lt;").replace(">", "&gt;") in html


def test_stock_nbgrader_agrees_on_solution_release_and_mutants(stock_graded):
    """The baseline: real `nbgrader autograde` also gives the solution full marks, the release
    zero, and (for STOCK_MUTANTS) takes points from each task's first mutant."""
    assignment, results = stock_graded
    sol = results["solution"]
    assert not sol.error and sol.scores == sol.max_scores
    assert results["release"].total == 0
    assert STOCK_MUTANTS in ASSIGNMENTS
    for m in _one_per_task(assignment) if assignment == STOCK_MUTANTS else []:
        r = results[f"mutant-{m.name}"]
        assert r.scores[m.test_cell] < r.max_scores[m.test_cell], m.name
    assert results["broken"].error


def test_the_gradebook_records_nbgraders_schema_revision(tmp_path):
    """The grader makes a new gradebook with nbgrader's own code, reading the schema revision
    in its process: the same revision as ``alembic heads``, which nbgrader would have run."""
    import os
    import sqlite3
    import subprocess
    import sys

    from nbgrader.dbutil import _temp_alembic_ini

    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        heads = subprocess.check_output(["alembic", "-c", ini, "heads"], env=env, text=True)
    assert grade._alembic_head() == heads.split()[0]
    db = tmp_path / "gradebook.db"
    grade._create_gradebook(f"sqlite:///{db}", "tlcourse")
    with sqlite3.connect(db) as con:
        assert con.execute("select version_num from alembic_version").fetchall() == \
            [(heads.split()[0],)]
        assert con.execute("select id from course").fetchall() == [("tlcourse",)]
