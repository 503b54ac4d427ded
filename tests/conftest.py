"""Shared fixtures. MNIST comes from $EDGEDIGITS_DATA or ../shared/data/mnist beside the repo.

Tests that need the full MNIST use the ``mnist_dir`` fixture: under CI (CI=true) a missing
dataset fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _support import has_module, requires_openvino, requires_torch, run_cli  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _mnist_candidates():
    if os.environ.get("EDGEDIGITS_DATA"):
        yield Path(os.environ["EDGEDIGITS_DATA"])
    yield ROOT.parent / "shared" / "data" / "mnist"


def find_mnist() -> Path | None:
    from edgedigits.data import _has_files

    for c in _mnist_candidates():
        if c.is_dir() and _has_files(c):
            return c
    return None


def _missing(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = find_mnist()
    if path is None:
        _missing("MNIST not found: set EDGEDIGITS_DATA or put it in ../shared/data/mnist")
    return path


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    from edgedigits.data import load_mnist

    return load_mnist("test", mnist_dir)


@pytest.fixture(scope="session")
def mnist_train(mnist_dir):
    from edgedigits.data import load_mnist

    return load_mnist("train", mnist_dir)


@pytest.fixture(scope="session")
def default_bundle():
    from edgedigits.bundle import load_bundle

    return load_bundle()


@pytest.fixture
def cli():
    return run_cli
