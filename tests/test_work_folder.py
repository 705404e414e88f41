"""The grading work folder is decided in one place (:func:`autograder.course.work_dir`): ``--work``,
then ``$TLCOURSE_GRADING_DIR``, then ``<repo>/grading``; every instructor command honours it."""
from pathlib import Path

from autograder import __main__ as cli
from autograder import course, grade
from autograder.verdict import Result, zero

A = "04_attention"
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def test_work_dir_order(tmp_path, monkeypatch):
    monkeypatch.delenv(course.WORK_ENV, raising=False)
    assert course.work_dir() == course.DEFAULT_WORK.resolve()
    monkeypatch.setenv(course.WORK_ENV, "")
    assert course.work_dir() == course.DEFAULT_WORK.resolve()
    monkeypatch.setenv(course.WORK_ENV, str(tmp_path / "env"))
    assert course.work_dir() == tmp_path / "env"
    assert course.work_dir(tmp_path / "flag") == tmp_path / "flag"


def test_nbgrader_config_uses_the_same_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(course.WORK_ENV, str(tmp_path / "env"))
    monkeypatch.delenv("TLCOURSE_DB_URL", raising=False)
    cfg = course.config()
    assert cfg.CourseDirectory.submitted_directory == str(tmp_path / "env" / "submitted")
    assert cfg.CourseDirectory.db_url == "sqlite:///" + str(tmp_path / "env" / "gradebook.db")
    cfg = course.config(tmp_path / "flag")
    assert cfg.CourseDirectory.submitted_directory == str(tmp_path / "flag" / "submitted")


def test_every_step_honours_the_variable(tmp_path, monkeypatch, capsys):
    work = tmp_path / "from-env"
    monkeypatch.setenv(course.WORK_ENV, str(work))
    monkeypatch.delenv("TLCOURSE_DB_URL", raising=False)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text(NB)

    cli.main(["collect", A, str(subs)])
    assert (work / "submitted" / "alice" / A / f"{A}.ipynb").is_file()

    graded_in = []

    def fake_grade_collected(assignment, found, work_, hide, *args, **kwargs):
        # the grading itself is tested elsewhere: here only where its results go
        graded_in.append(Path(work_))
        r = Result(student="alice", assignment=assignment, status="error", error="stub",
                   tasks=zero(grade._source(assignment), "stub"))
        grade._save(r, work_ / "results" / assignment)
        return [r]

    monkeypatch.setattr(grade, "grade_collected", fake_grade_collected)
    cli.main(["grade", A, "--no-sandbox", "--workers", "1"])
    assert graded_in == [work]
    feedback = work / "feedback" / "alice" / A / f"{A}.html"
    grades = work / "grades" / f"{A}.csv"
    assert feedback.is_file() and grades.is_file()

    feedback.unlink()
    cli.main(["feedback", A])
    assert feedback.is_file()

    grades.unlink()
    cli.main(["export", A])
    assert grades.is_file() and (work / "summary" / f"{A}.html").is_file()
    assert str(work) in capsys.readouterr().out


def test_the_flag_wins_over_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(course.WORK_ENV, str(tmp_path / "env"))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "bob.ipynb").write_text(NB)
    cli.main(["collect", A, str(subs), "--work", str(tmp_path / "flag")])
    assert (tmp_path / "flag" / "submitted" / "bob" / A / f"{A}.ipynb").is_file()
    assert not (tmp_path / "env").exists()
