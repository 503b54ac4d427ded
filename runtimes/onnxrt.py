"""ONNX Runtime: the default CPU backend (a base dependency), and CUDA with onnxruntime-gpu.

CUDA is offered only when ``CUDAExecutionProvider`` is listed by the installed build, and a
session asked for CUDA is refused if ONNX Runtime quietly placed it on the CPU instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BackendError
from .base import Backend, Session, describe

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class OnnxRuntimeSession(Session):
    def __init__(self, path: Path, device: str, precision: str, threads: int | None):
        super().__init__("onnxruntime", path, device, precision)
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        providers = [PROVIDERS[device]] + ([PROVIDERS["cpu"]] if device != "cpu" else [])
        try:
            self._sess = ort.InferenceSession(str(path), so, providers=providers)
        except Exception as exc:  # ORT raises its own untyped errors for a bad model file
            raise BackendError(
                f"ONNX Runtime could not load {path} ({describe(exc)}); "
                "the file is not a valid ONNX model, re-export the bundle."
            ) from exc
        active = self._sess.get_providers()
        if active[0] != PROVIDERS[device]:
            raise BackendError(
                f"ONNX Runtime was asked for {PROVIDERS[device]} but placed the session on "
                f"{active[0]}; install a matching onnxruntime-gpu and CUDA, or use device='cpu'."
            )
        self._input = self._sess.get_inputs()[0].name
        self._output = [self._sess.get_outputs()[0].name]

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run(self._output, {self._input: x})[0]

    def _native_impl(self):
        sess, feed, out = self._sess, self._input, self._output
        return lambda x: sess.run(out, {feed: x})[0]

    def _close_impl(self) -> None:
        self._sess = None


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    package = "onnxruntime"
    formats = ("onnx",)
    role = "base dependency; CPU everywhere, CUDA with onnxruntime-gpu"

    def _probe_impl(self):
        import onnxruntime as ort

        listed = set(ort.get_available_providers())
        devices = [d for d, p in PROVIDERS.items() if p in listed]
        note = "providers: " + ", ".join(p for p in PROVIDERS.values() if p in listed)
        if "CUDAExecutionProvider" not in listed:
            note += " (no CUDA: onnxruntime-gpu is not installed)"
        return devices, note

    def precisions(self, device):
        return ["int8", "fp32", "fp16"] if device == "cuda" else ["int8", "fp32"]

    def _load_impl(self, path, format, precision, device, threads, **options):
        return OnnxRuntimeSession(path, device, precision, threads)

    def _distributions(self):
        return ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml")


BACKEND = OnnxRuntimeBackend
