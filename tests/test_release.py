"""exercises/ is nbgrader's release of solutions/: current, and free of solutions and hidden tests."""
import re

import nbformat
import pytest

from autograder import assignment as model
from autograder import course, release, twins
from testkit.submissions import solution_cells

ASSIGNMENTS = course.assignments()


def test_there_are_assignments():
    assert "04_attention" in ASSIGNMENTS


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release.release(out)
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_current(fresh_release, assignment):
    committed = course.EXERCISES / assignment / f"{assignment}.ipynb"
    assert committed.exists(), f"{committed} is missing: run `make release`"
    assert (fresh_release / assignment / f"{assignment}.ipynb").read_bytes() == committed.read_bytes(), \
        f"exercises/{assignment} is stale: run `make release` and commit the result"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_the_notebook_only_no_twin_no_hidden_test(fresh_release, assignment):
    """The source folder also holds the notebook's plain-text twin (hidden tests and all)."""
    assert twins.twin_path(assignment).exists()
    for folder in (fresh_release, course.EXERCISES):
        files = sorted(str(p.relative_to(folder / assignment))
                       for p in (folder / assignment).rglob("*") if p.is_file())
        assert files == [f"{assignment}.ipynb"], f"{folder}/{assignment}: {files}"
        nb = nbformat.read(folder / assignment / f"{assignment}.ipynb", as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        leaked = [line for line in model.of(assignment).secret_lines() if line in text]
        assert not leaked, f"hidden-test lines in the release of {assignment}: {leaked[:3]}"


def test_no_stray_release_folders():
    stray = {p.name for p in course.EXERCISES.iterdir() if p.is_dir()} - set(ASSIGNMENTS)
    assert not stray, f"exercises/ has folders with no source in solutions/: {stray}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solutions_and_no_hidden_tests(assignment):
    text = (course.EXERCISES / assignment / f"{assignment}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    # no line of any solution body (beyond trivial ones) leaks into the release
    release_sources = "\n".join(c.source for c in nbformat.read(
        course.EXERCISES / assignment / f"{assignment}.ipynb", as_version=4).cells)
    for gid, src in solution_cells(assignment).items():
        body = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", src, re.S)
        assert body, f"solution cell {gid} has no BEGIN/END SOLUTION markers"
        for line in body.group(1).splitlines():
            if len(line.strip()) > 12:
                assert line.strip() not in release_sources, f"{gid}: solution line leaked: {line}"


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_committed_notebooks_have_no_outputs(folder):
    for path in (course.ROOT / folder).rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, \
                    f"{path} has outputs: strip them before committing"
