"""The "Check your understanding" quizzes, from their data (no build): every chapter of the table
of contents has one (``book/quizzes/NN_slug.yml``) of 6 to 10 questions mixing multiple choice and
numbers, every question has an explanation and a valid answer, every concept of the concept index
that no graded task exercises is asked about, and each chapter page ends with the quiz. The built
pages are checked by ``test_site_pages.py``, the quizzes answered in a browser by
``test_site_browser.py``."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from test_site_pages import ROOT, course_site

CHAPTERS = course_site.chapter_pages()            # {4: "book/04_attention", ...}


def quiz_names() -> list[str]:
    return [Path(d).name for _, d in sorted(CHAPTERS.items())]


@pytest.fixture(scope="module")
def quizzes() -> dict[str, dict]:
    return {name: course_site.load_quiz(name) for name in quiz_names()}   # raises on bad data


def test_every_chapter_has_a_quiz_of_6_to_10_questions_of_both_kinds(quizzes):
    low, high = course_site.QUIZ_SIZE
    assert (low, high) == (6, 10)
    assert set(quizzes) == set(quiz_names()) and len(quizzes) == len(CHAPTERS) > 0
    for name, quiz in quizzes.items():
        n = len(quiz["questions"])
        assert low <= n <= high, f"{name}: {n} questions, expected {low} to {high}"
        kinds = {course_site.quiz_kind(q) for q in quiz["questions"]}
        assert kinds == {"choice", "number"}, f"{name}: mix multiple choice and numbers, got {kinds}"
        assert quiz["chapter"] == course_site.chapter_number(name)


def test_every_question_has_an_explanation_and_a_valid_answer(quizzes):
    for name, quiz in quizzes.items():
        assert course_site.quiz_problems(quiz, name) == []
        for q in quiz["questions"]:
            assert len(q["explain"].split()) >= 5, f"{name}/{q['id']}: explain the answer"
            assert len(q["prompt"].split()) >= 4, f"{name}/{q['id']}: the question is too short"
            if course_site.quiz_kind(q) == "choice":
                assert 0 <= q["answer"] < len(q["choices"]) and len(q["choices"]) >= 2
            else:
                # a reply within the tolerance is right; the tolerance cannot make every reply right
                assert 0 <= q["tolerance"] < max(abs(q["answer"]), 1), f"{name}/{q['id']}"


def test_the_data_checks_name_what_is_wrong():
    good = {"chapter": 4, "questions": [
        {"id": "a", "prompt": "Which?", "choices": ["x", "y"], "answer": 1, "explain": "Because."},
        {"id": "b", "prompt": "How many?", "answer": 3, "tolerance": 0, "explain": "Count."}]}
    assert course_site.quiz_problems(good, "04_attention") == []

    def problems(edit):
        bad = copy.deepcopy(good)
        edit(bad)
        return " ".join(course_site.quiz_problems(bad, "04_attention"))

    assert "index of a choice" in problems(lambda b: b["questions"][0].update(answer=2))
    assert "index of a choice" in problems(lambda b: b["questions"][0].update(answer=True))
    assert "at least two" in problems(lambda b: b["questions"][0].update(choices=["x"]))
    assert "the same" in problems(lambda b: b["questions"][0].update(choices=["x", "x "]))
    assert "`explain`" in problems(lambda b: b["questions"][0].pop("explain"))
    assert "numeric `answer`" in problems(lambda b: b["questions"][1].update(answer="3"))
    assert "`tolerance`" in problems(lambda b: b["questions"][1].pop("tolerance"))
    assert "used twice" in problems(lambda b: b["questions"][1].update(id="a"))
    assert "unknown keys" in problems(lambda b: b["questions"][1].update(hint="x"))
    assert "`chapter`" in problems(lambda b: b.update(chapter=5))


def test_every_concept_no_graded_task_exercises_is_asked_about(quizzes):
    concepts = course_site.load_concepts()
    names = {e["concept"]: e["chapter"] for e in concepts}
    for name, quiz in quizzes.items():
        asked = set()
        for q in quiz["questions"]:
            for c in q.get("concepts", []):
                assert c in names, f"{name}/{q['id']}: {c!r} is not in book/concepts.yml"
                assert names[c] == quiz["chapter"], f"{name}/{q['id']}: {c!r} is another chapter's"
                asked.add(c)
        untested = {e["concept"] for e in concepts
                    if e["chapter"] == quiz["chapter"] and e.get("task") is None}
        assert not untested - asked, f"{name}: no question on {sorted(untested - asked)}"


def test_each_chapter_page_ends_with_its_quiz():
    for name in quiz_names():
        nb = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())
        markdown = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
        last = "".join(markdown[-1]["source"])
        assert nb["cells"][-1] is markdown[-1], f"{name}: the quiz must be the page's last cell"
        assert re.search(rf"^## {course_site.QUIZ_HEADING}\s*$", last, flags=re.M), name
        assert re.search(rf"^```{{quiz}} {name}\s*\n```\s*$", last, flags=re.M), \
            f"{name}: its last cell should hold ```{{quiz}} {name}```"


def test_quiz_html_is_plain_accessible_forms(quizzes):
    name, quiz = next(iter(quizzes.items()))
    html = course_site.quiz_html(quiz, name)
    page = course_site.SitePage(f"<article>{html}</article>")
    assert "<script" not in html and "http" not in html        # static HTML, nothing fetched
    forms = re.findall(r"<form [^>]*>.*?</form>", html, flags=re.S)
    assert len(forms) == len(quiz["questions"])
    for form, q in zip(forms, quiz["questions"]):
        assert '<button type="submit"' in form
        assert 'role="status"' in form and 'aria-live="polite"' in form
        assert re.search(r'class="tl-quiz-explanation"[^>]*hidden', form)
        inputs = re.findall(r'<input [^>]*id="([^"]+)"', form)
        assert inputs and all(f'for="{i}"' in form for i in inputs), "every field has a label"
        assert all(i in page.ids for i in inputs)
        if course_site.quiz_kind(q) == "choice":
            assert "<fieldset" in form and "<legend" in form
            values = [int(v) for v in re.findall(r'type="radio"[^>]*value="(\d+)"', form)]
            assert sorted(values) == list(range(len(q["choices"])))   # shown shuffled, all there
            assert values == course_site.choice_order(name, q)        # the same on every build
        else:
            assert 'type="text"' in form and 'inputmode="decimal"' in form
    assert not page.paragraphs, "quiz text in <p> would be picked as a search term, unindexed"
