"""One assignment, read from its nbgrader notebook: the only parser of the course's notebooks.

``solutions/<id>/<id>.ipynb`` (or, with ``public=True``, its release ``exercises/<id>/<id>.ipynb``:
no hidden tests, no solutions) becomes an :class:`Assignment`: its cells in notebook order, each
of one kind, and its tasks. The grader (:class:`autograder.verdict.Source`), the release and
grading tests, the test kit, the site's solution pages and the source twins all read it from here.

* **setup**: a locked code cell that is neither an answer nor graded (imports, data);
* **answer**: an nbgrader solution cell (``solution: true``): the student's code goes there;
* **task**: a graded code cell (``grade: true``): the visible check, then the hidden tests
  between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` (:data:`HIDDEN`);
* **text**: a markdown cell (the task's wording; its first heading is the task's title).

A task grades the answer cell just before it (the grader runs its hidden tests against what that
cell defines): that is the authority. Its ``grade_id`` must also be the answer's followed by
``_tests`` (``mask_tokens`` -> ``mask_tokens_tests``): the convention that the mutants, the
course-code tables and the feedback rely on, checked here. Anything else (a graded cell without
hidden tests, unbalanced markers, two cells with one ``grade_id``) is an
:class:`AssignmentError` that names the notebook and the cell.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import grade_id, nbgrader_meta

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# The hidden-test region of a graded cell: whole marker lines, the tests between them.
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*$",
                    re.S | re.M)
# A hidden block's tests: its top-level ``test_*`` functions (the points are shared among them).
TEST_FUNCTION = re.compile(r"^def (test_\w+)\s*\(", re.M)
TESTS_SUFFIX = "_tests"       # a task's grade_id: its answer's, then this


class AssignmentError(ValueError):
    """The notebook breaks a rule of the course's assignments; the message names the file and
    the cell."""


def test_names(hidden: str) -> tuple[str, ...]:
    """The ``test_*`` functions a hidden block defines, in order, each once. None: the block is
    one test."""
    return tuple(dict.fromkeys(TEST_FUNCTION.findall(hidden)))


def heading(markdown: str) -> str | None:
    """The first heading of a markdown cell (its text), or None."""
    m = re.search(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.M)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Cell:
    kind: str              # "setup" | "answer" | "task" | "text"
    id: str | None         # nbgrader grade_id (a markdown cell may have none)
    source: str
    solution: bool = False  # an nbgrader solution cell (an answer, or a written markdown answer)


@dataclass(frozen=True)
class Task:
    test_id: str           # grade_id of the graded cell
    answer_id: str         # grade_id of the answer cell it grades: the one just before it
    title: str | None      # the last markdown heading above the graded cell
    points: float
    visible: str           # the visible check (what runs in the student's notebook, in the sandbox)
    hidden: str            # the hidden tests ("" in a release)
    test_names: tuple[str, ...]   # the hidden block's test_* functions (empty: one test)

    # The names the grader has always used (``verdict.Source.tasks[...]``).
    @property
    def grade_id(self) -> str:
        return self.test_id

    @property
    def answer(self) -> str:
        return self.answer_id


@dataclass(frozen=True)
class Assignment:
    name: str
    path: Path
    public: bool
    cells: tuple[Cell, ...]             # every cell, in notebook order
    tasks: dict[str, Task]              # by test grade_id, in notebook order

    @property
    def setup(self) -> dict[str, str]:
        """grade_id -> code of the setup cells, in order."""
        return {c.id: c.source for c in self.cells if c.kind == "setup"}

    @property
    def answers(self) -> dict[str, str]:
        """answer grade_id -> its code (the reference solution; the stub in a release)."""
        return {c.id: c.source for c in self.cells if c.kind == "answer"}

    @property
    def order(self) -> list[tuple[str, str]]:
        """(kind, grade_id) of every code cell, in notebook order."""
        return [(c.kind, c.id) for c in self.cells if c.kind != "text"]

    def shown_text(self) -> str:
        """Every cell's source without the hidden tests: all that a page of the course may show
        (the solutions included)."""
        return "\n".join(self.tasks[c.id].visible if c.kind == "task" else c.source
                         for c in self.cells)

    def secret_lines(self, min_length: int = 26) -> list[str]:
        """Lines of the hidden tests (stripped, ``min_length`` characters or more) that occur
        nowhere else in the notebook: text that must never leave the course."""
        shown = {line.strip() for line in self.shown_text().splitlines()}
        hidden = (line.strip() for t in self.tasks.values() for line in t.hidden.splitlines())
        return list(dict.fromkeys(line for line in hidden
                                  if len(line) >= min_length and line not in shown))

    def task_of(self, answer_id: str) -> Task:
        """The task that grades answer cell ``answer_id``."""
        for task in self.tasks.values():
            if task.answer_id == answer_id:
                return task
        raise KeyError(f"{self.path}: no graded cell grades the answer cell {answer_id!r} "
                       f"(answers: {sorted(self.answers)})")

    @classmethod
    def load(cls, path: str | Path, public: bool = False) -> "Assignment":
        """Read and check ``path``; ``public``: a release (no hidden tests, no solutions)."""
        path = Path(path)
        nb = nbformat.read(path, as_version=4)
        return cls.from_notebook(nb, path, public)

    @classmethod
    def from_notebook(cls, nb, path: Path, public: bool = False) -> "Assignment":
        cells, tasks, seen = [], {}, {}
        last_answer, title = None, None

        def fail(cell_id, why):
            raise AssignmentError(f"{path}: cell {cell_id or '(no grade_id)'}: {why}")

        for i, cell in enumerate(nb.cells):
            meta, gid, source = nbgrader_meta(cell), grade_id(cell), cell.source
            where = gid or f"#{i + 1}"
            if gid is not None:
                if gid in seen:
                    fail(gid, f"the grade_id is used twice (cells #{seen[gid] + 1} and #{i + 1})")
                seen[gid] = i
            if ("BEGIN HIDDEN TESTS" in source or "END HIDDEN TESTS" in source) \
                    and not (meta.get("grade") and cell.cell_type == "code"):
                fail(where, "hidden-test markers outside a graded code cell")
            if cell.cell_type != "code":
                if cell.cell_type == "markdown" and heading(source):
                    title = heading(source)
                if meta.get("grade"):
                    fail(where, "a graded markdown cell: the grader grades code cells only")
                cells.append(Cell("text", gid, source, bool(meta.get("solution"))))
                continue
            if gid is None:
                fail(where, "a code cell without an nbgrader grade_id: make it a setup, answer "
                            "or graded cell")
            if meta.get("solution"):
                if meta.get("grade"):
                    fail(gid, "an answer cell that is also graded: grade it in the cell after it")
                cells.append(Cell("answer", gid, source, True))
                last_answer = gid
            elif meta.get("grade"):
                visible, hidden = split_hidden(source, path, gid, public)
                if last_answer is None:
                    fail(gid, "a graded cell with no answer cell before it: a task grades the "
                              "answer cell just above it")
                if gid != last_answer + TESTS_SUFFIX:
                    fail(gid, f"a graded cell after the answer cell {last_answer!r} must be "
                              f"named {last_answer + TESTS_SUFFIX!r} (the answer it grades, "
                              f"then {TESTS_SUFFIX!r})")
                tasks[gid] = Task(gid, last_answer, title, float(meta.get("points", 0)),
                                  visible, hidden, test_names(hidden))
                cells.append(Cell("task", gid, source))
            else:
                cells.append(Cell("setup", gid, source))
        return cls(path.stem, path, public, tuple(cells), tasks)


def split_hidden(source: str, path: Path, cell_id: str, public: bool = False) -> tuple[str, str]:
    """A graded cell's (visible check, hidden tests). The hidden tests are the one region between
    marker lines; a source notebook's every graded cell has one (a release's has none)."""
    def fail(why):
        raise AssignmentError(f"{path}: cell {cell_id}: {why}")

    begins, ends = source.count("BEGIN HIDDEN TESTS"), source.count("END HIDDEN TESTS")
    m = HIDDEN.search(source)
    if public and not begins and not ends:
        return source.rstrip(), ""
    if begins != ends or begins > 1:
        fail(f"unbalanced hidden-test markers ({begins} {BEGIN_HIDDEN!r}, {ends} {END_HIDDEN!r}): "
             "a graded cell has one hidden-test region")
    if not m:
        if begins:
            fail(f"the hidden-test markers must be whole lines, {BEGIN_HIDDEN!r} then "
                 f"{END_HIDDEN!r}")
        fail("a graded cell with no hidden tests: every task needs them (the visible check "
             "alone cannot be trusted)")
    if source[m.end():].strip():
        fail(f"code after {END_HIDDEN!r}: the hidden tests end the cell")
    if not public and not m.group(1).strip():
        fail("a graded cell with no hidden tests: every task needs them (the visible check "
             "alone cannot be trusted)")
    return source[:m.start()].rstrip(), "" if public else m.group(1)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, public: bool, mtime_ns: int, size: int) -> Assignment:
    return Assignment.load(Path(path), public)


def of(assignment: str, public: bool = False) -> Assignment:
    """The course's assignment ``assignment`` (``solutions/<id>/<id>.ipynb``; ``public``: its
    release in ``exercises/``), read once for as long as the file does not change."""
    from . import course

    path = (course.EXERCISES / assignment / f"{assignment}.ipynb" if public
            else course.source_notebook(assignment))
    st = path.stat()
    return _load_cached(str(path), public, st.st_mtime_ns, st.st_size)
