"""OpenVINO: Intel's runtime; reads IR (.xml + .bin) and ONNX, on CPU and on any GPU/NPU it lists.

On CPUs with bf16 support OpenVINO computes in bf16 by default, even for an FP32 model; FP32
sessions therefore set ``inference_precision`` to f32 so their logits match the other backends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BackendError
from .base import Backend, Session, describe

PRECISIONS = {"cpu": ["int8", "fp32"], "gpu": ["fp16", "int8", "fp32"], "npu": ["fp16", "int8"]}


def _kind(device: str) -> str:
    return device.split(".")[0]


class OpenVinoSession(Session):
    def __init__(self, path: Path, device: str, precision: str, threads: int | None):
        super().__init__("openvino", path, device, precision)
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints
        config = {hints.performance_mode: hints.PerformanceMode.LATENCY}
        if precision == "fp32":
            config[hints.inference_precision] = ov.Type.f32
        if threads is not None and _kind(device) == "cpu":
            config[props.inference_num_threads] = threads
        try:
            self._compiled = ov.Core().compile_model(str(path), device.upper(), config)
        except RuntimeError as exc:
            raise BackendError(f"OpenVINO could not compile {path} for {device.upper()} ({describe(exc)}); "
                               "re-export the bundle or choose another device.") from exc
        self._request = self._compiled.create_infer_request()

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        # share_outputs hands back the request's own buffer, which the next call overwrites: copy.
        return np.array(self._request.infer(x, share_inputs=True, share_outputs=True)[0])

    def _close_impl(self) -> None:
        self._request = self._compiled = None


class OpenVinoBackend(Backend):
    name = "openvino"
    package = "openvino"
    formats = ("openvino", "onnx")
    role = "optional extra; fastest on Intel/AMD CPUs, also Intel GPU and NPU"

    def _probe_impl(self):
        import openvino as ov
        found = ov.Core().available_devices
        devices = [d.lower() for d in found if _kind(d.lower()) in PRECISIONS]
        return devices, "devices: " + (", ".join(found) or "none")

    def precisions(self, device):
        return list(PRECISIONS.get(_kind(device), []))

    def _load_impl(self, path, format, precision, device, threads, **options):
        return OpenVinoSession(path, device, precision, threads)


BACKEND = OpenVinoBackend
