"""The built site in a real browser (headless Chromium driven by Playwright), served from a local
HTTP server with every request that leaves the site blocked, so the site is checked as it works
offline.

Every page Sphinx built (the table of contents, the exercise and solution pages) is visited once:
no console error and no page error, nothing fetched from elsewhere, every request answered, math
typeset by MathJax, every image loaded; on each page every widget control (slider, dropdown,
toggle buttons) is operated and must change what the widget shows, and every chapter page must
have one. The search page must find each chapter, by a word of its title and by a word only its
paragraphs use. A solution stays folded until its toggle is opened.

Artifacts, in ``_build/site-report/`` (ignored): a screenshot of each page (and of each chapter's
widget before and after it is operated) and ``visits.json`` (load time, bytes transferred,
console messages per page).

Chromium: ``$TLCOURSE_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on
the PATH (Debian: ``apt-get install chromium``; Playwright's own browser download is not used).
Without Playwright or Chromium these tests skip here and fail in CI.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import unavailable
from test_site_pages import ROOT, built_site, course_site, parse, site_docnames, site_titles

pytestmark = pytest.mark.slow
REPORT = ROOT / "_build" / "site-report"
VIEWPORT = {"width": 1280, "height": 900}
# messages that are not errors of the site: none so far (keep this list short and explained)
IGNORED_CONSOLE = [
]


def chromium_path() -> str | None:
    for exe in [os.environ.get("TLCOURSE_CHROMIUM"), "chromium", "chromium-browser",
                "google-chrome", "google-chrome-stable"]:
        if exe and (found := shutil.which(exe)):
            return found
    return None


def shot_name(docname: str, suffix: str = "") -> str:
    return docname.replace("/", "__") + suffix + ".png"


# --------------------------------------------------------------------------------------------
# Fixtures: the site, a server, a browser, one visit per page

@pytest.fixture(scope="module")
def site() -> Path:
    return built_site()[0]


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (it is pinned in requirements.txt: make setup)")
    exe = chromium_path()
    if exe is None:
        unavailable("no Chromium (apt-get install chromium, or set TLCOURSE_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])   # root, containers
        yield b
        b.close()


class Tab:
    """A browser tab that blocks and records every request leaving the site, and records
    console messages, page errors and failed requests."""

    def __init__(self, browser, base: str):
        self.base = base
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.set_default_timeout(30_000)
        self.reset()
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: self.console.append(
            {"type": m.type, "text": m.text, "where": str(m.location.get("url", ""))}))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: None if r.url in self.external else
                     self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", self._response)

    def reset(self):
        self.console, self.errors, self.failed, self.external = [], [], [], []
        self.bytes = 0

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def _response(self, response):
        if response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")
        try:
            self.bytes += int(response.headers.get("content-length") or 0)
        except ValueError:
            pass

    def open(self, path: str):
        self.reset()
        t = time.perf_counter()
        self.page.goto(self.base + path, wait_until="load")
        self.settle()
        return time.perf_counter() - t

    def settle(self):
        """Wait for MathJax's first typesetting and for every saved widget view to render."""
        p = self.page
        p.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise "
                   "? MathJax.startup.promise.then(() => true) : true")
        p.wait_for_function("""() => [...document.querySelectorAll(
            'script[type="application/vnd.jupyter.widget-view+json"]')].every(s =>
            s.previousElementSibling && s.previousElementSibling.classList.contains('widget-subarea')
            && s.previousElementSibling.childElementCount > 0)""")


# what the page shows: the views' visible images and text, the operated control left out
SIGNATURE = """([view, control]) => {
  const imgs = [...view.querySelectorAll('img')]
      .filter(i => i.offsetParent !== null && !control.contains(i)).map(i => i.src);
  let text = view.innerText;
  const own = control.innerText;
  if (own) text = text.replace(own, '');
  return JSON.stringify([imgs, text]);
}"""

CONTROLS = ".widget-slider, .widget-dropdown, .widget-toggle-buttons"


def operate(page, control) -> str:
    """Move a control to another value; returns what was done."""
    kind = control.get_attribute("class") or ""
    if "widget-slider" in kind:
        handle = control.query_selector(".noUi-handle")
        at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.focus()
        page.keyboard.press("Home" if at_end else "ArrowRight")
        return "slider " + ("Home" if at_end else "ArrowRight")
    if "widget-dropdown" in kind:
        select = control.query_selector("select")
        n = select.evaluate("s => s.options.length")
        i = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(i + 1) % n)
        return f"dropdown {i} -> {(i + 1) % n}"
    buttons = control.query_selector_all("button")
    current = next((k for k, b in enumerate(buttons)
                    if "mod-active" in (b.get_attribute("class") or "")), 0)
    buttons[(current + 1) % len(buttons)].click()
    return f"toggle button {current} -> {(current + 1) % len(buttons)}"


def try_widgets(page, docname: str) -> list[dict]:
    """Operate every control of every widget on the page; record whether what the widget shows
    (outside the control itself) changed."""
    results = []
    for v, view in enumerate(page.query_selector_all(".widget-subarea")):
        for c, control in enumerate(view.query_selector_all(CONTROLS)):
            if not control.is_visible():
                continue
            control.scroll_into_view_if_needed()
            first = not results
            if first:
                view.screenshot(path=str(REPORT / "screenshots" / shot_name(docname, "-widget-0")))
            before = page.evaluate(SIGNATURE, [view, control])
            action = operate(page, control)
            try:
                page.wait_for_function(f"([view, control, before]) => ({SIGNATURE})([view, control]) "
                                       f"!== before", arg=[view, control, before], timeout=5000)
            except Exception:
                pass
            after = page.evaluate(SIGNATURE, [view, control])
            if first:
                view.screenshot(path=str(REPORT / "screenshots" / shot_name(docname, "-widget-1")))
            results.append({"view": v, "control": c, "action": action, "changed": after != before})
    return results


@pytest.fixture(scope="module")
def visits(browser, server, site):
    """Visit every page once; returns {docname: what was seen}."""
    (REPORT / "screenshots").mkdir(parents=True, exist_ok=True)
    for old in (REPORT / "screenshots").glob("*.png"):
        old.unlink()
    tab = Tab(browser, server)
    seen = {}
    for doc in site_docnames(site):
        seconds = tab.open(f"{doc}.html")
        p = tab.page
        math = p.evaluate("""() => {
            const all = [...document.querySelectorAll('.math')];
            return {count: all.length,
                    untypeset: all.filter(e => !e.querySelector('mjx-container'))
                                  .map(e => e.textContent.slice(0, 80)),
                    errors: [...document.querySelectorAll('mjx-merror')]
                                  .map(e => e.textContent.slice(0, 80))};
        }""")
        images = p.evaluate("""() => [...document.images].map(i => ({
            src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}))""")
        p.screenshot(path=str(REPORT / "screenshots" / shot_name(doc)))
        widgets = try_widgets(p, doc)
        seen[doc] = {"seconds": round(seconds, 2), "bytes": tab.bytes, "math": math,
                     "images": images, "widgets": widgets, "console": tab.console,
                     "errors": tab.errors, "failed": tab.failed, "external": tab.external}
    tab.page.close()
    (REPORT / "visits.json").write_text(json.dumps(seen, indent=1))
    return seen


# --------------------------------------------------------------------------------------------
# The tests

def test_every_page_was_visited(visits, site):
    expected = set(course_site.toc_docnames())
    for a in course_site.assignments():
        expected |= {f"exercises/{a}/{a}", f"{course_site.SOLVED}/{a}"}
    assert expected <= set(visits), f"not visited: {sorted(expected - set(visits))}"


def test_pages_load_without_console_errors(visits):
    problems = []
    for doc, v in visits.items():
        problems += [f"{doc}: page error: {e}" for e in v["errors"]]
        problems += [f"{doc}: console {m['type']}: {m['text']} ({m['where']})" for m in v["console"]
                     if m["type"] in ("error", "assert")
                     and not any(re.search(pat, m["text"]) for pat in IGNORED_CONSOLE)]
    assert not problems, "\n".join(problems)


def test_nothing_is_fetched_from_outside_the_site(visits):
    outside = {doc: v["external"] for doc, v in visits.items() if v["external"]}
    assert not outside, f"requests leaving the site (blocked; the site must work offline): {outside}"


def test_every_request_is_answered(visits):
    failed = {doc: v["failed"] for doc, v in visits.items() if v["failed"]}
    assert not failed, f"failed requests: {failed}"


def test_math_is_typeset(visits, site):
    problems = {doc: v["math"] for doc, v in visits.items()
                if v["math"]["untypeset"] or v["math"]["errors"]}
    assert not problems, f"math left untypeset or with errors: {problems}"
    for doc in course_site.chapter_pages().values():
        assert visits[doc]["math"]["count"] > 0, f"{doc}: no math typeset on a chapter page"


def test_every_image_loads(visits):
    broken = {doc: [i["src"][:120] for i in v["images"] if not i["ok"]] for doc, v in visits.items()}
    broken = {d: b for d, b in broken.items() if b}
    assert not broken, f"images that did not load: {broken}"
    for doc in course_site.chapter_pages().values():
        assert sum(i["ok"] for i in visits[doc]["images"]) > 0, f"{doc}: no figure"


def test_each_chapter_widget_changes_what_is_shown(visits):
    for doc in course_site.chapter_pages().values():
        assert visits[doc]["widgets"], f"{doc}: no widget control to operate on a chapter page"
    dead = {doc: [w for w in v["widgets"] if not w["changed"]]
            for doc, v in visits.items()}
    dead = {d: w for d, w in dead.items() if w}
    assert not dead, f"operating these controls changed nothing shown: {dead}"


def search_terms(site: Path) -> dict[str, list[str]]:
    """For each chapter page: the longest word of its title, and a word of its paragraphs that
    the fewest other pages' paragraphs use (none, as a rule), the longest such."""
    titles = site_titles(site)
    words = {d: {w.lower() for w in re.findall(r"[A-Za-z]{6,}",
                                               " ".join(parse(site / f"{d}.html").paragraphs))}
             for d in site_docnames(site)}
    terms = {}
    for doc in course_site.chapter_pages().values():
        title = max(re.findall(r"[A-Za-z]+", titles[doc]), key=len)
        spread = {w: sum(w in ws for d, ws in words.items() if d != doc) for w in words[doc]}
        own = sorted(spread, key=lambda w: (spread[w], -len(w), w))
        terms[doc] = [title] + own[:1]
    return terms


def test_search_finds_each_chapter(browser, server, site):
    tab = Tab(browser, server)
    problems = []
    for doc, terms in search_terms(site).items():
        assert len(terms) == 2, f"{doc}: no paragraph text to search for"
        for term in terms:
            tab.open(f"search.html?q={term}")
            tab.page.wait_for_function(
                "() => { const s = document.querySelector('#search-results .search-summary,"
                " #search-results p'); return s && /found|did not match/i.test(s.textContent); }")
            hrefs = tab.page.eval_on_selector_all("#search-results a", "as => as.map(a => a.href)")
            if not any(h.split("?")[0].split("#")[0].endswith(f"/{doc}.html") for h in hrefs):
                problems.append(f"searching {term!r} does not list {doc} (got {hrefs[:5]})")
            if tab.errors or tab.external:
                problems.append(f"search {term!r}: {tab.errors} {tab.external}")
    tab.page.close()
    assert not problems, "\n".join(problems)


def test_solutions_are_folded_until_opened(browser, server):
    tab = Tab(browser, server)
    for a in course_site.assignments():
        tab.open(f"{course_site.SOLVED}/{a}.html")
        toggle = tab.page.locator("details.hide.above-input").first
        code = toggle.locator(".cell_input")
        assert not code.is_visible(), f"{a}: a solution is visible before its toggle is opened"
        toggle.locator("summary").click()
        assert code.is_visible(), f"{a}: opening the toggle does not show the solution"
    tab.page.close()


def test_quizzes_answer_right_and_wrong_with_the_keyboard(browser, server):
    """On every chapter page, "Check your understanding" works with no kernel and no network:
    a right answer and a wrong one, both given with the keyboard only, get the right feedback,
    announced in an aria-live region, and show the explanation."""
    tab = Tab(browser, server)
    p = tab.page
    problems = []
    for doc in course_site.chapter_pages().values():
        tab.open(f"{doc}.html")
        forms = p.locator("form.tl-quiz-question")
        n = forms.count()
        if n < 6:
            problems.append(f"{doc}: {n} quiz questions")
            continue
        kinds = [forms.nth(i).get_attribute("data-kind") for i in range(n)]
        # one of each kind where the chapter has both: right on the first, wrong on the other
        first = forms.nth(0)
        other = forms.nth(next((i for i in range(1, n) if kinds[i] != kinds[0]), 1))
        for form, right in ((first, True), (other, False)):
            qid = form.get_attribute("id")
            answer = form.get_attribute("data-answer")
            if form.get_attribute("data-kind") == "choice":
                values = [r.get_attribute("value") for r in form.locator("input[type=radio]").all()]
                value = answer if right else next(v for v in values if v != answer)
                form.locator(f"input[type=radio][value='{value}']").focus()
                p.keyboard.press("Space")                        # select the focused radio
                for _ in range(12):      # Tab on to the Check button (typeset math is focusable too)
                    p.keyboard.press("Tab")
                    if p.evaluate("() => document.activeElement.classList.contains('tl-quiz-check')"):
                        break
                else:
                    problems.append(f"{doc} {qid}: Tab from the choices never reaches Check")
                    form.locator("button.tl-quiz-check").focus()
                p.keyboard.press("Enter")
            else:
                tolerance = float(form.get_attribute("data-tolerance"))
                reply = float(answer) if right else float(answer) + 2 * tolerance + abs(float(answer)) + 1
                form.locator("input[type=text]").focus()
                p.keyboard.type(f"{reply:.12g}")
                p.keyboard.press("Enter")                        # submits the form
            feedback = form.locator(".tl-quiz-feedback")
            try:
                p.wait_for_function("f => f.textContent.trim().length > 0", arg=feedback.element_handle(),
                                    timeout=5000)
            except Exception:
                pass
            text = feedback.inner_text()
            state = form.get_attribute("data-state")
            want = ("right", "Correct") if right else ("wrong", "Not quite")
            if state != want[0] or want[1] not in text:
                problems.append(f"{doc} {qid}: answered {'right' if right else 'wrong'}, got state "
                                f"{state!r} and feedback {text!r}")
            if feedback.get_attribute("aria-live") != "polite":
                problems.append(f"{doc} {qid}: the feedback is not an aria-live region")
            if not form.locator(".tl-quiz-explanation").is_visible():
                problems.append(f"{doc} {qid}: no explanation shown after the check")
        if tab.errors or tab.external:
            problems.append(f"{doc}: {tab.errors} {tab.external}")
    tab.page.close()
    assert not problems, "\n".join(problems)
