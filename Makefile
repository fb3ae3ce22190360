# confine.docker: the two commands are `make demo` and `make test`; everything else is a step they run.
# Every step installs what it lacks and is cached, so a second run rebuilds nothing that has not changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PYTEST := $(BIN)/python -m pytest
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(BIN):$(PATH)
export ANSIBLE_NOCOLOR := 1
export PY_COLORS := 0
# The Docker CLI matching the Debian engine.
export DOCKER := /usr/bin/docker

.PHONY: help demo test setup deps venv link dockerd images vm unit lint sanity integration integration-host \
	integration-vm molecule molecule-default molecule-vm molecule-fleet collection bench bench-seccomp bench-collect \
	bench-fleet clean

help:
	@echo "make demo   boot the AppArmor lab VM, start the demo workload and harden it"
	@echo "make test   every test tier: unit, lint, sanity, integration (host + VM), molecule"
	@echo "steps: setup images vm unit lint sanity integration-host integration-vm molecule-default molecule-vm"
	@echo "       molecule-fleet collection; benchmarks: bench (bench-seccomp bench-collect bench-fleet)"

demo: setup images vm
	lab/demo

test: setup images vm
	$(MAKE) unit lint sanity integration molecule collection
	@echo "make test: all tiers passed"

# --- setup -----------------------------------------------------------------------------------------------------
setup: deps venv link dockerd

deps:
	scripts/install-deps

venv: deps
	scripts/venv

link:
	scripts/link-collection

dockerd: deps
	lab/dockerd-ensure

images: setup
	lab/images/build
	lab/images/build-corpus

vm: setup images
	lab/vm/build

# --- test tiers ------------------------------------------------------------------------------------------------
unit: venv link
	$(PYTEST) tests/unit --cov --cov-report=term

lint: venv link
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --offline

sanity: venv
	scripts/sanity

integration: integration-host integration-vm

integration-host: setup images
	$(PYTEST) tests/integration -m "not vm"

integration-vm: setup images vm
	$(PYTEST) tests/integration -m vm

molecule: molecule-default molecule-vm molecule-fleet

molecule-default: setup images
	$(BIN)/molecule test -s default

molecule-vm: setup images vm
	$(BIN)/molecule test -s vm

molecule-fleet: setup images vm
	$(BIN)/molecule test -s fleet

# Build the collection tarball and prove it installs and resolves from a plain `ansible-galaxy collection install`.
collection: venv
	scripts/check-collection-build

# --- benchmarks (not part of `make test`; each prints its figures, bench/<name>/RESULTS.md holds measured ones) --
bench: bench-seccomp bench-collect bench-fleet

bench-seccomp: setup images
	$(BIN)/python bench/seccomp/run.py

bench-collect: venv
	$(BIN)/python bench/collect/run.py --size-mb 1024 --json bench/collect/results.json

bench-fleet: setup images
	$(BIN)/python bench/fleet/run.py

clean:
	rm -rf .build .pytest_cache .ruff_cache .coverage htmlcov confine-docker-*.tar.gz
