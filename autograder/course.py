"""The course as nbgrader sees it: configuration, assignments, and an nbgrader API object.

Everything here goes through nbgrader's own machinery (``NbGraderAPI``: the same converters as the
``nbgrader`` command line); this module only points it at the right folders.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTOGRADER = ROOT / "autograder"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
DEFAULT_WORK = ROOT / "grading"
WORK_ENV = "TLCOURSE_GRADING_DIR"


def work_dir(work: str | os.PathLike | None = None) -> Path:
    """The grading work folder, absolute: ``work`` (``--work``) when given, else
    ``$TLCOURSE_GRADING_DIR`` when set, else ``<repo>/grading``. The only place that decides it."""
    return Path(work or os.environ.get(WORK_ENV) or DEFAULT_WORK).resolve()


def add_work_option(parser) -> None:
    """The ``--work`` option of every grading command (resolved by :func:`work_dir`)."""
    parser.add_argument("--work", type=Path, default=None,
                        help=f"grading work folder (default: ${WORK_ENV} or grading/)")


def assignments() -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook of the same name."""
    return sorted(p.name for p in SOLUTIONS.iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def source_notebook(assignment: str) -> Path:
    """The nbgrader source notebook of an assignment: ``solutions/<id>/<id>.ipynb``."""
    return SOLUTIONS / assignment / f"{assignment}.ipynb"


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, or {} when it is missing or hand-mangled (not a dict)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell) -> str | None:
    """A cell's nbgrader grade_id, or None (missing, or not a string)."""
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def graded_cells(assignment: str) -> list[str]:
    """grade_ids of the graded (test) cells of an assignment, in notebook order."""
    from . import assignment as model

    return list(model.of(assignment).tasks)


def _environment() -> None:
    # nbgrader's gradebook shells out to `alembic`: it must be found next to this Python.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    import tlcourse  # noqa: F401 (sets the offline environment, tlcourse.OFFLINE_ENV)


def config(work: Path | None = None, release: Path | None = None, db_url: str | None = None):
    """nbgrader's configuration (``autograder/nbgrader_config.py``), with its work folder
    (submissions, autograded, feedback, gradebook) and release folder optionally moved."""
    from traitlets.config.loader import PyFileConfigLoader

    _environment()
    work = work_dir(work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ[WORK_ENV] = str(work)     # nbgrader_config.py resolves the same folder
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(AUTOGRADER)).load_config()
    if release is not None:
        cfg.CourseDirectory.release_directory = str(Path(release).resolve())
    if db_url:
        cfg.CourseDirectory.db_url = db_url
    return cfg


def api(work: Path | None = None, release: Path | None = None, db_url: str | None = None):
    """An ``nbgrader.apps.NbGraderAPI`` for this course."""
    from nbgrader.apps import NbGraderAPI

    return NbGraderAPI(config=config(work, release, db_url))


class NbgraderFailed(RuntimeError):
    """An nbgrader step reported failure; the message carries nbgrader's log."""


def check(result: dict, what: str) -> dict:
    """Raise :class:`NbgraderFailed` with nbgrader's own log when a step failed."""
    if not result.get("success"):
        raise NbgraderFailed(f"{what} failed:\n{result.get('log', '')}\n{result.get('error') or ''}")
    return result
