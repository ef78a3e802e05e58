# Two commands do all set-up on a fresh machine with Python 3.11 and pip:
#   make test   -- create .venv, install, run pytest, rebuild the book on the smoke profile,
#                  compare its results with the golden values (tests/golden/smoke.json) and, where
#                  chromium is installed, open every page of it headless (tools/browser_check.py)
#   make book   -- create .venv, install, build the book from the default profile's stored results
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PGX := $(VENV)/bin/pgx

.PHONY: install test book unit clean browser-check check-built-book

BROWSER_PROFILE ?= smoke

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

unit: install
	$(PY) -m pytest -q

test: install
	$(PY) -m pytest -q
	$(PGX) book --profile smoke --force --check
	$(PGX) golden
	@$(MAKE) --no-print-directory check-built-book

book: install
	$(PGX) book --profile default

# Opens every page of the built book in headless Chromium, offline, at 1280 px (tools/browser_check.py);
# skips with one line when chromium is not installed. `make browser-check BROWSER_PROFILE=default` checks
# the book of the committed results; `make test` checks the smoke book it has just built.
HAS_CHROMIUM := command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1
NO_CHROMIUM := echo "browser check skipped: chromium is not installed (apt-get install chromium chromium-driver)"

browser-check: install
	@if $(HAS_CHROMIUM); then $(PGX) book --profile $(BROWSER_PROFILE) && \
	  $(MAKE) --no-print-directory check-built-book; else $(NO_CHROMIUM); fi

check-built-book: install
	@if $(HAS_CHROMIUM); then $(PY) -m pip install --quiet -e ".[browser]" && \
	  $(PY) tools/browser_check.py book/_build/html; else $(NO_CHROMIUM); fi

clean:
	rm -rf book/_build book/notebooks
