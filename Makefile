# idlcm developer commands. `make install run` starts the operator; `make test` runs every gate.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IDLCM := $(BIN)/idlcm

.PHONY: install run demo test test-under-load lint fmt typecheck pytest soak bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@# SCIMMY, one of the SCIM servers written by others that tests/thirdparty/ runs (needs Node.js and npm).
	cd tests/thirdparty/scimmy && npm ci --no-audit --no-fund --prefer-offline --loglevel=error

# Against the cluster of $KUBECONFIG when set, else an embedded Kubernetes API.
run:
	$(IDLCM) run $(if $(KUBECONFIG),,--embedded) $(ARGS)

# The embedded API, a SCIM app, the operator and examples/demo/ in one process; Ctrl-C stops it.
demo:
	$(IDLCM) demo $(ARGS)

lint:
	$(BIN)/ruff check operator tests bench manifests/argocd
	$(BIN)/ruff format --check operator tests bench manifests/argocd

fmt:
	$(BIN)/ruff check --fix operator tests bench manifests/argocd
	$(BIN)/ruff format operator tests bench manifests/argocd

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

test: install lint typecheck pytest

# `make test` with a CPU-bound process kept busy beside it the whole time (a loaded 2-core machine): the suite
# must stay green and within 10 minutes like that, since every test waits on its condition, never on time.
test-under-load:
	@$(PYTHON) -c 'while True: pass' & busy=$$!; \
	trap 'kill $$busy 2>/dev/null' EXIT; \
	$(MAKE) test

# The long reliability runs (issue 7; not part of `test`, nor CI): thousands of accounts, many crash points.
# Each prints its figures (kill points, duplicates, missing, time to converge).
soak: install
	IDLCM_SOAK=1 $(BIN)/pytest -m soak -s -p no:cacheprovider tests/reliability tests/lifecycle/test_large_integration.py $(PYTEST_ARGS)

# The six benchmarks of issue 6 (not part of `test`): every figure beside its baseline and target, ~5-6 min on
# 2 cores; bench/RESULTS.md records a run. ARGS=--quick: smaller sizes; ARGS="--only b1,b6": a subset.
bench: install
	$(BIN)/python bench/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist

# --- Deployment: the operator image and the end-to-end suite on kind (README: "Deploying on a cluster") ---
IMAGE ?= idlcm:dev
CONTAINER_TOOL ?= docker

.PHONY: image e2e

image:
	@command -v $(CONTAINER_TOOL) >/dev/null 2>&1 || { \
		echo "make image: '$(CONTAINER_TOOL)' not found; install Docker (or CONTAINER_TOOL=podman) to build the image" >&2; \
		exit 1; }
	$(CONTAINER_TOOL) build -t $(IMAGE) .

# Skips (exit 0, with a message) where Docker or kind is missing; E2E_REQUIRED=1 makes that an error. Not part of `test`.
e2e:
	PYTHON=$(BIN)/python tests/e2e/run.sh
