"""OpenCV DNN: runs the ONNX model with nothing but OpenCV (already a base dependency).

OpenCV 5 has two engines; its new one cannot run ONNX Runtime's Q/DQ INT8 graph, so INT8 asks for
the classic engine (``cv2.dnn.ENGINE_CLASSIC``). OpenCV 4 has only that classic engine (and no
``ENGINE_CLASSIC`` name): it runs both the FP32 and the INT8 model as they are read. The oldest
release the CI checks is the lower bound in pyproject.toml (``.ci/lowest.sh``).
Thread count in OpenCV is process-wide (``cv2.setNumThreads``); a session given ``threads`` sets it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BackendError
from .base import Backend, Session, describe


class OpenCvSession(Session):
    def __init__(self, path: Path, device: str, precision: str, threads: int | None):
        super().__init__("opencv", path, device, precision)
        import cv2

        if threads is not None:
            cv2.setNumThreads(threads)
        try:
            classic = getattr(cv2.dnn, "ENGINE_CLASSIC", None)  # None: OpenCV 4, classic only
            if precision == "int8" and classic is not None:
                self._net = cv2.dnn.readNetFromONNX(str(path), classic)
            else:
                self._net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise BackendError(
                f"OpenCV DNN could not load {path} ({describe(exc)}); re-export the bundle or use another backend."
            ) from exc

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        self._net.setInput(x)
        return self._net.forward()

    def _native_impl(self):
        net = self._net

        def run(x):
            net.setInput(x)
            return net.forward()

        return run

    def _close_impl(self) -> None:
        self._net = None


class OpenCvBackend(Backend):
    name = "opencv"
    package = "cv2"
    formats = ("onnx",)
    role = "base dependency; no extra packages, CPU"

    def _probe_impl(self):
        import cv2

        if not hasattr(cv2, "dnn"):
            return [], "this OpenCV build has no dnn module; install opencv-python"
        return ["cpu"], f"cv2.dnn {cv2.__version__}"

    def precisions(self, device):
        return ["int8", "fp32"]

    def _load_impl(self, path, format, precision, device, threads, **options):
        return OpenCvSession(path, device, precision, threads)

    def version(self):
        if not self.available:
            return None
        import cv2

        return cv2.__version__


BACKEND = OpenCvBackend
