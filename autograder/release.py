"""Generate the student release (``exercises/``) from the sources (``solutions/``) with nbgrader.

    python -m autograder.release            # every assignment, into exercises/
    python -m autograder.release --out DIR  # somewhere else (the tests compare it with exercises/)

The release is nbgrader's ``generate_assignment``: solutions replaced by ``raise
NotImplementedError()``, hidden tests removed, outputs cleared, graded cells locked. The gradebook it
touches lives in a throw-away folder: releasing never changes grades.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from . import course


def release(out: Path | None = None, names: list[str] | None = None) -> list[Path]:
    out = Path(out) if out else course.EXERCISES
    written = []
    with tempfile.TemporaryDirectory(prefix="tlcourse-release-") as scratch:
        api = course.api(work=Path(scratch), release=out)
        for name in names or course.assignments():
            course.check(api.generate_assignment(name, force=True), f"releasing {name}")
            written.append(out / name / f"{name}.ipynb")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    parser.add_argument("--out", type=Path, help="release folder (default: exercises/)")
    args = parser.parse_args(argv)
    for path in release(args.out, args.assignments or None):
        print(f"released {path.relative_to(path.parents[2]) if len(path.parents) > 2 else path}")


if __name__ == "__main__":
    main()
