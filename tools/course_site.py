"""The course site's own Sphinx extension (``_config.yml``: ``sphinx.local_extensions``).

What it adds to the Jupyter Book build, all of it generic over the assignments in ``solutions/``
(``autograder.course.assignments()``) and the pages of ``_toc.yml``:

* **Assignments follow the chapters.** An assignment is on the site when its chapter's page
  (``book/NN_slug``, same ``NN`` as ``solutions/NN_slug/``) is in ``_toc.yml``: its exercise page,
  its solution page, its row in the tables. Nothing else to edit when a chapter is added.
* **Solution pages.** Before Sphinx looks for sources, every such nbgrader source notebook
  ``solutions/<id>/<id>.ipynb`` becomes ``book/solved/<id>.ipynb``: the hidden tests removed with
  nbgrader's own ``ClearHiddenTests`` (so the site, its search index, its downloadable sources and
  its execution cache never hold them), each solution cell behind a toggle, a MyST label on each
  graded task (``task-<id>-<grade_id>``) for the concept index. The folder is ignored by git (it
  holds its own ``.gitignore``) and rewritten only when a source changes; ``_toc.yml`` includes it
  with a glob, so a new assignment needs no edit. Also a command:
  ``python tools/course_site.py solutions [--out DIR]``.
* **Directives.** ``{course-assignments}`` (a table of every assignment: chapter, tasks and points,
  download, exercise and solution pages), ``{concept-index}`` (``book/concepts.yml`` rendered
  as tables of links to the section that teaches each concept and the graded task that exercises
  it) and ``{quiz} NN_slug`` (the questions of ``book/quizzes/NN_slug.yml``, a chapter's "Check
  your understanding", see :func:`load_quiz`).
* **Quizzes that work on the static site.** ``{quiz}`` writes each question as a plain HTML form
  (radio buttons in a fieldset, or a labelled text field for a number, and a button), answered
  by ``tools/quiz/quiz.js`` in the reader's browser: no kernel, no network. Feedback is announced
  in an ``aria-live`` region and the explanation is shown after each check. The script and
  ``tools/quiz/quiz.css`` are copied into the site's ``_static/``.
* **Launch buttons of a solution page** open the exercise notebook (``exercises/<id>/<id>.ipynb``,
  the file that exists in the repository), from the same ``launch_buttons`` settings.
* **Front-end fixes**, found by the browser tests: scripts that two extensions both add are
  included once (sphinx-thebe's inline configuration, declared twice, was a page error), and the
  ipywidgets manager's MathJax 2 call (``MathJax.Hub.Queue``) is routed to MathJax 3.
* **Figures compressed.** When the build is done, every PNG figure of the site (``_images/`` and
  the figures saved in the pages' widget state) is re-encoded as a 256-colour palette PNG when
  that makes it at least 10% smaller and keeps it faithful (PSNR >= 35 dB): about 4x smaller
  for matplotlib plots. ``bench/page_weight.py`` reports the result.
* **Vendored front-end check.** The build stops with a clear message when ``_vendor/`` (MathJax and
  the widget manager, see ``tools/vendor.sh``) is missing or does not match ``package-lock.json``.
"""
from __future__ import annotations

import argparse
import base64
import copy
import functools
import io
import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SOLVED = "book/solved"                       # generated solution pages, relative to the book root
CONCEPTS = "book/concepts.yml"               # the concept index's data
QUIZZES = "book/quizzes"                     # a chapter's questions: book/quizzes/NN_slug.yml
QUIZ_ASSETS = ("quiz/quiz.js", "quiz/quiz.css")   # under tools/, copied into _static/
QUIZ_HEADING = "Check your understanding"
QUIZ_SIZE = (6, 10)                          # questions per chapter, at least and at most
TASK_LABEL = "task-{assignment}-{grade_id}"  # MyST label of a graded task on its solution page
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


# --------------------------------------------------------------------------------------------
# Assignments, tasks and solution pages (pure functions: the tests use them too)

def _course():
    sys.path.insert(0, str(ROOT)) if str(ROOT) not in sys.path else None
    from autograder import course

    return course


def assignments(root: Path | None = None) -> list[str]:
    """The assignments on the site: those of ``course.assignments()`` whose chapter page
    (``book/NN_slug``) is in the table of contents. An assignment appears with its chapter."""
    chapters = chapter_pages(root)
    return [a for a in _course().assignments() if chapter_number(a) in chapters]


def chapter_number(name: str) -> int | None:
    """``04_attention`` -> 4: chapters, pages and assignments share the ``NN_slug`` naming."""
    m = re.match(r"(\d+)_", Path(name).name)
    return int(m.group(1)) if m else None


def _model(assignment: str):
    """The assignment as :mod:`autograder.assignment` reads it (the one parser of notebooks)."""
    _course()
    from autograder import assignment as model

    return model.of(assignment)


def _heading(source: str) -> str | None:
    from autograder.assignment import heading

    return heading(source)


def tasks(assignment: str) -> list[dict]:
    """The graded cells of an assignment, in notebook order: grade_id, points, and the title of
    the task they belong to (the last markdown heading above them)."""
    return [{"grade_id": t.test_id, "points": t.points, "title": t.title or t.test_id,
             "label": TASK_LABEL.format(assignment=assignment, grade_id=t.test_id)}
            for t in _model(assignment).tasks.values()]


def hidden_test_blocks(assignment: str) -> list[str]:
    """The text of every hidden-test region of an assignment (what the site must never show)."""
    return [t.hidden for t in _model(assignment).tasks.values()]


def solution_page(assignment: str):
    """The solution page of an assignment, as a notebook: the source notebook with hidden tests
    removed (nbgrader's ClearHiddenTests), solution markers dropped, every solution behind a
    toggle, a label on every graded task, and a title and note of its own."""
    import nbformat
    from nbgrader.preprocessors.clearhiddentests import ClearHiddenTests

    model = _model(assignment)
    src = nbformat.read(model.path, as_version=4)
    clear = ClearHiddenTests(enforce_metadata=False)
    cells = []
    for cell, parsed in zip(src.cells, model.cells, strict=True):
        cell = copy.deepcopy(cell)
        clear._remove_hidden_test_region(cell)
        cell.source = "\n".join(l for l in cell.source.split("\n")
                                if l.strip() not in SOLUTION_MARKERS)
        cell.metadata.pop("nbgrader", None)
        if parsed.kind == "answer":
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
            cell.metadata["mystnb"] = {"code_prompt_show": "Show the solution",
                                       "code_prompt_hide": "Hide the solution"}
        elif parsed.solution and parsed.kind == "text":
            cell.source = ":::{admonition} Solution\n:class: dropdown\n" + cell.source + "\n:::"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    # a label above the heading of each graded task
    for t in tasks(assignment):
        gid = t["grade_id"]
        idx = next(i for i, c in enumerate(model.cells) if c.kind == "task" and c.id == gid)
        head = next((i for i in range(idx, -1, -1) if cells[i].cell_type == "markdown"
                     and _heading(cells[i].source)), None)
        if head is not None:
            cells[head].source = f"({t['label']})=\n" + cells[head].source
    title = _heading(src.cells[0].source) if src.cells else None
    exercise = f"../../exercises/{assignment}/{assignment}.ipynb"
    intro = nbformat.v4.new_markdown_cell(
        f"# Solutions: {title or assignment}\n\n"
        ":::{note}\n"
        f"These are the worked solutions of [the exercise notebook]({exercise}), executed when the "
        "site was built: every check cell below ran against the solution above it. Each solution "
        "is folded: try the task first, then open it with **Show the solution**. The hidden tests "
        "used for grading are not shown.\n:::")
    if cells and cells[0].cell_type == "markdown" and title:
        cells[0].source = re.sub(r"^#{1,6}\s+.+$", "", cells[0].source, count=1, flags=re.M).lstrip()
    cells = [intro] + cells
    for i, cell in enumerate(cells):          # stable ids: the same file on every run
        cell["id"] = f"{assignment}-{i:03d}"
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(src.metadata))
    nb.metadata.pop("nbgrader", None)
    return nb


def write_solution_pages(out: Path | None = None) -> list[Path]:
    """Write ``book/solved/<id>.ipynb`` for every assignment (only files whose content changed, so
    Sphinx and the execution cache see no change otherwise) and remove pages of assignments that
    no longer exist."""
    import nbformat

    out = Path(out) if out else ROOT / SOLVED
    out.mkdir(parents=True, exist_ok=True)
    (out / ".gitignore").write_text("# generated by tools/course_site.py from solutions/\n*\n")
    written, keep = [], set()
    for a in assignments():
        text = nbformat.writes(solution_page(a)) + "\n"
        path = out / f"{a}.ipynb"
        keep.add(path.name)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)             # atomic: a build running beside never reads half
        written.append(path)
    for stale in out.glob("*.ipynb"):
        if stale.name not in keep:
            stale.unlink()
    return written


# --------------------------------------------------------------------------------------------
# The concept index's data

def load_concepts(path: Path | None = None) -> list[dict]:
    import yaml

    data = yaml.safe_load((path or ROOT / CONCEPTS).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{CONCEPTS}: expected a list of concepts")
    for i, e in enumerate(data):
        if not isinstance(e, dict) or not isinstance(e.get("concept"), str) \
                or not isinstance(e.get("chapter"), int):
            raise ValueError(f"{CONCEPTS}, entry {i + 1}: needs `concept` (text) and `chapter` "
                             f"(a number), got {e!r}")
        unknown = set(e) - {"concept", "chapter", "taught", "task"}
        if unknown:
            raise ValueError(f"{CONCEPTS}, {e['concept']!r}: unknown keys {sorted(unknown)}")
    return data


def toc_docnames(root: Path | None = None) -> list[str]:
    """The pages named by ``file:`` entries of ``_toc.yml``, in order (globs not expanded)."""
    import yaml

    toc = yaml.safe_load(((root or ROOT) / "_toc.yml").read_text())
    out = []

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                out.append(re.sub(r"\.(md|ipynb)$", "", e["file"]))
            walk(e.get("sections"))
            for p in e.get("parts", []) or []:
                walk(p.get("chapters"))

    out.append(re.sub(r"\.(md|ipynb)$", "", toc["root"]))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return out


def chapter_pages(root: Path | None = None) -> dict[int, str]:
    """Chapter number -> docname, for the ``book/NN_slug`` pages of the table of contents."""
    pages = {}
    for d in toc_docnames(root):
        n = chapter_number(d) if d.startswith("book/") and "/" not in d[5:] else None
        if n is not None:
            pages[n] = d
    return pages


def page_labels(docname: str, root: Path | None = None) -> set[str]:
    """MyST labels ``(label)=`` defined in a page (markdown, or a notebook's markdown cells)."""
    base = (root or ROOT) / docname
    if base.with_suffix(".ipynb").exists():
        nb = json.loads(base.with_suffix(".ipynb").read_text())
        text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in nb["cells"] if c["cell_type"] == "markdown")
    else:
        text = base.with_suffix(".md").read_text()
    return set(re.findall(r"^\s*\(([^()\s]+)\)=\s*$", text, flags=re.M))


# --------------------------------------------------------------------------------------------
# Quizzes: "Check your understanding" at the end of each chapter

def quiz_path(name: str, root: Path | None = None) -> Path:
    return (root or ROOT) / QUIZZES / f"{name}.yml"


def load_quiz(name: str, root: Path | None = None) -> dict:
    """The quiz of a chapter page (``NN_slug``): ``book/quizzes/NN_slug.yml``, checked.

    ::

        chapter: 4
        questions:
          - id: scaling                      # unique in the quiz, part of the HTML ids
            concepts: ["Scaled dot-product attention"]   # names of book/concepts.yml, same chapter
            prompt: "Why divide the scores by $\\sqrt{d_k}$?"   # `code`, **bold**, *em*, $math$
            choices: ["...", "...", "..."]   # a multiple-choice question (shown shuffled)...
            answer: 1                        # ...and the index of the right choice here (from 0)
            explain: "..."                   # shown after every check, right or wrong
          - id: params
            prompt: "How many ...?"
            answer: 2048                     # a number question: the answer,
            tolerance: 0                     # how far a reply may be from it,
            unit: "tokens"                   # and optionally the unit shown after the field
            explain: "..."

    Raises ValueError listing every problem (:func:`quiz_problems`).
    """
    import yaml

    path = quiz_path(name, root)
    if not path.exists():
        raise ValueError(f"{path.relative_to(root or ROOT)}: no such quiz")
    quiz = yaml.safe_load(path.read_text())
    problems = quiz_problems(quiz, name)
    if problems:
        raise ValueError(f"{QUIZZES}/{name}.yml:\n  " + "\n  ".join(problems))
    return quiz


def quiz_problems(quiz, name: str = "quiz") -> list[str]:
    """What is wrong with a quiz's data, in words (the counts and concepts are checked by the
    tests against book/concepts.yml)."""
    if not isinstance(quiz, dict) or not isinstance(quiz.get("questions"), list):
        return ["expected a mapping with `chapter` and a list of `questions`"]
    problems = []
    if not isinstance(quiz.get("chapter"), int) or chapter_number(name) not in (None, quiz["chapter"]):
        problems.append(f"`chapter` should be {chapter_number(name)}, got {quiz.get('chapter')!r}")
    ids = []
    for i, q in enumerate(quiz["questions"], 1):
        where = f"question {i}"
        if not isinstance(q, dict):
            problems.append(f"{where}: not a mapping")
            continue
        ids.append(q.get("id"))
        where = f"question {i} ({q.get('id')})"
        allowed = {"id", "concepts", "prompt", "choices", "answer", "tolerance", "unit", "explain"}
        if set(q) - allowed:
            problems.append(f"{where}: unknown keys {sorted(set(q) - allowed)}")
        if not (isinstance(q.get("id"), str) and re.fullmatch(r"[a-z0-9][a-z0-9-]*", q["id"])):
            problems.append(f"{where}: `id` must be lower-case letters, digits and dashes")
        for key in ("prompt", "explain"):
            if not (isinstance(q.get(key), str) and q[key].strip()):
                problems.append(f"{where}: `{key}` is missing or empty")
        concepts = q.get("concepts", [])
        if not (isinstance(concepts, list) and all(isinstance(c, str) for c in concepts)):
            problems.append(f"{where}: `concepts` must be a list of concept names")
        answer = q.get("answer")
        if "choices" in q:
            choices = q["choices"]
            if not (isinstance(choices, list) and len(choices) >= 2
                    and all(isinstance(c, (str, int, float)) and str(c).strip() for c in choices)):
                problems.append(f"{where}: `choices` must list at least two non-empty answers")
            elif len({str(c).strip() for c in choices}) < len(choices):
                problems.append(f"{where}: two choices are the same")
            elif not (isinstance(answer, int) and not isinstance(answer, bool)
                      and 0 <= answer < len(choices)):
                problems.append(f"{where}: `answer` must be the index of a choice, 0 to "
                                f"{len(choices) - 1}, got {answer!r}")
            if "tolerance" in q or "unit" in q:
                problems.append(f"{where}: `tolerance` and `unit` are for number questions")
        else:
            if not (isinstance(answer, (int, float)) and not isinstance(answer, bool)):
                problems.append(f"{where}: a number question needs a numeric `answer`, got {answer!r}")
            tol = q.get("tolerance")
            if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):
                problems.append(f"{where}: a number question needs a `tolerance` >= 0, got {tol!r}")
            if "unit" in q and not isinstance(q["unit"], str):
                problems.append(f"{where}: `unit` must be text")
    twice = sorted({i for i in ids if ids.count(i) > 1 and i is not None})
    if twice:
        problems.append(f"question ids used twice: {twice}")
    return problems


def quiz_kind(question: dict) -> str:
    return "choice" if "choices" in question else "number"


def _inline_html(text: str) -> str:
    """A question's text as HTML: `code`, $math$ (typeset by the site's MathJax, like Sphinx's
    own inline math), **bold** and *emphasis*; everything else escaped."""
    import html as _html

    parts = re.split(r"(`[^`]+`|\$[^$]+\$)", str(text).strip())
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f'<code class="docutils literal notranslate">{_html.escape(part[1:-1])}</code>')
        elif part.startswith("$") and part.endswith("$") and len(part) > 1:
            out.append(f'<span class="math notranslate nohighlight">\\({_html.escape(part[1:-1])}\\)</span>')
        else:
            t = _html.escape(part, quote=False)
            t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
            t = re.sub(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])", r"<em>\1</em>", t)
            out.append(t)
    return "".join(out)


def choice_order(name: str, question: dict) -> list[int]:
    """The order in which a question's choices are shown: shuffled, the same on every build (the
    seed is the quiz's and the question's name), so the data file may list the right answer
    anywhere, first included. A radio button's value stays the choice's index in the file."""
    import random

    order = list(range(len(question["choices"])))
    random.Random(f"{name}/{question['id']}").shuffle(order)
    return order


def _format_number(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.10g}"


def quiz_html(quiz: dict, name: str) -> str:
    """The static HTML of a quiz: one form per question (see ``tools/quiz/quiz.js``)."""
    import html as _html

    n = chapter_number(name)
    rows = [f'<div class="tl-quiz" id="quiz-{n:02d}" data-quiz="{_html.escape(name)}">']
    for i, q in enumerate(quiz["questions"], 1):
        qid = f"quiz-{n:02d}-{q['id']}"
        kind = quiz_kind(q)
        attrs = f'class="tl-quiz-question" id="{qid}" data-kind="{kind}" novalidate'
        if kind == "choice":
            order = choice_order(name, q)
            right = q["choices"][q["answer"]]
            attrs += f' data-answer="{q["answer"]}"'
            solution = f"{chr(ord('A') + order.index(q['answer']))}. {_inline_html(right)}"
        else:
            attrs += f' data-answer="{q["answer"]!r}" data-tolerance="{q["tolerance"]!r}"'
            unit = f" {_inline_html(q['unit'])}" if q.get("unit") else ""
            within = f" (within {_format_number(q['tolerance'])})" if q["tolerance"] else ""
            solution = f"{_format_number(q['answer'])}{unit}{within}"
        rows.append(f'<form {attrs} aria-labelledby="{qid}-prompt">')
        prompt = (f'<div class="tl-quiz-prompt" id="{qid}-prompt"><span class="tl-quiz-number">'
                  f'Question {i}.</span> {_inline_html(q["prompt"])}</div>')
        if kind == "choice":
            rows.append(f'<fieldset class="tl-quiz-choices"><legend class="tl-quiz-legend">{prompt}</legend>')
            for pos, k in enumerate(order):
                cid = f"{qid}-c{k}"
                rows.append(f'<div class="tl-quiz-choice"><input type="radio" name="{qid}" id="{cid}" '
                            f'value="{k}"><label for="{cid}"><span class="tl-quiz-letter">'
                            f'{chr(ord("A") + pos)}.</span> {_inline_html(q["choices"][k])}</label></div>')
            rows.append("</fieldset>")
        else:
            rows.append(prompt)
            unit = (f'<span class="tl-quiz-unit" id="{qid}-unit">{_inline_html(q["unit"])}</span>'
                    if q.get("unit") else "")
            described = f' aria-describedby="{qid}-unit"' if q.get("unit") else ""
            rows.append(f'<div class="tl-quiz-field"><label for="{qid}-input">Your answer</label> '
                        f'<input type="text" inputmode="decimal" autocomplete="off" '
                        f'id="{qid}-input" name="{qid}"{described}> {unit}</div>')
        rows.append(f'<div class="tl-quiz-actions"><button type="submit" class="tl-quiz-check">'
                    f'Check</button></div>')
        rows.append(f'<div class="tl-quiz-feedback" id="{qid}-feedback" role="status" '
                    f'aria-live="polite"></div>')
        rows.append(f'<div class="tl-quiz-explanation" id="{qid}-explanation" hidden>'
                    f'<strong>Answer:</strong> {solution}{"" if solution.endswith((".", "?", "!")) else "."} '
                    f'{_inline_html(q["explain"])}</div>')
        rows.append("</form>")
    rows.append('<noscript><div class="tl-quiz-noscript">These questions are checked by a small '
                'script in your browser; with JavaScript off, the answers are not shown.</div></noscript>')
    rows.append("</div>")
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------
# Reading a built site (the tests and bench/page_weight.py)

class SitePage(HTMLParser):
    """What the checks need from a built page: element ids, references ``(tag, attribute, value,
    rel)``, its text (scripts and styles left out) and the text of its article's paragraphs."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.ids, self.refs, self.text, self.paragraphs = set(), [], [], []
        self._skip = self._p = self._article = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for attr in ("href", "src"):
            if a.get(attr) is not None:
                self.refs.append((tag, attr, a[attr], a.get("rel") or ""))
        self._skip += tag in ("script", "style")
        self._article += tag == "article"
        self._p += tag == "p" and self._article > 0

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if tag == "article" and self._article:
            self._article -= 1
        if tag == "p" and self._p:
            self._p -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
            if self._p:
                self.paragraphs.append(data)


@functools.cache
def parse_page(path: Path) -> SitePage:
    return SitePage(Path(path).read_text(encoding="utf-8"))


def page_files(html: Path) -> list[Path]:
    """The pages of a built site (not the theme's or Sphinx's files under ``_*`` folders)."""
    return sorted(p for p in Path(html).rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_"))


def is_external(url: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", url, flags=re.I) or url.startswith("//"))


def local_target(page: Path, url: str) -> Path | None:
    """The file a relative URL of a page points at (None for other sites, data: and the like)."""
    if is_external(url):
        return None
    path = urlsplit(url).path
    return (page.parent / unquote(path)).resolve() if path else page


# Page-weight budget: a page's own bytes (HTML, with its inline widget state, plus the images it
# shows), not the front-end every page shares and the browser caches (theme, MathJax, widgets).
PAGE_BUDGET = 2_500_000


def page_weight(page: Path) -> dict:
    """A page's own bytes: its HTML (inline widget state included) and the site's images it shows
    (``_images/``), not the front-end shared by every page (``_static/``)."""
    images = {}
    for tag, attr, value, _ in parse_page(page).refs:
        target = local_target(page, value) if tag == "img" else None
        if target and target.exists() and "_static" not in target.parts:
            images[target] = target.stat().st_size
    size = page.stat().st_size
    return {"html": size, "images": sum(images.values()), "total": size + sum(images.values()),
            "image_files": images}


# --------------------------------------------------------------------------------------------
# Sphinx: directives

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ref_text(text: str) -> str:
    """Text for the title of a {ref} role in a table cell: a backtick would end the role and an
    angle bracket start its target, so both go (a title `[CLS]` reads as [CLS])."""
    return _md_cell(re.sub(r"[`<>]", "", str(text)))


def _assignments_markdown(app) -> str:
    pages = chapter_pages(Path(app.srcdir))
    out = []
    for a in assignments():
        n, ts = chapter_number(a), tasks(a)
        exercise = f"exercises/{a}/{a}"
        links = [f"{{doc}}`exercise page </{exercise}>`",
                 f"{{download}}`download {a}.ipynb </{exercise}.ipynb>`",
                 f"{{doc}}`solutions </{SOLVED}/{a}>`"]
        if n in pages:
            links.insert(0, f"chapter: {{doc}}`/{pages[n]}`")
        out += [f"**{{doc}}`/{exercise}`** ({sum(t['points'] for t in ts):g} points)", "",
                " · ".join(links), ""]
        out += [f"* {t['title']}" for t in ts] + [""]
    return "\n".join(out) + "\n"


def _concepts_markdown(app) -> str:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    root = Path(app.srcdir)
    pages = chapter_pages(root)
    labels = {n: page_labels(d, root) for n, d in pages.items()}
    graded = {a: {t["grade_id"]: t for t in tasks(a)} for a in assignments()}
    by_chapter: dict[int, list[dict]] = {}
    for e in load_concepts(root / CONCEPTS):
        by_chapter.setdefault(e["chapter"], []).append(e)
    out = []
    for n in sorted(by_chapter):
        title = f"Chapter {n}"
        if n in pages:
            out.append(f"## {title}: {{doc}}`/{pages[n]}`\n")
        else:
            out.append(f"## {title} (coming)\n")
        out.append("| concept | taught in | exercised by |\n|---|---|---|")
        for e in sorted(by_chapter[n], key=lambda e: e["concept"].lower()):
            taught, task = e.get("taught"), e.get("task")
            if taught and n in pages and taught in labels[n]:
                where = f"{{ref}}`{_ref_text(e['concept'])} <{taught}>`"
            elif taught and n in pages:   # tests/test_site_pages.py fails on it; the build warns
                logger.warning(f"{CONCEPTS}: {e['concept']!r} is mapped to the label {taught!r}, "
                               f"which chapter {n}'s page does not define")
                where = f"missing label `{taught}`"
            else:
                where = "(coming)"
            a, _, gid = (task or "").partition("/")
            t = graded.get(a, {}).get(gid)
            if t is not None:
                how = (f"{{ref}}`{_ref_text(t['title'])} <{t['label']}>` "
                       f"({{doc}}`exercise </exercises/{a}/{a}>`)")
            elif task and n in pages:
                logger.warning(f"{CONCEPTS}: {e['concept']!r} is mapped to the graded task "
                               f"{task!r}, which does not exist")
                how = f"missing task `{task}`"
            else:
                how = "—"
            out.append(f"| {_md_cell(e['concept'])} | {where} | {how} |")
        out.append("")
    return "\n".join(out) + "\n"


def _markdown_directive(render):
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class Generated(SphinxDirective):
        has_content = False

        def run(self):
            # the page depends on the sources it was generated from
            self.env.note_dependency(str(ROOT / CONCEPTS))
            self.env.note_dependency(__file__)
            for a in assignments():
                self.env.note_dependency(str(_course().source_notebook(a)))
            text = render(self.env.app)
            container = nodes.container()
            self.state.nested_parse(StringList(text.splitlines()), self.content_offset, container)
            return container.children

    return Generated


def _quiz_directive():
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    class Quiz(SphinxDirective):
        """``{quiz} NN_slug``: the questions of ``book/quizzes/NN_slug.yml`` as static HTML."""
        required_arguments = 1
        has_content = False

        def run(self):
            name = self.arguments[0].strip()
            root = Path(self.env.app.srcdir)
            self.env.note_dependency(str(quiz_path(name, root)))
            self.env.note_dependency(__file__)
            try:
                quiz = load_quiz(name, root)
            except ValueError as e:
                raise self.error(str(e))
            return [nodes.raw("", quiz_html(quiz, name), format="html")]

    return Quiz


# --------------------------------------------------------------------------------------------
# Sphinx: events

MATHJAX2_SHIM = """
// @jupyter-widgets typesets widget labels with MathJax 2's API (MathJax.Hub.Queue); the site
// loads MathJax 3 (deferred, so it is defined by DOMContentLoaded, before widgets render).
document.addEventListener("DOMContentLoaded", function () {
  var MJ = window.MathJax;
  if (!MJ || MJ.Hub || !MJ.startup) return;
  MJ.Hub = {Queue: function (cmd) {
    var el = cmd && cmd[2];
    MJ.startup.promise.then(function () { return el ? MJ.typesetPromise([el]) : null; });
  }};
});
"""


def _check_vendor(app, config):
    root = Path(app.srcdir)
    lock = root / "package-lock.json"
    if not lock.exists():
        return
    want = {name: json.loads(lock.read_text())["packages"][f"node_modules/{name}"]["version"]
            for name in json.loads((root / "package.json").read_text())["dependencies"]}
    have_file = root / "_vendor" / "versions.json"
    have = json.loads(have_file.read_text()) if have_file.exists() else None
    if have != want:
        from sphinx.errors import ConfigError

        raise ConfigError(
            f"the site's vendored front-end (_vendor/: MathJax and the widget manager) is "
            f"{'missing' if have is None else f'stale ({have})'}; package-lock.json pins {want}. "
            f"Run `make vendor` (bash tools/vendor.sh; needs npm) and build again.")


def _generate(app, config):
    if Path(app.srcdir).resolve() != ROOT or not (ROOT / "solutions").is_dir():
        return                                   # another book (e.g. a test's) using this config
    write_solution_pages()
    # release notebooks of chapters not (yet) in the table of contents stay off the site
    shown = set(assignments())
    hidden = [f"exercises/{a}" for a in _course().assignments() if a not in shown]
    if hidden:
        config.exclude_patterns = list(config.exclude_patterns) + hidden


def _page_context(app, pagename, templatename, context, doctree):
    # 1. each script once (sphinx-thebe's inline configuration is added twice: a page error)
    scripts, seen = [], set()
    for s in context.get("script_files", []):
        attrs = getattr(s, "attributes", {})
        key = (str(getattr(s, "filename", s) or ""), tuple(sorted(attrs.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(s)
    context["script_files"] = scripts
    # 2. a solution page launches its exercise notebook
    if pagename.startswith(SOLVED + "/"):
        from sphinx_book_theme.header_buttons.launch import add_launch_buttons

        buttons = context.get("header_buttons", [])
        launch = [b for b in buttons if b.get("label") == "launch-buttons"]
        if launch:
            for b in launch:
                buttons.remove(b)
            a = pagename.split("/")[-1]
            add_launch_buttons(app, f"exercises/{a}/{a}", templatename, context, doctree)


WIDGET_STATE = re.compile(
    r'(<script type="application/vnd\.jupyter\.widget-state\+json">)(.*?)(</script>)', re.S)


def compress_png(data: bytes, min_psnr: float = 35.0, min_gain: float = 0.10) -> bytes | None:
    """A smaller, faithful re-encoding of a PNG (256-colour palette), or None to keep it."""
    import numpy as np
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    if im.format != "PNG" or im.mode not in ("RGB", "RGBA"):
        return None                          # already a palette / grey image, or not a PNG
    if im.mode == "RGBA" and im.getextrema()[3][0] == 255:
        im = im.convert("RGB")               # opaque: median cut gives the better palette
    method = Image.Quantize.MEDIANCUT if im.mode == "RGB" else Image.Quantize.FASTOCTREE
    pal = im.quantize(256, method=method, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pal.save(buf, "PNG", optimize=True)
    out = buf.getvalue()
    if len(out) > (1 - min_gain) * len(data):
        return None
    a = np.asarray(im, dtype=np.float64)
    b = np.asarray(pal.convert(im.mode), dtype=np.float64)
    mse = float(((a - b) ** 2).mean())
    if mse > 0 and 10 * np.log10(255.0 ** 2 / mse) < min_psnr:
        return None
    return out


def _compress_widget_state(html: str) -> str:
    def one(m):
        state = json.loads(m.group(2).replace("<\\/script>", "</script>"))
        changed = False
        for model in state.get("state", {}).values():
            if model.get("state", {}).get("format") != "png":
                continue
            for buf in model.get("buffers", []):
                if buf.get("encoding") == "base64" and buf.get("path") == ["value"]:
                    smaller = compress_png(base64.b64decode(buf["data"]))
                    if smaller:
                        buf["data"] = base64.b64encode(smaller).decode()
                        changed = True
        if not changed:
            return m.group(0)
        body = json.dumps(state).replace("</script>", "<\\/script>")
        return m.group(1) + body + m.group(3)

    return WIDGET_STATE.sub(one, html)


def compress_site_figures(outdir: Path) -> tuple[int, int]:
    """Compress the figures of a built site in place; returns (bytes before, bytes after)."""
    before = after = 0
    for png in sorted((outdir / "_images").glob("*.png")):
        data = png.read_bytes()
        smaller = compress_png(data)
        before += len(data)
        after += len(smaller or data)
        if smaller:
            png.write_bytes(smaller)
    for page in sorted(outdir.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        if "widget-state+json" not in html:
            continue
        new = _compress_widget_state(html)
        before += len(html.encode())
        after += len(new.encode())
        if new != html:
            page.write_text(new, encoding="utf-8")
    return before, after


def _copy_quiz_assets(app, exception):
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        for asset in QUIZ_ASSETS:
            src = Path(__file__).resolve().parent / asset
            if src.exists():                     # a test's book may carry this file alone
                (static / src.name).write_bytes(src.read_bytes())


def _build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        from sphinx.util import logging

        before, after = compress_site_figures(Path(app.outdir))
        if before:
            logging.getLogger(__name__).info(
                f"[course_site] figures compressed: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")


def setup(app):
    app.connect("config-inited", _check_vendor)
    app.connect("config-inited", _generate, priority=100)   # before the TOC and sources are read
    app.connect("html-page-context", _page_context, priority=900)   # after the theme's buttons
    app.connect("build-finished", _build_finished)
    app.connect("build-finished", _copy_quiz_assets)
    app.add_js_file(None, body=MATHJAX2_SHIM)
    app.add_js_file(Path(QUIZ_ASSETS[0]).name, defer="defer")
    app.add_css_file(Path(QUIZ_ASSETS[1]).name)
    app.add_directive("course-assignments", _markdown_directive(_assignments_markdown))
    app.add_directive("concept-index", _markdown_directive(_concepts_markdown))
    app.add_directive("quiz", _quiz_directive())
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate the site's pages made from solutions/.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("solutions", help=f"write the solution pages ({SOLVED}/)")
    p.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    for path in write_solution_pages(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
