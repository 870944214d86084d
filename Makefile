# tc — the train container CLI. `make demo` installs and runs the main job; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TC := $(BIN)/tc
DEMO_DIR ?= /tmp/tc-demo

.PHONY: install demo test test-fast lint bench base-image clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python  ## install tc (editable) and its dev/runtime extras into .venv, link tc onto PATH
	$(BIN)/python -m pip install -q -e '.[dev,runtime,train,kube]'
	@mkdir -p $(HOME)/.local/bin && ln -sf $(abspath $(TC)) $(HOME)/.local/bin/tc
	@if [ -w /usr/local/bin ]; then ln -sf $(abspath $(TC)) /usr/local/bin/tc; fi
	@echo "tc installed: $$($(TC) --version) -> $(abspath $(TC))"

demo: install  ## render a container, create demo data, build and run it, print score and model
	DEMO_DIR=$(DEMO_DIR) TC=$(TC) bash scripts/demo.sh

test: install  ## all tests (integration tests need Docker; they skip with a reason when none)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not integration and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check tcli tests benchmarks scaffolds/project/common scaffolds/project/datasets scaffolds/project/export
	$(BIN)/mypy

bench: install  ## benchmarks: ratios against the naive approach, measured in the same run
	$(BIN)/python -m benchmarks

base-image:  ## build the local stand-in for NVIDIA's PyTorch image (cached by tag)
	bash scripts/build-base-image.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
