"""Grading throughput: the course's sandboxed grader against stock nbgrader, on one mixed batch.

    .venv/bin/python bench/grading_throughput.py [--n 100] [--workers 2] [--budget 20] [--quick]
                                                 [--baseline OTHER-CHECKOUT] [--slow]

Generates ``--n`` submissions of 04_attention into a temporary folder (fixed ``--seed``): 60 %
correct (the reference solution), 25 % wrong (each mutant of ``testkit/mutants`` in turn),
10 % crashing (an extra cell or an answer that raises or calls ``os._exit(1)``) and 5 % looping
(an answer with ``while True: pass``). Then grades the same folder in the same run with

* ours:  ``autograder.grade.grade`` (one sandbox per submission, ``--workers`` in parallel, a
  whole-notebook budget of ``--budget`` seconds, wall and CPU), and
* stock: ``testkit.stock.grade`` (nbgrader's ``autograde`` + ``generate_feedback``, one at a
  time), with nbgrader's per-cell ``Execute.timeout`` set to the same ``--budget`` for this run
  only (the course's config says 60 s; a looping cell costs stock that much each).

and prints submissions per minute, the ratio, where the time of one submission goes in each
(timed in the run, plus small direct timings), and whether the two graders agree on every
submission. It prints figures only; it asserts nothing about speed. Process start-up and imports
of this script are not counted for either grader. ``--baseline DIR`` also grades the batch, in the
same run, with the grader of another checkout (e.g. ``git worktree add --detach ../base main``):
the "before" row. ``--slow`` measures only the slow-submission scenario: five submissions whose
every call sleeps just under the per-call limit among fifteen, against fifteen right answers.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder import course, export, feedback, grade  # noqa: E402
from testkit import stock  # noqa: E402
from testkit.mutants import load  # noqa: E402
from autograder.sandbox import Limits, Sandbox, isolation_available, sandbox_uid  # noqa: E402
from testkit.submissions import filled, grade_id, solution_cells, write  # noqa: E402
from autograder.verdict import Source, judge, read_submission  # noqa: E402
from autograder.verdict import sandbox_cells, student_cells  # noqa: E402

ASSIGNMENT = "04_attention"
STOCK_DEFAULT_TIMEOUT = 60          # c.Execute.timeout in autograder/nbgrader_config.py
KINDS = ("correct", "wrong", "crash", "loop")
TARGET_N = 100                      # the 10x target is set for a batch of this size


def now() -> float:
    return time.perf_counter()


def load_avg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


# --------------------------------------------------------------------------- the batch
def plan(n: int) -> dict[str, int]:
    loop = max(1, round(0.05 * n))
    crash = max(1, round(0.10 * n))
    wrong = max(1, round(0.25 * n))
    return {"correct": n - loop - crash - wrong, "wrong": wrong, "crash": crash, "loop": loop}


def _in_body(src: str, line: str) -> str:
    """``line`` as the first statement of the answer's solution block (inside the function)."""
    lines = src.splitlines()
    for i, text in enumerate(lines):
        if text.strip() == "### BEGIN SOLUTION":
            indent = text[:len(text) - len(text.lstrip())]
            lines.insert(i + 1, indent + line)
            return "\n".join(lines)
    raise ValueError("no ### BEGIN SOLUTION line in the answer")


def _answer_cells(nb) -> list[int]:
    answers = set(solution_cells(ASSIGNMENT))
    return [i for i, c in enumerate(nb.cells) if grade_id(c) in answers]


CRASHES = ("exit-extra", "raise-answer", "raise-extra", "exit-answer")
LOOPS = ("loop-top", "loop-body")


def crashing(variant: str, rng: random.Random):
    nb = filled(ASSIGNMENT)
    answers = _answer_cells(nb)
    i = rng.choice(answers)
    gid = grade_id(nb.cells[i])
    if variant == "raise-extra":
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell('raise RuntimeError("left-over debugging cell")'))
        return nb, f"extra cell after {gid} raises"
    if variant == "exit-extra":
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
        return nb, f"extra cell after {gid} calls os._exit(1)"
    if variant == "raise-answer":
        nb.cells[i].source = _in_body(nb.cells[i].source, 'raise RuntimeError("not finished")')
        return nb, f"{gid} raises when called"
    nb.cells[i].source = _in_body(nb.cells[i].source, "import os; os._exit(1)")
    return nb, f"{gid} calls os._exit(1) when called"


def looping(variant: str, rng: random.Random):
    nb = filled(ASSIGNMENT)
    i = rng.choice(_answer_cells(nb))
    gid = grade_id(nb.cells[i])
    if variant == "loop-top":
        nb.cells[i].source = "while True:\n    pass\n\n" + nb.cells[i].source
        return nb, f"{gid}: `while True: pass` before the definition"
    nb.cells[i].source = _in_body(nb.cells[i].source, "while True: pass")
    return nb, f"{gid}: `while True: pass` when called"


def make_batch(folder: Path, n: int, seed: int) -> dict[str, tuple[str, str]]:
    """Write the submissions; return {student: (kind, what it is)}."""
    rng = random.Random(seed)
    counts = plan(n)
    kinds = [k for k in KINDS for _ in range(counts[k])]
    rng.shuffle(kinds)
    mutants = load(ASSIGNMENT)
    seen = defaultdict(int)
    batch = {}
    for i, kind in enumerate(kinds):
        j = seen[kind]
        seen[kind] += 1
        if kind == "correct":
            nb, what = filled(ASSIGNMENT), "reference solution"
        elif kind == "wrong":
            m = mutants[j % len(mutants)]
            nb, what = filled(ASSIGNMENT, m), f"mutant {m.name}"
        elif kind == "crash":
            nb, what = crashing(CRASHES[j % len(CRASHES)], rng)
        else:
            nb, what = looping(LOOPS[j % len(LOOPS)], rng)
        sid = f"s{i:03d}-{kind}"
        write(nb, folder / f"{sid}.ipynb")
        batch[sid] = (kind, what)
    return batch


# --------------------------------------------------------------------------- timing helpers
@contextlib.contextmanager
def patched(obj, name: str, value):
    """``obj.name = value`` for the duration (nothing when ``obj`` has no such attribute)."""
    if not hasattr(obj, name):
        yield
        return
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


class Clock:
    """Seconds spent in wrapped functions: total per label, and per (label, key)."""

    def __init__(self):
        self.total = defaultdict(float)
        self.calls = defaultdict(int)
        self.by_key = {}
        self.marks = {}

    def wrap(self, label: str, fn, key=None):
        def timed(*args, **kwargs):
            t = now()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = now() - t
                self.total[label] += dt
                self.calls[label] += 1
                if key is not None:
                    self.by_key[(label, key(*args, **kwargs))] = dt
                self.marks[f"{label}:last"] = now()
        return timed


# --------------------------------------------------------------------------- the two runs
def time_attr(stack: contextlib.ExitStack, clock: Clock, obj, name: str, label: str, key=None):
    """Time every call of ``obj.name`` under ``label`` while ``stack`` is open (if it exists)."""
    if hasattr(obj, name):
        stack.enter_context(patched(obj, name, clock.wrap(label, getattr(obj, name), key)))


def logged(fn, log: Path):
    """``fn``, appending the seconds of each call to ``log``: the feedback pages are written by
    worker processes forked while grading, whose own clocks the bench cannot read."""
    def timed(*args, **kwargs):
        t = now()
        try:
            return fn(*args, **kwargs)
        finally:
            with open(log, "a") as f:
                f.write(f"{now() - t}\n")
    return timed


def run_ours(folder: Path, work: Path, workers: int, budget: float):
    clock = Clock()
    log = work.parent / f"{work.name}-feedback-seconds.txt"
    with contextlib.ExitStack() as stack:
        orig_executor = grade._executor

        def executor(*a, **k):
            clock.marks["pool"] = now()
            return orig_executor(*a, **k)

        stack.enter_context(patched(grade, "_executor", executor))
        time_attr(stack, clock, grade, "record", "gradebook")
        stack.enter_context(patched(feedback, "write", logged(feedback.write, log)))
        for f in ("write_csv", "write_lms_csv", "write_summary"):
            time_attr(stack, clock, export, f, "csv")
        t0 = now()
        results = grade.grade(ASSIGNMENT, folder, work, workers=workers,
                              limits=Limits(wall_s=budget, cpu_s=int(budget)), progress=True)
        wall = now() - t0
    clock.marks["t0"], clock.marks["end"] = t0, t0 + wall
    seconds = [float(x) for x in log.read_text().split()] if log.exists() else []
    clock.total["feedback"], clock.calls["feedback"] = sum(seconds), len(seconds)
    return {r.student: r for r in results}, wall, clock


def stock_config(budget: float):
    """course.config with nbgrader's per-cell timeout set to ``budget`` (this process only)."""
    orig = course.config

    def config(*a, **k):
        cfg = orig(*a, **k)
        cfg.Execute.timeout = int(budget)
        return cfg
    return patched(course, "config", config)


def run_stock(folder: Path, work: Path, budget: float):
    clock = Clock()
    orig_api = course.api

    def api(*a, **k):
        t = now()
        x = orig_api(*a, **k)
        clock.total["api"] += now() - t
        x.generate_assignment = clock.wrap("generate_assignment", x.generate_assignment)
        x.autograde = clock.wrap("autograde", x.autograde, key=lambda aid, sid, **_: sid)
        x.generate_feedback = clock.wrap("generate_feedback", x.generate_feedback,
                                         key=lambda aid, sid, **_: sid)
        return x

    with contextlib.ExitStack() as stack:
        stack.enter_context(stock_config(budget))
        stack.enter_context(patched(course, "api", api))
        time_attr(stack, clock, stock, "_scores", "gradebook")
        time_attr(stack, clock, stock, "write_csv", "csv")
        t0 = now()
        results = stock.grade(ASSIGNMENT, folder, work, progress=True)
        wall = now() - t0
    return {r.student: r for r in results}, wall, clock


# A run of another checkout's grader (``--baseline``: e.g. the main branch in a git worktree) on
# the same batch, in a process of its own that imports that checkout: its wall time for
# ``grade.grade`` (imports not counted, as for ours), its results, and one correct submission
# through its ``grade.grade_one`` (the judge's split from TLCOURSE_TIMING), best of ``reps``.
OTHER = r"""
import json, os, sys, time
checkout, assignment, subs, work, workers, budget, correct, marks, reps = sys.argv[1:]
sys.path.insert(0, checkout)
from autograder import course, forkserver, grade
from autograder.sandbox import Limits
import nbgrader.api, nbgrader.apps
limits = Limits(wall_s=float(budget), cpu_s=int(float(budget)))
t = time.perf_counter()
rs = grade.grade(assignment, subs, work, workers=int(workers), limits=limits, progress=False)
wall = time.perf_counter() - t
os.environ["TLCOURSE_TIMING"] = marks
forkserver.close_servers()
hide = sorted({str(course.ROOT), os.path.dirname(marks), "/root", "/home"})
totals = []
for i in range(int(reps) + 1):
    t = time.perf_counter()
    grade.grade_one(correct, str(course.source_notebook(assignment)), "bench", hide,
                    limits.__dict__, True, "bench")
    totals.append(time.perf_counter() - t)
forkserver.close_servers()
rows = [json.loads(line) for line in open(marks).read().splitlines()][1:]
best = min(rows, key=lambda m: m["judged"])
print(json.dumps({"wall": wall, "results": [r.to_json() for r in rs], "total": min(totals[1:]),
                  "tests": best["tests"] - best["ready"], "judge": best["judged"]}))
"""


def run_other(checkout: Path, folder: Path, work: Path, tmp: Path, correct: Path, args):
    from autograder.verdict import Result

    env = {k: v for k, v in os.environ.items() if k != "TLCOURSE_TIMING"}
    env["PYTHONPATH"] = str(checkout)
    out = subprocess.run([sys.executable, "-c", OTHER, str(checkout), ASSIGNMENT, str(folder),
                          str(work), str(args.workers), str(args.budget), str(correct),
                          str(tmp / "timing-baseline.jsonl"), str(args.reps)],
                         cwd=checkout, env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    results = {r["student"]: Result.from_json(r) for r in data.pop("results")}
    return results, data


def describe_checkout(checkout: Path) -> str:
    try:
        rev = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "?"
    return f"{checkout} ({rev[:60]})"


# --------------------------------------------------------------------------- direct timings
def best_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = now()
        fn()
        times.append(now() - t)
    return min(times)   # other work on the machine only ever adds time


def subprocess_time(cmd: list[str], reps: int) -> float:
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"}
    return best_time(lambda: subprocess.run(cmd, check=True, env=env, capture_output=True), reps)


# The cells alone, as the grader runs them: in a child forked from a warm process (torch and what
# the setup imports imported, the leading setup cells run once: ``forkserver._preload``), one
# thread; the best of ``reps`` children. Not in the bench's own process: the cells include the
# guard, which switches the course's versions of the graded tasks off in the process it runs in.
CELLS = r"""
import json, os, sys, time
from pathlib import Path
root, release, path, reps = sys.argv[1:]
sys.path.insert(0, root)
from autograder import forkserver, runner, verdict
source = forkserver._preload(Path(release))
cells = json.loads(open(path, encoding="utf-8").read())
times, errors = [], []
for _ in range(int(reps)):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        warm = verdict.take_warm(source, "__main__")
        ns, ran = warm if warm else ({"__name__": "__main__"}, {})
        t = time.perf_counter()
        out = runner.run_cells([c for c in cells if c["id"] not in ran], ns)
        seconds = time.perf_counter() - t
        os.write(w, json.dumps({"seconds": seconds, "warm": sorted(ran),
                                "errors": [c for c in out if c["error"]]}).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    got = json.loads(data)
    times.append(got["seconds"])
    errors += got["errors"]
print(json.dumps({"seconds": min(times), "warm": got["warm"], "errors": errors}))
"""


def cells_alone(cells: list[dict], tmp: Path, reps: int) -> float:
    """Seconds the runner's ``run_cells`` takes on ``cells`` in a child of a warm process."""
    path = tmp / "cells.json"
    path.write_text(json.dumps(cells), encoding="utf-8")
    release = course.EXERCISES / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    env = {k: v for k, v in os.environ.items() if k != "TLCOURSE_TIMING"}
    env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    out = subprocess.run([sys.executable, "-c", CELLS, str(ROOT), str(release), str(path),
                          str(reps)], cwd=tmp, env=env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if data["errors"]:
        raise RuntimeError(f"the reference solution's cells failed: {data['errors']}")
    return data["seconds"]


def direct_ours(tmp: Path, correct: Path, budget: float, reps: int) -> dict[str, float]:
    """The steps of ``verdict.grade_notebook``, one at a time, on one correct submission."""
    limits = Limits(wall_s=budget, cpu_s=int(budget))
    hide = sorted({str(ROOT), str(tmp), "/root", "/home"})
    uid = sandbox_uid(3999)
    source = Source.load(course.source_notebook(ASSIGNMENT))
    seed = {"seed": "bench"} if "seed" in inspect.signature(judge).parameters else {}
    out = defaultdict(list)
    for _ in range(reps):
        box = Sandbox([], hide=hide, limits=limits, uid=uid)
        t = now()
        box.start()
        out["start_empty"].append(now() - t)
        box.close()
        t0 = now()
        answers, extra, _ = student_cells(read_submission(correct), source)
        box = Sandbox(sandbox_cells(source, answers, extra), hide=hide, limits=limits, uid=uid)
        t1 = now()
        ready = box.start()
        t2 = now()
        tasks = judge(source, box, ready, code=(answers, extra), **seed)
        t3 = now()
        box.close()
        t4 = now()
        if sum(t.score for t in tasks.values()) != sum(t.max_score for t in tasks.values()):
            raise RuntimeError(f"the reference solution lost points: {tasks}")
        for k, v in (("read", t1 - t0), ("start_cells", t2 - t1), ("hidden", t3 - t2),
                     ("close", t4 - t3), ("total", t4 - t0)):
            out[k].append(v)
    out["cells"].append(cells_alone(sandbox_cells(source, answers, extra), tmp, reps))
    return {k: min(v) for k, v in out.items()}


def direct_forked(tmp: Path, correct: Path, budget: float, reps: int) -> dict[str, float]:
    """One correct submission through the grader's own path (``grade.grade_one``: fork server,
    judge, sandbox), one at a time, with the judge's own split (``TLCOURSE_TIMING``)."""
    import json as _json

    from autograder import forkserver

    marks = tmp / "timing.jsonl"
    os.environ["TLCOURSE_TIMING"] = str(marks)
    forkserver.close_servers()          # a fresh server, which sees TLCOURSE_TIMING
    limits = Limits(wall_s=budget, cpu_s=int(budget))
    hide = sorted({str(ROOT), str(tmp), "/root", "/home"})
    source = course.source_notebook(ASSIGNMENT)
    try:
        t = now()
        grade.grade_one(str(correct), str(source), "bench", hide, limits.__dict__, True, "bench")
        first = now() - t                # includes starting the fork server
        totals = []
        for _ in range(reps):
            t = now()
            r = grade.grade_one(str(correct), str(source), "bench", hide, limits.__dict__, True,
                                "bench")
            totals.append(now() - t)
            if r.get("status") != "graded":
                raise RuntimeError(r.get("error"))
    finally:
        forkserver.close_servers()
        os.environ.pop("TLCOURSE_TIMING", None)
    rows = [_json.loads(line) for line in marks.read_text().splitlines()][1:]
    best = min(rows, key=lambda m: m["judged"])
    return {"first": first, "total": min(totals), "loaded": best["loaded"],
            "ready": best["ready"] - best["loaded"], "tests": best["tests"] - best["ready"],
            "closed": best["closed"] - best["tests"], "judge": best["judged"]}


def direct_stock(tmp: Path, work: Path, sid: str, budget: float, reps: int) -> dict[str, float]:
    """nbgrader's autograde and generate_feedback of student ``sid`` (already graded in ``work``),
    next to kernels started by nbclient alone: empty, ``import torch``, the source notebook."""
    from nbclient import NotebookClient

    def execute(nb):
        nb = nbformat.from_dict(nb)
        NotebookClient(nb, timeout=int(budget), kernel_name="python3",
                       resources={"metadata": {"path": str(tmp)}}).execute()

    empty = nbformat.v4.new_notebook()
    torch_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
    source_nb = nbformat.read(course.source_notebook(ASSIGNMENT), as_version=4)
    with stock_config(budget):
        api_s = best_time(lambda: course.api(work=work, release=work / "release"), reps)
        api = course.api(work=work, release=work / "release")
    out = defaultdict(list)
    for _ in range(reps):
        kernel, with_torch, notebook = (best_time(lambda: execute(nb), 1)
                                        for nb in (empty, torch_nb, source_nb))
        t = now()
        course.check(api.autograde(ASSIGNMENT, sid, force=True, create=True), "autograde")
        autograde = now() - t
        t = now()
        course.check(api.generate_feedback(ASSIGNMENT, sid, force=True), "generate_feedback")
        out["feedback"].append(now() - t)
        out["kernel"].append(kernel)
        out["kernel_torch"].append(with_torch)
        out["notebook"].append(notebook)
        out["autograde"].append(autograde)
    best = {k: min(v) for k, v in out.items()}
    return {"api": api_s, **best, "torch": best["kernel_torch"] - best["kernel"],
            "cells": best["notebook"] - best["kernel_torch"],
            "nbgrader": best["autograde"] - best["notebook"]}


# --------------------------------------------------------------------------- agreement
def compare(batch, ours, theirs):
    exact, partial, other = [], [], []
    for sid in batch:
        o, s = ours[sid], theirs[sid]
        diffs = []
        only_partial = True
        for gid, t in o.tasks.items():
            st = s.scores.get(gid, 0.0)
            if abs(t.score - st) > 1e-9:
                diffs.append(f"{gid.removesuffix('_tests')} {t.score:g}/{st:g}")
                if not (st == 0 and 0 < t.score < t.max_score):
                    only_partial = False
        if not diffs:
            exact.append(sid)
        elif only_partial:
            partial.append((sid, diffs))
        else:
            other.append((sid, diffs))
    return exact, partial, other


# --------------------------------------------------------------------------- report
def report_runs(args, batch, counts, ours, ours_wall, oc, theirs, stock_wall, sc,
                other=None) -> None:
    n = len(batch)
    rate_o, rate_s = 60 * n / ours_wall, 60 * n / stock_wall
    ratio = rate_o / rate_s
    print(f"\n## Throughput ({ASSIGNMENT}, {n} submissions, {os.cpu_count()} cores)\n")
    print("| grader | submissions | wall s | submissions/min | ours/stock |")
    print("|---|---|---|---|---|")
    print(f"| ours: autograder.grade, {args.workers} workers, sandboxed, budget {args.budget:g} s/notebook "
          f"| {len(ours)} | {ours_wall:.1f} | {rate_o:.1f} | {ratio:.2f}x |")
    if other is not None:
        o_res, o_data = other
        rate_b = 60 * n / o_data["wall"]
        print(f"| before: {describe_checkout(args.baseline)}, same options | {len(o_res)} | "
              f"{o_data['wall']:.1f} | {rate_b:.1f} | {rate_b / rate_s:.2f}x |")
    print(f"| stock: testkit.stock (nbgrader autograde + feedback), sequential, timeout "
          f"{args.budget:g} s/cell | {len(theirs)} | {stock_wall:.1f} | {rate_s:.1f} | 1.00x |")
    if n >= TARGET_N:
        verdict = "met" if ratio >= 10 else "NOT met"
    else:       # the fixed costs (starting workers, the gradebook) weigh more in a small batch
        verdict = f"indicative only: the target is set for a batch of {TARGET_N}, this one has {n}"
    print(f"\nratio ours/stock: {ratio:.2f}x (target >= 10x: {verdict})")
    loops = counts["loop"]
    extra = loops * (STOCK_DEFAULT_TIMEOUT - args.budget)
    if extra > 0:
        slow = 60 * n / (stock_wall + extra)
        print(f"with the course's configured Execute.timeout = {STOCK_DEFAULT_TIMEOUT} s per cell, stock's "
              f"{loops} looping submission(s) would cost ~{extra:.0f} s more (computed, not measured): "
              f"{slow:.1f} submissions/min, ratio {rate_o / slow:.2f}x")

    print("\n## Seconds per submission, by kind (mean, as timed in the runs above)\n")
    print(f"| kind | n | ours: sandbox + hidden tests ({args.workers} at a time) "
          "| stock: autograde | stock: generate_feedback |")
    print("|---|---|---|---|---|")
    for kind in KINDS:
        sids = [s for s, (k, _) in batch.items() if k == kind]
        o = statistics.mean(ours[s].seconds for s in sids)
        a = statistics.mean(sc.by_key.get(("autograde", s), 0.0) for s in sids)
        f = statistics.mean(sc.by_key.get(("generate_feedback", s), 0.0) for s in sids)
        print(f"| {kind} | {len(sids)} | {o:.2f} | {a:.2f} | {f:.2f} |")

    m = oc.marks
    pool = m.get("pool", m["t0"])
    last = m.get("gradebook:last", pool)
    busy = sum(r.seconds for r in ours.values())
    print(f"\n## Where the wall time goes, per submission (wall / {n}), as timed in the runs\n")
    print(f"- ours, {ours_wall / n:.2f} s per submission:")
    print(f"  - preparation (sandbox probe, collect, nbgrader generate_assignment): "
          f"{(pool - m['t0']) / n:.3f} s ({pool - m['t0']:.1f} s once)")
    print(f"  - grading, {args.workers} sandboxes at a time: {(last - pool) / n:.2f} s "
          f"(each submission's own time averages {busy / n:.2f} s; gradebook writes, in the main "
          f"thread meanwhile: {oc.total['gradebook'] / n:.3f} s)")
    print(f"  - feedback HTML: {oc.total['feedback'] / n:.3f} s ({oc.calls['feedback']} pages, "
          "written by worker processes at idle CPU priority, mostly while grading)")
    print(f"  - after grading: CSVs + summary {oc.total['csv'] / n:.3f} s, the last feedback "
          f"pages (all after-grading work: {(m['end'] - last) / n:.3f} s)")
    other = stock_wall - sum(sc.total[k] for k in ("api", "generate_assignment", "autograde",
                                                    "generate_feedback", "gradebook", "csv"))
    print(f"- stock, {stock_wall / n:.2f} s per submission:")
    print(f"  - preparation (NbGraderAPI, generate_assignment): "
          f"{(sc.total['api'] + sc.total['generate_assignment']) / n:.3f} s "
          f"({sc.total['api'] + sc.total['generate_assignment']:.1f} s once)")
    print(f"  - autograde: {sc.total['autograde'] / n:.2f} s")
    print(f"  - generate_feedback: {sc.total['generate_feedback'] / n:.2f} s "
          f"({sc.calls['generate_feedback']} of {n} submissions get feedback)")
    print(f"  - gradebook reads {sc.total['gradebook'] / n:.3f} s, CSV {sc.total['csv'] / n:.3f} s, "
          f"rest (collect, ...) {other / n:.3f} s")

    exact, partial, diff = compare(batch, ours, theirs)
    print("\n## Agreement (scores per task, ours vs stock)\n")
    print(f"- exactly the same scores: {len(exact)} / {n}")
    print(f"- differ by partial credit only (ours > 0 on a task where stock gives 0): {len(partial)}")
    print(f"- differ otherwise: {len(diff)}")
    for title, rows in (("partial credit", partial), ("other difference", diff)):
        for sid, diffs in rows:
            o, s = ours[sid], theirs[sid]
            _, what = batch[sid]
            why_o = o.error or next((t.message for t in o.tasks.values() if t.message), "")
            print(f"  - {title}: {sid} ({what}): total ours {o.total:g}, stock {s.total:g}; "
                  f"task ours/stock: {', '.join(diffs)}")
            print(f"    ours: {why_o[:150] or '-'} | stock: {s.error[:150] or '-'}")
    for name, results in (("ours", ours), ("stock", theirs)):
        errors = [(sid, results[sid].error) for sid in batch if results[sid].error]
        print(f"- {name} reported an error for {len(errors)} submission(s)"
              + "".join(f"\n  - {sid}: {e.splitlines()[0][:120]}" for sid, e in errors))
    totals = defaultdict(lambda: [0, 0.0, 0.0])
    for sid, (kind, _) in batch.items():
        totals[kind][0] += 1
        totals[kind][1] += ours[sid].total
        totals[kind][2] += theirs[sid].total
    print("\n| kind | n | mean total ours | mean total stock |")
    print("|---|---|---|---|")
    for kind in KINDS:
        c, o, s = totals[kind]
        print(f"| {kind} | {c} | {o / c:.2f} | {s / c:.2f} |")


def report_direct(args, tmp: Path, sid: str, sc, batch, other=None) -> None:
    print(f"\n## One correct submission, timed directly (best of {args.reps}, one at a time)\n",
          flush=True)
    py = [sys.executable, "-I"]
    try:
        d_py = {"python": subprocess_time(py + ["-c", "pass"], args.reps),
                "torch": subprocess_time(py + ["-c", "import torch"], args.reps),
                "unshare": subprocess_time(["unshare", "--net", "--mount", "--pid", "--fork",
                                            "--kill-child", "--", *py, "-c", "pass"], args.reps)}
        print(f"- for scale: `python -I -c pass` {d_py['python']:.2f} s, under `unshare --net "
              f"--mount --pid` {d_py['unshare']:.2f} s; `python -I -c 'import torch'` {d_py['torch']:.2f} s")
    except Exception as exc:  # a figure missing is better than no report
        print(f"- python start-up timings failed: {type(exc).__name__}: {exc}")
    correct = tmp / "work-ours" / "submitted" / sid / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    try:
        f = direct_forked(tmp, correct, args.budget, args.reps)
        print(f"- ours, as graded (grade.grade_one: fork server, judge, sandbox): one correct "
              f"submission {f['total']:.3f} s (the first, starting the fork server: "
              f"{f['first']:.2f} s); in its judge process ({f['judge']:.3f} s):")
        print(f"  - fork the sandbox, read the source and the secret: {f['loaded']:.3f} s")
        print(f"  - sandbox: isolate, parse the notebook, run the cells: {f['ready']:.3f} s")
        print(f"  - hidden tests (in the judge, through the proxies): {f['tests']:.3f} s")
        print(f"  - kill and clean up the sandbox: {f['closed']:.3f} s")
    except Exception as exc:
        f = None
        print(f"- ours (forked): direct timings failed: {type(exc).__name__}: {exc}")
    try:
        d = direct_ours(tmp, correct, args.budget, args.reps)
        print("- ours, the one-process path (`--no-sandbox` and the earlier design: a new Python "
              "per sandbox):")
        print(f"- ours: one submission {d['total']:.2f} s, split into (each the best of its repetitions):")
        print(f"  - reading and parsing the notebook: {d['read']:.3f} s")
        print(f"  - sandbox start + running the cells: {d['start_cells']:.2f} s; for comparison:")
        print(f"    - sandbox start alone (Sandbox.start with no cells: unshare, namespaces, mounts, "
              f"python, import torch, limits): {d['start_empty']:.2f} s")
        print(f"    - the cells alone (answers, visible checks; the runner's run_cells in a "
              f"child of a warm process that ran the setup once, as graded): {d['cells']:.2f} s")
        print(f"  - hidden tests, in the grader through the proxies: {d['hidden']:.2f} s")
        print(f"  - closing the sandbox: {d['close']:.3f} s")
        if f is not None:
            print(f"- ours, as graded: overhead per correct submission beyond its cells "
                  f"({d['cells']:.3f} s, timed alone) and its hidden tests ({f['tests']:.3f} s): "
                  f"{f['total'] - d['cells'] - f['tests']:.3f} s")
        if other is not None:
            o = other[1]
            print(f"- before ({describe_checkout(args.baseline)}), as graded: one correct "
                  f"submission {o['total']:.3f} s, hidden tests {o['tests']:.3f} s, overhead "
                  f"beyond the cells and the hidden tests {o['total'] - d['cells'] - o['tests']:.3f} s")
    except Exception as exc:
        print(f"- ours: direct timings failed: {type(exc).__name__}: {exc}")
    try:
        d = direct_stock(tmp, tmp / "work-stock", sid, args.budget, args.reps)
        ag = statistics.mean(sc.by_key[("autograde", s)] for s, (k, _) in batch.items()
                             if k == "correct" and ("autograde", s) in sc.by_key)
        fb = statistics.mean(sc.by_key[("generate_feedback", s)] for s, (k, _) in batch.items()
                             if k == "correct" and ("generate_feedback", s) in sc.by_key)
        print(f"- stock: autograde {d['autograde']:.2f} s + generate_feedback {d['feedback']:.2f} s "
              f"(in the run, means over the correct submissions: {ag:.2f} s + {fb:.2f} s); "
              "autograde splits into (best of each; differences of bests):")
        print(f"  - kernel start + stop (nbclient, empty notebook): {d['kernel']:.2f} s")
        print(f"  - import torch in the kernel: {d['torch']:.2f} s")
        print(f"  - running the notebook's cells (hidden tests included): {d['cells']:.2f} s")
        print(f"  - nbgrader's own work around them (copying, gradebook, preprocessors, writing): "
              f"{d['nbgrader']:.2f} s")
        print(f"  - (NbGraderAPI construction, once per run: {d['api']:.3f} s)")
    except Exception as exc:
        print(f"- stock: direct timings failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- slow submissions
def slow_batch(args) -> None:
    """Five slow submissions among fifteen: the right answers, every call sleeping just under the
    per-call limit (they wait, they do not compute). Grades a baseline batch (fifteen right
    answers) and the slow batch (ten of them and the five slow ones) with the same limits, one
    after the other, and prints both times next to the baseline's plus one slow submission's
    time limit (the goal) and plus one limit per slow submission (a queue)."""
    import threats as T

    limits = Limits(wall_s=args.budget, cpu_s=int(args.budget))
    sleep = round(limits.call_s - 0.5, 2)
    sleepy = T.SLEEPY.replace("time.sleep(4.5)", f"time.sleep({sleep:g})")
    assert f"time.sleep({sleep:g})" in sleepy
    n_slow, n = 5, 15
    print(f"## Slow submissions: {n_slow} among {n} ({ASSIGNMENT}, {args.workers} workers, "
          f"wall limit {limits.wall_s:g} s per submission, {limits.call_s:g} s per call; each call "
          f"of a slow one sleeps {sleep:g} s); {load_avg()}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="slow-batch-") as tmp:
        tmp = Path(tmp)
        base, mixed = tmp / "baseline", tmp / "slow"
        for i in range(n):
            write(filled(ASSIGNMENT), base / f"s{i:02d}.ipynb")
        for i in range(n - n_slow):
            write(filled(ASSIGNMENT), mixed / f"s{i:02d}.ipynb")
        ctx = T.Ctx(work=str(tmp / "work-slow"), subs=str(mixed), marker=T.new_marker())
        for i in range(n_slow):
            attack = T.Attack(f"slow{i}", "18 slow", "right answers, every call sleeps",
                              start=[sleepy], wrap=True)
            T.write(T.build(attack, ctx), mixed / f"slow{i}.ipynb")
        times, results = {}, {}
        for name, folder in (("baseline", base), ("slow", mixed)):
            t = now()
            results[name] = grade.grade(ASSIGNMENT, folder, tmp / f"work-{name}",
                                        workers=args.workers, limits=limits, progress=False)
            times[name] = now() - t
    b, s, w = times["baseline"], times["slow"], limits.wall_s
    slow = [r for r in results["slow"] if r.student.startswith("slow")]
    others = [r for r in results["slow"] if not r.student.startswith("slow")]
    print("| batch | submissions | wall s |")
    print("|---|---|---|")
    print(f"| baseline: {n} right answers | {n} | {b:.1f} |")
    print(f"| slow: {n - n_slow} right answers + {n_slow} slow | {n} | {s:.1f} |")
    print(f"\n- goal: the slow batch within the baseline + one slow submission's limit = "
          f"{b:.1f} + {w:g} = {b + w:.1f} s: {'met' if s <= b + w else 'NOT met'} "
          f"(slow - baseline = {s - b:.1f} s)")
    print(f"- one slow submission after the other would take about the baseline + {n_slow} limits "
          f"= {b + n_slow * w:.0f} s")
    print(f"- the slow ones, each: {', '.join(f'{r.total:g} pts in {r.seconds:.1f} s' for r in slow)}"
          f" ({slow[0].error or 'no error'})")
    print(f"- the right answers next to them: {sum(r.total == 10 for r in others)} of "
          f"{len(others)} kept full marks, {max(r.seconds for r in others):.2f} s at most each")
    print(f"- {load_avg()}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=TARGET_N, help="submissions in the batch (default 100)")
    p.add_argument("--workers", type=int, default=2, help="parallel sandboxes of ours (default 2)")
    p.add_argument("--budget", type=float, default=20.0,
                   help="seconds: ours' whole-notebook wall/CPU limit and stock's per-cell timeout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reps", type=int, default=3, help="repetitions of each direct timing")
    p.add_argument("--quick", action="store_true", help="a batch of 20 (about 3 minutes)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="another checkout of the course (e.g. a git worktree of main): its grader "
                        "grades the same batch in the same run, as the 'before' row")
    p.add_argument("--slow", action="store_true",
                   help="only the slow-submission scenario: 5 slow among 15 (about a minute)")
    args = p.parse_args(argv)
    if args.quick:
        args.n = 20
    ok, why = isolation_available()
    if not ok:
        raise SystemExit(f"the course's grader needs its sandbox here: {why}")
    import nbgrader.api  # noqa: F401  (imported here: out of both timings)
    import nbgrader.apps  # noqa: F401

    if args.slow:
        slow_batch(args)
        return

    loads = [("start", load_avg())]
    with tempfile.TemporaryDirectory(prefix="grading-throughput-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        batch = make_batch(subs, args.n, args.seed)
        counts = plan(args.n)
        print(f"{args.n} submissions of {ASSIGNMENT} (seed {args.seed}): "
              + ", ".join(f"{counts[k]} {k}" for k in KINDS) + f"; budget W = {args.budget:g} s; "
              + load_avg(), flush=True)
        ours, ours_wall, oc = run_ours(subs, tmp / "work-ours", args.workers, args.budget)
        loads.append(("after ours", load_avg()))
        sid = next(s for s, (kind, _) in batch.items() if kind == "correct")
        other = None
        if args.baseline:
            correct = tmp / "work-ours" / "submitted" / sid / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
            other = run_other(args.baseline, subs, tmp / "work-baseline", tmp, correct, args)
            loads.append(("after before", load_avg()))
        theirs, stock_wall, sc = run_stock(subs, tmp / "work-stock", args.budget)
        loads.append(("after stock", load_avg()))
        report_runs(args, batch, counts, ours, ours_wall, oc, theirs, stock_wall, sc, other)
        report_direct(args, tmp, sid, sc, batch, other)
        loads.append(("end", load_avg()))
    print("\n## Load\n")
    for when, text in loads:
        print(f"- {when}: {text}")


if __name__ == "__main__":
    main()
