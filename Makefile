# muck-tracker: the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA := .data
RUN := .services/run
API_PORT ?= 8000
DEMO_TRUCKS ?= 40

.PHONY: demo test services status down stop lint format bench-ingest bench-history venv web-prereqs

venv: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/python-prereqs.sh
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

services:
	@bash scripts/services.sh up

status:
	@bash scripts/services.sh status || true
	@bash scripts/demo.sh status

# The service URLs follow TRACKER_PG_PORT / TRACKER_REDIS_PORT unless set explicitly.
ENV := eval "$$(bash scripts/services.sh env)" &&

# The pages need the npm libraries (map, /docs), the browser tests Debian chromium too:
# installed here when missing (demo and test).
web-prereqs:
	@bash scripts/web-prereqs.sh

test: venv services web-prereqs
	@$(ENV) TRACKER_REQUIRE_BROWSER=1 $(BIN)/pytest

lint: venv
	@$(BIN)/ruff check tracker tests
	@$(BIN)/ruff format --check tracker tests
	@$(BIN)/mypy

format: venv
	@$(BIN)/ruff check --fix tracker tests
	@$(BIN)/ruff format tracker tests

# the pages' libraries (map, /docs) too: without them /map/ is a blank page
demo: venv services web-prereqs
	@$(ENV) API_PORT=$(API_PORT) DEMO_TRUCKS=$(DEMO_TRUCKS) bash scripts/demo.sh up

stop:
	@bash scripts/demo.sh down

down: stop
	@bash scripts/services.sh down
