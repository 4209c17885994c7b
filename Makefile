# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12 (the Astro Runtime 3.3 interpreter): python3.12 on PATH, else a pyenv install.
PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { command -v $$p || echo $$p; } && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# focus-validator pins duckdb<2 and numpy<2, so it gets a venv of its own (see include/focus/validator.py);
# pyarrow 20+ needs NumPy 2 and breaks its import.
FOCUS_VENV := .venv-focus
FOCUS_STAMP := $(FOCUS_VENV)/.installed

export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export UV_PYTHON_DOWNLOADS := never
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
# Cosmos renders the dbt task group from this manifest; rebuilt whenever the dbt project changes.
DBT_MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt/models dbt/macros dbt/seeds dbt/tests -type f 2>/dev/null) dbt/dbt_project.yml dbt/profiles.yml

.PHONY: help install focus-validator dbt-manifest azurite demo test lint format bench report dashboards chromium clean

help:
	@echo "make demo   - generate sample AWS billing data and run the aws_billing DAG on it"
	@echo "make test   - lint (ruff) and run the test suite on TEST_WORKERS=2 pytest-xdist workers"
	@echo "make bench  - loader throughput and memory (ROWS=1000000 by default, ROWS=10000000 for the target), DAG parse time, dbt + publish + dashboard query, one month through the DAG under airflow standalone"
	@echo "make dbt-manifest - parse the dbt project into $(DBT_MANIFEST) (Cosmos renders the DAG's dbt tasks from it)"
	@echo "make focus-validator - the FinOps Foundation's FOCUS validator in $(FOCUS_VENV) (test and demo set it up too)"
	@echo "make report - render the dashboards as static HTML from data/serving into data/report (demo does it too)"
	@echo "make dashboards - install/update the dashboards in Metabase (METABASE_URL, METABASE_API_KEY, FINOPS_METABASE_SERVING_PATH)"
	@echo "make azurite - Azurite (npm, into node_modules/), the Azure Storage emulator the Azure tests start (test does it too)"
	@echo "make chromium - Debian's headless Chromium, which the report's tests open the pages in (test does it too)"

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (python3.12 not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements-dev.txt
	touch $(STAMP)

focus-validator: $(FOCUS_STAMP)

$(FOCUS_STAMP):
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (python3.12 not found)"; exit 1; }
	$(PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(FOCUS_VENV)/bin/uv pip install --python $(FOCUS_VENV)/bin/python --quiet focus-validator==2.2.1 'pyarrow<20'
	touch $(FOCUS_STAMP)

dbt-manifest: $(DBT_MANIFEST)

$(DBT_MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt && ../$(BIN)/dbt parse --profiles-dir . --quiet

# Azurite, the Azure Storage emulator the Azure tests start (tests/azurite.py), as package-lock.json pins it.
AZURITE := node_modules/.bin/azurite-blob
azurite: $(AZURITE)

# 3.37 declares node >= 22 and runs on Debian's node 20 with a warning.
$(AZURITE): package.json package-lock.json
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

demo: $(STAMP) $(FOCUS_STAMP) $(DBT_MANIFEST)
	$(BIN)/python scripts/demo.py

# Two pytest-xdist workers, one per core; tests/conftest.py hands each whole modules (pytest_xdist_make_scheduler).
TEST_WORKERS ?= 2
test: $(STAMP) $(FOCUS_STAMP) $(DBT_MANIFEST) azurite chromium lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

report: $(STAMP)
	$(BIN)/python -m include.dashboards.report

dashboards: $(STAMP)
	$(BIN)/python -m include.metabase.install

# The report's tests need a headless browser; Debian's package, installed once (root or sudo).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

ROWS ?= 1000000
bench: $(STAMP) $(FOCUS_STAMP) $(DBT_MANIFEST)
	$(BIN)/python bench/load_month.py --rows $(ROWS)
	$(BIN)/python bench/dag_parse.py
	$(BIN)/python bench/serving.py --rows $(ROWS)
	$(BIN)/python bench/standalone_run.py

clean:
	rm -rf $(VENV) $(FOCUS_VENV) .airflow data/finops.duckdb data/sample data/serving data/report dbt/target
