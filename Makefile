# Two entry points: `make demo` (set up + run the main job on built-in defaults) and `make test`
# (set up + run the whole test suite). Each creates its own virtualenv in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build (an unpinned torch pulls a multi-GB CUDA build).
TORCH ?= torch==2.13.0
# More extras for setup-dev, e.g. MORE_EXTRAS=,ray (CI adds Ray: about 1 GB, 3-4 minutes to install).
MORE_EXTRAS ?=

.PHONY: demo test setup setup-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Device setup: base dependencies + OpenVINO, no PyTorch.
setup: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[openvino]"

# Development setup: everything, with the CPU build of PyTorch.
setup-dev: $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[train,export,openvino,test,bench,tensorrt-rtx,tensorrt-lean,serve$(MORE_EXTRAS)]"

demo: setup
	$(BIN)/edgedigits camera --source demo --duration 15

# Lint (ruff) first: seconds. The layer contract runs inside the suite (tests/test_layers.py).
test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -ra tests

clean:
	rm -rf $(VENV) .venv-lowest build *.egg-info .pytest_cache
