# Two commands a fresh machine needs: `make demo` and `make test`.
# Each sets itself up: a .venv with an editable install, and Graphviz's `dot` when missing.
# `make demo` installs only what the demo runs: the package (numpy, rich, graphviz), about 100 MB;
# `make test` adds the `dev` extra (pytest, ruff, nbmake and jupyterlab, CUDA, scikit-learn, ...) to the same .venv.

PYTHON     ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test test-cuda lint setup clean bench notebooks

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@./scripts/ensure_graphviz.sh
	@touch $(DEMO_STAMP)

# A .venv set up for the tests runs the demo too.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@./scripts/ensure_graphviz.sh
	@touch $(STAMP) $(DEMO_STAMP)

setup: $(STAMP)

demo: $(DEMO_STAMP)
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

# The notebooks are stored executed (what a reader sees on GitHub): run them all again, top to bottom, and store
# the result (no timing metadata: a diff shows only what the cells show). tests/test_notebooks.py checks them.
notebooks: $(STAMP)
	cd notebooks && ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=300 *.ipynb

bench: $(STAMP)
	$(PY) benchmarks/bench_ops.py --write

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
