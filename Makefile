# The README's two commands: `make run` and `make test`. Each does its own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Local services the test suite uses when DATABASE_URL / REDIS_URL are not given.
LOCAL_PG := postgres://postgres@127.0.0.1:5432/rubric
LOCAL_REDIS := redis://127.0.0.1:6379/0

.PHONY: help run test lint format browser worker bench-import clean

help:
	@echo "make run    set up (virtualenv, install, migrate, demo data) and serve on http://$(HOST):$(PORT)/"
	@echo "make test   set up and run the test suite (PostgreSQL and Redis when they answer)"
	@echo "make lint   ruff check and format check"

$(PY):
	@python=$$(scripts/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml client/pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet -e ./client
	@touch $@ $(VENV)/.installed-run

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium'"; \
	  fi; \
	fi

run: $(VENV)/.installed-run
	@if [ -n "$$DATABASE_URL" ]; then echo "Database: $$DATABASE_URL"; else echo "Database: SQLite under var/ (set DATABASE_URL for PostgreSQL)"; fi
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_demo
	@if [ -n "$$REDIS_URL" ]; then \
	  echo "Broker: $$REDIS_URL; starting a Celery worker (with the beat schedule) beside the server"; \
	  mkdir -p var; $(VENV)/bin/celery -A config worker -B -s var/celerybeat-schedule --loglevel INFO --concurrency 2 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver --noreload $(HOST):$(PORT); \
	else \
	  echo "Broker: none; background tasks run in-process (set REDIS_URL for Redis and a worker)"; \
	  exec $(PY) manage.py runserver --noreload $(HOST):$(PORT); \
	fi

test: $(VENV)/.installed-test browser
	@set -e; \
	if [ -z "$$DATABASE_URL" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
	  export DATABASE_URL=$(LOCAL_PG); fi; \
	if [ -z "$$REDIS_URL" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 6379), 1)" 2>/dev/null; then \
	  export REDIS_URL=$(LOCAL_REDIS); fi; \
	if [ -n "$$DATABASE_URL" ]; then echo "Tests on PostgreSQL: $$DATABASE_URL"; else echo "Tests on SQLite (PostgreSQL at 127.0.0.1:5432 did not answer): concurrency tests skip"; fi; \
	if [ -n "$$REDIS_URL" ]; then echo "Redis: $$REDIS_URL"; else echo "No Redis: worker tests skip"; fi; \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

worker: $(VENV)/.installed-run
	mkdir -p var; $(VENV)/bin/celery -A config worker -B -s var/celerybeat-schedule --loglevel INFO

bench-import: $(VENV)/.installed-test
	$(PY) bench/import.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
