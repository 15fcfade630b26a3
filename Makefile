# Two commands a fresh machine needs: `make demo` and `make test`.
# Each sets itself up: a .venv with an editable install, and Graphviz's `dot` when missing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint setup clean

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
