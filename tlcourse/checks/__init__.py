"""Visible checks for the assignments.

A check runs the student's code on small, fixed inputs and, when something is wrong, raises
:class:`CheckFailed` with a message in plain words: what was expected, what came back, and the
likely mistake. When everything it can see is right it prints one line saying so; the hidden tests
(run at grading time on freshly drawn inputs) decide the points.
"""
from __future__ import annotations

import torch


class CheckFailed(AssertionError):
    """A visible check found a mistake; the message says which."""


def fail(task: str, message: str) -> None:
    raise CheckFailed(f"[{task}] {message}")


def _show_plainly(shell, etype, value, tb, tb_offset=None):
    """IPython's display of a failed check: the message, once, without the checker's traceback
    (its source lines would repeat the message and bury it)."""
    stb = [f"\x1b[0;31m✗ {value}\x1b[0m"]
    shell._showtraceback(etype, value, stb)      # an error output, as any failing cell's
    return stb


def _plain_check_failures() -> None:
    """In Jupyter, a failing visible check shows its message only. Other errors (a bug in the
    student's code, raised inside a check) keep their full traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and CheckFailed not in tuple(getattr(shell, "custom_exceptions", ())):
        shell.set_custom_exc(tuple(shell.custom_exceptions) + (CheckFailed,), _show_plainly)


_plain_check_failures()


def passed(task: str) -> None:
    print(f"✓ {task}: the visible checks passed. "
          "Hidden tests with fresh random inputs will grade it.")


def expect_tensor(task: str, value, shape: tuple, what: str = "the result") -> torch.Tensor:
    """Fail unless ``value`` is a plain ``torch.Tensor`` of ``shape``."""
    if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
        fail(task, f"{what} should be a torch.Tensor, but it is a {type(value).__name__}.")
    if tuple(value.shape) != tuple(shape):
        fail(task, f"{what} should have shape {tuple(shape)}, but it has shape {tuple(value.shape)}.")
    if value.is_floating_point() and not torch.isfinite(value).all():
        fail(task, f"{what} contains NaN or inf values.")
    return value


def randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    """A standard-normal tensor of ``shape`` (times ``scale``) from its own seeded generator: the
    checks' inputs are the same on every run and leave the global random state alone."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def is_close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.detach().double(), b.detach().double(),
                                                 atol=atol, rtol=rtol)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def run_tests(namespace: dict) -> None:
    """Run every ``test_*`` function of a hidden-test block, when it runs in a notebook.

    The course's grader runs each ``test_*`` function itself, in its own process, for partial
    credit (its namespace is named ``__grader__``, where this does nothing); anywhere else (stock
    nbgrader, Jupyter) this line is what runs them.
    """
    if namespace.get("__name__") == "__grader__":
        return
    # Taken out of the namespace before they run: the next task's block must run its own tests
    # only, or one wrong answer would cost the points of every task after it.
    tests = [namespace.pop(name) for name, fn in list(namespace.items())
             if name.startswith("test_") and callable(fn)]
    for fn in tests:
        fn()


def fresh_inputs(namespace: dict) -> None:
    """Start a hidden-test block with random inputs no one could know in advance.

    In Jupyter or stock nbgrader: a non-deterministic seed. The course's grader (namespace
    ``__grader__``) seeds every test itself from a secret of the grading run, the student and the
    test, so inputs are unknown to students yet a re-run gives the same grades.
    """
    if namespace.get("__name__") != "__grader__":
        torch.seed()


def module_state(model) -> dict:
    """What a module holds, read from torch's own storage, never through the module's methods:
    ``{"parameters": {name: tensor}, "requires_grad": {name: bool}, "buffers": {name: tensor},
    "training": {submodule: bool}}``. A class that overrides ``state_dict()`` cannot report a
    state it does not have. In the course's grader the model lives in the submission's process
    and is read there the same way (its proxy's ``__grader_inspect__``)."""
    inspect = getattr(type(model), "__grader_inspect__", None)
    if inspect is not None:
        return inspect(model)
    out = {"parameters": {}, "requires_grad": {}, "buffers": {}, "training": {}}
    for prefix, m in torch.nn.Module.named_modules(model):
        out["training"][prefix] = bool(m.training)
        for name, p in m._parameters.items():
            if p is not None:
                key = f"{prefix}.{name}" if prefix else name
                out["parameters"][key] = p.detach().clone()
                out["requires_grad"][key] = bool(p.requires_grad)
        for name, b in m._buffers.items():
            if b is not None:
                out["buffers"][f"{prefix}.{name}" if prefix else name] = b.detach().clone()
    return out
