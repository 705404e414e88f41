"""The built site, checked from its files: every page of the table of contents and every
assignment's exercise and solution pages are there, the exercises are shown unexecuted with their
launch and download buttons, the solutions are executed with each solution folded and no hidden
test anywhere in the site, the concept index points at sections and graded tasks that exist,
every internal link and anchor resolves, nothing is loaded from another site, and every page keeps
to the page-weight budget. ``test_site_browser.py`` loads the same site in Chromium.

The site under test is ``$TLCOURSE_SITE`` (a built ``_build/html``: what ``make book`` or CI
built and publishes) or else a fresh build into a temporary folder, made once per test session and
shared with ``test_book.py`` and ``test_site_browser.py``.
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import course_site  # noqa: E402  (tools/course_site.py: the site's Sphinx extension)

PAGE_BUDGET = course_site.PAGE_BUDGET   # a page's own bytes, see tools/course_site.py


# --------------------------------------------------------------------------------------------
# The site under test

def jupyter_book(source: Path, out: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "jupyter-book"
    # run in the book's folder, as `make book` does: its execution cache (a path relative to the
    # folder the build runs in) is the book's own, not the course's
    return subprocess.run([str(exe), "build", "-W", "--keep-going", str(source), "--path-output", str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=source)


@functools.cache
def built_site() -> tuple[Path, str]:
    """(the site's html folder, the build log); built once per session unless $TLCOURSE_SITE."""
    given = os.environ.get("TLCOURSE_SITE")
    if given:
        html = Path(given).resolve()
        assert (html / "searchindex.js").exists(), f"TLCOURSE_SITE={given} is not a built site"
        return html, ""
    out = Path(tempfile.mkdtemp(prefix="tlcourse-site-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    result = jupyter_book(ROOT, out)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-10000:]
    return out / "_build" / "html", log


@pytest.fixture(scope="module")
def site() -> Path:
    return built_site()[0]


def site_docnames(html: Path) -> list[str]:
    """Every page Sphinx built (with only_build_toc_files: the table of contents, globs expanded)."""
    text = (html / "searchindex.js").read_text()
    index = json.loads(text[text.index("(") + 1:text.rindex(")")])
    return list(index["docnames"])


def site_titles(html: Path) -> dict[str, str]:
    text = (html / "searchindex.js").read_text()
    index = json.loads(text[text.index("(") + 1:text.rindex(")")])
    return dict(zip(index["docnames"], index["titles"]))


def expected_docnames() -> list[str]:
    """What must be on the site: the table of contents' pages and, for every assignment of a
    chapter in it, its exercise page and its solution page."""
    pages = course_site.toc_docnames()
    for a in course_site.assignments():
        pages += [f"exercises/{a}/{a}", f"{course_site.SOLVED}/{a}"]
    return pages


Page, parse, page_files, is_external = (course_site.SitePage, course_site.parse_page,
                                         course_site.page_files, course_site.is_external)


# --------------------------------------------------------------------------------------------
# Quick checks (no build): the data files and the generator

def test_front_end_is_pinned_and_vendored_versions_match():
    pkg = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == pkg["dependencies"], \
        "package-lock.json is stale: run `npm install --package-lock-only` next to package.json"
    for name, version in pkg["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}: pin an exact version, not {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    vendored = ROOT / "_vendor" / "versions.json"
    if vendored.exists():
        assert json.loads(vendored.read_text()) == pkg["dependencies"], \
            "_vendor/ is stale: run `make vendor`"


def test_concept_index_maps_to_labels_and_graded_tasks_that_exist():
    concepts = course_site.load_concepts()
    pages = course_site.chapter_pages()
    course = course_site._course()
    graded = {a: set(course.graded_cells(a)) for a in course.assignments()}
    problems = []
    names = [e["concept"] for e in concepts]
    problems += [f"{n!r} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for e in concepts:
        n, name = e["chapter"], e["concept"]
        taught, task = e.get("taught"), e.get("task")
        page = pages.get(n) or next((f"book/{p.stem}" for p in sorted((ROOT / "book").glob(
            f"{n:02d}_*.ipynb"))), None)
        if taught:
            if page is None:
                problems.append(f"{name!r}: mapped to the label {taught!r}, but chapter {n} has "
                                f"no page book/{n:02d}_*")
            elif taught not in course_site.page_labels(page):
                problems.append(f"{name!r}: the label ({taught})= is not in {page} (renamed or "
                                f"removed? put `({taught})=` above the section that teaches it)")
        elif n in pages:
            problems.append(f"{name!r}: chapter {n} is in the table of contents, so the concept "
                            f"needs `taught: <label>` (a `(label)=` line in {pages[n]})")
        if task:
            a, _, gid = task.partition("/")
            if gid not in graded.get(a, set()):
                problems.append(f"{name!r}: the graded task {task!r} does not exist (graded cells "
                                f"of {a}: {sorted(graded.get(a, [])) or 'no such assignment'})")
        elif n in pages and "task" not in e:
            problems.append(f"{name!r}: chapter {n} is in the table of contents, so the concept "
                            f"needs `task: <assignment>/<grade_id>` (or `task: null`)")
    assert not problems, "book/concepts.yml:\n  " + "\n  ".join(problems)


def test_every_chapter_of_the_table_of_contents_has_concepts():
    chapters = {e["chapter"] for e in course_site.load_concepts()}
    missing = sorted(set(course_site.chapter_pages()) - chapters)
    assert not missing, f"book/concepts.yml has no concept of chapter(s) {missing}"


def test_solution_pages_keep_the_solutions_and_drop_the_hidden_tests():
    for a in course_site.assignments():
        nb = course_site.solution_page(a)
        text = "\n".join(c.source for c in nb.cells)
        assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, a
        for line in course_site._model(a).secret_lines():
            assert line not in text, f"{a}: a hidden-test line is on the page: {line}"
        n_solutions = len(course_site._model(a).answers)
        folded = [c for c in nb.cells if "hide-input" in c.metadata.get("tags", [])]
        assert len(folded) == n_solutions > 0, f"{a}: every solution cell must be folded"
        for t in course_site.tasks(a):
            assert f"({t['label']})=" in text, f"{a}: no label for the graded task {t['grade_id']}"


# --------------------------------------------------------------------------------------------
# The built site

slow = pytest.mark.slow


def test_every_assignment_of_the_site_is_released():
    missing = [a for a in course_site.assignments()
               if not (ROOT / "exercises" / a / f"{a}.ipynb").exists()]
    assert not missing, f"chapters in the table of contents without a release: {missing} " \
                        f"(run `make release`)"


@slow
def test_every_page_and_assignment_is_on_the_site(site):
    built = set(site_docnames(site))
    missing = [d for d in expected_docnames() if d not in built]
    assert not missing, f"not built: {missing}"
    for d in built:
        assert (site / f"{d}.html").exists(), d
    assert not any("solutions/" in d and not d.startswith(course_site.SOLVED) for d in built), \
        "a notebook of solutions/ (with its hidden tests) became a page"


@slow
def test_exercise_pages_are_the_release_notebooks_unexecuted_with_download_and_launch(site):
    cfg = __import__("yaml").safe_load((ROOT / "_config.yml").read_text())
    repo = cfg["repository"]["url"].rstrip("/")
    org_repo = "/".join(repo.split("/")[-2:])
    for a in course_site.assignments():
        page = f"exercises/{a}/{a}"
        html = (site / f"{page}.html").read_text()
        assert 'class="cell_output' not in html, f"{page}: a release notebook was executed"
        assert "NotImplementedError" in html
        source = site / "_sources" / f"{page}.ipynb"
        assert source.exists(), f"{page}: the download button has no .ipynb to serve"
        assert json.loads(source.read_text()) == json.loads((ROOT / f"{page}.ipynb").read_text())
        hrefs = [v for _, attr, v, _ in parse(site / f"{page}.html").refs if attr == "href"]
        assert any(h.endswith(f"_sources/{page}.ipynb") for h in hrefs), f"{page}: no download"
        launch = cfg["launch_buttons"]
        wanted = {"binderhub_url": f"{org_repo}/", "jupyterhub_url": "git-pull?repo=",
                  "colab_url": f"/github/{org_repo}/blob/"}
        for key, fragment in wanted.items():
            if launch.get(key):
                assert any(h.startswith(launch[key].rstrip("/")) and fragment in h
                           and f"{page}.ipynb" in h for h in hrefs), \
                    f"{page}: no {key} launch button opening {page}.ipynb"
        solved = [v for _, attr, v, _ in parse(site / f"{course_site.SOLVED}/{a}.html").refs
                  if attr == "href" and v.startswith("http") and "ipynb" in v]
        assert solved and all(f"{page}.ipynb" in h for h in solved), \
            f"the launch buttons of {a}'s solution page must open the exercise notebook: {solved}"


@slow
def test_solution_pages_are_executed_with_every_solution_folded(site):
    for a in course_site.assignments():
        html = (site / f"{course_site.SOLVED}/{a}.html").read_text()
        assert 'class="cell_output' in html, f"{a}: the solution page was not executed"
        assert "Traceback" not in html
        assert html.count("passed") >= len(course_site.tasks(a)), \
            f"{a}: every check cell should print that its visible checks passed"
        folded = [c for c in course_site.solution_page(a).cells
                  if "hide-input" in c.metadata.get("tags", [])]
        n = len(re.findall(r'<details class="[^"]*hide above-input">\s*<summary[^>]*>\s*'
                           r'<[a-z]+ class="collapsed[^"]*">Show the solution<', html))
        assert n == len(folded) > 0, f"{a}: {n} toggles for {len(folded)} solutions"


@slow
def test_no_hidden_test_is_anywhere_in_the_site(site):
    # Lines long enough to be the tests' own, and not imports (a page may import the same names)
    lines = {a: [l for l in course_site._model(a).secret_lines()
                 if not re.match(r"(from \S+ )?import ", l)]
             for a in course_site._course().assignments()}
    roots = [site] + [p for p in [site.parent / "jupyter_execute"] if p.exists()]
    leaks = []
    for root in roots:
        for f in root.rglob("*"):
            if not f.is_file() or f.suffix not in (".html", ".ipynb", ".js", ".txt", ".json"):
                continue
            if "_static" in f.relative_to(root).parts:
                continue
            raw = f.read_text(encoding="utf-8", errors="replace")
            text = "".join(Page(raw).text) if f.suffix == ".html" else raw
            if f.suffix == ".ipynb":
                text = "\n".join("".join(c.get("source", "")) for c in json.loads(raw)["cells"])
            if "HIDDEN TESTS" in text:
                leaks.append(f"{f}: a hidden-test marker")
            for a, ls in lines.items():
                leaks += [f"{f}: {l}" for l in ls if l in text]
    assert not leaks, "hidden tests on the site:\n" + "\n".join(leaks[:20])


@slow
def test_concept_index_links_every_mapped_concept(site):
    page = parse(site / "book" / "concepts.html")
    text = " ".join("".join(page.text).split())
    for curly, plain in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(curly, plain)                   # Sphinx's smart quotes
    hrefs = [v for tag, attr, v, _ in page.refs if tag == "a" and attr == "href"]
    pages = course_site.chapter_pages()
    for e in course_site.load_concepts():
        assert " ".join(e["concept"].split()) in text, f"{e['concept']!r} is not on the page"
        if e.get("taught"):
            assert any(h.split("#")[0].endswith(f"{pages[e['chapter']].split('/')[-1]}.html")
                       and "#" in h for h in hrefs), f"{e['concept']!r}: no link to its section"
        if e.get("task"):
            a = e["task"].split("/")[0]
            assert any(f"solved/{a}.html#" in h for h in hrefs), \
                f"{e['concept']!r}: no link to its graded task"


@slow
def test_glued_numbers_render_as_numbers(site):
    """A NumPy 2 scalar glued into prose without a format renders as its repr, np.float64(0.5)
    (with a format, as nothing: the build's warnings-as-errors catch that). Pages glue through
    tlcourse.pages.glue, which hands myst-nb plain numbers."""
    raw = re.compile(r"np\.(?:float|int|uint|bool)\w*\(")
    problems = [f"{f.relative_to(site)}: {m.group(0)}..." for f in page_files(site)
                for m in [raw.search(" ".join(parse(f).text))] if m]
    assert not problems, problems


@slow
def test_internal_links_and_anchors_resolve(site):
    problems = []
    for f in page_files(site):
        for tag, attr, value, rel in parse(f).refs:
            if is_external(value) or value.startswith("javascript:"):
                continue
            url = urlsplit(value)
            target = (f.parent / unquote(url.path)).resolve() if url.path else f
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{f.relative_to(site)}: <{tag} {attr}={value}> -> missing file")
            elif url.fragment and target.suffix == ".html" and \
                    unquote(url.fragment) not in parse(target).ids:
                problems.append(f"{f.relative_to(site)}: <{tag} {attr}={value}> -> no such anchor")
    assert not problems, f"{len(problems)} broken:\n" + "\n".join(problems[:30])


@slow
def test_pages_load_nothing_from_other_sites(site):
    """Scripts, styles and images are the site's own: it works offline (the browser suite also
    blocks and reports any request that leaves the site)."""
    problems = []
    for f in page_files(site):
        for tag, attr, value, rel in parse(f).refs:
            loads = tag in ("script", "img", "iframe", "source", "video", "audio") or (
                tag == "link" and any(r in rel for r in ("stylesheet", "preload", "icon")))
            if loads and is_external(value) and not value.startswith("data:"):
                problems.append(f"{f.relative_to(site)}: <{tag} {attr}={value}>")
        html = f.read_text()
        problems += [f"{f.relative_to(site)}: {m}" for m in
                     re.findall(r"@import\s+url\(['\"]?https?://[^)]+\)", html)]
    assert not problems, "\n".join(problems)


@slow
def test_every_page_keeps_to_the_weight_budget_and_figures_are_compressed(site):
    heavy = {str(f.relative_to(site)): w["total"] for f in page_files(site)
             if (w := course_site.page_weight(f))["total"] > PAGE_BUDGET}
    assert not heavy, f"pages over the {PAGE_BUDGET / 1e6} MB budget (bench/page_weight.py " \
                      f"shows what weighs): {heavy}"
    for png in (site / "_images").glob("*.png"):
        assert course_site.compress_png(png.read_bytes()) is None, f"{png.name} was not compressed"


@slow
def test_every_chapter_page_ends_with_its_quiz(site):
    """"Check your understanding" is each chapter's last section: one form per question of its
    data file, answered by the site's own script and styles (tests/test_quizzes.py checks the
    data, test_site_browser.py answers the questions)."""
    for name in (Path(d).name for d in course_site.chapter_pages().values()):
        html = (site / "book" / f"{name}.html").read_text()
        quiz = course_site.load_quiz(name)
        headings = re.findall(r"<h2>(.*?)<a class=\"headerlink\"", html, flags=re.S)
        assert headings and re.sub(r"<[^>]+>", "", headings[-1]).strip() == course_site.QUIZ_HEADING, \
            f"{name}: the last section should be {course_site.QUIZ_HEADING!r}, got {headings[-1:]}"
        tail = html[html.rindex(f"<h2>{course_site.QUIZ_HEADING}"):]
        assert tail.count('class="tl-quiz-question"') == len(quiz["questions"]), name
        for q in quiz["questions"]:
            assert f'id="quiz-{course_site.chapter_number(name):02d}-{q["id"]}"' in tail
        for asset in course_site.QUIZ_ASSETS:
            file = Path(asset).name
            assert f"_static/{file}" in html, f"{name}: {file} is not loaded"
            assert (site / "_static" / file).read_bytes() == (ROOT / "tools" / asset).read_bytes()


# The headline claims the course's issue tracker asked every build to measure, by ledger id.
LEDGER_IDS = {
    "resnet-finetune-vs-scratch-50", "resnet-finetune-vs-scratch-100", "sgns-vs-gensim",
    *(f"ulmfit-vs-{b}-{n}" for b in ("scratch", "tfidf") for n in (100, 300, 1000)),
    *(f"bert-pretrained-vs-{b}-{n}" for b in ("scratch", "tfidf") for n in (100, 500)),
    "gpt-vs-bigram", "gpt-scaling", "gpt-zero-shot-cloze",
    *(f"t5-pretrained-vs-scratch-{t}" for t in ("sentiment", "party", "year")),
    "distilbert-vs-plain", "distilbert-keeps-accuracy", "distilbert-speedup",
}


def test_the_headline_ledger_is_published_and_every_asserted_claim_holds(site):
    """ledger.json: one row per headline claim, from the executed pages; the ledger page shows
    them. (The build itself fails on an asserted claim that does not hold; this checks what was
    published.)"""
    from tlcourse import ledger

    rows = json.loads((site / "ledger.json").read_text())
    assert LEDGER_IDS <= {r["id"] for r in rows}, LEDGER_IDS - {r["id"] for r in rows}
    for r in rows:
        assert {"id", "chapter", "claim", "paper", "ours", "baseline", "ci", "holds"} <= set(r), r
        assert r["ci"] is None or (len(r["ci"]) == 2 and r["ci"][0] <= r["ci"][1]), r
    assert not ledger.failures(rows), ledger.failures(rows)
    page = (site / "book" / "ledger.html").read_text()
    for r in rows:
        assert f'id="ledger-{r["id"]}"' in page, r["id"]
