# Every command a developer needs. Each one installs what it needs from nothing:
# uv (through pip when missing), then the locked workspace.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
# Python 3.13 comes from .python-version (pyenv or uv find it).

.PHONY: help bootstrap browser wrk up down status test test-fast test-compose lint format bench \
	test-replicas

help:
	@echo "make up      - start the whole mesh without Docker (gateway on http://127.0.0.1:8000)"
	@echo "make test    - run every test (unit, integration, Postgres, end-to-end), then test-compose"
	@echo "make test-fast - unit and integration tests, no whole mesh (the loop before a commit)"
	@echo "make test-replicas - the e2e suite against a mesh with two of each service (--replicas 2)"
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

# Debian's Chromium for the docs' browser test (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser test"; \
		(apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null; }

# Suites whose tests start worker or beat processes and wait for them against the clock: they
# run alone, as two xdist workers starving them on 2 cores made them miss their windows.
SERIAL_SUITES := services/scheduler/tests/test_beat_processes.py services/worker/tests/test_worker_process.py
NOT_SERIAL := $(foreach suite,$(SERIAL_SUITES),--ignore=$(suite))

# Without ARGS: the unit and integration suites on two workers (each worker starts its own
# embedded servers), then the process suites, the benchmarks' smoke and the end-to-end suite in
# one process, so the e2e tests share one mesh, then the compose stack. With ARGS: one plain
# pytest run of what ARGS selects.
test: bootstrap browser wrk
ifeq ($(strip $(ARGS)),)
	$(UV) run --frozen pytest -n 2 -m "not e2e" $(NOT_SERIAL) libs tools services
	$(UV) run --frozen pytest $(SERIAL_SUITES) bench tests-e2e
	$(MAKE) --no-print-directory test-replicas
	$(MAKE) --no-print-directory test-compose
else
	$(UV) run --frozen pytest $(ARGS)
endif

# No e2e suite and no test that starts the mesh CLI.
test-fast: bootstrap
	$(UV) run --frozen pytest -n 2 -m "not e2e and not mesh_cli" $(NOT_SERIAL) libs tools services $(ARGS)
	$(UV) run --frozen pytest $(SERIAL_SUITES) $(ARGS)

# The end-to-end suite again, against a mesh running two instances of each API service, two
# workers and two beats (`mesh up --replicas 2`); the fault and replicas suites start meshes of
# their own and ran already. `make test` runs it after the suites above.
test-replicas: bootstrap
	MESH_REPLICAS=2 $(UV) run --frozen pytest tests-e2e --ignore=tests-e2e/test_faults.py \
		--ignore=tests-e2e/test_replicas.py $(ARGS)

# compose.yaml (+ compose.local.yaml's stand-ins) built and run here, tests-e2e through its gateway;
# `make test` runs it after the suites above (not when ARGS picks tests).
test-compose: bootstrap
	UV="$(UV)" docker/local/test-compose.sh

lint: bootstrap
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy libs tools services tests-e2e bench examples

format: bootstrap
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: bootstrap wrk
	$(UV) run --frozen python -m bench $(ARGS)

# The gateway benchmark's load generator; `make test` runs every benchmark as a smoke too.
wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk (Debian package) for the gateway benchmark"; \
		(apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null; }
