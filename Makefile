# Studio: set up, run and test. `make run` and `make test` work on a fresh
# Debian/Ubuntu machine: they install missing system libraries, create .venv
# (idempotently: reinstalled only when the requirements change) and go.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python
# llama.cpp is built for the common x86-64 features, not for this processor
# alone: a native build can stop with "Illegal instruction" on another machine.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: setup run test lint-imports benchmarks clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-llama.txt pyproject.toml packaging/system-deps.sh
	bash packaging/system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -r requirements-llama.txt \
		|| echo "setup: llama.cpp did not build; GGUF models will run through transformers" >&2
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
