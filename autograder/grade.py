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
import functools
import json
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

# nbgrader's own SQLAlchemy usage warns on every submission; the warnings are not ours to fix.
warnings.filterwarnings("ignore", message=".*not in session.*")

from . import collect, course, export, feedback
from .sandbox import (BackgroundCpu, CgroupUnavailable, ControlGroup, Limits,
                      isolation_available, join_cpu_group, kill_uid, release_uid, sandbox_uid)
from .verdict import (MAX_NOTEBOOK_MB, Result, Source, containers, grade_notebook, too_large,
                      zero)


class CpuSlots:
    """At most ``n`` submissions *running* at once (one per core); one that sleeps or waits
    (no thread of its sandbox or judge runnable, four looks over a second) gives its slot to
    the next, so slow-but-idle submissions never hold the class hostage."""

    def __init__(self, n: int):
        self.sem = threading.Semaphore(max(1, n))

    def acquire(self):
        self.sem.acquire()

    def try_acquire(self) -> bool:
        return self.sem.acquire(blocking=False)

    def release(self):
        self.sem.release()


def slot_change(holding: bool, samples: list[bool]) -> str | None:
    """What a submission does with its CPU slot, given its last four looks (running or not):
    "release" after a second with nothing runnable (its core goes to the next submission),
    "reclaim" once it computes again (two looks in a row), so that a submission that sleeps and
    then computes counts against the cores again and no new one starts beside it."""
    if len(samples) < 4:
        return None
    if holding and not any(samples):
        return "release"
    if not holding and all(samples[-2:]):
        return "reclaim"
    return None


_slots: CpuSlots | None = None


def _running(pids) -> bool:
    """Whether any thread of these processes is running or waiting for a CPU (state R): a
    submission that computes stays "running" however loaded the machine is; one that sleeps
    or waits for a pipe does not."""
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] == "R":
                return True
    return False


def _busy(cgroup: ControlGroup, jpid: int) -> bool:
    pids = [jpid]
    for d in cgroup.dirs[:1]:
        try:
            pids += [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return True
    return _running(pids)


def _error_result(student: str, assignment: str, why: str, sha: str = "") -> dict:
    source = Source.load(course.source_notebook(assignment))
    return Result(student=student, assignment=assignment, sha256=sha, status="error", error=why,
                  tasks=zero(source, why)).to_json()


def grade_one(path: str, source_path: str, student: str, hide: list[str], limits: dict,
              isolate: bool, secret: str) -> dict:
    """Grade one file; runs in a local thread or on a Dask worker. Returns the result as JSON."""
    assignment = Path(source_path).stem
    why = collect.collect_error(Path(path))
    if why is not None and not Path(path).exists():
        return _error_result(student, assignment, why)
    if not isolate:
        source = Source.load(Path(source_path))
        return grade_notebook(Path(path), source, student, hide=hide, limits=Limits(**limits),
                              uid=0, isolate=False, secret=secret).cleaned().to_json()
    return _grade_forked(Path(path), Path(source_path), student, hide, Limits(**limits), secret)


def _open_submission(path: Path):
    """(fd, sha256) of a submitted file, or the reason it cannot be graded."""
    import hashlib
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, ("the submission is a symbolic link: refused" if exc.errno == 40
                      else f"the submission cannot be read ({exc.strerror})")
    st = os.fstat(fd)
    why = None
    if not stat.S_ISREG(st.st_mode):
        why = "the submission is not a plain file: refused"
    elif st.st_size == 0:
        why = "the file is empty"
    else:
        why = too_large(st.st_size, 0)
    if not why:     # hashed and its brackets counted in one pass, before anything decodes it
        os.set_blocking(fd, True)
        h, n = hashlib.sha256(), 0
        with open(fd, "rb", closefd=False) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                n += containers(block)
        os.lseek(fd, 0, os.SEEK_SET)
        why = too_large(st.st_size, n)
    if why:
        os.close(fd)
        return None, why
    return fd, h.hexdigest()


def _grade_forked(path: Path, source_path: Path, student: str, hide: list[str], limits: Limits,
                  secret: str) -> dict:
    """One submission through the warm fork server: its judge and sandbox are forked, the
    result comes back on a pipe, by a deadline, size-capped, checked and cleaned."""
    import select

    from . import forkserver

    assignment = source_path.stem
    fd, sha = _open_submission(path)
    if fd is None:     # kept the hash where there is a file: a resubmission is noticed
        return _error_result(student, assignment, sha, _sha_or_none(path) if not path.is_symlink()
                             and path.is_file() else "")
    uid = sandbox_uid()
    name = f"sandbox-{os.getpid()}-{threading.get_ident() % 10**6}-{os.urandom(4).hex()}"
    cgroup = None
    slots, holding = _slots, False
    jpid = jfd = None
    finished = False
    try:
        try:
            cgroup = ControlGroup(name, limits.memory_mb, limits.processes,
                                  weak=limits.allow_weak_limits)
        except CgroupUnavailable as exc:
            return _error_result(student, assignment, str(exc), sha)
        server = forkserver.server_for(course.EXERCISES / assignment / f"{assignment}.ipynb")
        keep = [sys.base_prefix, sys.prefix, str(course.ROOT / "tlcourse")]
        req = {"student": student, "assignment": assignment, "sha256": sha,
               "source": str(source_path), "limits": asdict(limits), "uid": uid, "hide": hide,
               "keep": keep, "cgroup": [str(d) for d in cgroup.dirs],
               "notebook_cap": MAX_NOTEBOOK_MB * 2**20 + 1}
        rfd, wfd = os.pipe()
        sr, sw = os.pipe()
        os.write(sw, secret.encode()[:4096])
        os.close(sw)
        if slots is not None:
            slots.acquire()
            holding = True
        try:
            jpid = server.submit(req, [wfd, fd, sr])
            jfd = os.pidfd_open(jpid)
        except OSError:
            jfd = None
        finally:
            for x in (wfd, fd, sr):
                os.close(x)
        deadline = time.monotonic() + 2 * limits.wall_s + 60
        chunks, size = [], 0
        samples: list[bool] = []
        with os.fdopen(rfd, "rb", buffering=0) as r:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return _error_result(student, assignment, "time limit: grading this "
                                         f"submission took longer than {2 * limits.wall_s + 60:g} s", sha)
                ready, _, _ = select.select([r], [], [], min(left, 0.25))
                if slots is not None and cgroup.dirs and not ready:
                    samples = (samples + [_busy(cgroup, jpid)])[-4:]
                    change = slot_change(holding, samples)
                    if change == "release":
                        slots.release()      # asleep for a second: its core goes to the next one
                        holding = False
                    elif change == "reclaim" and slots.try_acquire():
                        holding = True       # computing again: counts against the cores again
                if not ready:
                    continue
                chunk = r.read(1 << 20)
                if not chunk:
                    finished = True
                    break
                size += len(chunk)
                if size > forkserver.MAX_RESULT:
                    return _error_result(student, assignment, "grader error: the result of this "
                                         "submission was too large", sha)
                chunks.append(chunk)
        try:
            result = Result.from_json(json.loads(b"".join(chunks)))
        except (ValueError, TypeError, KeyError, RecursionError):
            return _error_result(student, assignment, "grader error: the judge of this submission "
                                 "stopped before giving a result (out of memory?)", sha)
        if result.student != student or not result.tasks:
            return _error_result(student, assignment, result.error or "grader error: the judge of "
                                 "this submission gave no result", sha)
        return result.to_json()
    finally:
        if holding:
            slots.release()
        if jfd is not None:
            if not finished:                       # out of time or broken: nothing stays
                try:
                    signal.pidfd_send_signal(jfd, signal.SIGKILL)
                except OSError:
                    pass
            os.close(jfd)
        kill_uid(uid, threads=True)
        if cgroup is not None:
            cgroup.kill()
            cgroup.remove_when_empty()
        release_uid(uid)


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


@functools.lru_cache(maxsize=1)
def _alembic_head() -> str:
    """nbgrader's newest gradebook schema revision, what ``alembic heads`` prints, read in this
    process from nbgrader's own migration scripts."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _create_gradebook(db_url: str, course_id: str) -> None:
    """Make the gradebook, when it does not exist yet, with nbgrader's own code: only the schema
    revision it records is read in this process, where nbgrader starts ``alembic`` as a new
    Python process for it (seconds of CPU before the first submission can be graded)."""
    import nbgrader.api as nb_api

    try:
        head = _alembic_head()
    except Exception:
        return                          # nbgrader makes it itself, its own way
    original = nb_api.get_alembic_version
    nb_api.get_alembic_version = lambda: head
    try:
        nb_api.Gradebook(db_url, course_id).close()
    finally:
        nb_api.get_alembic_version = original


_warming: dict[str, threading.Thread] = {}


def _warm_async(assignment: str) -> None:
    """Start the assignment's fork server in the background (torch and the setup's imports take
    seconds): it warms up while the submissions are collected and nbgrader prepares."""
    from . import forkserver

    t = _warming.get(assignment)
    if t is None or not t.is_alive():
        t = _warming[assignment] = threading.Thread(target=_warm, args=(forkserver, assignment),
                                                    daemon=True)
        t.start()


def _close_servers() -> None:
    """End the fork servers, once those still starting have started (none is left behind)."""
    from . import forkserver

    for t in list(_warming.values()):
        t.join()
    _warming.clear()
    forkserver.close_servers()


_plots_warm = threading.Event()


def _warm_plots() -> None:
    """Import matplotlib and draw one figure (the summary page's histograms), once per process,
    while the fork server starts: not in the batch's tail, where the summary is drawn."""
    if _plots_warm.is_set():
        return
    _plots_warm.set()
    try:
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 1))
        fig.subplots().bar([0, 1], [1, 2])
        fig.savefig(io.BytesIO(), format="png", dpi=40)
    except Exception:
        pass


def _warm(forkserver, assignment: str) -> None:
    try:
        forkserver.server_for(course.EXERCISES / assignment / f"{assignment}.ipynb")
    except Exception:
        pass         # started again, or its error reported, by the first submission


def _sha_or_none(path: Path) -> str | None:
    try:
        return collect.sha256(path)
    except OSError:
        return None


def _record_safely(gb, result: Result) -> None:
    """Record one result; a failure is that student's (reported), never the batch's."""
    try:
        record(gb, result)
    except Exception as exc:
        try:
            gb.db.rollback()
        except Exception:
            pass
        print(f"warning: the gradebook could not record {result.student}: "
              f"{type(exc).__name__}: {str(exc)[:300]}")


def _executor(workers: int, scheduler: str | None):
    if scheduler:
        from distributed import Client

        return Client(scheduler)
    return ThreadPoolExecutor(max_workers=workers)


def submitted(assignment: str, work: Path) -> dict[str, Path]:
    """The submissions already collected into ``<work>/submitted``."""
    folder = work / "submitted"
    found = {p.parent.parent.name: p.parent / f"{assignment}.ipynb"
             for p in sorted(folder.glob(f"*/{assignment}/{collect.ERROR_FILE}"))}
    found.update({p.parent.parent.name: p
                  for p in sorted(folder.glob(f"*/{assignment}/{assignment}.ipynb"))})
    return found


def load_results(assignment: str, work: Path) -> list[Result]:
    """The saved results; one that cannot be read becomes that student's error, never a crash."""
    folder = work / "results" / assignment
    source = None
    out = []
    for p in sorted(folder.glob("*.json")):
        try:
            if p.stat().st_size > 64 * 2**20:
                raise ValueError("over 64 MB")
            r = Result.from_json(json.loads(p.read_text(errors="replace")))
            r.student = p.stem               # the file's name is the student, whatever it holds
            out.append(r)
        except (ValueError, TypeError, KeyError, RecursionError, OSError) as exc:
            source = source or _source(assignment)
            why = f"the saved result could not be read ({type(exc).__name__}): grade again"
            out.append(Result(student=p.stem, assignment=assignment, status="error", error=why,
                              tasks=zero(source, why)))
    return out


def grade(assignment: str, submissions: Path | None = None, work: Path | None = None,
          workers: int | None = None, limits: Limits | None = None, scheduler: str | None = None,
          isolate: bool | None = None, force: bool = False, progress: bool = True,
          db_url: str | None = None) -> list[Result]:
    """Collect (when ``submissions`` is given), grade, then write feedback and exports."""
    work = course.work_dir(work)
    if assignment not in course.assignments():
        raise SystemExit(f"unknown assignment '{assignment}'; known: {', '.join(course.assignments())}")
    isolate = True if isolate is None else isolate
    ok, why = isolation_available()
    if isolate and not ok:
        raise SystemExit(f"cannot sandbox submissions: {why}. Run as root on Linux, or pass "
                         "--no-sandbox to grade WITHOUT isolation (only for code you trust).")
    if submissions is None and not submitted(assignment, work):
        raise SystemExit(f"nothing to grade in {work / 'submitted'}: collect submissions first")
    # the feedback workers are forked first, before any thread of this process exists
    with FeedbackWriter(assignment, work, workers or os.cpu_count() or 1) as writer:
        try:
            if isolate and not scheduler:
                _warm_async(assignment)     # the fork server warms up while collect runs
            threading.Thread(target=_warm_plots, daemon=True).start()
            if submissions is not None:
                found, problems = collect.collect(assignment, Path(submissions), work)
                for p in problems:
                    print(f"warning: {p}")
            else:
                found = submitted(assignment, work)
            hide = {str(course.ROOT), str(work), "/root", "/home"}
            if submissions is not None:
                hide.add(str(Path(submissions).resolve()))
            results = grade_collected(assignment, found, work, sorted(hide), workers, limits,
                                      scheduler, isolate, force, progress, db_url,
                                      on_result=writer.submit)
            writer.submit_missing(results)
            write_exports(assignment, work, results)    # here, while the workers write the last pages
        finally:
            if isolate and not scheduler:
                _close_servers()              # (also when collect failed: it was warming)
        writer.finish(results)
    return results


def grade_collected(assignment: str, found: dict[str, Path], work: Path, hide: list[str],
                    workers: int | None = None, limits: Limits | None = None,
                    scheduler: str | None = None, isolate: bool = True, force: bool = False,
                    progress: bool = True, db_url: str | None = None,
                    on_result=None) -> list[Result]:
    """Grade collected files; results already saved for an unchanged file are reused.
    ``on_result(result)`` is called for each new result, as soon as it is saved."""
    limits = limits or Limits()
    workers = workers or os.cpu_count() or 1
    if isolate and not scheduler:   # warm the fork server while nbgrader prepares
        _warm_async(assignment)
    api = course.api(work=work, release=work / "release", db_url=db_url)
    _create_gradebook(api.coursedir.db_url, api.coursedir.course_id)
    # Records the assignment, its graded cells and points in the gradebook.
    course.check(api.generate_assignment(assignment, force=True), f"preparing {assignment}")
    source_path = course.source_notebook(assignment)
    results_dir = work / "results" / assignment

    results: dict[str, Result] = {}
    todo = {}
    for sid, path in found.items():
        saved = results_dir / f"{sid}.json"
        if not Path(path).exists() and collect.collect_error(path) is not None:
            todo[sid] = path                    # not collected: its error result, again
            continue
        if saved.exists() and not force:
            try:
                prior = Result.from_json(json.loads(saved.read_text()))
            except (ValueError, TypeError, KeyError, OSError):
                prior = None                     # unreadable: grade this one again
            if prior is not None and prior.sha256 and prior.sha256 == _sha_or_none(path):
                results[sid] = prior
                continue
        todo[sid] = path

    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        for r in results.values():          # results of an earlier run: make sure they are in
            _record_safely(gb, r)
        if todo:
            global _slots
            _slots = CpuSlots(workers)
            # more submissions in flight than cores: those that sleep give their core away
            pool = _executor(workers * 4 if isolate else workers, scheduler)
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
                        if r.student != sid:
                            raise ValueError("the result names another student")
                    except Exception as exc:  # the grader itself failed on this one
                        why = f"grader error: {type(exc).__name__}: {str(exc)[:500]}"
                        r = Result(student=sid, assignment=assignment, status="error", error=why,
                                   tasks=zero(_source(assignment), why))
                    try:
                        _save(r, results_dir)
                    except OSError as exc:
                        print(f"warning: the result of {sid} could not be saved: {exc}")
                    _record_safely(gb, r)
                    results[sid] = r
                    if on_result is not None:
                        on_result(r)
            finally:
                pool.close() if scheduler else pool.shutdown(wait=True, cancel_futures=True)
                _slots = None
                if not scheduler:
                    _close_servers()
    return [results[s] for s in sorted(results)]


def _source(assignment: str) -> Source:
    return Source.load(course.source_notebook(assignment))


def _feedback_one(assignment: str, work: str, result: dict) -> str | None:
    """One student's feedback page (in a worker process of :class:`FeedbackWriter`)."""
    r = Result.from_json(result)
    return str(_write_one_feedback(_source_cached(assignment), Path(work), assignment, r))


def _background(cpu_group: str | None) -> None:
    from .forkserver import die_with_parent

    die_with_parent()    # a worker never outlives the grader
    os.nice(19)
    join_cpu_group(cpu_group)   # feedback while grading: only the CPU the sandboxes leave idle


@functools.lru_cache(maxsize=4)
def _source_cached(assignment: str) -> Source:
    return _source(assignment)


class FeedbackWriter:
    """Feedback pages written while the batch is graded, by ``n`` processes in an idle CPU group
    (:class:`~autograder.sandbox.BackgroundCpu`: they take only what the sandboxes leave idle,
    outside the CPU slots), then the rest on all of them at the usual priority."""

    def __init__(self, assignment: str, work: Path, n: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.assignment, self.work = assignment, work
        self.done: dict[str, object] = {}
        self.cpu = BackgroundCpu()
        group = str(self.cpu.dir) if self.cpu.dir is not None else None
        # forked now, before any grading thread exists (and so before any lock is held)
        self.pool = ProcessPoolExecutor(max_workers=max(1, n), initializer=_background,
                                        initargs=(group,),
                                        mp_context=multiprocessing.get_context("fork"))
        try:
            for f in [self.pool.submit(os.getpid) for _ in range(max(1, n))]:
                f.result(timeout=60)
        except Exception:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def submit(self, result: Result) -> None:
        if self.pool is None:
            return
        try:
            self.done[result.student] = self.pool.submit(_feedback_one, self.assignment,
                                                         str(self.work), result.to_json())
        except Exception:        # a broken pool: the rest is written in this process
            self.pool = None

    def submit_missing(self, results: list[Result]) -> None:
        for r in results:
            if r.student not in self.done:
                self.submit(r)

    def finish(self, results: list[Result]) -> list[Path]:
        self.cpu.normal()        # grading is over: the rest at the usual priority
        source = _source_cached(self.assignment)
        self.submit_missing(results)
        paths = []
        for r in results:
            try:
                paths.append(Path(self.done[r.student].result()))
            except Exception:    # no worker, or it failed on this one: write it here
                paths.append(_write_one_feedback(source, self.work, self.assignment, r))
        return paths

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.cpu.remove()


def _write_one_feedback(source: Source, work: Path, assignment: str, r: Result) -> Path:
    path = work / "feedback" / r.student / assignment / f"{assignment}.html"
    try:
        return feedback.write(r.cleaned(), source, path)
    except Exception as exc:   # one student's feedback, never everyone's
        print(f"warning: feedback for {r.student} could not be written: {type(exc).__name__}")
        return feedback.write_plain(r, source, path, exc)


def write_feedback(assignment: str, work: Path, results: list[Result] | None = None) -> list[Path]:
    """One HTML per student in ``<work>/feedback/<student>/<assignment>/<assignment>.html``."""
    source = _source(assignment)
    results = load_results(assignment, work) if results is None else results
    paths = []
    for r in results:
        try:
            paths.append(_write_one_feedback(source, work, assignment, r))
        except Exception:
            pass
    return paths


def write_exports(assignment: str, work: Path, results: list[Result] | None = None) -> list[Path]:
    """The grades CSV, the LMS CSV and the summary page."""
    source = _source(assignment)
    results = load_results(assignment, work) if results is None else results
    results = [r.cleaned() for r in results]
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
    parser.add_argument("--memory", type=int, default=Limits.memory_mb,
                        help="MB of memory for one submission, all its processes together "
                             "(default: %(default)s)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--db-url", default=None,
                        help="gradebook URL, e.g. postgresql+psycopg://user@host/db "
                             "(default: $TLCOURSE_DB_URL or SQLite in the work folder)")
    parser.add_argument("--force", action="store_true", help="regrade even submissions already graded")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="grade without isolation (trusted code only)")
    parser.add_argument("--allow-weak-limits", action="store_true",
                        help="grade even where a sandbox cannot get its control group (memory, "
                             "processes, CPU): per-process limits only (default: such a "
                             "submission is not graded)")


def run_from_args(args: argparse.Namespace, submissions: Path | None) -> list[Result]:
    limits = Limits(wall_s=args.timeout, cpu_s=int(max(args.timeout, 10)),
                    memory_mb=args.memory, allow_weak_limits=args.allow_weak_limits)
    results = grade(args.assignment, submissions, args.work, args.workers, limits,
                    args.scheduler, isolate=not args.no_sandbox, force=args.force,
                    db_url=args.db_url)
    width = max([len(r.student) for r in results] + [7])
    for r in results:
        status = r.error if r.status == "error" else \
            f"{r.total:g} / {sum(t.max_score for t in r.tasks.values()):g}"
        print(f"{r.student:<{width}}  {status}")
    work = course.work_dir(args.work)
    print(f"grades: {work / 'grades' / (args.assignment + '.csv')}\n"
          f"feedback: {work / 'feedback'}/<student>/{args.assignment}/{args.assignment}.html\n"
          f"summary: {work / 'summary' / (args.assignment + '.html')}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="assignment id, e.g. 04_attention")
    parser.add_argument("submissions", type=Path, help="folder or .zip of submitted notebooks")
    course.add_work_option(parser)
    add_grading_options(parser)
    args = parser.parse_args(argv)
    run_from_args(args, args.submissions)


if __name__ == "__main__":
    main()
