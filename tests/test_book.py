"""The site builds with every page executed, and a page whose code raises fails the build."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def jupyter_book(source: Path, out: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run([str(exe), "build", str(source),
                           "--path-output", str(out)], capture_output=True, text=True,
                          timeout=1800)


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_toc_lists_only_pages_that_exist():
    for f in toc_files():
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f


def test_book_notebooks_are_committed_without_outputs():
    for path in (ROOT / "book").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = jupyter_book(ROOT, out)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return out / "_build" / "html", result.stdout + result.stderr


def test_every_page_is_built_and_executed(site):
    html, log = site
    for f in toc_files():
        page = html / f"{f}.html"
        assert page.exists(), f"{page} was not built"
    for f in toc_files():
        if (ROOT / f"{f}.ipynb").exists():
            text = (html / f"{f}.html").read_text()
            assert "cell_output" in text, f"{f}: no outputs: the notebook was not executed"
            assert "Traceback" not in text and "Error" not in re.findall(r"ename\W+(\w+)", text)


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
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: broken\n")
    (book / "index.md").write_text("# Index\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise ValueError('boom 42')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "broken.ipynb")
    result = jupyter_book(book, tmp_path / "out")
    assert result.returncode != 0
    assert "boom 42" in result.stdout + result.stderr
