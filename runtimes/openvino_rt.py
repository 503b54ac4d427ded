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
    """A compiled model with one inference request per stream.

    With more than one thread, the model is compiled for throughput (OpenVINO splits the cores
    into streams, as its own ``benchmark_app`` does): a small batch runs on one stream, and a
    batch of at least :data:`SPLIT_MIN` images per stream is cut into one part per stream, run
    in parallel. With ``threads=1`` it is compiled for latency on one core.
    """

    #: Smallest part of a batch worth sending to its own stream.
    SPLIT_MIN = 16

    def __init__(self, path: Path, device: str, precision: str, threads: int | None):
        super().__init__("openvino", path, device, precision)
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        mode = hints.PerformanceMode.LATENCY if threads == 1 else hints.PerformanceMode.THROUGHPUT
        config = {hints.performance_mode: mode}
        if precision == "fp32":
            config[hints.inference_precision] = ov.Type.f32
        if threads is not None and _kind(device) == "cpu":
            config[props.inference_num_threads] = threads
        try:
            self._compiled = ov.Core().compile_model(str(path), device.upper(), config)
            count = max(1, int(self._compiled.get_property(props.optimal_number_of_infer_requests)))
        except RuntimeError as exc:
            raise BackendError(
                f"OpenVINO could not compile {path} for {device.upper()} ({describe(exc)}); "
                "re-export the bundle or choose another device."
            ) from exc
        self._requests = [self._compiled.create_infer_request() for _ in range(count)]
        self._request = self._requests[0]

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        parts = min(len(self._requests), len(x) // self.SPLIT_MIN)
        if parts <= 1:
            # share_outputs hands back the request's own buffer, which the next call overwrites: copy.
            return np.array(self._request.infer(x, share_inputs=True, share_outputs=True)[0])
        chunks = np.array_split(x, parts)
        for request, chunk in zip(self._requests, chunks):
            request.start_async(chunk, share_inputs=True)
        out, start = None, 0
        for request, chunk in zip(self._requests, chunks):
            request.wait()
            part = request.get_output_tensor(0).data
            if out is None:  # 10 logits, or 11 with a reject class
                out = np.empty((len(x), part.shape[1]), np.float32)
            out[start : start + len(chunk)] = part
            start += len(chunk)
        return out

    def _native_impl(self):
        request = self._request
        return lambda x: request.infer(x, share_inputs=True, share_outputs=True)[0]

    def _close_impl(self) -> None:
        self._requests = []
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
