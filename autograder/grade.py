"""Grade every submission of an assignment: sandboxed, in parallel, resumable, into nbgrader's gradebook.

    python -m autograder.grade 04_attention path/to/submissions [--work grading/] [--workers 2]
           [--timeout 120] [--scheduler tcp://host:8786] [--force] [--no-sandbox]

``path/to/submissions`` is a folder (``alice.ipynb``, or ``alice/<anything>.ipynb``) or an LMS
download (a folder or ``.zip`` with LMS file names; see :mod:`autograder.collect`).

Each submission is graded by :func:`autograder.verdict.grade_notebook`: its code runs in its own
sandbox (no network, no view of the course, the gradebook or other submissions, CPU/memory/process/
disk limits, a wall-clock limit for the whole notebook) and the hidden tests run in the grader's
own process against proxies. A result is saved as JSON the moment it is known, then recorded in
nbgrader's gradebook by this process alone; a second run grades only what has no result yet
(or whose file changed), so killing the grader loses nothing. With ``--scheduler`` the
submissions are graded by the workers of a Dask cluster instead of local threads; give the
gradebook a PostgreSQL ``db_url`` (``TLCOURSE_DB_URL``) when several graders share it.

Outputs in the work folder: ``results/<assignment>/<student>.json``, ``gradebook.db``,
``grades/<assignment>.csv`` and ``grades/<assignment>-lms.csv``,
``feedback/<student>/<assignment>/<assignment>.html`` and ``summary/<assignment>.html``.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

# nbgrader's own SQLAlchemy usage warns on every submission; the warnings are not ours to fix.
warnings.filterwarnings("ignore", message=".*not in session.*")

from . import collect, course, export, feedback
from .sandbox import Limits, isolation_available, release_uid, sandbox_uid
from .verdict import Result, Source, grade_notebook, zero

def grade_one(path: str, source_path: str, student: str, hide: list[str], limits: dict,
              isolate: bool, secret: str) -> dict:
    """Grade one file; runs in a local thread or on a Dask worker. Returns the result as JSON."""
    source = Source.load(Path(source_path))
    uid = sandbox_uid() if isolate else 0
    try:
        result = grade_notebook(Path(path), source, student, hide=hide, limits=Limits(**limits),
                                uid=uid, isolate=isolate, secret=secret)
    finally:
        if uid:
            release_uid(uid)
    return result.to_json()


def grading_secret(work: Path) -> str:
    """A random secret kept in the work folder (never visible to submissions): it seeds the hidden
    tests' inputs, so they cannot be known in advance, yet re-grading gives the same grades."""
    path = work / ".grading-secret"
    if not path.exists():
        tmp = work / f".grading-secret.{os.getpid()}"
        tmp.write_text(secrets.token_hex(16))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text().strip()


def _save(result: Result, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{result.student}.json.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(result.to_json()))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / f"{result.student}.json")   # atomic: a result is whole or absent


def record(gb, result: Result) -> None:
    """Write one student's scores into nbgrader's gradebook (one transaction)."""
    from nbgrader.api import MissingEntry

    aid = result.assignment
    gb.update_or_create_student(result.student)
    try:
        gb.remove_submission(aid, result.student)
    except MissingEntry:
        pass
    gb.add_submission(aid, result.student)
    for gid, task in result.tasks.items():
        grade = gb.find_grade(gid, aid, aid, result.student)
        grade.auto_score = task.score
    gb.db.commit()


def _executor(workers: int, scheduler: str | None):
    if scheduler:
        from distributed import Client

        return Client(scheduler)
    return ThreadPoolExecutor(max_workers=workers)


def submitted(assignment: str, work: Path) -> dict[str, Path]:
    """The submissions already collected into ``<work>/submitted``."""
    folder = work / "submitted"
    return {p.parent.parent.name: p for p in sorted(folder.glob(f"*/{assignment}/{assignment}.ipynb"))}


def load_results(assignment: str, work: Path) -> list[Result]:
    folder = work / "results" / assignment
    return [Result.from_json(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def grade(assignment: str, submissions: Path | None = None, work: Path | None = None,
          workers: int | None = None, limits: Limits | None = None, scheduler: str | None = None,
          isolate: bool | None = None, force: bool = False, progress: bool = True,
          db_url: str | None = None) -> list[Result]:
    """Collect (when ``submissions`` is given), grade, then write feedback and exports."""
    work = Path(work or course.DEFAULT_WORK).resolve()
    if assignment not in course.assignments():
        raise SystemExit(f"unknown assignment '{assignment}'; known: {', '.join(course.assignments())}")
    isolate = True if isolate is None else isolate
    ok, why = isolation_available()
    if isolate and not ok:
        raise SystemExit(f"cannot sandbox submissions: {why}. Run as root on Linux, or pass "
                         "--no-sandbox to grade WITHOUT isolation (only for code you trust).")
    if submissions is not None:
        found, problems = collect.collect(assignment, Path(submissions), work)
        for p in problems:
            print(f"warning: {p}")
    else:
        found = submitted(assignment, work)
        if not found:
            raise SystemExit(f"nothing to grade in {work / 'submitted'}: collect submissions first")
    hide = {str(course.ROOT), str(work), "/root", "/home"}
    if submissions is not None:
        hide.add(str(Path(submissions).resolve()))
    results = grade_collected(assignment, found, work, sorted(hide), workers, limits, scheduler,
                              isolate, force, progress, db_url)
    write_feedback(assignment, work, results)
    write_exports(assignment, work, results)
    return results


def grade_collected(assignment: str, found: dict[str, Path], work: Path, hide: list[str],
                    workers: int | None = None, limits: Limits | None = None,
                    scheduler: str | None = None, isolate: bool = True, force: bool = False,
                    progress: bool = True, db_url: str | None = None) -> list[Result]:
    """Grade collected files; results already saved for an unchanged file are reused."""
    limits = limits or Limits()
    workers = workers or os.cpu_count() or 1
    api = course.api(work=work, release=work / "release", db_url=db_url)
    # Records the assignment, its graded cells and points in the gradebook.
    course.check(api.generate_assignment(assignment, force=True), f"preparing {assignment}")
    source_path = course.source_notebook(assignment)
    results_dir = work / "results" / assignment

    results: dict[str, Result] = {}
    todo = {}
    for sid, path in found.items():
        saved = results_dir / f"{sid}.json"
        if saved.exists() and not force:
            try:
                prior = Result.from_json(json.loads(saved.read_text()))
            except (ValueError, TypeError, KeyError, OSError):
                prior = None                     # unreadable: grade this one again
            if prior is not None and prior.sha256 == collect.sha256(path):
                results[sid] = prior
                continue
        todo[sid] = path

    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        for r in results.values():          # results of an earlier run: make sure they are in
            record(gb, r)
        if todo:
            pool = _executor(workers, scheduler)
            try:
                secret = grading_secret(work)
                futures = {pool.submit(grade_one, str(path), str(source_path), sid, hide,
                                       asdict(limits), isolate, secret): sid
                           for sid, path in todo.items()}
                done_iter = _as_completed(futures, scheduler)
                bar = tqdm(done_iter, total=len(futures), desc=f"grading {assignment}",
                           disable=not progress)
                for fut in bar:
                    sid = futures[fut]
                    try:
                        r = Result.from_json(fut.result())
                    except Exception as exc:  # the grader itself failed on this one
                        why = f"grader error: {type(exc).__name__}: {exc}"
                        r = Result(student=sid, assignment=assignment, status="error", error=why,
                                   tasks=zero(_source(assignment), why))
                    _save(r, results_dir)
                    record(gb, r)
                    results[sid] = r
            finally:
                pool.close() if scheduler else pool.shutdown(wait=True, cancel_futures=True)
    return [results[s] for s in sorted(results)]


def _source(assignment: str) -> Source:
    return Source.load(course.source_notebook(assignment))


def write_feedback(assignment: str, work: Path, results: list[Result] | None = None) -> list[Path]:
    """One HTML per student in ``<work>/feedback/<student>/<assignment>/<assignment>.html``."""
    source = _source(assignment)
    results = load_results(assignment, work) if results is None else results
    return [feedback.write(r, source, work / "feedback" / r.student / assignment / f"{assignment}.html")
            for r in results]


def write_exports(assignment: str, work: Path, results: list[Result] | None = None) -> list[Path]:
    """The grades CSV, the LMS CSV and the summary page."""
    source = _source(assignment)
    results = load_results(assignment, work) if results is None else results
    return [export.write_csv(results, source, work / "grades" / f"{assignment}.csv"),
            export.write_lms_csv(results, source, work / "grades" / f"{assignment}-lms.csv"),
            export.write_summary(results, source, work / "summary" / f"{assignment}.html")]


def _as_completed(futures, scheduler):
    if scheduler:
        from distributed import as_completed as dask_completed

        return dask_completed(list(futures))
    return as_completed(futures)


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None, help="parallel sandboxes (default: cores)")
    parser.add_argument("--timeout", type=float, default=Limits.wall_s,
                        help="seconds one submission may take in all (default: %(default)s)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--db-url", default=None,
                        help="gradebook URL, e.g. postgresql+psycopg://user@host/db "
                             "(default: $TLCOURSE_DB_URL or SQLite in the work folder)")
    parser.add_argument("--force", action="store_true", help="regrade even submissions already graded")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="grade without isolation (trusted code only)")


def run_from_args(args: argparse.Namespace, submissions: Path | None) -> list[Result]:
    limits = Limits(wall_s=args.timeout, cpu_s=int(max(args.timeout, 10)))
    results = grade(args.assignment, submissions, args.work, args.workers, limits,
                    args.scheduler, isolate=not args.no_sandbox, force=args.force,
                    db_url=args.db_url)
    width = max([len(r.student) for r in results] + [7])
    for r in results:
        status = r.error if r.status == "error" else \
            f"{r.total:g} / {sum(t.max_score for t in r.tasks.values()):g}"
        print(f"{r.student:<{width}}  {status}")
    work = Path(args.work or course.DEFAULT_WORK)
    print(f"grades: {work / 'grades' / (args.assignment + '.csv')}\n"
          f"feedback: {work / 'feedback'}/<student>/{args.assignment}/{args.assignment}.html\n"
          f"summary: {work / 'summary' / (args.assignment + '.html')}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="assignment id, e.g. 04_attention")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks")
    parser.add_argument("--work", type=Path, default=None,
                        help="grading work folder (default: $TLCOURSE_GRADING_DIR or grading/)")
    add_grading_options(parser)
    args = parser.parse_args(argv)
    run_from_args(args, args.submissions)


if __name__ == "__main__":
    main()
