"""Collecting submissions (:mod:`autograder.collect`): plain files, one folder per student, LMS
downloads (Canvas, Moodle) as folders or zips, a custom pattern, junk and hostile zips; then one
LMS zip through the whole grading pipeline."""
import csv
import os
import tempfile
import unicodedata
import zipfile

import pytest

from autograder import collect

A = "04_attention"
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _tree(root, files: dict):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _zip(path, files: dict):
    with zipfile.ZipFile(path, "w") as z:
        for rel, text in files.items():
            z.writestr(rel, text)
    return path


def _dest(work, sid):
    return work / "submitted" / sid / A / f"{A}.ipynb"


def test_plain_files_and_student_folders(tmp_path):
    src = _tree(tmp_path / "subs", {"alice.ipynb": NB + " ", "bob/whatever name.ipynb": NB + "  ",
                                    "carol_smith.ipynb": NB})
    work = tmp_path / "work"
    found, problems = collect.collect(A, src, work)
    assert found == {"alice": _dest(work, "alice"), "bob": _dest(work, "bob"),
                     "carol_smith": _dest(work, "carol_smith")}
    assert problems == []
    assert found["alice"].read_text() == NB + " " and found["bob"].read_text() == NB + "  "
    # collecting again replaces the earlier copy (a resubmission)
    (src / "alice.ipynb").write_text(NB + "\n\n")
    found, _ = collect.collect(A, src, work)
    assert found["alice"].read_text() == NB + "\n\n"
    assert sorted(p.name for p in found["alice"].parent.iterdir()) == [f"{A}.ipynb"]


def test_lms_zip_canvas_and_moodle_names(tmp_path):
    archive = _zip(tmp_path / "download.zip", {
        "doejane_12345_67890_04_attention.ipynb": NB,
        "doejane_late_12345_67891_04_attention.ipynb": NB + " ",
        "smithjo_late_22222_33333_04_attention.ipynb": NB,
        "Jane Doe_12345_assignsubmission_file_04_attention.ipynb": NB,
    })
    work = tmp_path / "work"
    found, problems = collect.collect(A, archive, work)
    # the LMS's numeric id is part of the student id: two "Jane Doe"s are two students
    assert set(found) == {"doejane_12345", "smithjo_22222", "Jane_Doe_12345"}
    assert all(p == _dest(work, s) for s, p in found.items())
    assert found["smithjo_22222"].exists() and found["Jane_Doe_12345"].exists()
    # two files of one student: that student's error (both named), never a silent pick
    assert len(problems) == 1, problems
    assert "doejane_12345" in problems[0] and "2 files" in problems[0]
    assert "doejane_late_12345_67891" in problems[0] and "doejane_12345_67890" in problems[0]
    assert not found["doejane_12345"].exists()
    assert "none was graded" in collect.collect_error(found["doejane_12345"])


def test_lms_folder_works_like_the_zip(tmp_path):
    src = _tree(tmp_path / "download", {"doejane_12345_67890_04_attention.ipynb": NB,
                                        "Jane Doe_12345_assignsubmission_file_04_attention.ipynb": NB})
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert set(found) == {"doejane_12345", "Jane_Doe_12345"} and problems == []


def test_moodle_folder_per_student(tmp_path):
    src = _tree(tmp_path / "download", {
        "Jane Doe_12345_assignsubmission_file_/04_attention.ipynb": NB})
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert set(found) == {"Jane_Doe_12345"}, found


def test_custom_pattern(tmp_path):
    src = _tree(tmp_path / "subs", {"hw4-s0001.ipynb": NB, "sub/hw4-s0002.ipynb": NB,
                                    "notes-s0003.ipynb": NB})
    found, problems = collect.collect(A, src, tmp_path / "work",
                                      pattern=r"hw4-(?P<student>s\d+)\.ipynb$")
    assert set(found) == {"s0001", "s0002"}
    assert len(problems) == 1 and "notes-s0003.ipynb" in problems[0] and "no student" in problems[0]


def test_non_notebooks_reported_checkpoints_and_macosx_ignored(tmp_path):
    src = _tree(tmp_path / "subs", {
        "alice.ipynb": NB,
        "alice.py": "print(1)",
        "bob/notes.txt": "hi",
        "bob/bob.ipynb": NB,
        ".ipynb_checkpoints/alice-checkpoint.ipynb": NB,
        "bob/.ipynb_checkpoints/bob-checkpoint.ipynb": NB,
        "__MACOSX/._alice.ipynb": "\x00\x05\x16\x07",
        "__MACOSX/bob/._bob.ipynb": "\x00\x05\x16\x07",
    })
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert set(found) == {"alice", "bob"}
    assert found["bob"].read_text() == NB
    assert len(problems) == 2, problems
    assert any("alice.py" in p and "not a .ipynb" in p for p in problems)
    assert any("notes.txt" in p and "not a .ipynb" in p for p in problems)
    assert not any("checkpoint" in p or "MACOSX" in p for p in problems)


def _hostile_zip(tmp_path):
    outside = tmp_path / "unzip-here"
    outside.mkdir()
    archive = _zip(tmp_path / "hostile.zip", {
        "alice.ipynb": NB,
        "../evil.ipynb": NB,
        "../../evil2.ipynb": NB,
        str(tmp_path / "absolute-evil.ipynb"): NB,
    })
    return archive, outside


def test_zip_entries_cannot_escape(tmp_path, monkeypatch):
    archive, unzip_root = _hostile_zip(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(unzip_root))   # collect unpacks under here
    work = tmp_path / "work"
    found, problems = collect.collect(A, archive, work)
    assert "alice" in found
    for escaped in (unzip_root / "evil.ipynb", tmp_path / "evil.ipynb", tmp_path / "evil2.ipynb",
                    tmp_path.parent / "evil2.ipynb", tmp_path / "absolute-evil.ipynb"):
        assert not escaped.exists(), f"a zip entry escaped to {escaped}"
    # everything collect wrote is inside the work folder, and its unpacking folder is gone
    assert list(unzip_root.iterdir()) == []
    assert all(p.resolve().is_relative_to(work.resolve()) for p in found.values())
    assert "evil" not in found and "evil2" not in found


def test_escaping_zip_entries_are_reported(tmp_path, monkeypatch):
    archive, unzip_root = _hostile_zip(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(unzip_root))
    found, problems = collect.collect(A, archive, tmp_path / "work")
    assert set(found) == {"alice"}
    assert any("evil.ipynb" in p for p in problems), problems
    assert any("evil2.ipynb" in p for p in problems), problems


def test_zip_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "big.zip", {"alice.ipynb": NB * 100})
    monkeypatch.setattr(collect, "MAX_ZIP_MB", 0)
    with pytest.raises(SystemExit, match="over 0 MB"):
        collect.collect(A, archive, tmp_path / "work")


def test_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(SystemExit) as exc:
        collect.collect(A, missing, tmp_path / "work")
    assert "no such folder" in str(exc.value) and str(missing) in str(exc.value)


def test_nothing_found_is_reported(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    found, problems = collect.collect(A, empty, tmp_path / "work")
    assert found == {} and any("no notebooks found" in p for p in problems)


# --------------------------------------------------------------------------- who is who
def test_unicode_names_are_kept_normalised_and_distinct(tmp_path):
    nfd = unicodedata.normalize("NFD", "Zoë")                      # as macOS writes names
    src = _tree(tmp_path / "subs", {"Zoë.ipynb": NB, "Zoé.ipynb": NB + " ", "王小明.ipynb": NB,
                                    "Иван Петров_55_assignsubmission_file_hw.ipynb": NB,
                                    "Ana María_56_assignsubmission_file_hw.ipynb": NB})
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert set(found) == {"Zoë", "Zoé", "王小明", "Иван_Петров_55", "Ana_María_56"}, found
    assert all(unicodedata.is_normalized("NFC", s) for s in found)
    assert problems == []
    # the same name in another normal form is the same student: two files, that student's error
    (src / f"{nfd}.ipynb").write_text(NB + "  ")
    found, problems = collect.collect(A, src, tmp_path / "work2")
    assert len(problems) == 1 and "Zoë" in problems[0] and "2 files" in problems[0], problems
    assert collect.collect_error(found["Zoë"]) and found["Zoé"].read_text() == NB + " "


def test_symlinks_and_special_files_are_refused(tmp_path):
    secret = tmp_path / "solution.ipynb"
    secret.write_text('{"secret": true}')
    src = _tree(tmp_path / "subs", {"alice.ipynb": NB, "other/x.ipynb": NB})
    (src / "mallory.ipynb").symlink_to(secret)
    (src / "trudy").symlink_to(src / "other")            # a folder that is a link
    os.mkfifo(src / "fifo.ipynb")                         # reading it would block forever
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert found["alice"].read_text() == NB
    assert "mallory" in found and not found["mallory"].exists()
    assert "symbolic link" in collect.collect_error(found["mallory"])
    assert "not a plain file" in collect.collect_error(found["fifo"])
    assert "trudy" not in found, "a linked folder is not followed"
    copies = [p.read_text() for p in (tmp_path / "work").rglob("*.ipynb")]
    assert all("secret" not in c for c in copies)


def test_long_names_never_crash_collect(tmp_path):
    long = "é" * 120 + "x" * 5                             # 245 bytes + ".ipynb": NAME_MAX
    src = _tree(tmp_path / "subs", {f"{long}.ipynb": NB, "bob.ipynb": NB,
                                    f"{'y' * 200}_12_assignsubmission_file_{'z' * 20}.ipynb": NB})
    archive = _zip(tmp_path / "long.zip", {f"{'w' * 300}.ipynb": NB, "carol.ipynb": NB})
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert found["bob"].read_text() == NB
    long_ids = [s for s in found if s != "bob"]
    assert len(long_ids) == 2 and all(len(s.encode()) <= collect.MAX_ID_BYTES for s in long_ids)
    for sid in long_ids:
        assert "bytes long" in collect.collect_error(found[sid])
    found, problems = collect.collect(A, archive, tmp_path / "work-zip")
    assert found["carol"].read_text() == NB
    assert any("w" * 50 in p and "cannot be unpacked" in p for p in problems), problems


def test_a_display_name_crafted_like_a_file_name_replaces_no_one(tmp_path):
    victim = NB + " victim"
    src = _tree(tmp_path / "subs", {
        "doejane_12345_67890_04_attention.ipynb": victim,                       # Canvas, real
        "doejane_12345_67890_04_99_assignsubmission_file_attention.ipynb": NB,  # Moodle, crafted
        "Jane Doe_12345_assignsubmission_file_04_attention.ipynb": victim,      # Moodle, real
        "Jane Doe_12345_assignsubmission_file_x_666_assignsubmission_file_a.ipynb": NB,
    })
    found, problems = collect.collect(A, src, tmp_path / "work")
    assert found["doejane_12345"].read_text() == victim
    assert found["Jane_Doe_12345"].read_text() == victim
    assert len(found) == 4 and problems == [], (found, problems)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_lms_zip_grades_end_to_end(tmp_path):
    from nbgrader.api import Gradebook

    from autograder import grade
    from testkit.mutants import load
    from testkit.submissions import filled
    from conftest import require_sandbox

    require_sandbox()
    import nbformat

    mutant = next(m for m in load(A) if m.name == "causal_sees_future")
    archive = _zip(tmp_path / "canvas.zip", {
        "doejane_12345_67890_04_attention.ipynb": nbformat.writes(filled(A)),
        "Jane Doe_12345_assignsubmission_file_04_attention.ipynb": nbformat.writes(filled(A, mutant)),
        "__MACOSX/._doejane_12345_67890_04_attention.ipynb": "\x00\x05",
    })
    work = tmp_path / "work"
    results = {r.student: r for r in grade.grade(A, archive, work, workers=2, progress=False)}
    assert set(results) == {"doejane_12345", "Jane_Doe_12345"}
    good, bad = results["doejane_12345"], results["Jane_Doe_12345"]
    assert good.status == bad.status == "graded"
    assert all(t.score == t.max_score for t in good.tasks.values())
    assert bad.tasks[mutant.test_cell].score < bad.tasks[mutant.test_cell].max_score
    assert bad.total < good.total
    with open(work / "grades" / f"{A}-lms.csv") as f:
        lms = {row["student_id"]: float(row[A]) for row in csv.DictReader(f)}
    assert lms == {"doejane_12345": good.total, "Jane_Doe_12345": bad.total}
    with Gradebook("sqlite:///" + str(work / "gradebook.db"), "tlcourse") as gb:
        for sid, r in results.items():
            nb = gb.find_submission_notebook(A, A, sid)
            assert {g.name: g.score for g in nb.grades} == {g: t.score for g, t in r.tasks.items()}
    for sid in results:
        assert (work / "feedback" / sid / A / f"{A}.html").exists()
        assert (work / "results" / A / f"{sid}.json").exists()
