# Two commands do all set-up on a fresh machine with Python 3.11 and pip:
#   make test   -- create .venv, install, run pytest, rebuild the book on the smoke profile and
#                  compare its results with the golden values (tests/golden/smoke.json)
#   make book   -- create .venv, install, build the book from the default profile's stored results
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PGX := $(VENV)/bin/pgx

.PHONY: install test book unit clean browser-check

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

book: install
	$(PGX) book --profile default

# Opens every page of the built book in headless Chromium, offline, at 1280 px (tools/browser_check.py);
# skips with one line when chromium is not installed. `make browser-check BROWSER_PROFILE=default` checks
# the book of the committed results.
browser-check: install
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  echo "browser check skipped: chromium is not installed (apt-get install chromium chromium-driver)"; exit 0; }; \
	$(PY) -m pip install --quiet -e ".[browser]" && \
	$(PGX) book --profile $(BROWSER_PROFILE) && \
	$(PY) tools/browser_check.py book/_build/html

clean:
	rm -rf book/_build book/notebooks
