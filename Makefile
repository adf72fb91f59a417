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

.PHONY: help install native pure lint typecheck test test-native test-unit run bench up down clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Exactly the locked versions (requirements/dev.lock: every transitive dependency, hashes
# checked), then the package alone, editable, built by the locked setuptools (no build
# isolation: nothing unpinned is downloaded). pip check fails if pyproject.toml asks for
# what the lock does not hold: run `make lock`.
$(BIN)/sla-worker: pyproject.toml requirements/dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

install: $(BIN)/sla-worker ## virtual environment, the package with dev tools, Kafka jars, kcat, Prometheus, podman
	$(KAFKA) fetch
	@bash deploy/install-system-packages.sh
	@bash deploy/container/setup-host.sh

.PHONY: lock image

# The lock tool is the uv pinned in pyproject.toml's dev extra; it is installed on its own
# here, as pyproject.toml may already ask for what the current locks lack.
UV_PIN = $(shell sed -n 's/^ *"\(uv==[^"]*\)",*$$/\1/p' pyproject.toml)

lock: ## write requirements/*.lock from pyproject.toml (UPGRADE=1: newest versions allowed)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q '$(UV_PIN)'
	$(BIN)/python requirements/lock.py $(if $(filter 1,$(UPGRADE)),--upgrade)

image: ## build the image sla-worker:<version> with docker or podman (docs/containers.md)
	bash deploy/container/images.sh sla-worker

# The modules mypyc compiles: pyproject.toml, [tool.sla-worker] native, read only through
# native_modules.py (which also lists the code shapes kept for speed alone). The build is
# redone when any module of the package changes: compiled code relies on the types it imports.
NATIVE_STAMP := worker/.native-build

$(NATIVE_STAMP): $(BIN)/sla-worker setup.py native_modules.py pyproject.toml $(wildcard worker/*.py worker/*/*.py)
	rm -f worker/*.so worker/*/*.so
	set -o pipefail; SLA_WORKER_NATIVE=1 $(BIN)/python setup.py -q build_ext --inplace 2>&1 \
		| { grep -v 'Treating generator comprehension as list' || true; }
	@for m in $$($(BIN)/python native_modules.py); do ls $${m%.py}.*.so >/dev/null || { echo "error: mypyc did not build $$m" >&2; exit 1; }; done
	touch $@

native: $(NATIVE_STAMP) ## compile the hot core with mypyc (simulate 2.2-2.4x faster; same outputs)

pure: ## remove the compiled modules: back to pure Python
	rm -f worker/*.so worker/*/*.so $(NATIVE_STAMP)

lint: $(BIN)/sla-worker ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/sla-worker ## mypy --strict on worker/
	$(BIN)/mypy

# The pure core must stay fully covered, branches included (docs/architecture.md).
CORE_COVERAGE := --cov=worker.core \
	--cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100

# `make test`: every test once, on pure Python (coverage can only trace Python code).
test: install ## every test (unit, integration on real Kafka and Prometheus tools, e2e), pure Python
	$(MAKE) --no-print-directory pure
	SLA_EXPECT_NATIVE=0 $(BIN)/python -m pytest -p no:cacheprovider $(CORE_COVERAGE) $(PYTEST_ARGS)

# `make test-native`: the compiled build is an option, tested apart (as yarl, black and mypy
# do): the unit tests and the worker's replay-equals-simulate test on the mypyc-compiled
# modules, which must behave as the pure ones. The tree is left pure afterwards, pass or fail:
# a compiled module shadows its source, so an edit made after the run would otherwise be
# tested (and run) as the old compiled code. `make native` builds it again for `make bench`.
NATIVE_TESTS := tests/unit tests/integration/test_worker_replay.py

test-native: install ## the unit tests and the replay test on the mypyc-compiled core, then pure again
	$(MAKE) --no-print-directory native
	status=0; SLA_EXPECT_NATIVE=1 $(BIN)/python -m pytest -p no:cacheprovider $(NATIVE_TESTS) \
		$(PYTEST_ARGS) || status=$$?; $(MAKE) --no-print-directory pure; exit $$status

test-unit: $(BIN)/sla-worker ## the pure core only, no servers
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

run: install ## local Kafka, topics, the worker on the demo policy, demo traffic and a live feed
	@bash deploy/run-demo.sh

bench: native ## benchmarks under bench/, on the compiled core (print figures)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

up: ## start the local Kafka broker on 127.0.0.1:$(KAFKA_PORT)
	$(KAFKA) up

down: ## stop the local Kafka broker
	$(KAFKA) down

clean: ## remove caches and local broker data (keeps the venv and jars)
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov
