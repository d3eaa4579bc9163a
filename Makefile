# Studio: set up, run and test. `make run` and `make test` work on a fresh
# Debian/Ubuntu machine: they install missing system libraries, create .venv
# (idempotently: reinstalled only when the requirements change) and go.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: setup run test lint-imports benchmarks clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml packaging/system-deps.sh
	bash packaging/system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

run: setup
	$(VENV)/bin/studio

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider
	$(VENV)/bin/lint-imports

benchmarks: setup
	$(PY) benchmarks/startup.py

clean:
	rm -rf $(VENV) build *.egg-info
