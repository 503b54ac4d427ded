#!/usr/bin/env bash
# The declared lower bounds of the base dependencies work: install edgedigits with the lowest
# versions pyproject.toml allows (uv --resolution lowest-direct) into its own virtualenv, without
# PyTorch or OpenVINO, and run the device tests on it. About 2 minutes (measured: install 12 s with
# a warm uv cache, tests 110 s on 2 busy cores). Run by .ci/run after `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-lowest
UV=${UV:-.venv/bin/uv}
rm -rf "$VENV"
"$UV" venv -q -p "${PYTHON:-python3}" "$VENV"
"$UV" pip install -q -p "$VENV/bin/python" --resolution lowest-direct -e . \
    "pytest>=8" "hypothesis>=6" "pytest-timeout>=2.2"
"$VENV/bin/python" -c "import cv2, numpy, onnxruntime, platformdirs; \
print('lowest versions: numpy', numpy.__version__, '| onnxruntime', onnxruntime.__version__, \
'| opencv', cv2.__version__, '| platformdirs', platformdirs.__version__)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_import.py tests/test_recognizer.py \
    tests/runtimes/test_contract.py tests/runtimes/test_conformance.py
