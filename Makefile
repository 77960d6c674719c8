# TiTiler-EOPF on AWS Lambda. The README's two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     ?= .venv
PY       := $(VENV)/bin/python
PORT     ?= 8000
HOST     ?= 127.0.0.1
DATA_DIR ?= data
STAMP    := $(VENV)/.installed
# Full-size products for benchmarks (~6 GB, outside git).
BENCH_DATA ?= $(or $(TITILER_EOPF_BENCH_DATA),$(HOME)/.cache/titiler-eopf/bench-data)

export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Tests never need a real AWS account: make sure nothing on the machine leaks in.
TEST_ENV := env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL

.PHONY: help install stacapi sample run lint test test-fast synth bundle deploy bench bench-data clean tools

help:
	@echo "make run    - install, write the sample products, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install everything the tests need, then run the whole suite"
	@echo "make sample - write the sample products into $(DATA_DIR)/"
	@echo "make synth  - cdk synth (no AWS credentials needed)"
	@echo "make bundle - build the Lambda bundle without Docker"
	@echo "make bench  - run the benchmarks (writes the full-size bench data first if missing)"
	@echo "make bench-data - write full-size products into $(BENCH_DATA)"

# The venv is rebuilt only when the project's metadata or a requirements file changes.
# An editable install: the Lambda code (lambda_src/titiler_eopf) and the sample generator
# are imported from this checkout, and the operator CLI `titiler-eopf` is the project's
# entry point (pyproject.toml [project.scripts]).
$(STAMP): pyproject.toml requirements.txt lambda_src/requirements.txt
	@test -x $(PY) || $$(scripts/find-python312.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	@touch $@

install: $(STAMP)

# The STAC API the mosaic tests start (stac-fastapi-pgstac + pypgstac), in its own venv:
# its pins conflict with the Lambda's (tests/support/stacapi-requirements.txt).
STAC_VENV := .venv-stacapi
STAC_STAMP := $(STAC_VENV)/.installed
$(STAC_STAMP): tests/support/stacapi-requirements.txt
	@test -x $(STAC_VENV)/bin/python || $$(scripts/find-python312.sh) -m venv $(STAC_VENV)
	$(STAC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/support/stacapi-requirements.txt
	@touch $@

stacapi: $(STAC_STAMP)

# Servers and tools the tests start themselves (redis-server for fault tests,
# chromium for the browser tests, the pinned CDK CLI and the browser assets from npm).
tools:
	@command -v redis-server >/dev/null || { echo "installing redis-server"; \
	  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null; }
	@# PostgreSQL + PostGIS for the STAC API of the mosaic tests (Debian's packages)
	@ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || { \
	  echo "installing postgresql + postgis"; (apt-get update -qq && apt-get install -y -qq \
	  --no-install-recommends postgresql postgresql-15-postgis-3 || apt-get install -y -qq \
	  --no-install-recommends postgresql postgresql-postgis) >/dev/null; }
	@# cross compiler for the arm64 bundle's libexpat (the bundler also installs it if missing)
	@command -v aarch64-linux-gnu-gcc >/dev/null && test -f /usr/aarch64-linux-gnu/lib/crti.o || { \
	  echo "installing gcc-aarch64-linux-gnu"; (apt-get update -qq && apt-get install -y -qq \
	  --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross) >/dev/null; }
	@# Debian's chromium for the browser tests (playwright drives it; no browser download)
	@command -v chromium >/dev/null || { echo "installing chromium"; \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
	  || echo "chromium could not be installed: the browser tests will be skipped"; }
	@# npm: the CDK CLI and the browser assets the app serves (MapLibre GL, Swagger UI);
	@# no install scripts (swagger-ui-dist's dependency would phone home)
	@if [ -f package-lock.json ]; then \
	  if [ ! -x node_modules/.bin/cdk ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	    npm ci --no-audit --no-fund --silent --ignore-scripts; fi; fi

sample: install
	$(PY) -m eopf_sample --out $(DATA_DIR)

run: sample
	TITILER_EOPF_STORE_URL=$${TITILER_EOPF_STORE_URL:-$(DATA_DIR)} \
	  $(PY) -m titiler_eopf --host $(HOST) --port $(PORT)

# The lint gate of make test: ruff's rules and format (pyproject.toml), over the whole tree.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Two workers (the machine has two cores); each has its own servers (tests/conftest.py).
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=15

test: install stacapi tools lint
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS) tests

test-fast: install stacapi lint
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS) tests -m "not slow"

# cdk synth with no AWS credentials; bundling skipped (-c bundle=false) for a fast
# offline check: never deploy that cdk.out (the asset hash is the same either way).
synth: install tools
	$(TEST_ENV) npx --no-install cdk synth --quiet -c bundle=false $(CDK_ARGS)

# The Lambda bundle, built locally without Docker (cached in ~/.cache/titiler-eopf).
bundle: install
	$(PY) scripts/build_bundle.py --arch $(or $(ARCH),x86_64) --zip-size

deploy: install tools
	npx --no-install cdk deploy $(CDK_ARGS)

bench-data: install
	$(PY) -m eopf_sample.fullsize --out $(BENCH_DATA)

bench: install tools bench-data
	TITILER_EOPF_BENCH_DATA=$(BENCH_DATA) $(PY) -m bench.run_all

clean:
	rm -rf build cdk.out .pytest_cache
