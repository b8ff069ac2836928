# tentenone: the commands in README.md. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/uv/bin/uv
# Python 3.12: on PATH, or pyenv's, or the system's.
PY312 := $(or $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null),\
              $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12))),\
              $(shell command -v python3.12 2>/dev/null))
export UV_PYTHON := $(PY312)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
RUN := $(UV) run --locked --all-packages
LINT_PATHS := $(wildcard libs services devnet app-flet tests bench)
# mypy checks the installed packages: every src/<package> of the workspace.
TYPED_PKGS = $(sort $(notdir $(filter-out %.egg-info,$(wildcard libs/*/src/* services/*/src/* devnet/src/* app-flet/src/*))))

.PHONY: help setup system-deps services demo test lint format typecheck pytest conformance bench clean

help:
	@echo "make demo    start the whole system on this machine and print where to open the app"
	@echo "make test    install what is needed, lint, type-check and run every test"
	@echo "make setup   install Python dependencies (uv, pinned) and start local services"
	@echo "make lint    ruff check, ruff format --check, mypy --strict"
	@echo "make bench   run the benchmarks in bench/ and update bench/RESULTS.md"

$(UV):
	@test -n "$(PY312)" || { echo "Python 3.12 not found (python3.12, pyenv)"; exit 1; }
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install -q "uv==$(UV_VERSION)"

setup: $(UV) system-deps services
	$(UV) sync --locked --all-packages

system-deps:
	@scripts/system-deps.sh

services:
	@scripts/ensure-services.sh

demo: setup
	$(RUN) tentenone demo

lint: $(UV)
	$(UV) sync --locked --all-packages
	$(RUN) ruff check $(LINT_PATHS)
	$(RUN) ruff format --check $(LINT_PATHS)
	$(RUN) mypy $(addprefix -p ,$(TYPED_PKGS))

format: $(UV)
	$(RUN) ruff check --fix $(LINT_PATHS)
	$(RUN) ruff format $(LINT_PATHS)

# two streams at once: the end-to-end tests, and the rest beside them (scripts/run-tests.sh)
pytest: setup
	scripts/run-tests.sh $(RUN) pytest

test: setup lint pytest conformance

# dlcspecs test vectors through the conformance runner (fails if any case fails)
DLC_VECTORS := ../shared/vectors/dlcspecs
CONFORMANCE_FILES := $(sort $(wildcard $(DLC_VECTORS)/test_vectors/*.json)) \
	$(addprefix $(DLC_VECTORS)/,ecdsa_adaptor.json contract_id_test.json dlc_fee_test.json \
	  dlc_fee_test_scripts.json dlc_schnorr_test.json dlc_hash_test.json dlc_tx_test.json)

conformance: $(UV)
	$(RUN) python -m tentenone.dlc.conformance $(CONFORMANCE_FILES)

bench: setup
	$(RUN) python -m bench

clean:
	rm -rf .venv $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
