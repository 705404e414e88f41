"""Sphinx extension: the headline ledger (``book/ledger``) and ``ledger.json``.

Pages record their headline claims with :func:`tlcourse.ledger.claim`, which glues each row into the
page's notebook. myst-nb writes every executed page's glued values to
``_build/jupyter_execute/<page>.glue.json``; once every page has been read (and executed), this
extension collects the rows, renders them on the ledger page (``{headline-ledger}``), writes
``ledger.json`` next to the site, and fails the build when a row that its page asserts does not hold.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
LEDGER_DOC = "book/ledger"


class ledger_table(nodes.General, nodes.Element):
    """Placeholder, filled in once every page has been read."""


class LedgerDirective(SphinxDirective):
    def run(self):
        return [ledger_table()]


def collect_rows(app) -> list[dict]:
    from tlcourse import ledger

    folder = Path(app.env.mystnb_config.output_folder)
    rows = []
    for path in sorted(folder.rglob("*.glue.json")):
        docname = path.relative_to(folder).as_posix()[:-len(".glue.json")]
        if docname in app.env.found_docs:           # not a page removed since an earlier build
            rows += [{**row, "page": docname}
                     for row in ledger.rows_from_glue(json.loads(path.read_text()))]
    return sorted(rows, key=lambda r: (r["chapter"], r["page"], r["id"]))


def _number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{100 * value:.1f}%"
    return f"{value:.3g}" + (f" {unit}" if unit else "")


def _interval(row: dict) -> str:
    if row["ci"] is None:
        return "—"
    scale, suffix = (100, " pts") if row["unit"] == "%" else (1, "")
    low, high = (scale * v for v in row["ci"])
    return f"[{low:+.3g}, {high:+.3g}]{suffix}"


def _verdict(row: dict) -> str:
    if not row["asserted"]:
        return "not claimed (the page says why)" if not row["holds"] else "holds (not claimed)"
    return "holds" if row["holds"] else "DOES NOT HOLD"


def render_html(rows: list[dict], pages: dict[str, str]) -> str:
    head = ["Ch.", "Claim", "Paper", "Ours", "Baseline", "95% interval of ours − baseline", "Verdict"]
    out = ['<table class="table ledger">', "<thead><tr>"
           + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in rows:
        link = pages.get(r["page"], "")
        claim = html.escape(r["claim"])
        if link:
            claim = f'<a href="{html.escape(link)}">{claim}</a>'
        cells = [str(r["chapter"]), claim, html.escape(r["paper"] or "—"),
                 _number(r["ours"], r["unit"]), _number(r["baseline"], r["unit"]), _interval(r),
                 _verdict(r)]
        out.append(f'<tr id="ledger-{html.escape(r["id"])}">'
                   + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _always_reread(app, env, added, changed, removed):
    return [LEDGER_DOC] if LEDGER_DOC in env.found_docs else []


def _check(app, env):
    from tlcourse import ledger

    rows = collect_rows(app)
    env.tlcourse_ledger = rows
    for r in ledger.failures(rows):
        logger.error(f"ledger: the claim {r['id']!r} of {r['page']} does not hold: {r['claim']} "
                     f"(ours {r['ours']:.4g}, baseline {r['baseline']:.4g}, interval {r['ci']})",
                     location=r["page"])


def _fill(app, doctree, docname):
    rows = getattr(app.env, "tlcourse_ledger", None)
    if rows is None:
        rows = collect_rows(app)
    for node in doctree.findall(ledger_table):
        pages = {r["page"]: app.builder.get_relative_uri(docname, r["page"]) for r in rows}
        node.replace_self(nodes.raw("", render_html(rows, pages), format="html"))


def _write_json(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from tlcourse import ledger

    rows = getattr(app.env, "tlcourse_ledger", None) or collect_rows(app)
    keep = ("id", "chapter", "claim", "paper", "ours", "baseline", "ci", "holds", "asserted", "unit",
            "better", "margin", "page")
    (Path(app.outdir) / "ledger.json").write_text(
        json.dumps([{k: r[k] for k in keep} for r in rows], indent=1))
    bad = ledger.failures(rows)
    if bad:
        raise ExtensionError("the headline ledger has claims that do not hold: "
                             + ", ".join(r["id"] for r in bad))


def setup(app):
    app.add_node(ledger_table)
    app.add_directive("headline-ledger", LedgerDirective)
    app.connect("env-get-outdated", _always_reread)
    app.connect("env-updated", _check)
    app.connect("doctree-resolved", _fill)
    app.connect("build-finished", _write_json)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
