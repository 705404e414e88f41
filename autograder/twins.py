"""Plain-text twins of the source notebooks, for linters, code search and review.

``solutions/<id>/<id>.py`` is ``solutions/<id>/<id>.ipynb`` in jupytext's ``py:percent``
format: every cell after a ``# %%`` header that carries its nbgrader metadata, the hidden tests
and the solutions included. The notebook stays the source of truth (nbgrader reads it); the twin
is regenerated from it, and a test fails when a twin is stale.

    python -m autograder.twins sync        # write the twins from the notebooks
    python -m autograder.twins check       # exit 1 when a twin is missing or stale
    python -m autograder.twins notebooks   # the other way: edits made in a twin, into its notebook

``solutions/jupytext.toml`` pairs the two for jupytext too (``jupytext --sync``, or Jupyter with
jupytext: saving one writes the other), with no notebook metadata in the twin, so neither way
adds any to the notebook. A twin holds the hidden tests, so it must never leave the course:
``nbgrader_config.py`` lists every twin in ``CourseDirectory.ignore`` (nbgrader copies an
assignment's other files into the release and next to autograded submissions), the site
excludes ``solutions/``, and the sandbox sees none of the course.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import course

FORMAT = "py:percent"
COMMAND = "python -m autograder.twins sync"


def twin_name(assignment: str) -> str:
    return f"{assignment}.py"


def twin_path(assignment: str) -> Path:
    return course.SOLUTIONS / assignment / twin_name(assignment)


def _config(assignment: str):
    from jupytext.config import load_jupytext_config

    return load_jupytext_config(str(course.SOLUTIONS / assignment))


def text(assignment: str) -> str:
    """The twin of ``assignment``'s source notebook, as jupytext writes it."""
    import jupytext

    nb = jupytext.read(course.source_notebook(assignment), fmt="ipynb")
    return jupytext.writes(nb, fmt=FORMAT, config=_config(assignment))


def _write(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


def stale(assignments: list[str] | None = None) -> list[str]:
    """Assignments whose twin is missing or differs from its notebook."""
    return [a for a in assignments or course.assignments()
            if not twin_path(a).exists() or twin_path(a).read_text(encoding="utf-8") != text(a)]


def sync(assignments: list[str] | None = None) -> list[Path]:
    """Write the stale twins from their notebooks; the paths written."""
    written = []
    for a in stale(assignments):
        _write(twin_path(a), text(a))
        written.append(twin_path(a))
    return written


def notebook_text(assignment: str) -> str:
    """The source notebook with what its twin says: jupytext keeps the notebook's metadata, cell
    ids and outputs. A twin that makes a broken assignment is an
    :class:`autograder.assignment.AssignmentError`."""
    import jupytext
    import nbformat
    from jupytext.combine import combine_inputs_with_outputs

    from .assignment import Assignment

    edited = jupytext.read(twin_path(assignment), fmt=FORMAT, config=_config(assignment))
    old = nbformat.read(course.source_notebook(assignment), as_version=4)
    nb = combine_inputs_with_outputs(edited, old, fmt=FORMAT)
    Assignment.from_notebook(nb, twin_path(assignment))
    return nbformat.writes(nb) + "\n"


def to_notebooks(assignments: list[str] | None = None) -> list[Path]:
    """Carry what was edited in the twins into their notebooks; the notebooks written. Nothing is
    written when a twin makes a broken assignment."""
    new = {a: notebook_text(a) for a in assignments or course.assignments()}
    written = []
    for a, content in new.items():
        path = course.source_notebook(a)
        if path.read_text(encoding="utf-8") != content:
            _write(path, content)
            written.append(path)
    return written


def _shown(path: Path) -> str:
    return str(path.relative_to(course.ROOT) if path.is_relative_to(course.ROOT) else path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["sync", "check", "notebooks"])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    args = parser.parse_args(argv)
    names = args.assignments or None
    if args.action == "check":
        bad = stale(names)
        for a in bad:
            print(f"{_shown(twin_path(a))} is missing or stale: run `{COMMAND}`")
        return 1 if bad else 0
    done = sync(names) if args.action == "sync" else to_notebooks(names) + sync(names)
    for path in done:
        print(f"wrote {_shown(path)}")
    if args.action == "notebooks" and done:
        print("now run `python -m autograder release` (and commit the twins, notebooks and "
              "release together)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
