# RamanCMP: two commands on a fresh machine (both idempotent)
#   make book   -- set everything up, fetch the data, run the whole book (full profile)
#   make test   -- set everything up, fetch the data, run the tests (incl. every chapter in the quick profile)
# Options: PYTHON=python3.11  RRUFF_ZIP=/path/to/excellent_unoriented.zip (use a local copy instead of rruff.info)
#          PROFILE=quick (for `make book`)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= full
FETCH_FROM := $(if $(RRUFF_ZIP),--from $(RRUFF_ZIP),)

.PHONY: install data book test clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ramancmp)" >/dev/null
	touch $@

install: $(VENV)/.installed

data: install
	$(PY) -m ramancmp data fetch $(FETCH_FROM)

book: data
	$(PY) -m ramancmp book run --profile $(PROFILE)

test: data
	$(PY) -m pytest

clean:
	rm -rf build .pytest_cache
