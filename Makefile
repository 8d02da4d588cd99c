# idlcm developer commands. `make install run` starts the operator; `make test` runs every gate.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IDLCM := $(BIN)/idlcm

.PHONY: install run test lint fmt typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# Against the cluster of $KUBECONFIG when set, else an embedded Kubernetes API.
run:
	$(IDLCM) run $(if $(KUBECONFIG),,--embedded) $(ARGS)

lint:
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench

fmt:
	$(BIN)/ruff check --fix operator tests bench
	$(BIN)/ruff format operator tests bench

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

test: install lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
