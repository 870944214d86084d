# tc — the train container CLI. `make demo` installs and runs the main job; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TC := $(BIN)/tc
DEMO_DIR ?= /tmp/tc-demo

.PHONY: install install-core demo test test-full test-fast lint bench base-image clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the CLI and what the demo needs (no torch): the first half of `make demo`
$(VENV)/.core-installed: pyproject.toml | $(BIN)/python
	set -o pipefail; $(BIN)/python -m pip install -q --disable-pip-version-check -e . 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@$(BIN)/python -c 'import tcli.cli' && touch $@

# everything: dev tools, the in-image runtime's packages, torch for the template tests
$(VENV)/.full-installed: pyproject.toml $(VENV)/.core-installed
	set -o pipefail; $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,runtime,train,kube,sweep,model]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@$(BIN)/python -c 'import torch, pytest, onnxruntime, kubeflow_trainer_api, kubeflow.training, optuna, kubeflow.katib' && touch $@

define link_tc
	@mkdir -p $(HOME)/.local/bin && ln -sf $(abspath $(TC)) $(HOME)/.local/bin/tc
	@if [ -w /usr/local/bin ]; then ln -sf $(abspath $(TC)) /usr/local/bin/tc; fi
	@$(BIN)/python -c 'import os; from tcli.safety.clash import detect_tc_clash as d; m = d(os.environ.get("PATH")); print("warning: " + m) if m else None'
endef

install-core: $(VENV)/.core-installed  ## install only the CLI (what `make demo` needs)
	$(link_tc)

install: $(VENV)/.full-installed  ## install tc (editable) and its dev/runtime/torch extras into .venv, link tc onto PATH
	$(link_tc)
	@echo "tc installed: $$($(TC) --version) -> $(abspath $(TC))"

demo:  ## provision Docker, install the CLI, build the stand-in base image the demo needs, run the demo
	DEMO_DIR=$(DEMO_DIR) TC=$(TC) MAKE="$(MAKE)" bash scripts/demo.sh

# What a tier needs and is absent (Docker, the stand-in images, chromium) is skipped with its
# reason; the Docker score-bar runs (integration and slow: about 3 minutes, the same bars are
# checked outside Docker in tests/scaffold) are left to `make test-full`. The run's last line
# names what was skipped or left out, and `make test-full`.
test: install  ## every test whose environment is here; the last line says what was skipped
	$(BIN)/python -m pytest -q -m "not (integration and slow)" $(PYTEST_ARGS)

# As CI: builds the stand-in base images first (cached by tag; the first build took 4 minutes on
# the 2-core dev machine: sklearn 68 s, torch 181 s, more where pip must download torch's wheels),
# then runs every tier; a skip in the integration or browser tier fails.
test-full: install  ## base images + every tier (a skipped integration/browser test fails)
	@echo "test-full: building the stand-in base images when absent (tc base-image --flavor all; cached by tag, the first build takes about 4 minutes)"
	$(TC) base-image --flavor all
	TC_TEST_ALL=1 TC_BASE_IMAGE=$${TC_BASE_IMAGE:-tc-local/pytorch:2.14.1} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: install  ## the unit and cli tiers (seconds to a minute or two)
	$(BIN)/python -m pytest -q -m "(unit or cli) and not slow" $(PYTEST_ARGS)

# the in-image runtime and each template: mypy once per docker/ folder (every template has its
# own train.py/args.py), with the runtime modules and tc_torch.py beside it as in the image.
# Every runtime module is checked (common/*.py, datasets/*.py, export/export.py).
RUNTIME_MYPY := $(wildcard scaffolds/project/common/*.py) $(wildcard scaffolds/project/datasets/*.py) \
	scaffolds/project/export/export.py
RUNTIME_PATH := scaffolds/project/common:scaffolds/project/datasets:scaffolds/variants/torch_common
# every template's variant folder (the registry, tcli/contract.py TEMPLATES, is checked against
# them by tests/unit/test_template_registry.py)
VARIANTS := $(sort $(patsubst scaffolds/variants/%/docker,%,$(wildcard scaffolds/variants/*/docker)))

lint: install  ## ruff and mypy (strict) on tc, its tests, the in-image runtime and the templates
	$(BIN)/ruff check tcli tests benchmarks scaffolds
	$(BIN)/mypy
	MYPYPATH=$(RUNTIME_PATH) $(BIN)/mypy $(RUNTIME_MYPY)
	set -e; for v in $(VARIANTS); do \
	  echo "mypy scaffolds/variants/$$v/docker"; \
	  MYPYPATH=$(RUNTIME_PATH) $(BIN)/mypy scaffolds/variants/$$v/docker; \
	done

bench: install  ## benchmarks: ratios against the naive approach, measured in the same run
	$(BIN)/python -m benchmarks

base-image: install-core  ## build the local stand-ins for NVIDIA's PyTorch image (cached by tag)
	$(TC) base-image --flavor $${TC_BASE_FLAVOR:-all}

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
