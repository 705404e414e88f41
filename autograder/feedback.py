"""One HTML feedback file per student: per task the points, the student's answer, what the visible
check said and why hidden tests failed, in plain words. Never the hidden tests' code or tracebacks.

Everything that comes from the student's process (printed output, error messages) is written as a
cell *output* (escaped by nbconvert), never as markdown, so it cannot inject HTML into the page.
"""
from __future__ import annotations

import functools
import html
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from .verdict import Result, Source


def _stream(text: str) -> list:
    return [new_output("stream", name="stdout", text=text)] if text else []


def _task_name(gid: str) -> str:
    return gid.removesuffix("_tests")


def notebook(result: Result, source: Source):
    total = sum(t.points for t in source.tasks.values())
    cells = [new_markdown_cell(
        f"# Feedback: {source.name}\n\nStudent **{html.escape(result.student)}** — "
        f"**{result.total:g} / {total:g}** points.")]
    problems = ([result.error] if result.error else []) + result.notes
    if problems:
        cells.append(new_code_cell("# Problems with this submission", outputs=_stream(
            "\n".join(f"- {p}" for p in problems) + "\n")))
    outputs = {c["id"]: c for c in result.cells}
    for gid, task in source.tasks.items():
        t = result.tasks.get(gid)
        score = f"{t.score:g} / {t.max_score:g}" if t else f"0 / {task.points:g}"
        cells.append(new_markdown_cell(f"## {_task_name(gid)}: {score} points"))
        if task.answer:
            ran = outputs.get(task.answer, {})
            text = (ran.get("output") or "") + (f"{ran['error']}\n" if ran.get("error") else "")
            cells.append(new_code_cell(result.answers.get(task.answer, "# (no answer cell)"),
                                       outputs=_stream(text)))
        if t is None:
            continue
        lines = []
        if t.visible:
            lines.append(f"Visible check: {t.visible}")
        else:
            lines.append("Visible check: passed.")
        if t.passed == t.total:
            lines.append(f"Hidden tests (fresh random inputs): {t.passed} of {t.total} passed.")
        else:
            lines.append(f"Hidden tests (fresh random inputs): {t.passed} of {t.total} passed. "
                         f"First problem: {t.message}")
        cells.append(new_code_cell(f"# grader's verdict on {_task_name(gid)}",
                                   outputs=_stream("\n".join(lines) + "\n")))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _clean_html(html: str) -> str:
    """nbconvert's sanitizer, except on code that pygments highlighted (which escaped every
    character of it already): the same page, a third faster."""
    from nbconvert.filters.strings import clean_html

    return html if html.startswith('<div class="highlight') else clean_html(html)


@functools.lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.register_filter("clean_html", _clean_html)
    return exporter


def write(result: Result, source: Source, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = notebook(result, source)
    nbformat.write(nb, path.with_suffix(".ipynb"))
    html, _ = _exporter().from_notebook_node(nb)
    path.write_text(html)
    return path


def write_plain(result: Result, source: Source, path: Path, exc: BaseException) -> Path:
    """A bare page (points per task, escaped) for a result the notebook writer failed on."""
    import html

    rows = "".join(f"<li>{html.escape(g)}: {t.score:g} / {t.max_score:g}</li>"
                   for g, t in result.tasks.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><meta charset='utf-8'><h1>Feedback: {html.escape(source.name)}"
                    f"</h1><p>{html.escape(result.student)}: {result.total:g} points.</p><ul>{rows}"
                    f"</ul><p>(the full page could not be written: {type(exc).__name__})</p>",
                    encoding="utf-8", errors="replace")
    return path
