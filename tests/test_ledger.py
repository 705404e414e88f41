"""The headline ledger: when a claim holds, and a site whose asserted claim fails does not build."""
import json
import math
import shutil
from pathlib import Path

import nbformat
import pytest

from tlcourse import ledger

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("ours, baseline, ci, better, margin, expected", [
    (0.70, 0.60, None, "higher", 0.0, True),
    (0.70, 0.60, [0.05, 0.15], "higher", 0.0, True),
    (0.70, 0.60, [-0.01, 0.21], "higher", 0.0, False),      # the interval includes no effect
    (0.70, 0.60, [0.04, 0.16], "higher", 0.05, True),       # by the claimed margin, not noise
    (0.62, 0.60, [0.01, 0.03], "higher", 0.05, False),      # not noise, but not by the margin
    (0.60, 0.70, None, "higher", 0.0, False),
    (3.70, 4.17, None, "lower", 0.3, True),
    (3.90, 4.17, None, "lower", 0.3, False),
    (3.70, 4.17, [-0.52, -0.42], "lower", 0.3, True),
    (3.70, 4.17, [-0.52, 0.05], "lower", 0.3, False),
    (0.151, 0.15, None, "close", 0.005, True),
    (0.16, 0.15, None, "close", 0.005, False),
    (math.nan, 0.5, None, "higher", 0.0, False),            # NaN never holds, whatever the sign
    (0.7, 0.5, [math.nan, 0.3], "higher", 0.0, False),
    (math.inf, 0.5, None, "higher", 0.0, False),
])
def test_when_a_claim_holds(ours, baseline, ci, better, margin, expected):
    assert ledger.holds(ours, baseline, ci, better, margin) is expected


def test_rows_round_trip_through_the_glue_file_and_failures_are_recomputed():
    row = {"id": "x", "chapter": 5, "claim": "c", "paper": None, "ours": 0.6, "baseline": 0.7,
           "ci": None, "unit": "%", "better": "higher", "margin": 0.0, "asserted": True,
           "holds": True}                                  # a row claiming to hold, but it does not
    glue = {"ledger:x": {"data": {"text/plain": repr(json.dumps(row))}}, "other": {"data": {}}}
    rows = ledger.rows_from_glue(glue)
    assert rows == [row]
    assert [r["id"] for r in ledger.failures(rows)] == ["x"]
    assert ledger.failures([{**row, "asserted": False}]) == []


def test_bootstrap_interval_covers_the_difference():
    a = [1] * 80 + [0] * 20
    b = [1] * 60 + [0] * 40
    low, high = ledger.bootstrap_diff(a, b)
    assert low < 0.2 < high and low > 0


def _mini_book(tmp_path: Path, claim_source: str) -> Path:
    book = tmp_path / "book"
    if book.exists():
        shutil.rmtree(book)
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "tools").mkdir()
    for f in ("course_site.py", "ledger_site.py"):
        shutil.copy(ROOT / "tools" / f, book / "tools")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n"
                                   "  - file: page\n  - file: book/ledger\n")
    (book / "index.md").write_text("# Index\n")
    shutil.copy(ROOT / "book" / "ledger.md", book / "book" / "ledger.md")
    (book / "_vendor").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A page"),
        nbformat.v4.new_code_cell("from tlcourse import ledger\n" + claim_source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "page.ipynb")
    return book


@pytest.mark.slow
def test_the_site_fails_to_build_when_an_asserted_claim_does_not_hold(tmp_path):
    from test_site_pages import jupyter_book

    claim = ('ledger.claim("demo", chapter=1, claim="ours beats the baseline", ours={ours}, '
             'baseline=0.5, ci=[{low}, 0.3], unit="%", asserted={asserted})')
    good = jupyter_book(_mini_book(tmp_path, claim.format(ours=0.7, low=0.1, asserted=True)),
                        tmp_path / "good")
    assert good.returncode == 0, (good.stdout + good.stderr)[-5000:]
    rows = json.loads((tmp_path / "good" / "_build" / "html" / "ledger.json").read_text())
    assert [(r["id"], r["holds"], r["ci"]) for r in rows] == [("demo", True, [0.1, 0.3])]
    page = (tmp_path / "good" / "_build" / "html" / "book" / "ledger.html").read_text()
    assert "ours beats the baseline" in page and "70.0%" in page and "holds" in page

    honest = jupyter_book(_mini_book(tmp_path, claim.format(ours=0.45, low=-0.1, asserted=False)),
                          tmp_path / "honest")          # reported, not claimed: builds
    assert honest.returncode == 0, (honest.stdout + honest.stderr)[-5000:]
    assert json.loads((tmp_path / "honest" / "_build" / "html" / "ledger.json").read_text())[0]["holds"] is False

    bad = jupyter_book(_mini_book(tmp_path, claim.format(ours=0.7, low=-0.1, asserted=True)),
                       tmp_path / "bad")                # the interval includes 0: does not hold
    assert bad.returncode != 0
    assert "does not hold" in bad.stdout + bad.stderr
