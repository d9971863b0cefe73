# Berth: `make run` starts the console at http://127.0.0.1:8000, `make test` runs every test.
# Python 3.11.4 or newer: the bundle loader uses tarfile's extraction filters (Debian 12's
# python3.11 is 3.11.2, too old). The first of these that is new enough, unless PYTHON is given.
PYTHON_CANDIDATES := python3.11 python3.12 python3.13 python3
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in $(PYTHON_CANDIDATES); do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11, 4))' 2>/dev/null && command -v $$p && break; done)
endif
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2

.PHONY: run test lint typecheck bench screenshots clean

run: $(VENV)/.runtime-installed
	bash scripts/ensure_debian_package.sh bwrap bubblewrap
	$(BIN)/python -m scripts.run_console

test: $(VENV)/.dev-installed
	bash scripts/ensure_debian_package.sh chromium chromium
	bash scripts/ensure_debian_package.sh bwrap bubblewrap
	bash scripts/ensure_debian_package.sh prometheus prometheus
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(VENV)/.dev-installed
	bash scripts/ensure_debian_package.sh wrk wrk
	$(BIN)/python -m bench.serving.profile --out docs/benchmarks.md
	$(BIN)/python -m bench.serving --out docs/benchmarks.md

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "Berth needs Python 3.11.4 or newer (tarfile extraction filters), and none of" \
		"$(PYTHON_CANDIDATES) on PATH is. Install one, e.g. 'uv python install 3.11', then run" \
		"make PYTHON=\$$(uv python find 3.11) $(MAKECMDGOALS)" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(None if sys.version_info >= (3, 11, 4) else \
		f"Berth needs Python 3.11.4 or newer (tarfile extraction filters); $(PYTHON) is {sys.version.split()[0]}." \
		" Install a newer one, e.g. uv python install 3.11, and pass it: make PYTHON=/path/to/python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(VENV)/.runtime-installed: $(VENV)/bin/python requirements.txt sdk/pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet -e sdk
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

screenshots: $(VENV)/.dev-installed
	bash scripts/ensure_debian_package.sh chromium chromium
	BERTH_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/browser

clean:
	rm -rf $(VENV) var
