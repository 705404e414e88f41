"""The source notebooks' plain-text twins (``solutions/<id>/<id>.py``, ``autograder.twins``):
current, the same text either way, and never leaving the course."""
import nbformat
import pytest
import yaml

from autograder import assignment as model
from autograder import course, twins

ASSIGNMENTS = course.assignments()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_twin_is_current(assignment):
    path = twins.twin_path(assignment)
    assert path.exists() and path.read_text(encoding="utf-8") == twins.text(assignment), \
        f"{path.relative_to(course.ROOT)} is missing or stale: run `{twins.COMMAND}` and commit it"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_twin_holds_every_cell_with_its_nbgrader_metadata(assignment):
    text, parsed = twins.twin_path(assignment).read_text(encoding="utf-8"), model.of(assignment)
    for cell in parsed.cells:
        if cell.id:
            assert f'"grade_id": "{cell.id}"' in text, cell.id
    for task in parsed.tasks.values():
        assert task.hidden in text and task.visible in text
    for code in parsed.answers.values():
        assert code in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_notebook_made_back_from_its_twin_is_the_notebook(assignment):
    assert twins.notebook_text(assignment) == \
        course.source_notebook(assignment).read_text(encoding="utf-8")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_pairing_adds_no_metadata_to_the_notebooks(assignment):
    """The release students download is made from the notebook: no jupytext metadata in it."""
    for folder in (course.SOLUTIONS, course.EXERCISES):
        nb = nbformat.read(folder / assignment / f"{assignment}.ipynb", as_version=4)
        assert "jupytext" not in nb.metadata, folder.name
        assert not any("jupytext" in c.metadata for c in nb.cells), folder.name


def test_nbgrader_never_copies_a_twin(tmp_path):
    """generate_assignment (the release) and autograde (next to a submission) copy every file of
    an assignment's source folder that CourseDirectory.ignore does not name, notebooks aside."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files

    ignore = CourseDirectory(config=course.config(work=tmp_path)).ignore
    for a in ASSIGNMENTS:
        assert twins.twin_path(a).exists()
        assert find_all_files(str(course.SOLUTIONS / a), ignore + ["*.ipynb"]) == [], a


def test_the_site_never_reads_the_twins():
    cfg = yaml.safe_load((course.ROOT / "_config.yml").read_text())
    assert "solutions" in cfg["exclude_patterns"]


def test_the_check_command_names_the_fix(tmp_path, monkeypatch, capsys):
    a = ASSIGNMENTS[0]
    stale = tmp_path / a / twins.twin_name(a)
    stale.parent.mkdir()
    stale.write_text("# an old twin\n")
    real = twins.twin_path
    monkeypatch.setattr(twins, "twin_path", lambda name: stale if name == a else real(name))
    assert twins.main(["check"]) == 1
    assert f"is missing or stale: run `{twins.COMMAND}`" in capsys.readouterr().out
    assert twins.main(["sync", a]) == 0 and stale.read_text() == twins.text(a)
    assert twins.main(["check"]) == 0
