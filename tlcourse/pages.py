"""Helpers for the book pages."""
from __future__ import annotations

import numpy as np
from myst_nb import glue as _myst_glue


def glue(name: str, value, display: bool = True):
    """myst-nb's ``glue``, with NumPy scalars turned into plain Python numbers first.

    Under NumPy 2 a scalar's repr is ``np.float64(0.5)``, which the ``{glue:text}`name:.2f``` role
    cannot format: the page would show the raw repr (and the build warns). ``float(x)`` everywhere
    would do the same; this does it once.
    """
    if isinstance(value, np.generic):
        value = value.item()
    return _myst_glue(name, value, display=display)


def show_source(*objects):
    """Display the code of course-library functions or classes, where the page explains them.

    The page shows the exact code that its cells and the zoo's recipes run, syntax-highlighted.
    """
    import inspect

    from IPython.display import Code, display

    display(Code("\n\n".join(inspect.getsource(o) for o in objects), language="python"))
