# The course's commands. `make book` builds the site, `make test` runs the tests; both set
# everything up first (tools/setup.sh). See README.md.
PY      := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

ASSIGNMENT  ?= 04_attention
SUBMISSIONS ?=

.PHONY: setup vendor book site-test page-weight test test-fast assets release twins collect grade feedback export clean

setup: .venv/.installed
.venv/.installed: requirements.txt requirements-nodeps.txt pyproject.toml tools/setup.sh
	bash tools/setup.sh

## the site's front-end (MathJax, the widget manager) from npm, pinned by package-lock.json
vendor: _vendor/versions.json
_vendor/versions.json: package.json package-lock.json tools/vendor.sh
	bash tools/vendor.sh

## build the static site into _build/html, executing every page (cached: only changed pages rerun);
## the zoo is built first (a no-op once built), so no page cell waits minutes for a pre-training.
## Pages run on one thread each: tools/execute_pages.py runs the changed ones side by side first.
book: setup vendor assets
	$(PY) tools/execute_pages.py
	.venv/bin/jupyter-book build -W --keep-going .

## the site's tests (pages, links, concept index, browser) on the site `make book` built
site-test: book
	TLCOURSE_SITE=_build/html MPLBACKEND=Agg $(PY) -m pytest tests/test_site_pages.py tests/test_site_browser.py

## the largest pages and images of the built site
page-weight: book
	$(PY) bench/page_weight.py _build/html

## run every test (the book build and nbgrader grading included)
test: setup vendor
	MPLBACKEND=Agg $(PY) -m pytest; rc=$$?; \
	if [ $$rc = 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

## the quick tests only (no book build, no nbgrader grading)
test-fast: setup
	MPLBACKEND=Agg $(PY) -m pytest -m "not slow"

## pre-train every model of the zoo into .cache/zoo (or $$TLCOURSE_CACHE); shipped models are
## loaded from tlcourse/weights/, and trained again into it with RETRAIN=1
RETRAIN ?=
assets: setup
	TLCOURSE_RETRAIN=$(RETRAIN) $(PY) -m tlcourse.zoo build

## regenerate exercises/ from solutions/ with nbgrader
release: setup
	$(PY) -m autograder release

## rewrite the source notebooks' plain-text twins solutions/<id>/<id>.py (a test fails when stale)
twins: setup
	$(PY) -m autograder.twins sync

## instructors, one step each (see README): collect, grade, feedback, export
collect: setup
	$(PY) -m autograder collect $(ASSIGNMENT) $(SUBMISSIONS)
grade: setup
	$(PY) -m autograder grade $(ASSIGNMENT) $(SUBMISSIONS)
feedback: setup
	$(PY) -m autograder feedback $(ASSIGNMENT)
export: setup
	$(PY) -m autograder export $(ASSIGNMENT)

clean:
	rm -rf _build .cache/jupyter book/solved
