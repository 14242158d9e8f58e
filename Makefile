# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run demo test lint bench clean

# pip's output becomes progress lines (devstack/pip_progress.py, standard library
# only, run by the system Python); its full output appears only if it fails.
PIP    := $(PYTHON) devstack/pip_progress.py $(BIN)/python -m pip

$(BIN)/python:
	@echo "creating $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	@echo "installing the engine and its dependencies into $(VENV) (a minute or two the first time) ..."
	@$(PIP) install -e '.[dev]'
	touch $(STAMP)

# The whole service on 127.0.0.1 (moto, demo data, stream pump, API and the Segment Builder
# on :3000); Ctrl-C stops it. The web app is built first when missing or stale (see `web`).
# Ports: LOCAL_API_PORT (3000) and MOTO_PORT (5055); demo size: DEMO_CONTACTS (3000).
run: $(STAMP) web/dist/index.html
	$(BIN)/python -m growthos_segments.devstack

# The offline CLI walkthrough on examples/ (no AWS libraries involved).
demo: $(STAMP)
	$(BIN)/python -m growthos_segments.devstack.demo

# Ruff, cfn-lint, the Python suite (browser tests excluded: pytest's addopts) on two workers
# (pytest-xdist; whole files per worker, so a module's local stack starts once), then the web
# app's unit and browser tests (test-web); the first part that fails stops the run.
test: $(STAMP) web/dist/index.html
	$(BIN)/ruff check growthos_segments core kit plugins services infra handlers devstack analytics tests benchmarks
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest -n 2 --dist loadfile
	@$(MAKE) --no-print-directory test-web

lint: $(STAMP)
	$(BIN)/ruff check growthos_segments core kit plugins services infra handlers devstack analytics tests benchmarks
	$(BIN)/cfn-lint template.yaml

bench: $(STAMP) web/dist/index.html
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

# --- The Segment Builder web app (web/) ---
# `make web` builds web/dist when it is missing or older than its sources (npm ci first
# when the lockfile changed); `run` and `test` depend on it, and the local stack serves
# it at /. Node.js (>= 20.19) and npm are required: without npm the build stops with one
# line saying so. `make test-web` runs the app's unit tests (vitest) and its browser tests
# (tests/web: Debian's chromium driven by Playwright, against the local stack); there a
# missing chromium or web/dist fails the tests instead of skipping them.
WEB_SOURCES := $(shell find web/src web/public -type f -not -name openapi.d.ts 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json openapi.json

.PHONY: web test-web

NEED_NPM := command -v npm >/dev/null || { echo "npm not found: the Segment Builder (web/) needs Node.js >= 20.19 and npm; install them (the API alone: $(BIN)/python -m growthos_segments.devstack)" >&2; exit 1; }

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@$(NEED_NPM)
	@echo "installing the web app's packages into web/node_modules (npm ci; a minute the first time) ..."
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	@$(NEED_NPM)
	@echo "building the web app into web/dist (type check, then vite) ..."
	cd web && npm run --silent build

web: web/dist/index.html

test-web: web/dist/index.html $(STAMP)
	@echo "web unit tests (vitest) ..."
	cd web && npm test --silent
	@echo "web browser tests (chromium, Playwright, one local stack per test module) ..."
	SEGMENTS_WEB_REQUIRED=1 $(BIN)/python -m pytest -m web tests/web

# --- Lambda package: `sam build` runs these (BuildMethod: makefile in template.yaml) ---
# SAM sets ARTIFACTS_DIR. Every function gets the runtime packages of growthos_segments
# only (AppDeployFunction also the built web app); DependenciesLayer gets the runtime
# dependencies as wheels for the template's runtime and architecture (python3.12, arm64).
# The system Python 3.11+ with pip runs devstack/lambda_package.py (standard library
# only); .venv is not needed.
build-%Function:
	$(PYTHON) devstack/lambda_package.py code "$(ARTIFACTS_DIR)"

# The function that publishes the web app carries its build too (built first when missing
# or stale; WEB_DIST names another build, as the package test does).
WEB_DIST ?= web/dist
build-AppDeployFunction: $(WEB_DIST)/index.html
	$(PYTHON) devstack/lambda_package.py code "$(ARTIFACTS_DIR)"
	$(PYTHON) devstack/lambda_package.py site "$(ARTIFACTS_DIR)" --from "$(WEB_DIST)"

build-DependenciesLayer:
	$(PYTHON) devstack/lambda_package.py dependencies "$(ARTIFACTS_DIR)/python"
