"""Bad submissions, all in one batch with a correct one: each gets a clear message of its own and a
zero for what cannot be graded, what can be graded is, and the batch goes on.

| file                 | what it is                                         | expected                          |
|----------------------|----------------------------------------------------|-----------------------------------|
| good                 | the reference solution                             | full marks                        |
| malformed            | broken JSON                                        | error, "not a readable ... notebook" |
| v3                   | the solution saved as nbformat 3 (convertible)     | full marks                        |
| v99                  | nbformat 99                                        | error, names the version          |
| noids / dupids       | cell ids removed / all the same                    | full marks (grade_id decides)     |
| noanswer             | the causal_mask answer cell deleted                | that task 0 + a note; rest full   |
| nolocked             | setup and graded test cells deleted                | full marks (they come from source)|
| reordered            | cells in reverse order                             | full marks                        |
| dupanswer            | causal_mask twice: a wrong copy, then the right one| first (wrong) one graded + a note |
| huge                 | ~100 MB of stream output in a cell                 | full marks, in reasonable time    |
| latin1               | a non-UTF-8 byte                                   | error, "not UTF-8"                |
| empty                | 0 bytes                                            | error, "empty"                    |
| jsonlist / jsondict  | ``[]`` / ``{"a": 1}``                              | error, "not a readable ... notebook" |
| badmeta              | an answer cell's ``metadata.nbgrader`` is a string | graded or a clear error, never a grader crash |
| dir.ipynb/           | an (empty) folder named like a notebook            | ignored                           |
"""
import copy
import csv
import html
import json
import time

import nbformat
import pytest

from autograder import course, grade
from autograder.verdict import (MAX_CONTAINERS, MAX_NOTEBOOK_MB, BadSubmission, Source,
                               grade_notebook, read_submission)
from testkit.mutants import load
from testkit.submissions import filled, grade_id, write
from conftest import require_sandbox

pytestmark = [
    pytest.mark.slow,
    # nbformat's own notices while it repairs the ids of noids/dupids: expected here
    pytest.mark.filterwarnings("ignore:Non-unique cell id"),
    pytest.mark.filterwarnings("ignore:Cell is missing an id field"),
]
A = "04_attention"
HUGE_MB = 100
FULL = ["good", "v3", "noids", "dupids", "nolocked", "reordered", "huge"]
ERRORS = {   # student -> a phrase its message must contain
    "malformed": "not a readable Jupyter notebook",
    "v99": "nbformat version 99",
    "latin1": "not UTF-8",
    "empty": "empty",
    "jsonlist": "not a readable Jupyter notebook",
    "jsondict": "not a readable Jupyter notebook",
}
NOTED = {"noanswer": ("causal_mask", "missing"), "dupanswer": ("causal_mask", "twice")}
ALL = FULL + list(ERRORS) + list(NOTED) + ["badmeta"]


def _raw(nb) -> dict:
    return json.loads(nbformat.writes(nb))


def _submissions(folder):
    good = filled(A)
    write(good, folder / "good.ipynb")
    (folder / "malformed.ipynb").write_text('{"cells": [ this is not json')
    (folder / "v3.ipynb").write_text(nbformat.writes(nbformat.convert(copy.deepcopy(good), 3),
                                                     version=3))
    raw = _raw(good)
    raw["nbformat"] = 99
    (folder / "v99.ipynb").write_text(json.dumps(raw))
    raw = _raw(good)
    for cell in raw["cells"]:
        del cell["id"]
    (folder / "noids.ipynb").write_text(json.dumps(raw))
    raw = _raw(good)
    for cell in raw["cells"]:
        cell["id"] = "same"
    (folder / "dupids.ipynb").write_text(json.dumps(raw))

    nb = copy.deepcopy(good)
    nb.cells = [c for c in nb.cells if grade_id(c) != "causal_mask"]
    write(nb, folder / "noanswer.ipynb")
    nb = copy.deepcopy(good)
    locked = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")]
    assert any(c.cell_type == "code" and c.metadata.nbgrader.get("grade") for c in locked)
    assert any(c.cell_type == "code" and not c.metadata.nbgrader.get("grade") for c in locked)
    nb.cells = [c for c in nb.cells if c not in locked]
    write(nb, folder / "nolocked.ipynb")
    nb = copy.deepcopy(good)
    nb.cells = nb.cells[::-1]
    write(nb, folder / "reordered.ipynb")

    mutant = next(m for m in load(A) if m.name == "causal_sees_future")
    wrong = next(c for c in filled(A, mutant).cells if grade_id(c) == "causal_mask")
    wrong.id = "wrong-copy"
    nb = copy.deepcopy(good)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "causal_mask")
    nb.cells.insert(at, wrong)          # the wrong copy first, the right one after it
    write(nb, folder / "dupanswer.ipynb")

    nb = copy.deepcopy(good)
    cell = next(c for c in nb.cells if c.cell_type == "code" and grade_id(c) == "basic_self_attention")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text=("y" * 1023 + "\n") * (HUGE_MB * 1024))]
    write(nb, folder / "huge.ipynb")

    nb = copy.deepcopy(good)
    nb.cells[0].source += "\n\ncafé"
    (folder / "latin1.ipynb").write_bytes(nbformat.writes(nb).encode().replace("café".encode(),
                                                                                b"caf\xe9"))
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "jsonlist.ipynb").write_text("[]")
    (folder / "jsondict.ipynb").write_text('{"a": 1}')
    raw = _raw(good)
    answer = next(c for c in raw["cells"]
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == "basic_self_attention")
    answer["metadata"]["nbgrader"] = "edited by hand"
    (folder / "badmeta.ipynb").write_text(json.dumps(raw))
    (folder / "dir.ipynb").mkdir()     # odd, not a file: must simply be ignored
    return folder


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    require_sandbox()
    subs = _submissions(tmp_path_factory.mktemp("bad-submissions"))
    work = tmp_path_factory.mktemp("bad-work")
    start = time.perf_counter()
    results = {r.student: r for r in grade.grade(A, subs, work, workers=2, progress=False)}
    elapsed = time.perf_counter() - start
    source = Source.load(course.source_notebook(A))
    return results, work, source, elapsed, subs


def _full(r, source):
    return r.status == "graded" and not r.error and set(r.tasks) == set(source.tasks) and \
        all(t.score == t.max_score for t in r.tasks.values())


def test_the_batch_goes_on(batch):
    results, _, _, elapsed, _ = batch
    assert set(results) == set(ALL), "every file is a student; the folder named x.ipynb is not"
    assert elapsed < 100, f"the batch took {elapsed:.0f} s"


@pytest.mark.parametrize("sid", FULL)
def test_gradable_oddities_get_full_marks(batch, sid):
    results, _, source, _, _ = batch
    r = results[sid]
    assert _full(r, source), (r.status, r.error, r.notes, {g: t.score for g, t in r.tasks.items()})
    assert r.notes == []


def test_huge_outputs_are_graded_in_reasonable_time(batch):
    results, _, _, _, subs = batch
    assert (subs / "huge.ipynb").stat().st_size > HUGE_MB * 2**20
    assert results["huge"].seconds < 60, results["huge"].seconds


@pytest.mark.parametrize("sid", list(ERRORS))
def test_unreadable_files_get_a_message_and_zero(batch, sid):
    results, _, source, _, _ = batch
    r = results[sid]
    assert r.status == "error" and ERRORS[sid] in r.error, r.error
    assert "grader error" not in r.error and "Traceback" not in r.error
    assert r.total == 0 and set(r.tasks) == set(source.tasks)
    assert all(t.score == 0 and t.max_score == source.tasks[g].points for g, t in r.tasks.items())
    assert r.sha256, "the file's hash is kept so that a resubmission is noticed"


def test_deleted_answer_cell_costs_its_task_only(batch):
    results, _, source, _, _ = batch
    r = results["noanswer"]
    assert r.status == "graded" and not r.error
    assert any("causal_mask" in n and "missing" in n for n in r.notes), r.notes
    assert r.tasks["causal_mask_tests"].score == 0 and r.tasks["causal_mask_tests"].message
    others = {g: t.score for g, t in r.tasks.items() if g != "causal_mask_tests"}
    assert others == {g: source.tasks[g].points for g in others}


def test_duplicated_answer_cell_grades_the_first(batch):
    results, _, source, _, _ = batch
    r = results["dupanswer"]
    assert r.status == "graded" and not r.error
    assert any("causal_mask" in n and "twice" in n and "first" in n for n in r.notes), r.notes
    task = r.tasks["causal_mask_tests"]
    assert task.score < task.max_score and task.message, "the first (wrong) copy is the one graded"
    others = {g: t.score for g, t in r.tasks.items() if g != "causal_mask_tests"}
    assert others == {g: source.tasks[g].points for g in others}


def test_hand_edited_nbgrader_metadata_is_not_a_grader_crash(batch):
    results, _, source, _, _ = batch
    r = results["badmeta"]
    assert "grader error" not in r.error and "AttributeError" not in r.error, r.error
    assert set(r.tasks) == set(source.tasks), "every task gets a score, zero or not"
    assert r.status == "graded" or r.error


def test_csv_rows_say_what_went_wrong(batch):
    results, work, source, _, _ = batch
    with open(work / "grades" / f"{A}.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(ALL)
    for sid, r in results.items():
        row = rows[sid]
        assert row["status"] == r.status and float(row["total"]) == pytest.approx(r.total)
        assert float(row["max_score"]) == sum(t.points for t in source.tasks.values())
    for sid, phrase in ERRORS.items():
        assert rows[sid]["status"] == "error" and phrase in rows[sid]["problem"]
        assert all(float(rows[sid][g]) == 0 for g in source.tasks)
    for sid, words in NOTED.items():
        assert rows[sid]["status"] == "graded" and all(w in rows[sid]["problem"] for w in words)
    for sid in FULL:
        assert rows[sid]["status"] == "graded" and rows[sid]["problem"] == ""
        assert float(rows[sid]["total"]) == float(rows[sid]["max_score"])
    with open(work / "grades" / f"{A}-lms.csv") as f:
        assert {row["student_id"] for row in csv.DictReader(f)} == set(ALL)


def test_gradebook_holds_every_student(batch):
    from nbgrader.api import Gradebook

    results, work, source, _, _ = batch
    with Gradebook("sqlite:///" + str(work / "gradebook.db"), "tlcourse") as gb:
        assert {s.student.id for s in gb.assignment_submissions(A)} == set(ALL)
        for sid, r in results.items():
            nb = gb.find_submission_notebook(A, A, sid)
            assert {g.name: g.score for g in nb.grades} == \
                {g: (r.tasks[g].score if g in r.tasks else 0.0) for g in source.tasks}, sid


def test_feedback_for_every_student_says_what_went_wrong(batch):
    results, work, _, _, _ = batch
    for sid, r in results.items():
        page = work / "feedback" / sid / A / f"{A}.html"
        assert page.exists(), f"no feedback for {sid}"
        text = page.read_text()
        assert f"{r.total:g} / " in text
        for problem in ([r.error] if r.error else []) + r.notes:
            prefix = problem.split("(")[0].split("'")[0].strip()[:60]
            assert html.escape(prefix, quote=False) in text, (sid, prefix)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.ipynb"
    with open(path, "wb") as f:
        f.truncate((MAX_NOTEBOOK_MB + 1) * 2**20)    # sparse: costs no disk
    with pytest.raises(BadSubmission, match=f"over the {MAX_NOTEBOOK_MB} MB limit"):
        read_submission(path)
    source = Source.load(course.source_notebook(A))
    r = grade_notebook(path, source, "big", hide=[], isolate=False)
    assert r.status == "error" and "clear the outputs" in r.error and r.total == 0
    assert set(r.tasks) == set(source.tasks)


def test_bloated_notebook_is_refused_before_reading(tmp_path):
    """A file well under the size limit whose JSON would expand into millions of objects is
    refused by counting brackets, before the grader (or the student's own process) decodes it."""
    from autograder.grade import _open_submission

    nb = json.loads((course.EXERCISES / A / f"{A}.ipynb").read_text())
    nb["metadata"]["padding"] = "@"
    text = json.dumps(nb).replace('"@"', "[" + "[]," * MAX_CONTAINERS + "[]]")
    path = tmp_path / "bloated.ipynb"
    path.write_text(text)
    assert path.stat().st_size < MAX_NOTEBOOK_MB * 2**20
    with pytest.raises(BadSubmission, match="JSON lists and objects"):
        read_submission(path)
    fd, why = _open_submission(path)
    assert fd is None and "JSON lists and objects" in why and "clear the outputs" in why
