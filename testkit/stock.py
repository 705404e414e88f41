"""Stock nbgrader grading, kept as the baseline the course's grader is compared with.

    python -m testkit.stock 04_attention path/to/submissions [--work DIR]

Runs nbgrader's own ``autograde`` (the student's code and the hidden tests in one Jupyter kernel,
with the grader's rights) and ``generate_feedback`` on each submission. The benchmarks and the
threat tests run it next to :mod:`autograder.grade` to show what the sandboxed grader changes;
use :mod:`autograder.grade` to grade a class.
"""
from __future__ import annotations

import argparse
import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

warnings.filterwarnings("ignore", message=".*not in session.*")

from autograder import collect, course


@dataclass
class Result:
    student: str
    source: str
    scores: dict[str, float] = field(default_factory=dict)   # grade cell id -> points
    max_scores: dict[str, float] = field(default_factory=dict)
    error: str = ""
    feedback: str = ""

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _scores(api, assignment: str, sid: str, result: Result) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        nb = gb.find_submission_notebook(assignment, assignment, sid)
        for g in sorted(nb.grades, key=lambda g: g.name):
            result.scores[g.name] = float(g.score or 0.0)
            result.max_scores[g.name] = float(g.max_score)


def grade(assignment: str, submissions: Path, work: Path | None = None,
          progress: bool = True) -> list[Result]:
    work = course.work_dir(work)
    if assignment not in course.assignments():
        raise SystemExit(f"unknown assignment '{assignment}'; known: {', '.join(course.assignments())}")
    api = course.api(work=work, release=work / "release")
    found, problems = collect.collect(assignment, Path(submissions), work)
    for p in problems:
        print(f"warning: {p}")
    # Records the assignment, its graded cells and hidden tests in the gradebook.
    course.check(api.generate_assignment(assignment, force=True), f"preparing {assignment}")

    results = []
    for sid, src in tqdm(found.items(), desc=f"grading {assignment}", disable=not progress):
        r = Result(student=sid, source=str(src))
        out = api.autograde(assignment, sid, force=True, create=True)
        if not out.get("success"):
            r.error = _first_error(out.get("log", "")) or "autograding failed"
        else:
            _scores(api, assignment, sid, r)
            fb = api.generate_feedback(assignment, sid, force=True)
            html = work / "feedback" / sid / assignment / f"{assignment}.html"
            r.feedback = str(html) if fb.get("success") and html.exists() else ""
        results.append(r)
    write_csv(results, work / "grades" / f"{assignment}.csv", course.graded_cells(assignment))
    return results


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("[ERROR]") and "Traceback" not in line:
            return line.removeprefix("[ERROR]").strip()
    return ""


def write_csv(results: list[Result], path: Path, order: list[str] | None = None) -> Path:
    """One row per student, one column per graded cell (in notebook ``order`` when given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = {t for r in results for t in r.max_scores}
    tasks = [t for t in (order or []) if t in seen] + sorted(seen - set(order or []))
    maximum = {t: next(r.max_scores[t] for r in results if t in r.max_scores) for t in tasks}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", *tasks, "total", "max_score", "status", "feedback"])
        for r in results:
            w.writerow([r.student, *(r.scores.get(t, 0.0) for t in tasks), r.total,
                        sum(maximum.values()), r.error or "graded", r.feedback])
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="assignment id, e.g. 04_attention")
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks")
    course.add_work_option(parser)
    args = parser.parse_args(argv)
    results = grade(args.assignment, args.submissions, args.work)
    width = max([len(r.student) for r in results] + [7])
    for r in results:
        status = r.error or f"{r.total:g} / {sum(r.max_scores.values()):g}"
        print(f"{r.student:<{width}}  {status}")
    work = course.work_dir(args.work)
    print(f"grades: {work / 'grades' / (args.assignment + '.csv')}")


if __name__ == "__main__":
    main()
