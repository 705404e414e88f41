"""Killing the grader mid-batch loses nothing: a second run grades only what has no result yet, and
the grades, the gradebook and the CSV come out as from one uninterrupted run.

Eight submissions (correct ones and mutants) are graded by ``python -m autograder.grade --workers 1``
in a process of its own; once two results are saved and the third submission (one that sleeps a
few seconds) is running in its sandbox, the grader's whole process group gets SIGKILL.
"""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import nbformat
import pytest

from autograder import course, grade
from autograder.forkserver import __file__ as FORKSERVER
from autograder.sandbox import RUNNER
from testkit.mutants import load
from testkit.submissions import filled, write
from conftest import require_sandbox

pytestmark = pytest.mark.slow
A = "04_attention"
SLOW_S = 6
MUTANTS = ["basic_softmax_wrong_axis", "sdpa_no_scaling", "causal_sees_future",
           "layernorm_without_eps", "positions_concatenated"]


def _submissions(folder):
    """s1..s8, graded in this order by one worker; s3 sleeps in its sandbox."""
    mutants = {m.name: m for m in load(A)}
    plan = [None, MUTANTS[0], "slow", MUTANTS[1], None, MUTANTS[2], MUTANTS[3], MUTANTS[4]]
    for i, what in enumerate(plan, 1):
        if what == "slow":
            nb = filled(A)
            nb.cells.insert(2, nbformat.v4.new_code_cell(f"import time\ntime.sleep({SLOW_S})"))
            write(nb, folder / f"s{i}_slow.ipynb")
        elif what is None:
            write(filled(A), folder / f"s{i}_good.ipynb")
        else:
            write(filled(A, mutants[what]), folder / f"s{i}_{what}.ipynb")
    return folder


def _scores(results):
    return {r.student: (r.status, r.error, {g: t.score for g, t in r.tasks.items()})
            for r in results}


# --------------------------------------------------------------------------- processes
def _table():
    """{pid: (ppid, state, cmdline)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0], cmdline)
    return table


def _descendants(root):
    table = _table()
    found, frontier = {}, {root}
    while frontier:
        children = {p for p, (ppid, _, _) in table.items() if ppid in frontier and p not in found}
        found.update({p: table[p][2] for p in children})
        frontier = children
    return found


def _alive(pids: dict) -> dict:
    """Those of ``pids`` still running (not zombies) with the same command line."""
    table = _table()
    return {p: cmd for p, cmd in pids.items()
            if p in table and table[p][1] != "Z" and table[p][2] == cmd}


def _results(work):
    folder = work / "results" / A
    return sorted(folder.glob("*.json")) if folder.exists() else []


# --------------------------------------------------------------------------- the runs
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_sandbox()
    subs = _submissions(tmp_path_factory.mktemp("resume-subs"))
    students = sorted(p.stem for p in subs.glob("*.ipynb"))
    state = {"subs": subs, "students": students, "times": {}}

    # 1. the reference: one uninterrupted run
    ref_work = tmp_path_factory.mktemp("resume-ref")
    t = time.perf_counter()
    state["reference"] = _scores(grade.grade(A, subs, ref_work, workers=2, progress=False))
    state["times"]["reference"] = time.perf_counter() - t

    # 2. the same, in a grader of its own, killed mid-batch. Same grading secret as the
    #    reference (if the grader keeps one), so that hidden tests draw the same inputs.
    work = tmp_path_factory.mktemp("resume-work")
    for secret in ref_work.glob(".grading-secret"):
        shutil.copy2(secret, work / secret.name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("TLCOURSE_DB_URL", "TLCOURSE_GRADING_DIR")}
    log = open(work.parent / f"{work.name}-grader.log", "w")
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "autograder.grade", A, str(subs), "--work",
                             str(work), "--workers", "1"], cwd=course.ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sandboxes = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_results(work)) >= 2:
                sandboxes = {p: c for p, c in _descendants(proc.pid).items()
                             if str(RUNNER) in c or str(FORKSERVER) in c}
                if sandboxes:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, \
            f"the grader ended before it could be killed:\n{open(log.name).read()[-3000:]}"
        assert sandboxes, "no sandbox was seen running after two results"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    state["times"]["killed run"] = time.perf_counter() - t
    state["sandboxes"] = sandboxes
    first = {p.stem: p.stat().st_mtime_ns for p in _results(work)}
    state["first"] = first

    # 3. a few seconds later, nothing of the killed grader may be left running
    time.sleep(3)
    state["survivors"] = _alive(sandboxes)
    for pid in state["survivors"]:     # ours: don't let them compete with the next run
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # 4. a kill between writing a result's temp file and renaming it leaves a partial file:
    #    make one for a student not graded yet (what such a kill would leave behind)
    missing = [s for s in students if s not in first]
    partial = work / "results" / A / f".{missing[-1]}.json.tmp"
    partial.write_text('{"student": "' + missing[-1] + '", "assig')

    # 5. run again, to completion
    t = time.perf_counter()
    state["resumed"] = _scores(grade.grade(A, subs, work, workers=2, progress=False))
    state["times"]["resumed run"] = time.perf_counter() - t
    state["after_resume"] = {p.stem: p.stat().st_mtime_ns for p in _results(work)}
    state["results_dir"] = sorted(p.name for p in (work / "results" / A).iterdir())

    # 6. once more on the same submissions: nothing to grade, same grades
    t = time.perf_counter()
    state["again"] = _scores(grade.grade(A, subs, work, workers=2, progress=False))
    state["times"]["rerun"] = time.perf_counter() - t
    state["after_again"] = {p.stem: p.stat().st_mtime_ns for p in _results(work)}
    state["work"] = work
    return state


def test_killed_mid_batch(runs):
    assert 2 <= len(runs["first"]) < len(runs["students"]), runs["first"]
    assert set(runs["first"]) <= set(runs["students"])


def test_no_sandbox_outlives_the_killed_grader(runs):
    assert runs["sandboxes"], "a sandbox was running at the kill"
    assert not runs["survivors"], f"left running 3 s after the kill: {runs['survivors']}"


def test_second_run_grades_only_the_missing(runs):
    first, after = runs["first"], runs["after_resume"]
    assert set(after) == set(runs["students"])
    assert {s: after[s] for s in first} == first, "a result of the first run was graded again"


def test_resumed_grades_equal_an_uninterrupted_run(runs):
    assert runs["resumed"] == runs["reference"]
    good = [s for s in runs["students"] if s.endswith(("_good", "_slow"))]
    assert all(runs["reference"][s][0] == "graded" and not runs["reference"][s][1] for s in good)
    for s in runs["students"]:
        scores = runs["reference"][s][2]
        maximum = {g: t.points for g, t in
                   grade.Source.load(course.source_notebook(A)).tasks.items()}
        if s in good:
            assert scores == maximum, s
        else:
            assert sum(scores.values()) < sum(maximum.values()), f"{s} kept full marks"


def test_rerun_is_a_no_op_with_the_same_grades(runs):
    assert runs["again"] == runs["reference"]
    assert runs["after_again"] == runs["after_resume"], "a rerun must not grade anything again"


def test_no_temp_or_partial_files_in_results(runs):
    assert runs["results_dir"] == sorted(f"{s}.json" for s in runs["students"])


def test_gradebook_has_one_submission_per_student_and_matches_the_csv(runs):
    from nbgrader.api import Gradebook

    work, students = runs["work"], runs["students"]
    with open(work / "grades" / f"{A}.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(students)
    with Gradebook("sqlite:///" + str(work / "gradebook.db"), "tlcourse") as gb:
        per_student = Counter(s.student.id for s in gb.assignment_submissions(A))
        assert per_student == Counter(students), per_student
        for sid in students:
            grades = {g.name: g.score for g in gb.find_submission_notebook(A, A, sid).grades}
            assert grades == runs["reference"][sid][2], sid
            assert {g: float(rows[sid][g]) for g in grades} == grades, sid
            assert float(rows[sid]["total"]) == pytest.approx(sum(grades.values()))


def test_force_regrades_everything_with_the_same_grades(runs):
    before = {p.stem: p.stat().st_mtime_ns for p in _results(runs["work"])}
    t = time.perf_counter()
    forced = _scores(grade.grade(A, runs["subs"], runs["work"], workers=2, force=True,
                                 progress=False))
    runs["times"]["forced run"] = time.perf_counter() - t
    after = {p.stem: p.stat().st_mtime_ns for p in _results(runs["work"])}
    print("seconds:", {k: round(v, 1) for k, v in runs["times"].items()})   # shown with -rP
    assert forced == runs["reference"], "grading the same files again must give the same grades"
    assert set(after) == set(before) and all(after[s] > before[s] for s in before), \
        "force=True must grade every submission again"


def test_an_unreadable_earlier_result_is_graded_again(runs, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(runs["work"], work)
    broken = work / "results" / A / f"{runs['students'][0]}.json"
    broken.write_text("")
    others = {p.stem: p.stat().st_mtime_ns for p in _results(work) if p != broken}
    results = _scores(grade.grade(A, runs["subs"], work, workers=2, progress=False))
    assert results == runs["reference"]
    assert {p.stem: p.stat().st_mtime_ns for p in _results(work) if p != broken} == others
