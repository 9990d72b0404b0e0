# Quick start: `make demo`, `make test`. Both create .venv and install when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck need-redis pytest wheel-check bench clean

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

# The cluster tests start real redis-server processes and skip (one line each) when it is missing.
need-redis:
	@if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "redis-server is missing and the cluster tests need it: installing it with apt-get (running as root)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } \
	      || echo "apt-get could not install redis-server: the cluster tests will be skipped"; \
	  else \
	    echo "redis-server is missing: the cluster tests will be skipped (install it: sudo apt-get install redis-server)"; \
	  fi; \
	fi

pytest: $(STAMP) need-redis
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Prove the wheel carries the package data and the entry point: build it from a clean copy of the
# sources, install it into a throw-away venv and run the demo from outside the source tree.
COPY_EXCLUDES := --exclude=./.git --exclude=./$(VENV) --exclude=./build --exclude='*.egg-info' \
  --exclude=__pycache__ --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
  --exclude=./.hypothesis --exclude='./downloads*'

wheel-check: $(STAMP)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	mkdir "$$tmp/src" "$$tmp/run"; \
	tar -cf - $(COPY_EXCLUDES) . | tar -xf - -C "$$tmp/src"; \
	$(BIN)/python -m pip wheel -q --no-deps -w "$$tmp/dist" "$$tmp/src"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q "$$tmp"/dist/tgfetch-*.whl; \
	"$$tmp/venv/bin/python" -c "import importlib.resources as r; s = r.files('tgfetch.web') / 'static'; \
	  assert all((s / n).is_file() for n in ('layout.html', 'accounts.main.html', 'app.js', 'app.css')), 'the dashboard assets are missing'"; \
	cd "$$tmp/run"; \
	"$$tmp/venv/bin/tgfetch" demo --dest "$$tmp/dl" >"$$tmp/demo.log" 2>&1 || { cat "$$tmp/demo.log"; exit 1; }; \
	echo "wheel-check: $$(ls "$$tmp/dist") installs into a fresh venv, ships the dashboard's assets and runs tgfetch demo"

test: lint typecheck pytest wheel-check

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/distribution.py --quick
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/makespan.py
	$(BIN)/python bench/cluster.py

clean:
	rm -rf $(VENV) downloads-demo .pytest_cache .mypy_cache .ruff_cache
