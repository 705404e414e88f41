"""How often does each mutant survive its task's hidden tests, over many grading-time draws?

Hidden tests draw their inputs when grading; a test that rejects a wrong answer only for some draws
(one stride out of two, one size out of three) lets that wrong answer through for some students.
This runs each mutant's task's hidden tests under many seeds, in this process (no sandbox: the
code is the course's own solution and mutants), and prints for each mutant the share of draws in
which it kept all the task's points. Every figure should be 0.

    .venv/bin/python bench/mutant_draws.py [--draws 30] [assignment ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import course  # noqa: E402
from autograder.integrity import static_problems  # noqa: E402
from autograder.verdict import (Source, _hidden_tests, _seed_everything,  # noqa: E402
                                grader_namespace)
from testkit.mutants import load  # noqa: E402


def _run(code: str, ns: dict, where: str) -> None:
    exec(compile(code, where, "exec"), ns)


def student_namespace(source: Source, answers: dict[str, str]) -> dict:
    """What a student's kernel holds after running the notebook: setup and answers, in order."""
    ns: dict = {"__name__": "__main__"}
    for kind, gid in source.order:
        if kind == "setup":
            _run(source.setup[gid], ns, f"<setup {gid}>")
        elif kind == "answer":
            _run(answers[gid], ns, f"<answer {gid}>")
    return ns


def survival(source: Source, task: str, ns: dict, draws: int) -> float:
    """Share of draws in which every hidden test of ``task`` passes."""
    survived = 0
    for draw in range(draws):
        _seed_everything(f"draw-{draw}", task)        # as the grader seeds the block itself
        tests = _hidden_tests(source.tasks[task].hidden, dict(ns))
        ok = True
        for name, test in tests:
            _seed_everything(f"draw-{draw}", task, name)
            try:
                test()
            except Exception:
                ok = False
                break
        survived += ok
    return survived / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--draws", type=int, default=30)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    worst = 0.0
    for assignment in args.assignments or course.assignments():
        source = Source.load(course.source_notebook(assignment))
        t0 = time.perf_counter()
        student = student_namespace(source, source.answers)
        judge = grader_namespace(source, student)
        solution = {t: survival(source, t, judge, 3) for t in source.tasks}
        print(f"\n{assignment}: solution passes its tests in "
              + ", ".join(f"{t} {s:.0%}" for t, s in solution.items()))
        for m in load(assignment):
            answers = dict(source.answers)
            answers[m.cell] = m.apply(answers[m.cell])
            mutated = dict(student)
            _run(answers[m.cell], mutated, f"<mutant {m.name}>")
            ns = dict(judge)         # what the grader would take from the mutated submission
            ns.update({n: mutated[n] for n in judge if n in mutated and judge[n] is student.get(n)})
            # the grader reads the code too: a rule of the task's text that only the code shows
            # (a forbidden call) costs the task before any test runs
            own = static_problems(source, answers, {})
            share = 0.0 if m.test_cell in own else survival(source, m.test_cell, ns, args.draws)
            worst = max(worst, share)
            flag = "" if share == 0 else "   <-- survives some draws"
            print(f"  {m.name:<48} survives {share:6.1%} of {args.draws} draws{flag}")
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    print(f"\nworst survival rate: {worst:.1%}")


if __name__ == "__main__":
    main()
