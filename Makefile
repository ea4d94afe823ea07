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
TARGETS ?= xnnpack-fp32 xnnpack-int8 tflite-fp32 tflite-int8 tflite-dynamic-int8
# The TF-native route reproduces only the transformers (softmax) form: it gets the softmax-form model.
TF_MODEL ?= $(MODEL)-softmax
THREADS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?=
COVERAGE_ARGS ?=

.PHONY: setup arm-setup run run-qnn test bench coverage schemas clean

setup: $(STAMP) $(SYS_STAMP)

# Python environment: installed once per pyproject change; pip's cache is reused.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_BOOT) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip>=24"
	$(PY) -m pip install --quiet -e '.[tf,dashboard,test,bench]'
	touch $(STAMP)

# System packages for the browser test and the Android app's Java core tests (Debian).
$(SYS_STAMP):
	./.ci/system-packages.sh
	mkdir -p $(VENV) && touch $(SYS_STAMP)

# aarch64 LiteRT under QEMU (edge_export/arm/): Debian trixie's QEMU 10.0 and bookworm's arm64 python3.11, PyPI's aarch64
# wheels, cached in ~/.cache/edge-export/arm64; a no-op when current.
arm-setup: setup
	$(EE) arm setup

# `make run` validates the .tflite artifacts again on Arm kernels: LiteRT's aarch64 build under QEMU on an
# ARMv8.2 CPU (dotprod, fp16: the Snapdragon 8 Gen 1-3 class).
ARM_CPU ?= cortex-a76

run: setup arm-setup
	$(EE) export $(MODEL) $(MODEL_OPTS) $(foreach t,$(TARGETS),--target $(t)) --out $(OUT) --threads $(THREADS)
	$(EE) export $(TF_MODEL) $(MODEL_OPTS) --target tf-tflite-fp32 --out $(OUT) --threads $(THREADS)
	$(MAKE) --no-print-directory run-qnn
	for d in $(OUT)/*/; do [ -f $$d/manifest.json ] || continue; $(EE) validate $$d --threads $(THREADS) || exit 1; done
	for d in $(OUT)/*tflite*/; do [ -f $$d/manifest.json ] || continue; \
	  $(EE) validate $$d --arch arm64 --cpu $(ARM_CPU) || exit 1; done
	for d in $(OUT)/*/; do [ -f $$d/manifest.json ] || continue; \
	  eager=$$(case $$d in *xnnpack-fp32/|*tf-tflite-fp32/) echo --eager;; esac); \
	  gap=$$(case $$d in *xnnpack-int8/|*tflite-int8/) echo --numeric-gap;; esac); \
	  $(EE) profile $$d --threads $(THREADS) --runs 20 --top 5 $$eager $$gap || exit 1; done
	$(EE) inspect $(OUT)/$(MODEL)-xnnpack-fp32
	$(EE) dashboard $(OUT) --out $(OUT)/report.html
	@echo "dashboard: $(OUT)/report.html"

# Qualcomm HTP (experimental host path): provision host libraries from PyPI, lower, run on the simulator.
run-qnn: setup
	$(EE) qnn-sdk setup
	$(EE) export $(MODEL) $(MODEL_OPTS) --target qnn-fp16 --out $(OUT) --images 2

test: setup arm-setup
	android_app/run-core-tests.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmark suite (benchmarks/suite.py): SwiftFormer XS/S/L1/L3 vs eager, torch.compile, ONNX Runtime and the
# GEMM peak; exports what is missing or stale; writes $(OUT)/bench/bench.{json,md}; the dashboard shows them.
bench: setup
	$(PY) benchmarks/igemm_kernel.py --out $(OUT)/bench
	$(PY) benchmarks/suite.py --out $(OUT) $(BENCH_ARGS)

# Coverage matrix (edge_export/coverage/): SwiftFormer XS/S/L1/L3 and eleven transformers architectures x every
# CPU target: export, delegation, parity, latency at 1 and 2 threads, % of the GEMM peak; writes
# $(OUT)/coverage/coverage.{json,md}; the dashboard shows them. `make coverage COVERAGE_ARGS=--quick` for a short run.
coverage: setup
	$(EE) coverage --out $(OUT)/coverage $(COVERAGE_ARGS)

# The JSON Schemas of manifest.json / profile.json (edge_export/schemas/), regenerated from the pydantic models.
schemas: setup
	$(PY) -c "from edge_export.schemas import write; [print(p) for p in write()]"

clean:
	rm -rf $(OUT) .pytest_cache
