# Platform Orchestrator — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help install generate verify-generated lint test check validate-catalog clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python ## Create .venv and install the project with its dev extra
	$(BIN)/pip install --quiet -e '.[dev]'

generate: ## Regenerate crds/, schema/, the chart's CRDs and RBAC, and the GitOps health snippets
	$(BIN)/python hack/generate.py

verify-generated: ## Fail if any generated file differs from its source
	$(BIN)/python hack/generate.py --check

lint: ## ruff, mypy --strict on operator/, import-linter layering contracts
	$(BIN)/ruff check operator tests hack bench
	$(BIN)/ruff format --check operator tests hack bench
	$(BIN)/mypy --strict operator/
	$(BIN)/lint-imports

test: ## Run the test suite
	$(BIN)/pytest

check: lint verify-generated test ## Everything CI runs: lint, generated-file drift, tests

validate-catalog: ## The main job for now: validate the sample catalog
	$(BIN)/devctl validate catalog-item catalog/

clean: ## Remove caches and build output
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
