# Everything a developer or CI needs; the README's two commands are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint lock format openapi fuzz bench bench-large clean

# Installs exactly the versions in requirements.lock (`make lock` refreshes it).
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

serve: $(BIN)/.installed  ## set up, migrate, load the canonical catalogue and serve on SQLite
	$(BIN)/kpi-api serve

test: $(BIN)/.installed  ## lint, types, import contracts, then the whole suite on SQLite and PostgreSQL
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(BIN)/.installed  ## ruff, mypy (strict on src/) and the import contracts
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/mypy
	$(BIN)/lint-imports

lock: $(BIN)/.installed  ## refresh requirements.lock from pyproject.toml (newest allowed versions)
	$(BIN)/pip-compile --quiet --upgrade --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

format: $(BIN)/.installed
	$(BIN)/ruff check --fix src tests migrations bench
	$(BIN)/ruff format src tests migrations bench

openapi: $(BIN)/.installed  ## regenerate the committed OpenAPI document
	$(BIN)/kpi-api openapi --output openapi/openapi.json

FUZZ_EXAMPLES ?= 200
fuzz: $(BIN)/.installed  ## long schema fuzzing run: coverage phase + FUZZ_EXAMPLES examples per operation
	KPI_API_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_fuzz.py

bench: $(BIN)/.installed  ## benchmark, small setting on PostgreSQL (minutes); results in bench/results/
	$(BIN)/python -m bench.run --setting small

bench-large: $(BIN)/.installed  ## benchmark, ~10 million measurements on PostgreSQL (~10 minutes)
	$(BIN)/python -m bench.run --setting large

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
