"""Fixtures of the TensorRT tests: the real TensorRT modules installed here.

CI installs ``tensorrt-rtx`` (builder surface, builds without a GPU) and ``tensorrt-lean-cu13``
(runtime surface) through ``make test``: under CI (CI=true) a missing one fails the test that
needs it; elsewhere it skips with the reason, as the MNIST tests do.
"""

from __future__ import annotations

import pytest

from _support import tensorrt_library


@pytest.fixture(scope="session")
def rtx():
    """The real ``tensorrt_rtx`` module, as a Library."""
    return tensorrt_library("tensorrt_rtx")


@pytest.fixture(scope="session")
def lean():
    """The real ``tensorrt_lean`` module, as a Library."""
    return tensorrt_library("tensorrt_lean")


@pytest.fixture(scope="session")
def fp16_onnx(tmp_path_factory, default_bundle):
    """The shipped FP32 model cast to FP16 by the exporter's own conversion (float32 I/O)."""
    from edgedigits.export.onnx import convert_to_fp16
    return convert_to_fp16(default_bundle.artifact_path("onnx-fp32"), tmp_path_factory.mktemp("fp16") / "model.fp16.onnx")
