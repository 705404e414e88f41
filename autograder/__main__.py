"""The instructor's commands, one per step.

    python -m autograder collect  04_attention path/to/folder-or-lms.zip [--pattern REGEX]
    python -m autograder grade    04_attention [path/to/folder-or-lms.zip] [--workers N] [--timeout S]
    python -m autograder feedback 04_attention
    python -m autograder export   04_attention
    python -m autograder release

All take ``--work DIR`` (default ``$TLCOURSE_GRADING_DIR`` or ``grading/``). ``grade`` grades what
``collect`` put in ``<work>/submitted`` (or collects first when given a folder or zip), then
writes feedback and exports; ``feedback`` and ``export`` rebuild those from the saved results.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import collect, course, grade, release


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)

    def step(name: str, help_: str, assignment: bool = True) -> argparse.ArgumentParser:
        p = steps.add_parser(name, help=help_)
        if assignment:
            p.add_argument("assignment", choices=course.assignments())
            course.add_work_option(p)
        return p

    p = step("collect", "copy submissions (folder or LMS zip) into the work folder")
    p.add_argument("submissions", type=Path)
    p.add_argument("--pattern", default=None,
                   help="regular expression with a `student` group, matched on file names")
    p = step("grade", "grade the collected submissions, then write feedback and exports")
    p.add_argument("submissions", type=Path, nargs="?", default=None,
                   help="collect from this folder or zip first")
    grade.add_grading_options(p)
    step("feedback", "rebuild each student's feedback HTML from the saved results")
    step("export", "rebuild the grades CSV, the LMS CSV and the summary page")
    step("release", "regenerate exercises/ from solutions/", assignment=False)
    args = parser.parse_args(argv)

    if args.step == "release":
        for path in release.release():
            print(f"released {path}")
        return
    work = course.work_dir(args.work)
    if args.step == "collect":
        found, problems = collect.collect(args.assignment, args.submissions, work, args.pattern)
        for p in problems:
            print(f"not collected: {p}")
        print(f"collected {len(found)} submissions into {work / 'submitted'}")
    elif args.step == "grade":
        grade.run_from_args(args, args.submissions)
    elif args.step == "feedback":
        paths = grade.write_feedback(args.assignment, work)
        print(f"wrote {len(paths)} feedback files under {work / 'feedback'}")
    elif args.step == "export":
        for path in grade.write_exports(args.assignment, work):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
