# Every command a developer needs. Each one installs what it needs from nothing:
# uv (through pip when missing), then the locked workspace.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
# Python 3.13 comes from .python-version (pyenv or uv find it).

.PHONY: help bootstrap up down status test test-fast lint format bench wrk

help:
	@echo "make up      - start the whole mesh without Docker (gateway on http://127.0.0.1:8000)"
	@echo "make test    - run every test (unit, integration, Postgres, end-to-end, compose checks)"
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

test: bootstrap wrk
	$(UV) run --frozen pytest $(ARGS)

lint: bootstrap
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy libs tools services tests-e2e bench

format: bootstrap
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: bootstrap wrk
	$(UV) run --frozen python -m bench $(ARGS)

# The gateway benchmark's load generator; `make test` runs every benchmark as a smoke too.
wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk (Debian package) for the gateway benchmark"; \
		(apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null; }
