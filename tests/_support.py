"""Helpers shared by test modules: `from _support import run_cli, requires_torch, ...`.

(Kept out of conftest.py: with several conftest.py files under tests/, `import conftest` is
ambiguous.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_cli(*args, env=None, cwd=None, timeout=600, input=None):
    """Run the real `edgedigits` command in a subprocess; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "edgedigits", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        input=input,
    )


def has_module(name: str) -> bool:
    from edgedigits._deps import has

    return has(name)


requires_torch = pytest.mark.skipif(
    not has_module("torch"), reason="PyTorch is not installed (pip install torch==2.13.0)"
)
requires_openvino = pytest.mark.skipif(
    not has_module("openvino"), reason="OpenVINO is not installed (pip install 'edgedigits[openvino]')"
)


def tensorrt_library(name: str):
    """The real TensorRT module ``name`` ('tensorrt_rtx', 'tensorrt_lean') as a Library.

    ``make test`` installs both, so under CI (CI=true) a missing one fails the test; elsewhere it skips.
    """
    from edgedigits.runtimes.tensorrt._library import load_library

    lib, why = load_library(name)
    if lib is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{why} (required under CI: make test installs it)")
        pytest.skip(why)
    return lib


def shipped_variant_bundle(root, model_name: str, edit):
    """A bundle at ``root`` of ``model_name`` holding the shipped weights, widened for its extra
    outputs (:func:`edgedigits.train._with_reject_output`) and then changed by ``edit(state)``."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from edgedigits.bundle import default_bundle_path, write_training_bundle
    from edgedigits.models import create_model
    from edgedigits.train import _with_reject_output

    model = create_model(model_name)
    shipped = torch.load(default_bundle_path() / "weights.pt", map_location="cpu", weights_only=True)
    state = _with_reject_output(torch, shipped, model)
    edit(state)
    model.load_state_dict(state)
    return write_training_bundle(
        model, root, recipe={"model": model_name}, test_accuracy=0.0, val_accuracy=0.0, log=lambda *_: None
    )
