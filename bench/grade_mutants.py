"""Grade the reference solution, the untouched release and every mutant of each assignment through
nbgrader, and print the table of points per task with the time it took.

    .venv/bin/python bench/grade_mutants.py [assignment ...]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import course, grade  # noqa: E402
from autograder.mutants import load  # noqa: E402
from autograder.submissions import filled, release_notebook, write  # noqa: E402


def main(names: list[str]) -> None:
    for assignment in names or course.assignments():
        with tempfile.TemporaryDirectory() as tmp:
            subs = Path(tmp) / "subs"
            write(filled(assignment), subs / "solution.ipynb")
            write(release_notebook(assignment), subs / "release.ipynb")
            mutants = {f"mutant-{m.name}": m for m in load(assignment)}
            for sid, m in mutants.items():
                write(filled(assignment, m), subs / f"{sid}.ipynb")
            start = time.perf_counter()
            results = grade.grade(assignment, subs, Path(tmp) / "work", progress=False)
            seconds = time.perf_counter() - start
        tasks = course.graded_cells(assignment)
        short = [t.removesuffix("_tests")[:12] for t in tasks]
        print(f"\n{assignment}: {len(results)} submissions graded in {seconds:.1f} s "
              f"({seconds / len(results):.2f} s each)")
        print(f"| submission | {' | '.join(short)} | total |")
        print("|---" * (len(tasks) + 2) + "|")
        order = ["solution", "release", *mutants]
        by_name = {r.student: r for r in results}
        for sid in order:
            r = by_name[sid]
            cells = [f"{r.scores.get(t, 0):g}/{r.max_scores.get(t, 0):g}" for t in tasks]
            print(f"| {sid} | {' | '.join(cells)} | {r.total:g} |")


if __name__ == "__main__":
    main(sys.argv[1:])
