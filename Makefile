# Two entry points for a fresh checkout: `make demo` and `make test`.
# Any Python >= 3.11 works: `make demo PYTHON=python3.12` picks another one.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per install set: `demo` needs only the lab extra, `test` the whole dev set.
LAB_STAMP := $(VENV)/.installed-lab
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: setup demo test lint test-only floors newer-python check-python

check-python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "make: no '$(PYTHON)' on PATH. Install Python 3.11 or newer, or pass PYTHON=/path/to/python3.11." >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "make: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); segwidgets needs 3.11 or newer. Pass PYTHON=python3.11 (or newer)." >&2; \
	  exit 1; }

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $(LAB_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP) $(LAB_STAMP)

setup: $(DEV_STAMP)

demo: $(LAB_STAMP)
	$(BIN)/segwidgets demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(DEV_STAMP)
	bash scripts/test.sh

test-only:
	bash scripts/test.sh

# Every dependency at its declared floor, in .venv-floors (part of CI: .ci/run).
floors: $(DEV_STAMP)
	bash scripts/floors.sh

# The unit and widget tiers on the newest Python 3.12+ found here (part of CI: .ci/run).
newer-python: $(DEV_STAMP)
	bash scripts/newer-python.sh
