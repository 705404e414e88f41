"""The site builds with every page executed, and a page whose code raises fails the build.

The site is built once per test session (``test_site_pages.built_site``: a fresh build, or the one
``$TLCOURSE_SITE`` names) and shared with the site's other tests."""
import re
import shutil
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


def test_a_raising_notebook_fails_the_build(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")     # the course's own settings
    (book / "tools").mkdir()
    for name in yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["local_extensions"]:
        shutil.copy(ROOT / "tools" / f"{name}.py", book / "tools")   # every extension it loads
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: broken\n")
    (book / "index.md").write_text("# Index\n")
    (book / "_vendor").mkdir()                                  # the front-end's folder
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page"),
                                         nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "broken.ipynb")
    healthy = jupyter_book(book, tmp_path / "healthy")      # the same book builds, warnings fail it
    assert healthy.returncode == 0, (healthy.stdout + healthy.stderr)[-5000:]
    nb.cells.append(nbformat.v4.new_code_cell("raise ValueError('boom 42')"))
    nbformat.write(nb, book / "broken.ipynb")
    result = jupyter_book(book, tmp_path / "out")
    assert result.returncode != 0
    assert "boom 42" in result.stdout + result.stderr
