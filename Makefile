# eventlake developer targets. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help setup setup-test demo test lint typecheck format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/eventlake: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e .
	@touch $@

setup: $(BIN)/eventlake ## create .venv and install eventlake

setup-test: setup ## install test dependencies: pip extras, then Chromium, PostgreSQL, Java via apt if missing (needs root or sudo; says what and why first)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	bash scripts/install-system-deps.sh

demo: setup ## set up and run `eventlake demo` (collector, generator, lake, models, dashboard)
	$(BIN)/eventlake demo

test: setup-test lint typecheck ## what CI runs (.ci/run): setup-test, lint, typecheck, then every test (unit, integration, browser, slow)
	DBT_SEND_ANONYMOUS_USAGE_STATS=false $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: ## ruff check + format check
	$(BIN)/ruff check eventlake tests benchmarks
	$(BIN)/ruff format --check eventlake tests benchmarks

typecheck: ## mypy strict on the package
	$(BIN)/mypy

format: ## ruff format + autofix
	$(BIN)/ruff format eventlake tests benchmarks
	$(BIN)/ruff check --fix eventlake tests benchmarks

bench: ## run every benchmark (prints figures and ratios)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean: ## remove caches and demo data (keeps .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache eventlake-demo build dist *.egg-info
