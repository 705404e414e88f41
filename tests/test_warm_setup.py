"""The fork server runs an assignment's leading setup cells once (``verdict.warm_setup``); each
judge and sandbox forked from it takes that namespace once, and only for the same setup code.
Grading with it is proved by the grading tests (every chapter's solution and mutants); these
tests pin the rules that keep it safe. Each runs in a forked child, as the fork server does."""
import os
import pickle

from autograder import verdict
from autograder.verdict import Source


def _source(*setup: str, answer_first: bool = False) -> Source:
    cells = {f"setup{i}": code for i, code in enumerate(setup)}
    order = [("setup", gid) for gid in cells]
    if answer_first:
        order.insert(0, ("answer", "a"))
    return Source("demo", cells, order, {"a": "x = 1"}, {})


def _in_child(fn):
    """fn() in a forked child (the module's warm state stays there); its pickled return value."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, pickle.dumps(fn()))
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.waitpid(pid, 0)
    return pickle.loads(data)


def test_the_setup_runs_once_and_is_taken_once_per_process():
    def run():
        src = _source("import math\nn = [0]\nn[0] += 1\nprint('set up')")
        warmed = verdict.warm_setup(src)
        first = verdict.take_warm(src, "__grader__")
        second = verdict.take_warm(src, "__grader__")
        ns = verdict.grader_namespace(src, {})        # taken already: runs the setup itself
        return warmed, first[0]["n"], first[0]["__name__"], first[1], second, ns["n"]

    warmed, n, name, outputs, second, fresh = _in_child(run)
    assert warmed and n == [1] and name == "__grader__"
    assert outputs == {"setup0": "set up\n"}
    assert second is None and fresh == [1]


def test_a_different_setup_does_not_get_the_warm_namespace():
    def run():
        verdict.warm_setup(_source("x = 1"))
        return verdict.take_warm(_source("x = 2"), "__main__")

    assert _in_child(run) is None


def test_setups_that_cannot_be_shared_safely_are_run_per_process():
    cases = {
        "defines a function": _source("def f():\n    return 1"),
        "defines a class": _source("class A:\n    pass"),
        "raises": _source("raise ValueError('no data')"),
        "leaves a thread running": _source(
            "import threading, time\nthreading.Thread(target=time.sleep, args=(5,), daemon=True).start()"),
        "comes after a student cell": _source("x = 1", answer_first=True),
    }
    for why, src in cases.items():
        assert _in_child(lambda: verdict.warm_setup(src)) is False, why
