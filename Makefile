# Two commands a fresh machine needs: `make demo` and `make test`.
# Each sets itself up: a .venv with an editable install, and Graphviz's `dot` when missing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-cuda lint setup clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@./scripts/ensure_graphviz.sh
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: lint
	HYPOTHESIS_PROFILE=ci $(VENV)/bin/pytest -q tests

# On a machine with an NVIDIA GPU: the whole front-end op suite on device CUDA, and the GPU tests of stage 05
# (differential: CUDA vs the interpreter and C; an MLP trains on CUDA to the loss it reaches on C).
test-cuda: $(STAMP)
	@$(PY) -c "import sys, shrimpgrad.cuda as c; sys.exit(0 if c.cuda_available() else 'make test-cuda: no CUDA GPU found')"
	SHRIMP_TEST_DEVICES=CUDA HYPOTHESIS_PROFILE=ci $(VENV)/bin/pytest -q tests/frontend tests/05_cuda

bench: $(STAMP)
	$(PY) benchmarks/bench_ops.py --write

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
