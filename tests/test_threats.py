"""The threat model of autograder/THREATS.md, one test per threat: hostile submissions cannot change
any grade or any file but their own result, and a right answer never loses points to harmless
noise. The submissions are those of ``bench/threats.py`` (which prints the table next to stock
nbgrader); they are graded in four batches (one ``grade()`` call each): the main batch (every
attack that must leave the others alone, after three victims were graded), the "hog" and "lock"
batches (a bystander graded at the same time as an attack on its share of the machine) and a
stock-nbgrader baseline run in a throwaway folder.

The weaknesses these tests found (CHANGELOG.md, "weaknesses found by the threat tests") are fixed;
the tests that found them stay, asserting what is right.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import course
from conftest import require_sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import threats as T  # noqa: E402  (bench/threats.py: the attack catalogue)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _sandbox():
    require_sandbox()

A = T.ASSIGNMENT
ATTACKS = {a.sid: a for a in T.catalogue()}
WAIT_AFTER = 6          # seconds to wait after grading for anything left behind to act


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _victim_files(work: Path, subs: Path) -> dict[str, str]:
    """Everything of the victims an attacker would want to change, hashed."""
    paths = []
    for v in T.VICTIMS:
        paths += [subs / f"{v}.ipynb", work / "submitted" / v / A / f"{A}.ipynb",
                  work / "results" / A / f"{v}.json"]
    return {str(p): _sha(p) for p in paths}


def _course_targets() -> list[Path]:
    import tlcourse
    import torch

    lib = Path(tlcourse.__file__).parent
    return [T.SOLUTION, lib / "checks" / "__init__.py", Path(torch.__file__),
            T.ROOT / "autograder" / "verdict.py"]


def _course_dirs() -> list[Path]:
    import tlcourse
    import torch

    return [T.SOLUTION.parent, Path(tlcourse.__file__).parent / "checks",
            Path(torch.__file__).parent.parent, Path(sys.prefix), T.ROOT]


def _feedback(work: Path, sid: str) -> str:
    return (work / "feedback" / sid / A / f"{A}.html").read_text()


def _scores(r) -> dict[str, float]:
    return {g: t.score for g, t in r.tasks.items()}


# --------------------------------------------------------------------------- the batches
@pytest.fixture(scope="module")
def main(tmp_path_factory):
    """Victims graded first; then every "main" attack in one batch, with the victims' files hashed
    before, right after, and WAIT_AFTER seconds after the batch."""
    tmp = tmp_path_factory.mktemp("threats")
    subs, work = tmp / "subs", tmp / "work"
    marker = T.new_marker()
    listeners = T.Listeners(marker)
    ctx = T.Ctx(work=str(work), subs=str(subs), marker=marker, port=listeners.port,
                unix_socket=listeners.unix_path)
    ns = SimpleNamespace(marker=marker, ctx=ctx, work=work, subs=subs, listeners=listeners)
    try:
        ns.secrets = T.write_victims(subs, marker)
        ns.before = T.grade_ours([], subs, work, ctx, T.LIMITS["main"])
        ns.files_before = _victim_files(work, subs)
        ns.book_before = T.gradebook_scores(work)
        ns.results = T.grade_ours([a for a in ATTACKS.values() if a.batch == "main"], subs, work,
                                  ctx, T.LIMITS["main"])
        ns.files_after = _victim_files(work, subs)
        ns.book_after = T.gradebook_scores(work)
        time.sleep(WAIT_AFTER)
        ns.files_later = _victim_files(work, subs)
        ns.book_later = T.gradebook_scores(work)
        ns.survivors = T.processes_with(marker)
        ns.shm_left = T.shm_exists(ctx.ipc_key)
        ns.received = list(listeners.received)
        yield ns
    finally:
        listeners.close()
        T.kill_leftovers(marker)
        T.remove_shm(ctx.ipc_key)
        planted = (T.report(ns.results["t01-gradebook"]) or {}).get("planted", []) \
            if hasattr(ns, "results") else []
        T.remove_planted(marker, planted)


def _batch(name, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(name)
    marker = T.new_marker()
    ctx = T.Ctx(work=str(tmp / "work"), subs=str(tmp / "subs"), marker=marker)
    try:
        return T.grade_ours([a for a in ATTACKS.values() if a.batch == name], tmp / "subs",
                            tmp / "work", ctx, T.LIMITS[name])
    finally:
        T.kill_leftovers(marker)


@pytest.fixture(scope="module")
def hog(tmp_path_factory):
    """dave (right answers) graded at the same time as a fork bomb whose children call setsid,
    on 2 CPUs (64 processes are a different share of 2 CPUs and of 64)."""
    with T.cpus(2):
        return _batch("hog", tmp_path_factory)


@pytest.fixture(scope="module")
def lock(tmp_path_factory):
    """erin (right answers) graded at the same time as a submission whose function never
    returns; then the forked memory eater, under a 2048 MB memory limit."""
    return _batch("lock", tmp_path_factory)


STOCK_SUBSET = ["t01-gradebook", "t03a-input-transformer", "t04a-patch-torch", "t06-read-secrets",
                "t11a-noise"]


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """Stock nbgrader on the attacks the table's claims rest on, in a throwaway folder (carol,
    the untouched release, is graded first)."""
    folder = tmp_path_factory.mktemp("stock")
    results, book = T.grade_stock([ATTACKS[s] for s in STOCK_SUBSET], folder, T.new_marker())
    return SimpleNamespace(results=results, book=book, work=folder / "work")


# --------------------------------------------------------------------------- 0. control
def test_every_submission_of_the_batch_is_graded(main):
    """The batch goes on whatever a submission does: every one has a result."""
    expected = {a.sid for a in ATTACKS.values() if a.batch == "main"} | set(T.VICTIMS)
    assert set(main.results) == expected
    assert main.results["t00-wrong"].total == 0, "the wrong answers alone must score 0"
    assert main.results["t00-wrong"].status == "graded"


def test_victims_keep_their_grades(main):
    for v, want in (("alice", 10), ("bob", 10), ("carol", 0)):
        assert main.before[v].total == want
        assert main.results[v].total == want, v
        assert main.book_before[v] == _scores(main.before[v])
        assert main.book_later[v] == main.book_before[v], f"{v}'s grade changed in the gradebook"
    assert main.book_after == main.book_later


# --------------------------------------------------------------------------- 1. gradebook, files
def test_gradebook_results_and_other_submissions_cannot_be_rewritten(main):
    r = main.results["t01-gradebook"]
    assert r.status == "graded" and r.total == 0, _scores(r)
    rep = T.report(r)
    assert rep, "the attack did not run"
    assert rep["gradebook"] and not any(v.startswith(("REWROTE", "OPENED"))
                                        for v in rep["gradebook"].values()), rep["gradebook"]
    assert not any(v == "REWRITTEN" for v in rep["results"].values()), rep["results"]
    assert not any(v == "APPENDED" for v in rep["submissions"].values()), rep["submissions"]
    assert rep["course"] and not any(v in ("OPENED FOR WRITING", "CREATED")
                                      for v in rep["course"].values()), rep["course"]
    # what is on disk, not only what the attacker says
    assert main.files_after == main.files_before
    assert main.files_later == main.files_before
    for sid, r in main.results.items():   # the gradebook holds each result, nothing else
        assert main.book_later[sid] == _scores(r), sid
    for path in _course_targets():
        assert main.marker not in path.read_text(errors="replace"), path
    for d in _course_dirs():
        assert not (d / f"{main.marker}.planted").exists(), d


def test_files_written_in_the_sandbox_do_not_reach_the_machine(main):
    planted = T.report(main.results["t01-gradebook"])["planted"]
    assert any(p.startswith("/tmp/") for p in planted), "the sandbox's own /tmp must be writable"
    assert [p for p in planted if os.path.exists(p)] == []


# --------------------------------------------------------------------------- 2. detached process
def test_detached_process_dies_with_the_sandbox(main):
    r = main.results["t02-detached"]
    assert r.status == "graded" and r.total == 0
    assert [c for _, _, c in main.survivors if f"{main.marker}-detached" in c] == []
    assert main.files_later == main.files_before       # nothing happened afterwards either
    assert main.book_later == main.book_after


def test_runner_cannot_escape_the_kill(main):
    # The right answers beside the escape earn nothing: starting a new program (os.execv) is a
    # tool against the course-code guard (autograder/integrity.py), refused for the whole
    # notebook. The attack still runs in the sandbox, and nothing it started may outlive it.
    r = main.results["t02b-escape"]
    assert r.status == "graded" and r.total == 0, _scores(r)
    assert all("your notebook uses" in (t.message or "") for t in r.tasks.values()), \
        {g: t.message for g, t in r.tasks.items()}
    assert [c for _, _, c in main.survivors if f"{main.marker}-escape" in c] == []


def test_system_v_ipc_does_not_outlive_the_sandbox(main):
    out = "".join(c["output"] for c in main.results["t02-detached"].cells)
    assert "shmget:" in out, "the attack did not run"
    assert not main.shm_left


# --------------------------------------------------------------------------- 3. IPython hooks
def test_ipython_hooks_gain_nothing(main):
    for sid in ("t03a-input-transformer", "t03b-custom-exc"):
        r = main.results[sid]
        assert r.status == "graded" and r.total == 0, (sid, _scores(r))
        errors = [c["error"] or "" for c in r.cells if c["id"].startswith("setup-extra")]
        assert any("get_ipython" in e for e in errors), errors   # no IPython in the sandbox


# --------------------------------------------------------------------------- 4. monkeypatching
def test_monkeypatching_torch_and_builtins_gains_nothing(main):
    for sid in ("t04a-patch-torch", "t04b-patch-builtins"):
        r = main.results[sid]
        assert r.status == "graded" and r.total == 0, (sid, _scores(r))


def test_a_global_named_like_a_builtin_gains_nothing(main):
    r = main.results["t04c-shadow-range"]
    assert r.total == 0, _scores(r)


# --------------------------------------------------------------------------- 5. lying values
def test_tensor_subclass_and_always_equal_object_gain_nothing(main):
    for sid in ("t05a-tensor-subclass", "t05b-always-equal"):
        r = main.results[sid]
        assert r.status == "graded" and r.total == 0, (sid, _scores(r))


# --------------------------------------------------------------------------- 6. reading secrets
def test_solutions_and_other_submissions_are_not_readable(main):
    r = main.results["t06-read-secrets"]
    # right answers, except sinusoidal_positions, which raises the loot as its message
    assert r.total == 9 and r.tasks["sinusoidal_positions_tests"].score == 0, _scores(r)
    out = "".join(c["output"] for c in r.cells)
    assert "could not read" in out and "STOLEN /" not in out
    everything = "\n".join([json.dumps(r.to_json()), _feedback(main.work, "t06-read-secrets")]
                           + [c["output"] + (c["error"] or "") for c in r.cells]
                           + [t.message for t in r.tasks.values()])
    # the machine's command lines (W4, below) can hold anything: leave them out here
    everything = "\n".join(ln for ln in everything.splitlines() if "PROCESSES " not in ln)
    leaked = [line for line in T.hidden_test_lines() if line in everything]
    assert leaked == [], f"hidden tests reached the attacker's result: {leaked[:2]}"
    assert "BEGIN HIDDEN TESTS" not in everything
    for secret in main.secrets.values():
        assert secret not in everything
    grading_secret = (main.work / ".grading-secret").read_text().strip()
    assert len(grading_secret) >= 16 and grading_secret not in everything


def test_the_machines_processes_are_not_visible(main):
    out = "".join(c["output"] for c in main.results["t06-read-secrets"].cells)
    line = next(ln for ln in out.splitlines() if ln.startswith("PROCESSES "))
    mine = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert f"{os.getpid()} {mine}" not in line


# --------------------------------------------------------------------------- 7. early exit
def test_sys_exit_is_an_error_of_its_cell_only(main):
    """Decision: SystemExit is an ordinary exception of the cell that raised it (as in Jupyter);
    the notebook goes on and every point earned stays."""
    r = main.results["t07a-sys-exit"]
    assert r.total == 10 and not r.error
    extra = [c for c in r.cells if "extra" in c["id"]]
    assert [("SystemExit" in (c["error"] or "")) for c in extra] == [True, True, False]
    assert "still running" in extra[-1]["output"]


def test_killing_its_own_process_group_changes_nothing(main):
    r = main.results["t07c-kill-group"]
    assert r.total == 10 and not r.error, r.error


def test_os_exit_scores_zero_with_a_clear_message(main):
    """os._exit ends the runner before any test ran: no task can be graded."""
    r = main.results["t07b-os-exit"]
    assert r.total == 0
    assert "exited (code 0) before the grading was done" in r.error


def test_exiting_when_called_gains_nothing(main):
    r = main.results["t07d-exit-when-called"]
    assert r.total == 0
    assert all("SystemExit" in t.message for t in r.tasks.values()), r.tasks


# --------------------------------------------------------------------------- 8. endless loops
def test_endless_loop_is_stopped_by_the_time_limits(main):
    """The cell's own limit stops it (SIGINT and SIGTERM ignored do not matter); were that
    ignored too, the notebook's wall-clock limit would."""
    r = main.results["t08-loop"]
    wall = T.LIMITS["main"].wall_s
    stopped = [c["error"] for c in r.cells if c["error"] and c["error"].startswith("time limit")]
    assert stopped or r.error.startswith("time limit"), (r.error, r.cells)
    assert r.total == 10, "its answers are right: the loop in a later cell costs nothing else"
    assert r.seconds < wall + 10


def test_an_endless_call_keeps_the_points_earned_before(lock):
    r = lock["t08b-loop-when-called"]
    s = _scores(r)
    assert s["basic_self_attention_tests"] == 1 and s["scaled_dot_product_attention_tests"] == 2
    assert s["causal_mask_tests"] == 0
    assert "time limit" in r.tasks["causal_mask_tests"].message


def test_an_endless_call_does_not_cost_a_bystander_its_grade(lock):
    r = lock["erin"]
    assert r.total == 10, (r.error, _scores(r))


# --------------------------------------------------------------------------- 9. resources
def _contained(r, wall):
    """A fork bomb with right answers either finishes within its limits (its cgroup caps the
    processes, its cell's alarm stops the parent) or is stopped at the wall clock (the tests
    that ran before keep their points, the others get none); either way it is over in time and
    says so if it was stopped."""
    assert r.seconds < wall + 10, r.seconds
    if r.total != 10:
        said = [r.error] + [t.message for t in r.tasks.values()]
        assert any(m.startswith("time limit") for m in said), (r.error, _scores(r))


def test_fork_bomb_is_contained(main):
    _contained(main.results["t09a-fork-bomb"], T.LIMITS["main"].wall_s)
    # the submissions graded next to it were not hurt: every other test of this batch


def test_memory_eater_is_refused(main):
    r = main.results["t09b-memory"]
    assert r.total == 10 and not r.error
    rep = T.report(r)
    assert rep[0].startswith("bytearray(50 GB): MemoryError"), rep
    assert rep[1].startswith("torch.ones(50 GB): RuntimeError"), rep
    got = int(rep[2].split()[1])
    assert got < T.LIMITS["main"].memory_mb, rep


def test_disk_filler_is_capped(main):
    r = main.results["t09c-disk"]
    assert r.total == 10 and not r.error
    rep = T.report(r)
    written = [int(v.split()[2 if v.startswith("stopped") else 1]) for v in rep.values()]
    assert all(v.startswith("stopped") for v in rep.values()), rep
    assert max(written) <= T.LIMITS["main"].file_mb
    assert sum(written) <= T.LIMITS["main"].tmp_mb
    assert [p for p in rep if os.path.exists(p)] == []


def test_network_is_unreachable(main):
    r = main.results["t09d-network"]
    assert r.total == 10 and not r.error
    rep = T.report(r)
    ip = {k: v for k, v in rep.items() if k != "unix socket"}
    assert ip and not any(v.startswith(("CONNECTED", "SENT", "RESOLVED")) for v in ip.values()), ip
    assert "tcp" not in main.received and "udp" not in main.received


def test_unix_sockets_outside_hidden_folders_are_unreachable(main):
    if not main.listeners.unix_path:
        pytest.skip("cannot create a socket under /run here")
    assert T.report(main.results["t09d-network"])["unix socket"] != "CONNECTED"
    assert "unix" not in main.received


def test_fork_bomb_does_not_starve_a_bystander(hog):
    _contained(hog["t09e-fork-bomb-setsid"], T.LIMITS["hog"].wall_s)
    assert hog["dave"].total == 10, (hog["dave"].error, _scores(hog["dave"]))


def test_memory_limit_holds_for_the_whole_submission(lock):
    r = lock["t09f-memory-forked"]
    rep = T.report(r)
    if rep is None:      # the limits may also stop it before it reports: then it must say so
        said = r.error + " ".join(c["error"] or "" for c in r.cells)
        assert "memory" in said or "time limit" in said, (r.error, r.cells[-1:])
    else:
        # each process counts the memory it holds on its own (not what it shares after fork)
        assert rep["total_mb"] <= T.LIMITS["lock"].memory_mb + 64, rep
        assert len(rep["children_mb"]) < 4, "all four 600 MB children were allowed at once"


# --------------------------------------------------------------------------- 10. imitation
def test_imitating_the_grader_gains_nothing(main):
    r = main.results["t10-imitation"]
    assert r.total == 0, _scores(r)
    html = _feedback(main.work, "t10-imitation")
    assert "<script>alert('pwned')</script>" not in html
    assert "&lt;script&gt;alert" in html      # shown, escaped


# --------------------------------------------------------------------------- 11. noise
def test_noise_on_stdout_and_stderr_keeps_full_marks(main):
    r = main.results["t11a-noise"]
    assert r.total == 10 and not r.error, _scores(r)
    assert all(t.visible is None for t in r.tasks.values())


def test_megabytes_of_output_per_call_keep_full_marks(main):
    r = main.results["t11b-flood"]
    assert r.total == 10, [t.message for t in r.tasks.values() if t.message][:1]


# --------------------------------------------------------------------------- 12. forged notebook
def test_forged_nbgrader_metadata_gains_nothing(main):
    r = main.results["t12-forged-metadata"]
    assert r.total == 0 and set(r.tasks) == set(course.graded_cells(A))
    assert {t.max_score for t in r.tasks.values()} <= {1, 2, 3}


# --------------------------------------------------------------------------- stock nbgrader
def test_stock_nbgrader_baseline(stock, main):
    """The other column of the table: the same submissions under stock `nbgrader autograde`."""
    s = stock.results
    assert s["carol"].total == 0 and s["t01-gradebook"].total == 10 > main.results["t01-gradebook"].total
    assert sum(stock.book["carol"].values()) == 10, "stock: the attacker rewrote carol's grade"
    assert s["t03a-input-transformer"].total == 10
    assert s["t04a-patch-torch"].total == 10
    assert s["t11a-noise"].total == 0 < main.results["t11a-noise"].total
    html = Path(s["t06-read-secrets"].feedback).read_text()
    assert any(line in html for line in T.hidden_test_lines()), "stock: hidden tests leak"


# --------------------------------------------------------------------------- 13. the trusted side
@pytest.fixture(scope="module")
def red(tmp_path_factory):
    """The red-team batch: attacks on what the grader itself reads, decodes and writes, and
    students the file names could confuse, with a bystander (frank), graded in one batch; then
    feedback and exports rebuilt from the saved results."""
    import resource

    tmp = tmp_path_factory.mktemp("red")
    subs, work = tmp / "subs", tmp / "work"
    marker = T.new_marker()
    ctx = T.Ctx(work=str(work), subs=str(subs), marker=marker)
    subs.mkdir(parents=True)
    from testkit.submissions import filled, write
    for name in ("Zoë", "Zoé", "王小明"):                       # three students, three ids
        write(filled(A), subs / f"{name}.ipynb")
    (subs / "mallory.ipynb").symlink_to(T.SOLUTION)             # a link to the solution
    write(filled(A), subs / "gus.ipynb")                        # two files for one student
    write(filled(A), subs / "gus" / "again.ipynb")
    write(filled(A), subs / f"{'é' * 120}x.ipynb")              # 241 bytes + .ipynb: NAME_MAX
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        results = T.grade_ours([a for a in ATTACKS.values() if a.batch == "red"], subs, work, ctx,
                               T.LIMITS["red"])
    finally:
        T.kill_leftovers(marker)
    seconds = time.perf_counter() - start
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    return SimpleNamespace(results=results, work=work, seconds=seconds, grew_mb=grew_mb)


def test_every_student_of_the_red_batch_gets_a_result_feedback_and_a_row(red):
    import csv

    expected = {a.sid for a in ATTACKS.values() if a.batch == "red"} | {
        "Zoë", "Zoé", "王小明", "mallory", "gus"}
    assert expected <= set(red.results), expected - set(red.results)
    with open(red.work / "grades" / f"{A}.csv", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(red.results)
    for sid in red.results:
        assert (red.work / "feedback" / sid / A / f"{A}.html").exists(), sid
    assert red.results["frank"].total == 10, red.results["frank"].error


def test_names_are_kept_and_never_confused(red):
    r = red.results
    assert r["Zoë"].total == r["Zoé"].total == r["王小明"].total == 10
    assert r["mallory"].total == 0 and "symbolic link" in r["mallory"].error
    assert r["gus"].total == 0 and "2 files" in r["gus"].error
    long = [s for s in r if s.startswith("é" * 10)]
    assert len(long) == 1 and r[long[0]].status == "error" and "bytes long" in r[long[0]].error


def test_a_submission_that_stops_reading_cannot_hang_the_batch(red):
    r = red.results["t13-stop-reading"]
    assert r.seconds < T.LIMITS["red"].wall_s + 15, r.seconds
    assert "time limit" in (r.error + " ".join(t.message for t in r.tasks.values())), r.error


def test_replies_that_expand_are_refused_before_decoding(red):
    for sid in ("t14a-shared-refs", "t14b-compressed"):
        r = red.results[sid]
        assert r.total == 0, (sid, _scores(r))
        messages = r.error + " ".join(t.message for t in r.tasks.values())
        assert "protocol error" in messages, (sid, messages[:300])
    assert red.grew_mb < 1024, f"the grader's own process grew by {red.grew_mb:.0f} MB"


def test_a_notebook_that_blows_up_when_parsed_costs_its_author_only(red):
    """25 MB of nested empty lists: refused while the file is hashed (its brackets counted),
    before any sandbox starts and before anything decodes it, with a message that says what to
    do; the grader's own memory does not grow."""
    from autograder.verdict import MAX_CONTAINERS

    r = red.results["t15-notebook-bomb"]
    assert r.status == "error" and r.total == 0, (r.status, r.error)
    assert f"over {MAX_CONTAINERS:,} JSON lists and objects" in r.error, r.error
    assert "clear the outputs" in r.error, r.error
    assert red.grew_mb < 1024, f"the grader's own process grew by {red.grew_mb:.0f} MB"


def test_output_shaped_to_break_the_writer_is_cut_and_cleaned(red):
    from autograder import grade as G

    for sid in ("t16a-writer-breaker", "t16b-uncut-message"):
        r = red.results[sid]
        saved = red.work / "results" / A / f"{sid}.json"
        assert saved.stat().st_size < 200_000, (sid, saved.stat().st_size)
        text = saved.read_text(encoding="utf-8")
        assert "\\ud800" not in text and "\\udcff" not in text and "\\u0000" not in text, sid
        assert r.total == 10, (sid, _scores(r))  # its answers are right: the noise costs nothing
        assert any(c["error"] and "RuntimeError" in c["error"] for c in r.cells), sid
    # later runs rebuild feedback and exports from what is stored, for everyone
    assert len(G.write_feedback(A, red.work)) == len(red.results)
    assert all(p.exists() for p in G.write_exports(A, red.work))


def test_a_stored_result_can_never_crash_feedback_or_export(red, tmp_path):
    import shutil

    from autograder import grade as G

    work = tmp_path / "work"
    shutil.copytree(red.work / "results", work / "results")
    folder = work / "results" / A
    (folder / "frank.json").write_text('{"student": "frank", "tasks": [1, 2], "cells": "x"}')
    (folder / "Zoë.json").write_text('{"student": "Zo\\ud800", "error": "\\u0000' + "y" * 3_000_000
                                     + '", "tasks": {"t": {"score": "NaN", "message": 7}}}')
    (folder / "gus.json").write_text("[" * 100_000)
    results = G.load_results(A, work)
    assert len(results) == len(red.results)
    assert len(G.write_feedback(A, work)) == len(results)
    assert all(p.exists() for p in G.write_exports(A, work))
    assert {r.student: r.status for r in results}["gus"] == "error"


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """Three slow submissions (right answers, every call sleeping just under the call limit)
    and a bystander, graded in one batch of their own: nothing else in it computes for long, so
    when each slow one starts depends on the grader alone, not on how loaded the machine is."""
    tmp = tmp_path_factory.mktemp("slow")
    ctx = T.Ctx(work=str(tmp / "work"), subs=str(tmp / "subs"), marker=T.new_marker())
    start = time.perf_counter()
    try:
        results = T.grade_ours([a for a in ATTACKS.values() if a.batch == "slow"], tmp / "subs",
                               tmp / "work", ctx, T.LIMITS["slow"])
    finally:
        T.kill_leftovers(ctx.marker)
    return SimpleNamespace(results=results, seconds=time.perf_counter() - start,
                           work=tmp / "work")


def test_slow_submissions_do_not_hold_the_class_hostage(slow):
    """Three submissions sleep just under the call limit in every call: they wait, they do not
    compute, so they run side by side (and with everyone else): the batch ends about one wall
    limit after it started, not one per slow submission."""
    wall = T.LIMITS["slow"].wall_s
    spans = []
    for i in range(3):
        r = slow.results[f"t17-slow-{i}"]
        assert r.seconds < wall + 10, r.seconds
        end = (slow.work / "results" / A / f"t17-slow-{i}.json").stat().st_mtime
        spans.append((end - r.seconds, end))
    # side by side: all three were being graded at one moment (one lock, or a worker per slow
    # submission, would have queued them one after the other)
    assert max(s for s, _ in spans) < min(e for _, e in spans), spans
    assert slow.results["heidi"].total == 10, slow.results["heidi"].error
    assert slow.seconds < 3 * wall + 30, f"the batch took {slow.seconds:.0f} s"


# --------------------------------------------------------------------------- 15. fail closed
def test_no_control_group_means_not_graded_unless_allowed(tmp_path, monkeypatch):
    """Where a sandbox cannot get its cgroup (memory, processes, CPU), its submission is not
    graded, with a message; --allow-weak-limits grades it with per-process limits only."""
    from autograder import grade as G
    from autograder import sandbox as S
    from testkit.submissions import filled, write

    write(filled(A), tmp_path / "subs" / "alice.ipynb")
    monkeypatch.setattr(S.ControlGroup, "V2", tmp_path / "no-cgroup-here")
    (tmp_path / "no-cgroup-here").write_text("")          # a file: no folder can be made in it
    closed = G.grade(A, tmp_path / "subs", tmp_path / "w1", workers=1, progress=False,
                     limits=S.Limits(wall_s=20, cpu_s=20))
    assert closed[0].status == "error" and closed[0].total == 0
    assert "control group" in closed[0].error and "--allow-weak-limits" in closed[0].error
    weak = G.grade(A, tmp_path / "subs", tmp_path / "w2", workers=1, progress=False,
                   limits=S.Limits(wall_s=20, cpu_s=20, allow_weak_limits=True))
    assert weak[0].total == 10, weak[0].error


def test_two_graders_at_once_keep_every_limit(tmp_path):
    """Two grading batches on one machine at the same time (two processes, as two instructors
    or two Dask workers): each sandbox gets its own cgroup and uid, and every limit holds in
    both: the memory limit of a submission's processes together, the file and /tmp sizes, the
    time limits; a right answer next to them keeps its points."""
    import subprocess

    from autograder.sandbox import Limits

    marker = T.new_marker()
    limits = Limits(wall_s=30, cpu_s=30, memory_mb=2048)
    procs = []
    for k in range(2):
        subs, work = tmp_path / f"subs{k}", tmp_path / f"work{k}"
        ctx = T.Ctx(work=str(work), subs=str(subs), marker=marker)
        for sid in ("t09f-memory-forked", "erin", "t08-loop", "t09c-disk"):
            T.write(T.build(ATTACKS[sid], ctx), subs / f"{sid}.ipynb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "autograder", "grade", A, str(subs), "--work", str(work),
             "--workers", "2", "--timeout", f"{limits.wall_s:g}", "--memory",
             f"{limits.memory_mb}"], cwd=T.ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        T.kill_leftovers(marker)
    from autograder.verdict import Result

    spans = []
    for k, out in enumerate(outs):
        assert procs[k].returncode == 0, out[-2000:]
        files = list((tmp_path / f"work{k}" / "results" / A).glob("*.json"))
        res = {p.stem: Result.from_json(json.loads(p.read_text())) for p in files}
        ends = {p.stem: p.stat().st_mtime for p in files}
        spans.append((min(ends[s] - r.seconds for s, r in res.items()), max(ends.values())))
        assert not any("control group" in r.error for r in res.values()), res
        assert res["erin"].total == 10, res["erin"].error
        r = res["t09f-memory-forked"]
        rep = T.report(r)
        if rep is None:   # stopped before it could report: by a limit, and it says so
            said = r.error + " ".join(c["error"] or "" for c in r.cells)
            assert "memory" in said or "time limit" in said, (r.error, r.cells[-1:])
        else:
            assert rep["total_mb"] <= limits.memory_mb + 64 and len(rep["children_mb"]) < 4, rep
        r = res["t08-loop"]                  # the time limits: the loop's cell is stopped
        assert r.total == 10 and r.seconds < limits.wall_s + 10, (r.error, r.seconds)
        assert any((c["error"] or "").startswith("time limit") for c in r.cells) \
            or r.error.startswith("time limit"), (r.error, r.cells)
        r = res["t09c-disk"]                 # the file size and /tmp limits
        rep = T.report(r)
        assert r.total == 10 and rep and all(v.startswith("stopped") for v in rep.values()), rep
        written = [int(v.split()[2]) for v in rep.values()]
        assert max(written) <= limits.file_mb and sum(written) <= limits.tmp_mb, rep
    # the two batches were graded at the same time, not one after the other
    (a0, b0), (a1, b1) = spans
    assert a0 < b1 and a1 < b0, spans
    left = [d for p in procs for d in Path("/sys/fs/cgroup").glob(f"*/tlcourse/sandbox-{p.pid}-*")]
    assert left == [], left
