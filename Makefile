# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole service on 127.0.0.1 (moto, demo data, stream pump, API on :3000); Ctrl-C stops it.
# Ports: LOCAL_API_PORT (3000) and MOTO_PORT (5055); demo size: DEMO_CONTACTS (3000).
run: $(STAMP)
	$(BIN)/python -m infra.local

# The offline CLI walkthrough on examples/ (no AWS libraries involved).
demo: $(STAMP)
	$(BIN)/python -m infra.demo

test: $(STAMP)
	$(BIN)/ruff check core plugins handlers infra tests benchmarks
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check core plugins handlers infra tests benchmarks
	$(BIN)/cfn-lint template.yaml

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
