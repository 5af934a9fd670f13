# Everything a developer or CI needs; the README's two commands are `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint format openapi bench-smoke clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

serve: $(BIN)/.installed  ## set up, migrate, load the canonical catalogue and serve on SQLite
	$(BIN)/kpi-api serve

test: $(BIN)/.installed  ## lint, then the whole suite on SQLite and PostgreSQL
	$(BIN)/ruff check src tests migrations
	$(BIN)/ruff format --check src tests migrations
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests migrations

format: $(BIN)/.installed
	$(BIN)/ruff check --fix src tests migrations
	$(BIN)/ruff format src tests migrations

openapi: $(BIN)/.installed  ## regenerate the committed OpenAPI document
	$(BIN)/kpi-api openapi --output openapi/openapi.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
