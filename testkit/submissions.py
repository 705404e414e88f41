"""Make submissions the way a student would: the release notebook with its answer cells filled in.

Used by the grading tests and benchmarks: the reference solution, the untouched release, and each
mutant (one answer cell replaced by a common wrong answer) are all built from the release.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder import assignment as model
from autograder import course
from autograder.course import grade_id
from testkit.mutants import Mutant

__all__ = ["grade_id", "solution_cells", "release_notebook", "filled", "write"]


def solution_cells(assignment: str) -> dict[str, str]:
    """grade_id -> source of every answer cell of the source notebook (the reference solution)."""
    return model.of(assignment).answers


def release_notebook(assignment: str):
    return nbformat.read(course.EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)


def filled(assignment: str, mutant: Mutant | None = None):
    """The release with every answer cell holding the reference solution (``mutant`` applied)."""
    answers = solution_cells(assignment)
    if mutant is not None:
        if mutant.cell not in answers:
            raise KeyError(f"mutant {mutant.name}: no solution cell {mutant.cell!r} in {assignment}")
        answers[mutant.cell] = mutant.apply(answers[mutant.cell])
    nb = release_notebook(assignment)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
