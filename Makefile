# Two commands: `make run` (set-up + the main job) and `make test` (set-up + the test suite).
SHELL := /bin/bash
PY_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
EE := $(VENV)/bin/edge-export
STAMP := $(VENV)/.stamp-install
SYS_STAMP := $(VENV)/.stamp-system
OUT ?= artifacts
MODEL ?= swiftformer-xs
# Random weights: layer scale 1.0 so outputs are non-trivial (README "Fidelity on random weights").
MODEL_OPTS ?= --opt layer_scale_init_value=1.0
TARGETS ?= xnnpack-fp32 xnnpack-int8
THREADS ?= 2
PYTEST_ARGS ?=

.PHONY: setup run test bench clean

setup: $(STAMP) $(SYS_STAMP)

# Python environment: installed once per pyproject change; pip's cache is reused.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_BOOT) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip>=24"
	$(PY) -m pip install --quiet -e '.[tf,dashboard,test]'
	touch $(STAMP)

# System packages for the browser test and the Android app's Java core tests (Debian).
$(SYS_STAMP):
	./.ci/system-packages.sh
	mkdir -p $(VENV) && touch $(SYS_STAMP)

run: setup
	rm -rf $(OUT)/.*.partial
	$(EE) export $(MODEL) $(MODEL_OPTS) $(foreach t,$(TARGETS),--target $(t)) --out $(OUT) --threads $(THREADS)
	for d in $(foreach t,$(TARGETS),$(OUT)/$(MODEL)-$(t)); do $(EE) validate $$d --threads $(THREADS) || exit 1; done
	$(EE) inspect $(OUT)/$(MODEL)-xnnpack-fp32

test: setup
	android_app/run-core-tests.sh
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/latency.py --model $(MODEL) --out $(OUT)

clean:
	rm -rf $(OUT) .pytest_cache
