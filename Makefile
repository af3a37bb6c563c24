# Every command a developer needs. Each one installs what it needs from nothing:
# uv (through pip when missing), then the locked workspace.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
# Python 3.13 comes from .python-version (pyenv or uv find it).

.PHONY: help bootstrap up down status test test-fast test-compose lint format bench

help:
	@echo "make up      - start the whole mesh without Docker (gateway on http://127.0.0.1:8000)"
	@echo "make test    - run every test (unit, integration, Postgres, end-to-end), then test-compose"
	@echo "make test-compose - the compose stack for real (installs Docker as root), e2e through it"
	@echo "make lint    - ruff format --check, ruff check, mypy --strict"
	@echo "make format  - ruff format + ruff check --fix"
	@echo "make bench   - run the benchmarks and print the tables written to the README"

bootstrap:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check 'uv>=0.9,<0.14'
	@$(UV) sync --frozen --quiet

up: bootstrap
	$(UV) run --frozen mesh up $(ARGS)

down: bootstrap
	$(UV) run --frozen mesh down $(ARGS)

status: bootstrap
	$(UV) run --frozen mesh status $(ARGS)

test: bootstrap
	$(UV) run --frozen pytest $(ARGS)
	@$(if $(ARGS),,$(MAKE) --no-print-directory test-compose)

# compose.yaml (+ compose.local.yaml's stand-ins) built and run here, tests-e2e through its gateway;
# `make test` runs it after the suites above (not when ARGS picks tests).
test-compose: bootstrap
	UV="$(UV)" docker/local/test-compose.sh

lint: bootstrap
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy libs tools services tests-e2e bench

format: bootstrap
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: bootstrap
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk (Debian package) for the gateway benchmark"; \
		(apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null; }
	$(UV) run --frozen python -m bench $(ARGS)
