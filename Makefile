# Two entry points: `make demo` (set up + run the main job on built-in defaults) and `make test`
# (set up + run the whole test suite). Each creates its own virtualenv in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build (an unpinned torch pulls a multi-GB CUDA build).
TORCH ?= torch==2.13.0
# Test processes (pytest-xdist); whole test files go to one process, so a file's fixtures run once.
TEST_WORKERS ?= 2
# More extras for setup-dev, e.g. MORE_EXTRAS=,ray (CI adds Ray: about 1 GB, 3-4 minutes to install).
MORE_EXTRAS ?=

.PHONY: demo test setup setup-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Device setup: base dependencies + OpenVINO, no PyTorch.
setup: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[openvino]"

# Development setup: the `dev` extra (pyproject.toml), with the CPU build of PyTorch first.
setup-dev: $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev$(MORE_EXTRAS)]"

# Ends with how many of the demo's digits were read right and the annotated video (one a browser plays).
demo: setup
	$(BIN)/edgedigits camera --source demo --duration 15 --save edgedigits-demo

# Lint and the format check (ruff) first: seconds. The layer contract runs inside the suite
# (tests/test_layers.py). `ruff format .` fixes what the format check finds.
test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) --dist loadfile tests

clean:
	rm -rf $(VENV) .venv-lowest build *.egg-info .pytest_cache edgedigits-demo.mp4 edgedigits-demo.webm
