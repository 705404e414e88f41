"""The site builds with every page executed, and a page whose code raises fails the build.

The site is built once per test session (``test_site_pages.built_site``: a fresh build, or the one
``$TLCOURSE_SITE`` names) and shared with the site's other tests."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from test_site_pages import built_site, course_site, jupyter_book

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def toc_files() -> list[str]:
    """The pages named by `file:` in _toc.yml (the exercise and solution pages come in by glob;
    test_site_pages.py checks them)."""
    return course_site.toc_docnames()


def test_toc_lists_only_pages_that_exist():
    for f in toc_files():
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f


def test_book_notebooks_are_committed_without_outputs():
    for path in (ROOT / "book").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


@pytest.fixture(scope="module")
def site():
    return built_site()


def test_every_page_is_built_and_executed(site):
    html, log = site
    for f in toc_files():
        page = html / f"{f}.html"
        assert page.exists(), f"{page} was not built"
    executed = [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]
    executed += [f"{course_site.SOLVED}/{a}" for a in course_site.assignments()]
    for f in executed:
        text = (html / f"{f}.html").read_text()
        assert 'class="cell_output' in text, f"{f}: no outputs: the notebook was not executed"
        # an error output (myst-nb marks it "output traceback"); the word Traceback alone also
        # names a colour in the code-highlighting CSS that displayed source brings along
        assert not re.search(r'class="[^"]*\boutput traceback\b', text), f"{f}: an error output"
        assert "Traceback (most recent call last)" not in text, f"{f}: a traceback"
        assert "Error" not in re.findall(r"ename\W+(\w+)", text)


def test_chapter_pages_have_figures_and_a_static_widget(site):
    html, _ = site
    for f in toc_files():
        if not (ROOT / f"{f}.ipynb").exists():
            continue
        text = (html / f"{f}.html").read_text()
        assert "data:image/png" in text or re.search(r'<img [^>]*src="[^"]+\.png"', text), f
        assert "application/vnd.jupyter.widget-state+json" in text, \
            f"{f}: no saved widget state, its widgets would be blank on the static site"


def _mini_book(tmp_path):
    """A one-page book with the course's own settings and extensions."""
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")     # the course's own settings
    (book / "tools").mkdir()
    for name in yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["local_extensions"]:
        shutil.copy(ROOT / "tools" / f"{name}.py", book / "tools")   # every extension it loads
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: broken\n")
    (book / "index.md").write_text("# Index\n")
    (book / "_vendor").mkdir()                                  # the front-end's folder
    return book


def _page(book, *code):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page")]
                                  + [nbformat.v4.new_code_cell(c) for c in code])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "broken.ipynb")


def _execute_pages(book):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "execute_pages.py"),
                           "--root", str(book), "--jobs", "2"],
                          capture_output=True, text=True, timeout=300)


def test_a_raising_notebook_fails_the_build(tmp_path):
    book = _mini_book(tmp_path)
    _page(book, "x = 1")
    healthy = jupyter_book(book, tmp_path / "healthy")      # the same book builds, warnings fail it
    assert healthy.returncode == 0, (healthy.stdout + healthy.stderr)[-5000:]
    _page(book, "x = 1", "raise ValueError('boom 42')")
    result = jupyter_book(book, tmp_path / "out")
    assert result.returncode != 0
    assert "boom 42" in result.stdout + result.stderr
    # executing the pages ahead of the build (as `make book` does) hides nothing: the page is
    # left out of the cache, and the build runs it again and fails on it
    ahead = _execute_pages(book)
    assert ahead.returncode == 0 and "broken.ipynb raised" in ahead.stdout, ahead.stdout + ahead.stderr
    result = jupyter_book(book, tmp_path / "out2")
    assert result.returncode != 0
    assert "boom 42" in result.stdout + result.stderr


def test_pages_executed_ahead_are_the_ones_the_site_shows(tmp_path):
    book = _mini_book(tmp_path)
    _page(book, "import os, time\nprint('run', os.getpid(), time.time_ns())")
    ahead = _execute_pages(book)
    assert ahead.returncode == 0 and "1 page(s) cached" in ahead.stdout, ahead.stdout + ahead.stderr
    run = re.search(r"run \d+ \d+", json.dumps([c.get("outputs") for c in _cached(book).cells])).group()
    built = jupyter_book(book, tmp_path / "out")
    assert built.returncode == 0, (built.stdout + built.stderr)[-5000:]
    html = (tmp_path / "out" / "_build" / "html" / "broken.html").read_text()
    assert run in html, "the build executed the page again instead of using the cached run"


def _cached(book):
    """The executed copy of the book's page in its jupyter-cache."""
    from jupyter_cache import get_cache

    cfg = yaml.safe_load((book / "_config.yml").read_text())["execute"]
    cache = get_cache(str(book / cfg["cache"]))
    record = cache.match_cache_notebook(nbformat.read(book / "broken.ipynb", as_version=4))
    return cache.get_cache_bundle(record.pk).nb
