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

.PHONY: help demo test test-lane-bookworm test-lane-trixie setup deps venv link dockerd images vm vm-bookworm \
	vm-trixie unit lint sanity integration integration-host integration-vm integration-vm-bookworm \
	integration-vm-trixie integration-faults-host integration-corpus molecule molecule-default molecule-vm molecule-vm-trixie molecule-fleet collection bench bench-seccomp \
	bench-collect \
	bench-fleet clean

help:
	@echo "make demo   boot the AppArmor lab VM, start the demo workload and harden it (CONFINE_LAB_SUITE picks the stack)"
	@echo "make test   every test tier: unit, lint, sanity, integration (host + VM), molecule"
	@echo "steps: setup images vm unit lint sanity integration-host integration-vm integration-corpus molecule-default"
	@echo "       molecule-vm molecule-vm-trixie molecule-fleet collection; benchmarks: bench (bench-seccomp bench-collect bench-fleet)"
	@echo "the lab VMs: Debian 12 (bookworm, the default) and Debian 13 (trixie); CONFINE_LAB_SUITE=trixie make demo"

demo: setup images
	lab/demo

# The tiers without a VM first; then two lanes side by side, one per lab stack, each booting one VM at a time (the
# host tiers ride in the Debian 12 lane). Each lane's lines carry its name. The molecule scenarios in the lab VMs
# (vm, vm-trixie, fleet) are not part of make test: its lanes already take about 75 minutes of the 90 its CI allows
# on 2 cores, and the fleet adds 19 more; `make molecule` runs them.
test: setup images vm
	@scripts/timed "the tiers without a VM" $(MAKE) -j1 sanity unit lint collection
	@scripts/timed "the two lanes" $(MAKE) -j2 test-lane-bookworm test-lane-trixie
	@echo "make test: all tiers passed"

test-lane-bookworm:
	scripts/timed "lane bookworm" $(MAKE) -j1 integration-host molecule-default integration-vm-bookworm 2>&1 \
		| sed -u 's/^/[bookworm] /'

test-lane-trixie:
	scripts/timed "lane trixie" $(MAKE) -j1 integration-vm-trixie integration-faults-host 2>&1 | sed -u 's/^/[trixie] /'

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

# The lab VMs of both stacks the collection is proven on: Debian 12 (bookworm) and Debian 13 (trixie), built side by
# side (each suite has its own lock and cache).
vm: setup images
	$(MAKE) -j2 vm-bookworm vm-trixie

vm-bookworm vm-trixie: vm-%:
	lab/vm/build --suite $* 2>&1 | sed -u 's/^/[$*] /'

# --- test tiers ------------------------------------------------------------------------------------------------
unit: venv link
	$(PYTEST) tests/unit --cov --cov-report=term

lint: venv link
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --offline

sanity: venv
	scripts/sanity

integration: integration-host integration-faults-host integration-vm

integration-host: setup images
	$(PYTEST) tests/integration -m "not vm and not faults" --durations=10

# The host's fault-injection runs ride in the Debian 13 lane, which has no host tier of its own; they come after its
# VM tests, when the other lane's host tier is done (tests that start auditd also take turns, conftest.py).
integration-faults-host: setup images
	$(PYTEST) tests/integration -m "faults and not vm" --durations=10

integration-vm: setup images vm
	$(PYTEST) tests/integration -m "vm and not corpus" --durations=15

integration-vm-bookworm integration-vm-trixie: integration-vm-%: setup images vm
	CONFINE_LAB_SUITES=$* $(PYTEST) tests/integration -m "vm and not corpus" --durations=15

# The corpus (docs/corpus.md): six real server programs confined from nothing in one lab VM per stack, one stack
# after the other (CORPUS_SUITES narrows them). It builds its image itself (lab/images/build-corpus). Not part of
# `make test`: it takes 35 to 47 minutes per stack on 2 cores, more than the budget of `make test` has left.
CORPUS_SUITES ?= bookworm,trixie
integration-corpus: setup images vm
	lab/images/build-corpus
	CONFINE_LAB_SUITES=$(CORPUS_SUITES) $(PYTEST) tests/integration/test_corpus_vm.py -m corpus

molecule: molecule-default molecule-vm molecule-vm-trixie molecule-fleet

molecule-default: setup images
	$(BIN)/molecule test -s default

molecule-vm: setup images vm
	$(BIN)/molecule test -s vm

molecule-vm-trixie: setup images vm
	$(BIN)/molecule test -s vm-trixie

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
