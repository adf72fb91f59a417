# sla-worker developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA := deploy/kafka/kafka.sh
# Ports of the local broker started by `make up` / `make run`.
export KAFKA_PORT ?= 9092
export KAFKA_CONTROLLER_PORT ?= 9093

.PHONY: help install lint typecheck test test-unit run bench up down clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/sla-worker: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/sla-worker ## virtual environment, the package with dev tools, Kafka jars, kcat and Prometheus
	$(KAFKA) fetch
	@bash deploy/install-system-packages.sh

lint: $(BIN)/sla-worker ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/sla-worker ## mypy --strict on worker/
	$(BIN)/mypy

# The pure core must stay fully covered, branches included (STYLE.md).
CORE_COVERAGE := $(foreach m,durations calendars policy events tracker schedule errors clock,--cov=worker.$(m)) \
	--cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100

test: install ## every test: unit, integration (real Kafka, real Prometheus tools) and e2e
	$(BIN)/python -m pytest -p no:cacheprovider $(CORE_COVERAGE) $(PYTEST_ARGS)

test-unit: $(BIN)/sla-worker ## the pure core only, no servers
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

run: install ## local Kafka, topics, the worker on the demo policy, demo traffic and a live feed
	@bash deploy/run-demo.sh

bench: $(BIN)/sla-worker ## benchmarks under bench/ (print figures)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

up: ## start the local Kafka broker on 127.0.0.1:$(KAFKA_PORT)
	$(KAFKA) up

down: ## stop the local Kafka broker
	$(KAFKA) down

clean: ## remove caches and local broker data (keeps the venv and jars)
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov
