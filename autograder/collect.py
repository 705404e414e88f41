"""Collect submissions into nbgrader's layout: ``<work>/submitted/<student>/<assignment>/<assignment>.ipynb``.

Accepted inputs (a folder, or a ``.zip`` of one):

* one notebook per student named after the student: ``alice.ipynb``;
* one folder per student: ``alice/<anything>.ipynb``;
* LMS downloads, by file name (as ``nbgrader zip_collect`` matches them with a regular expression):
  Canvas ``<login>_<canvas id>_<submission id>_<file>.ipynb`` (``_late_`` included) and Moodle
  ``<Full Name>_<id>_assignsubmission_file_<file>.ipynb``. Pass ``pattern`` (a regular expression
  with a ``student`` group) for any other naming.

Student ids: the name as the LMS or the file gives it, NFC-normalised, with the LMS's numeric id
kept where it gives one (``doejane_12345``, ``Zoë_Martin_77``): accents and other scripts are kept,
only characters a file name cannot hold (``/``, NUL, control characters) and white space become
``_``. Nothing is merged: two files that give one id are that student's error (neither is graded,
both are named), as are an id too long to store, a symbolic link and anything that is not a plain
file. Such a student gets a result saying so (``<work>/submitted/<id>/<assignment>/COLLECT-ERROR``);
files that match no student at all are listed in the problems.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from pathlib import Path

LMS_PATTERNS = [
    # Canvas: doejane_12345_67890_04_attention.ipynb, doejane_late_12345_67890_...
    ("canvas", re.compile(r"^(?P<student>[A-Za-z0-9.\-]+)_(?:late_)?(?P<lms_id>\d+)_\d+_.+\.ipynb$")),
    # Moodle: Jane Doe_12345_assignsubmission_file_04_attention.ipynb
    # (greedy: the id runs to the LAST "_<id>_assignsubmission_file_", so what a student puts in
    # the name of the file they upload never decides whose id it is)
    ("moodle", re.compile(r"^(?P<student>.+)_(?P<lms_id>\d+)_assignsubmission_file_.+\.ipynb$")),
]
MOODLE_FOLDER = re.compile(r"^(?P<student>.+?)_(?P<lms_id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\s]+")
MAX_ZIP_MB = 2048
MAX_NOTEBOOK_MB = 200
MAX_ID_BYTES = 150          # an id is a folder name and part of file names (255 bytes at most)
ERROR_FILE = "COLLECT-ERROR"


class IdError(ValueError):
    """A student id that cannot be stored as it is."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def safe_id(raw: str, lms_id: str | None = None) -> str:
    """The student id for ``raw`` (and the LMS's numeric id): NFC, every script kept, only what a
    file name cannot hold replaced. Raises :class:`IdError` for an id that cannot be stored."""
    name = unicodedata.normalize("NFC", raw).strip()
    name = UNSAFE.sub("_", name).strip("_")
    name = name.lstrip(".")                       # never ".", "..", or a hidden file
    if lms_id:
        name = f"{name}_{lms_id}" if name else lms_id
    if not name:
        raise IdError(f"the name {raw!r} holds no usable character for a student id")
    if len(name.encode("utf-8")) > MAX_ID_BYTES:
        raise IdError(f"the student id is {len(name.encode('utf-8'))} bytes long, over the "
                      f"{MAX_ID_BYTES}-byte limit of a stored id")
    return name


def short_id(raw: str) -> str:
    """A storable id for a name that cannot be one (too long): its start and a hash of the whole."""
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    name = UNSAFE.sub("_", unicodedata.normalize("NFC", raw)).strip("_").lstrip(".")
    head = name.encode("utf-8")[:60].decode("utf-8", "ignore")
    return f"{head}~{digest}" if head else f"student~{digest}"


def student_of(path: Path, root: Path, pattern: re.Pattern | None = None):
    """``(student id, None)``, ``(None, None)`` when the name matches no student, or
    ``(storable id, why)`` when the name gives an id that cannot be stored."""
    rel = path.relative_to(root)
    try:
        if pattern is not None:
            m = pattern.match(rel.name)
            if not m:
                return None, None
            lms = m.groupdict().get("lms_id")
            return safe_id(m.group("student"), lms), None
        if len(rel.parts) > 1:   # a folder per student (Moodle names the folder, not the file)
            m = MOODLE_FOLDER.match(rel.parts[0])
            return (safe_id(m.group("student"), m.group("lms_id")) if m
                    else safe_id(rel.parts[0])), None
        # Moodle first: its names end in "_<id>_assignsubmission_file_", which no Canvas login
        # holds, while a Moodle display name may be crafted to look like a Canvas file name.
        for _, lms in reversed(LMS_PATTERNS):
            m = lms.match(rel.name)
            if m:
                return safe_id(m.group("student"), m.group("lms_id")), None
        return safe_id(rel.stem), None
    except IdError as exc:
        return short_id(str(rel.parts[0] if len(rel.parts) > 1 else rel.name)), str(exc)


def _unzip(archive: Path, into: Path) -> list[str]:
    """Unpack ``archive`` into ``into``; return the problems (entries refused)."""
    problems = []
    with zipfile.ZipFile(archive) as z:
        total = sum(i.file_size for i in z.infolist())
        if total > MAX_ZIP_MB * 2**20:
            raise SystemExit(f"{archive}: unpacks to {total / 2**20:.0f} MB, over {MAX_ZIP_MB} MB")
        for info in z.infolist():
            name = info.filename
            mode = info.external_attr >> 16
            if mode and stat.S_ISLNK(mode):
                problems.append(f"{name}: skipped, a symbolic link")
                continue
            try:
                target = (into / name).resolve()
                if not target.is_relative_to(into.resolve()):
                    problems.append(f"{name}: skipped, its path leaves the archive")
                    continue
                z.extract(info, into)
            except OSError as exc:        # e.g. a name over the file system's limit
                problems.append(f"{name[:200]}: skipped, cannot be unpacked "
                                f"({exc.strerror or type(exc).__name__})")
    return problems


def _walk(root: Path):
    """Every entry under ``root`` (not following symbolic links): (path, lstat)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            p = Path(folder) / name
            try:
                yield p, os.lstat(p)
            except OSError:
                continue


def _copy(src: Path, dest: Path) -> None:
    """Copy a regular file without following a link at its name, at most MAX_NOTEBOOK_MB + 1."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        with open(fd, "rb", closefd=False) as f, open(dest, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
    finally:
        os.close(fd)


def collect(assignment: str, submissions: Path, work: Path,
            pattern: str | None = None) -> tuple[dict[str, Path], list[str]]:
    """Copy submissions into the work folder; return {student: copied file} and the problems.

    A student whose submission cannot be taken (two files, a link, an id that cannot be stored)
    is in the result too: their folder holds ``COLLECT-ERROR`` (the reason) instead of a notebook,
    and grading gives them an error result that says why."""
    submissions = Path(submissions)
    if not submissions.exists():
        raise SystemExit(f"no such folder or zip of submissions: {submissions}")
    regex = re.compile(pattern) if pattern else None
    with tempfile.TemporaryDirectory(prefix="tlcourse-collect-") as tmp:
        problems: list[str] = []
        if submissions.is_file():
            root = Path(tmp)
            problems += _unzip(submissions, root)
        else:
            root = submissions
        files: dict[str, list[Path]] = {}
        errors: dict[str, str] = {}
        for path, st in _walk(root):
            rel = path.relative_to(root)
            if ".ipynb_checkpoints" in rel.parts or "__MACOSX" in rel.parts:
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            if path.suffix != ".ipynb":
                if stat.S_ISREG(st.st_mode):
                    problems.append(f"{rel}: skipped, not a .ipynb file")
                else:
                    problems.append(f"{rel}: skipped, not a plain file")
                continue
            sid, why = student_of(path, root, regex)
            if sid is None:
                problems.append(f"{rel}: skipped, the name matches no student")
                continue
            files.setdefault(sid, []).append(path)
            if why:
                errors[sid] = f"{rel}: {why}; rename the file (or use --pattern) and collect again"
            elif stat.S_ISLNK(st.st_mode):
                errors[sid] = (f"{rel}: the submission is a symbolic link, not a file: refused "
                               "(hand in the notebook itself)")
            elif not stat.S_ISREG(st.st_mode):
                errors[sid] = f"{rel}: the submission is not a plain file: refused"
        for sid, paths in files.items():
            if len(paths) > 1 and sid not in errors:
                names = ", ".join(str(p.relative_to(root)) for p in paths)
                errors[sid] = (f"{len(paths)} files for student '{sid}': {names}; none was graded "
                               "(keep one and collect again)")
        copied = {}
        for sid, paths in files.items():
            dest = work / "submitted" / sid / assignment
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            copied[sid] = dest / f"{assignment}.ipynb"
            if sid not in errors:
                try:
                    _copy(paths[0], copied[sid])
                except OSError as exc:
                    errors[sid] = f"{paths[0].relative_to(root)}: cannot be read ({exc})"
            if sid in errors:
                copied[sid].unlink(missing_ok=True)
                (dest / ERROR_FILE).write_text(errors[sid] + "\n", encoding="utf-8")
                problems.append(f"{sid}: not graded: {errors[sid]}")
    if not copied:
        problems.append(f"{submissions}: no notebooks found")
    return copied, problems


def collect_error(path: Path) -> str | None:
    """Why the student of ``<work>/submitted/<id>/<a>/<a>.ipynb`` has no notebook, if collect said so."""
    err = Path(path).parent / ERROR_FILE
    try:
        return err.read_text(encoding="utf-8", errors="replace")[:4000].strip() or "not collected"
    except OSError:
        return None
