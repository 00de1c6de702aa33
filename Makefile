# The same commands on a laptop and in CI (.ci/run calls `make test`).
#
# Without DATABASE_URL / REDIS_URL the console runs embedded: SQLite under var/ and Celery in
# eager mode. Every environment variable you set passes through to manage.py and pytest
# (see docs/configuration.md).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Rewritten when the requirements change, so `make` reinstalls only then.
STAMP := $(VENV)/.requirements-installed
MANAGE := $(BIN)/python manage.py
HOST_PORT ?= 127.0.0.1:8000
PYTEST_ARGS ?=
# pytest-xdist workers: each has its own test database and Redis database (tests/conftest.py).
# Whole files go to one worker. PYTEST_WORKERS=0 runs the suite in this one process.
PYTEST_WORKERS ?= 2

.PHONY: help setup migrate messages run test lint format bench screenshots clean

help:
	@echo "make run    - set up .venv, migrate, load demo users, serve http://$(HOST_PORT)"
	@echo "             (HOST_PORT=0.0.0.0:8080 make run: another address and port)"
	@echo "make test   - make lint, Django checks, missing-migration check, then pytest"
	@echo "make lint   - ruff check, ruff format --check and the layer contracts (lint-imports)"
	@echo "make format - apply ruff's fixes and formatting"
	@echo "make bench  - how to run the benchmarks in bench/"
	@echo "make screenshots - run the browser tests, writing their pictures into docs/screenshots/"
	@echo "make clean  - remove .venv, var/ (the SQLite database), staticfiles/ and caches"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

setup: $(STAMP)

migrate: setup
	$(MANAGE) migrate --noinput

# Translations are optional: compile them only when there are some and gettext is installed.
messages: setup
	@if [ -d locale ] && find locale -name '*.po' | grep -q . && command -v msgfmt >/dev/null; then \
		$(MANAGE) compilemessages --ignore=.venv --verbosity=0; \
	fi

run: migrate messages
	$(MANAGE) load_demo
	$(MANAGE) runserver $(HOST_PORT)

test: migrate messages lint
	$(MANAGE) check
	$(MANAGE) makemigrations --check --dry-run
	@status=0; $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo "pytest collected no tests (exit 5): that is a failure"; exit 1; \
	fi; \
	exit $$status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench:
	@echo "Benchmarks live in bench/; they are not part of make test. Their numbers mean something"
	@echo "against PostgreSQL (and Redis), on a database of their own:"
	@echo "    make setup"
	@echo "    createdb -h 127.0.0.1 -U postgres tier2_bench"
	@echo "    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench"
	@echo "    .venv/bin/python manage.py migrate"
	@echo "    .venv/bin/python bench/<script>.py --help"
	@echo "Scripts:"
	@found=0; for script in bench/*.py; do \
		[ -e "$$script" ] || continue; found=1; \
		summary=$$(sed -n 's/^"""\(.*\)/\1/p' "$$script" | head -n1); \
		echo "    $$script  $$summary"; \
	done; \
	[ $$found -eq 1 ] || echo "    (none yet)"

# The browser tests save their screenshots in a temporary folder, so `make test` never changes
# a tracked file. This target is the one way to refresh the committed pictures: review them
# with `git diff --stat docs/screenshots`, then commit. Needs Chromium, like the browser marker.
screenshots: setup
	TIER2_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/e2e -m browser \
		-p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
