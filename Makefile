# Quick start: `make demo`, `make test`. Both create .venv and install when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing python3-venv"; \
	  apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,cluster]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tgfetch demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy tgfetch

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/distribution.py --quick
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/makespan.py
	$(BIN)/python bench/cluster.py

clean:
	rm -rf $(VENV) downloads-demo .pytest_cache .mypy_cache .ruff_cache
