"""Grade the reference solution, the untouched release and every mutant of each assignment with
the course's grader and with stock nbgrader, and print the points per task side by side.

    .venv/bin/python bench/grade_mutants.py [assignment ...]

Each cell of the table is ``ours / stock``: the course's grader gives partial credit where a
task's hidden tests are split into several test functions, stock nbgrader all or nothing.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import course, grade  # noqa: E402
from testkit import stock  # noqa: E402
from testkit.mutants import load  # noqa: E402
from testkit.submissions import filled, release_notebook, write  # noqa: E402


def main(names: list[str]) -> None:
    for assignment in names or course.assignments():
        with tempfile.TemporaryDirectory() as tmp:
            subs = Path(tmp) / "subs"
            write(filled(assignment), subs / "solution.ipynb")
            write(release_notebook(assignment), subs / "release.ipynb")
            mutants = [f"mutant-{m.name}" for m in load(assignment)]
            for m in load(assignment):
                write(filled(assignment, m), subs / f"mutant-{m.name}.ipynb")
            t0 = time.perf_counter()
            ours = {r.student: r for r in grade.grade(assignment, subs, Path(tmp) / "ours",
                                                      progress=False)}
            t1 = time.perf_counter()
            base = {r.student: r for r in stock.grade(assignment, subs, Path(tmp) / "stock",
                                                      progress=False)}
            t2 = time.perf_counter()
        tasks = course.graded_cells(assignment)
        n = len(ours)
        print(f"\n{assignment}: {n} submissions; ours {t1 - t0:.1f} s ({(t1 - t0) / n:.2f} s each, "
              f"2 workers), stock nbgrader {t2 - t1:.1f} s ({(t2 - t1) / n:.2f} s each)")
        print(f"| submission | {' | '.join(t.removesuffix('_tests') for t in tasks)} | total |")
        print("|---" * (len(tasks) + 2) + "|")
        for sid in ["solution", "release", *mutants]:
            o, s = ours[sid], base[sid]
            cells = [f"{o.tasks[t].score:g} / {s.scores.get(t, 0):g}" for t in tasks]
            print(f"| {sid} | {' | '.join(cells)} | {o.total:g} / {s.total:g} |")
        print(f"(max per task: {', '.join(f'{o.tasks[t].max_score:g}' for t in tasks)})")


if __name__ == "__main__":
    main(sys.argv[1:])
