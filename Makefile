# RamanCMP: two commands on a fresh machine (both idempotent)
#   make book   -- set everything up, fetch the data, run the whole book (full profile)
#   make check  -- the inner loop (<= 2 min on 2 cores): ruff, then every test that runs no chapter and trains
#                  nothing beyond the tiny profile, on both cores (pytest-xdist)
#   make test   -- set everything up, fetch the data, run the tests (incl. every chapter in the quick profile);
#                  what CI runs: check (<= 2 min), then the slow tier (test-slow), then the book tier (test-book)
#   make site   -- the static HTML book from the committed notebooks, offline -> build/site/index.html
#   make lab    -- JupyterLab at the repository root (jupytext pairing on)
# Options: PYTHON=python3.11  RRUFF_ZIP=/path/to/excellent_unoriented.zip (use a local copy instead of rruff.info)
#          PROFILE=quick (for `make book`)  NOTEBOOKS=build/quick (for `make site`: another folder of executed notebooks)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= full
FETCH_FROM := $(if $(RRUFF_ZIP),--from $(RRUFF_ZIP),)
NOTEBOOKS ?= book

.PHONY: install data book check lint test test-slow test-book site lab browser clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,site,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ramancmp)" >/dev/null
	touch $@

install: $(VENV)/.installed

data: install
	$(PY) -m ramancmp data fetch $(FETCH_FROM)

book: data
	$(PY) -m ramancmp book run --profile $(PROFILE)

lint: install
	$(VENV)/bin/ruff check .

check: lint
	$(PY) -m pytest -n 2 -q -m "not slow and not book"

# The slow tier: worker processes, kernels, a Dask cluster, training on RRUFF (seconds to a minute each).
test-slow: data
	$(PY) -m pytest -n 2 -q -m "slow and not book"

# The book tier: the whole book once in the quick profile, every solution, the committed notebooks' checked outputs,
# the site in a browser. On both cores: one worker runs the quick book (its chapters train on worker processes of
# their own) while the other builds the site and opens it in the browser; then both run the solutions. The quick
# profile's timings are a pipeline check, never quoted, so they need no idle machine.
test-book: data
	$(PY) -m pytest -n 2 --dist loadgroup -q -m book

test: data check test-slow test-book

site: install
	$(PY) -m ramancmp.book.site --notebooks $(NOTEBOOKS) --output build/site

lab: install
	$(VENV)/bin/jupyter lab

# Chromium for the figures' static images (kaleido) and the site's browser test; Debian/Ubuntu, as root.
browser:
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: figures get no static image, the site's browser test is skipped"

clean:
	rm -rf build .pytest_cache
