# Guichet — the two commands of the README, plus developer helpers. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
TENANTS := $(wildcard tenants/*/tenant.toml)
LOCALES := platform/guichet/i18n/locales

.DEFAULT_GOAL := help
.PHONY: help run test lint docs typecheck translations extract-messages compile-messages migrate tenants clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Guichet needs Python 3.11 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP) $(TEST_STAMP)

install: $(STAMP) ## Create .venv and install Guichet

compile-messages: $(STAMP) ## Compile the Babel catalogs (.po -> .mo)
	$(BIN)/pybabel compile --statistics -d $(LOCALES) -D messages

migrate: $(STAMP) compile-messages ## Bring the database to the latest schema
	$(BIN)/guichet migrate

tenants: migrate ## Apply every tenant of the catalog and its demo data (tenants/*/)
	$(BIN)/guichet tenants apply --demo $(dir $(TENANTS))

run: tenants ## Serve http://127.0.0.1:8000/ccas-castres/ with a worker (embedded default)
	$(BIN)/guichet run --host 127.0.0.1 --port 8000

test: $(TEST_STAMP) compile-messages ## Run the whole suite (SQLite, PostgreSQL + Redis, Chromium)
	@$(BIN)/python tests/support/ensure_system.py
	$(BIN)/ruff check .
	$(BIN)/ruff format --check platform workers tests
	$(BIN)/mypy
	$(BIN)/python -m pytest -p no:cacheprovider --numprocesses 2 --dist worksteal

lint: $(TEST_STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check platform workers tests
	$(BIN)/mypy

extract-messages: $(STAMP) ## Extract translatable text into messages.pot and update the catalogs
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -o $(LOCALES)/messages.pot platform themes
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages

translations: extract-messages compile-messages ## Extract, update and compile the catalogs

docs: $(STAMP) ## Regenerate docs/configuration.md from the settings
	{ sed -n '1,/^This table is generated/p' docs/configuration.md; echo; $(BIN)/guichet settings-doc; } > docs/configuration.md.new
	mv docs/configuration.md.new docs/configuration.md

clean: ## Remove the embedded default's data (var/)
	rm -rf var
