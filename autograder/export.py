"""Grades out of the grader: a CSV per assignment, an LMS-ready CSV, and a summary page."""
from __future__ import annotations

import csv
from pathlib import Path

from .verdict import Result, Source


def write_csv(results: list[Result], source: Source, path: Path) -> Path:
    """One row per student: every task's points, the total, the status and the first problem."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tasks = list(source.tasks)
    maximum = sum(t.points for t in source.tasks.values())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", *tasks, "total", "max_score", "status", "problem"])
        for r in results:
            w.writerow([r.student, *(r.tasks[t].score if t in r.tasks else 0.0 for t in tasks),
                        round(r.total, 4), maximum, r.status, r.error or "; ".join(r.notes)])
    return path


def write_lms_csv(results: list[Result], source: Source, path: Path) -> Path:
    """``student_id, <assignment>`` with the total points: the two columns LMS grade imports
    (Canvas, Moodle, Blackboard) map onto a grade column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", source.name])
        for r in results:
            w.writerow([r.student, round(r.total, 4)])
    return path


def write_summary(results: list[Result], source: Source, path: Path) -> Path:
    """A page with the score histogram and the most frequent failure messages of each task."""
    import base64
    import html
    import io
    from collections import Counter

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)

    def histogram(scores, points, title):
        counts = Counter(round(x * 2) / 2 for x in scores)        # half-point bins
        values = [v / 2 for v in range(int(points * 2) + 1)]
        fig, ax = plt.subplots(figsize=(5, 2.6))
        ax.bar(values, [counts.get(v, 0) for v in values], width=0.4, color="#4c72b0")
        ax.set_xlabel(f"points (of {points:g})")
        ax.set_ylabel("students")
        ax.set_title(title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        return f"<img src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"

    maximum = sum(t.points for t in source.tasks.values())
    errors = sum(r.status == "error" for r in results)
    parts = [f"<h1>{html.escape(source.name)}: {len(results)} submissions</h1>",
             f"<p>{errors} could not be graded (see the CSV's problem column).</p>",
             histogram([r.total for r in results], maximum, "total")]
    for gid, task in source.tasks.items():
        scores = [r.tasks[gid].score if gid in r.tasks else 0.0 for r in results]
        failures = Counter(r.tasks[gid].message for r in results
                           if gid in r.tasks and r.tasks[gid].message)
        rows = "".join(f"<tr><td>{n}</td><td>{html.escape(m[:300])}</td></tr>"
                       for m, n in failures.most_common(5))
        parts.append(f"<h2>{html.escape(gid)}</h2>"
                     f"{histogram(scores, task.points, gid.removesuffix('_tests'))}"
                     f"<table><tr><th>students</th><th>most frequent failure</th></tr>{rows}</table>")
    path.write_text("<!doctype html><meta charset='utf-8'><title>Summary</title>"
                    "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
                    "td,th{border-bottom:1px solid #ddd;padding:4px;text-align:left}</style>"
                    + "".join(parts))
    return path
