"""Mutants: the common wrong answers of each assignment, as small edits of the solution.

``testkit/mutants/ch<assignment>.py`` (e.g. ``ch05_bert.py``) defines ``MUTANTS``, a list of :class:`Mutant`. Each one edits
one solution cell (by nbgrader ``grade_id``) by replacing a snippet of the reference solution. The
grading tests apply each mutant to a correct submission, autograde it with nbgrader, and prove the
task loses its points; the check tests prove the visible check names the mistake (``hint``).
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Mutant:
    name: str
    cell: str          # grade_id of the solution cell it edits
    old: str           # a snippet of the solution...
    new: str           # ...and what the wrong answer writes instead
    why: str           # the mistake, in words
    hint: str | None = None  # a fragment the visible check's message must contain (None: hidden only)
    assignment: str = ""     # set by :func:`load`

    @property
    def test_cell(self) -> str:
        """grade_id of the graded cell that grades the answer cell this mutant edits."""
        from autograder import assignment

        if not self.assignment:
            raise ValueError(f"mutant {self.name}: no assignment (load mutants with "
                             "testkit.mutants.load)")
        return assignment.of(self.assignment).task_of(self.cell).test_id

    def apply(self, source: str) -> str:
        if source.count(self.old) != 1:
            raise ValueError(f"mutant {self.name}: {self.old!r} occurs {source.count(self.old)} "
                             f"times in cell {self.cell}, expected exactly once")
        return source.replace(self.old, self.new)


def module_name(assignment: str) -> str:
    """The module of an assignment's mutants: ``05_bert`` -> ``ch05_bert``."""
    return f"ch{assignment}"


def load(assignment: str) -> list[Mutant]:
    """The mutants of ``assignment`` (none when it has no module here)."""
    if not (HERE / f"{module_name(assignment)}.py").exists():
        return []
    module = importlib.import_module(f"{__name__}.{module_name(assignment)}")
    return [dataclasses.replace(m, assignment=assignment) for m in module.MUTANTS]
