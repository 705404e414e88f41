"""One HTML feedback file per student: per task the points, the student's answer, what the visible
check said and why hidden tests failed, in plain words. Never the hidden tests' code or tracebacks.

The page is plain HTML with a few lines of CSS (a few KB, not nbconvert's 300 KB template), next to
the same feedback as a notebook. Everything that comes from the student (answers, printed output,
error messages) is escaped with ``html.escape`` and written inside ``<pre>``, so it cannot inject
HTML into the page. Points are printed with at most two decimals: ``7.83 / 10``.
"""
from __future__ import annotations

import html
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from .verdict import SCORING_RULE, Result, Source


def _stream(text: str) -> list:
    return [new_output("stream", name="stdout", text=text)] if text else []


def _task_name(gid: str) -> str:
    return gid.removesuffix("_tests")


def points(x: float) -> str:
    """``7.8333`` -> ``7.83``, ``10.0`` -> ``10``, ``7.5`` -> ``7.5``."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def notebook(result: Result, source: Source):
    total = sum(t.points for t in source.tasks.values())
    cells = [new_markdown_cell(
        f"# Feedback: {source.name}\n\nStudent **{html.escape(result.student)}** — "
        f"**{points(result.total)} / {points(total)}** points.\n\n{SCORING_RULE}")]
    problems = ([result.error] if result.error else []) + result.notes
    if problems:
        cells.append(new_code_cell("# Problems with this submission", outputs=_stream(
            "\n".join(f"- {p}" for p in problems) + "\n")))
    outputs = {c["id"]: c for c in result.cells}
    for gid, task in source.tasks.items():
        t = result.tasks.get(gid)
        score = f"{points(t.score)} / {points(t.max_score)}" if t else f"0 / {points(task.points)}"
        cells.append(new_markdown_cell(f"## {_task_name(gid)}: {score} points"))
        if task.answer:
            ran = outputs.get(task.answer, {})
            text = (ran.get("output") or "") + (f"{ran['error']}\n" if ran.get("error") else "")
            cells.append(new_code_cell(result.answers.get(task.answer, "# (no answer cell)"),
                                       outputs=_stream(text)))
        if t is None:
            continue
        lines = verdict_lines(t)
        cells.append(new_code_cell(f"# grader's verdict on {_task_name(gid)}",
                                   outputs=_stream("\n".join(lines) + "\n")))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def verdict_lines(t) -> list[str]:
    lines = [f"Visible check: {t.visible}" if t.visible else "Visible check: passed."]
    if t.passed == t.total:
        lines.append(f"Hidden tests (fresh random inputs): {t.passed} of {t.total} passed.")
    else:
        lines.append(f"Hidden tests (fresh random inputs): {t.passed} of {t.total} passed. "
                     f"First problem: {t.message}")
    return lines


_CSS = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
pre{background:#f6f8fa;padding:.6rem .8rem;overflow-x:auto;white-space:pre-wrap;font-size:13px}
pre.out{background:#fff;border-left:3px solid #bbb}pre.verdict{background:#fffbe6;
border-left:3px solid #d4a017}.full{color:#1a7f37}.part{color:#9a6700}.zero{color:#cf222e}"""


def page(result: Result, source: Source) -> str:
    """The feedback page: plain HTML, every student-made string escaped."""
    def e(text) -> str:            # element content only (never an attribute): quotes kept
        return html.escape(str(text), quote=False)

    total = sum(t.points for t in source.tasks.values())
    out = [f"<!doctype html><html lang='en'><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
           f"<title>Feedback: {e(source.name)}</title><style>{_CSS}</style><body>",
           f"<h1>Feedback: {e(source.name)}</h1>",
           f"<p>Student <b>{e(result.student)}</b> — <b>{points(result.total)} / {points(total)}"
           f"</b> points.</p><p><b>Points.</b> {e(SCORING_RULE.removeprefix('**Points.** '))}</p>"]
    problems = ([result.error] if result.error else []) + result.notes
    if problems:
        out.append("<h2>Problems with this submission</h2><pre class='verdict'>"
                   + e("\n".join(f"- {p}" for p in problems)) + "</pre>")
    outputs = {c["id"]: c for c in result.cells}
    for gid, task in source.tasks.items():
        t = result.tasks.get(gid)
        got, most = (t.score, t.max_score) if t else (0.0, task.points)
        kind = "full" if got >= most else ("part" if got > 0 else "zero")
        out.append(f"<h2>{e(_task_name(gid))}: <span class='{kind}'>{points(got)} / "
                   f"{points(most)}</span> points</h2>")
        if task.answer:
            ran = outputs.get(task.answer, {})
            text = (ran.get("output") or "") + (f"{ran['error']}\n" if ran.get("error") else "")
            out.append(f"<pre>{e(result.answers.get(task.answer, '# (no answer cell)'))}</pre>")
            if text:
                out.append(f"<pre class='out'>{e(text)}</pre>")
        if t is not None:
            out.append(f"<pre class='verdict'>{e(chr(10).join(verdict_lines(t)))}</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def write(result: Result, source: Source, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = notebook(result, source)
    nbformat.write(nb, path.with_suffix(".ipynb"))
    path.write_text(page(result, source), encoding="utf-8", errors="replace")
    return path


def write_plain(result: Result, source: Source, path: Path, exc: BaseException) -> Path:
    """A bare page (points per task, escaped) for a result the notebook writer failed on."""
    import html

    rows = "".join(f"<li>{html.escape(g)}: {points(t.score)} / {points(t.max_score)}</li>"
                   for g, t in result.tasks.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><meta charset='utf-8'><h1>Feedback: {html.escape(source.name)}"
                    f"</h1><p>{html.escape(result.student)}: {points(result.total)} points.</p><ul>{rows}"
                    f"</ul><p>(the full page could not be written: {type(exc).__name__})</p>",
                    encoding="utf-8", errors="replace")
    return path
