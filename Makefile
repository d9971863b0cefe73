# Berth: `make run` starts the console at http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2

.PHONY: run test lint typecheck bench screenshots clean

run: $(VENV)/.runtime-installed
	$(BIN)/python -m scripts.run_console

test: $(VENV)/.dev-installed
	bash scripts/ensure_debian_package.sh chromium chromium chromium-driver
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(VENV)/.dev-installed
	bash scripts/ensure_debian_package.sh wrk wrk
	$(BIN)/python -m bench.serving

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Berth needs Python 3.11 or newer"'
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
	bash scripts/ensure_debian_package.sh chromium chromium chromium-driver
	BERTH_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/browser

clean:
	rm -rf $(VENV) var
