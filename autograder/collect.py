"""Collect submissions into nbgrader's layout: ``<work>/submitted/<student>/<assignment>/<assignment>.ipynb``.

Accepted inputs (a folder, or a ``.zip`` of one):

* one notebook per student named after the student: ``alice.ipynb``;
* one folder per student: ``alice/<anything>.ipynb``;
* LMS downloads, by file name (as ``nbgrader zip_collect`` matches them with a regular expression):
  Canvas ``<login>_<canvas id>_<submission id>_<file>.ipynb`` (``_late_`` included) and Moodle
  ``<Full Name>_<id>_assignsubmission_file_<file>.ipynb``. Pass ``pattern`` (a regular expression
  with a ``student`` group) for any other naming.

Every file that cannot be matched to a student, or that collides with another file of the same
student, is reported and skipped; nothing is silently dropped.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

LMS_PATTERNS = [
    # Canvas: doejane_12345_67890_04_attention.ipynb, doejane_late_12345_67890_...
    re.compile(r"^(?P<student>[A-Za-z0-9.\-]+)_(?:late_)?\d+_\d+_.+\.ipynb$"),
    # Moodle: Jane Doe_12345_assignsubmission_file_04_attention.ipynb
    re.compile(r"^(?P<student>.+?)_\d+_assignsubmission_file_.+\.ipynb$"),
]
MOODLE_FOLDER = re.compile(r"^(?P<student>.+?)_\d+_assignsubmission_(?:file|onlinetext)_?$")
SAFE = re.compile(r"[^A-Za-z0-9_.@-]")
MAX_ZIP_MB = 2048


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def safe_id(raw: str) -> str:
    return SAFE.sub("_", raw.strip()).strip("._") or "student"


def student_of(path: Path, root: Path, pattern: re.Pattern | None = None) -> str | None:
    rel = path.relative_to(root)
    if pattern is not None:
        m = pattern.match(rel.name)
        return safe_id(m.group("student")) if m else None
    if len(rel.parts) > 1:   # a folder per student (Moodle names the folder, not the file)
        m = MOODLE_FOLDER.match(rel.parts[0])
        return safe_id(m.group("student") if m else rel.parts[0])
    for lms in LMS_PATTERNS:
        m = lms.match(rel.name)
        if m:
            return safe_id(m.group("student"))
    return safe_id(rel.stem)


def _unzip(archive: Path, into: Path) -> list[str]:
    """Unpack ``archive`` into ``into``; return the problems (entries refused)."""
    problems = []
    with zipfile.ZipFile(archive) as z:
        total = sum(i.file_size for i in z.infolist())
        if total > MAX_ZIP_MB * 2**20:
            raise SystemExit(f"{archive}: unpacks to {total / 2**20:.0f} MB, over {MAX_ZIP_MB} MB")
        for info in z.infolist():
            target = (into / info.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                problems.append(f"{info.filename}: skipped, its path leaves the archive")
                continue
            z.extract(info, into)
    return problems


def collect(assignment: str, submissions: Path, work: Path,
            pattern: str | None = None) -> tuple[dict[str, Path], list[str]]:
    """Copy submissions into the work folder; return {student: copied file} and the problems."""
    submissions = Path(submissions)
    if not submissions.exists():
        raise SystemExit(f"no such folder or zip of submissions: {submissions}")
    regex = re.compile(pattern) if pattern else None
    with tempfile.TemporaryDirectory(prefix="tlcourse-collect-") as tmp:
        problems = []
        if submissions.is_file():
            root = Path(tmp)
            problems += _unzip(submissions, root)
        else:
            root = submissions
        found: dict[str, Path] = {}
        for nb in sorted(p for p in root.rglob("*") if p.is_file()):
            if ".ipynb_checkpoints" in nb.parts or "__MACOSX" in nb.parts:
                continue
            if nb.suffix != ".ipynb":
                problems.append(f"{nb.relative_to(root)}: skipped, not a .ipynb file")
                continue
            sid = student_of(nb, root, regex)
            if sid is None:
                problems.append(f"{nb.relative_to(root)}: skipped, the name matches no student")
            elif sid in found:
                problems.append(f"{nb.relative_to(root)}: skipped, student '{sid}' already has "
                                f"{found[sid].relative_to(root)}")
            else:
                found[sid] = nb
        copied = {}
        for sid, nb in found.items():
            dest = work / "submitted" / sid / assignment
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            copied[sid] = dest / f"{assignment}.ipynb"
            shutil.copyfile(nb, copied[sid])
    if not copied:
        problems.append(f"{submissions}: no notebooks found")
    return copied, problems
