"""edgedigits.runtimes: one interface over every inference backend.

    from edgedigits import runtimes
    for b in runtimes.backends():                   # every backend, in priority order
        print(b.name, b.availability(), b.devices())
    with runtimes.open_file("model.onnx", "onnx", "fp32") as session:
        logits = session.run(batch)                 # float32 N x 1 x 28 x 28 -> float32 N x 10

Each backend lives in its own module (``<name>`` -> ``_MODULES[name]``) with a
:class:`~edgedigits.runtimes.base.Backend` and a :class:`~edgedigits.runtimes.base.Session`;
heavy libraries are imported only when a backend is probed or used. The order of ``_MODULES``
is the priority order used when nothing better is known.
"""

from __future__ import annotations

import importlib
import os
import threading

from ..errors import BackendError
from .base import Backend, Session, check_input

# name -> module, in priority order (GPU engines first, the PyTorch reference last).
_MODULES = {
    "tensorrt": "tensorrt.backend",
    "tensorrt_rtx": "tensorrt.rtx",
    "openvino": "openvino_rt",
    "onnxruntime": "onnxrt",
    "opencv": "opencv_rt",
    "torch": "torch_rt",
}
NAMES = tuple(_MODULES)

_instances: dict[str, Backend] = {}
_lock = threading.Lock()


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (its module is imported, its library is not)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _MODULES:
        raise BackendError(
            f"unknown backend {name!r}; the backends are: {', '.join(NAMES)} "
            "(run 'edgedigits backends' to see which are available here)."
        )
    with _lock:
        if key not in _instances:
            module = importlib.import_module(f"{__name__}.{_MODULES[key]}")
            _instances[key] = module.BACKEND()
        return _instances[key]


def backends() -> list[Backend]:
    """Every backend, available or not, in priority order."""
    return [get_backend(n) for n in NAMES]


def available_backends() -> list[Backend]:
    return [b for b in backends() if b.available]


def natural_backend(format: str) -> Backend:
    """The backend that primarily loads ``format`` (onnx -> onnxruntime, openvino -> openvino...)."""
    for b in backends():
        if b.formats[0] == format:
            return b
    raise BackendError(
        f"no backend loads the {format!r} format; formats are: "
        f"{', '.join(dict.fromkeys(b.formats[0] for b in backends()))}."
    )


def open_file(
    path: str | os.PathLike,
    format: str,
    precision: str,
    backend: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    **options,
) -> Session:
    """Load one model file outside a bundle (e.g. to check an export before writing its manifest).

    Args:
        path: the file (``.onnx``, OpenVINO ``.xml``, TensorRT ``.engine``, ``weights.pt``).
        format: 'onnx', 'openvino', 'tensorrt' or 'torch'.
        precision: 'fp32', 'fp16' or 'int8'.
        backend: a backend name; None = the natural backend of ``format``.
        device: a device of that backend ('cpu', 'cuda', 'gpu', ...).
        threads: intra-op threads (None = the library's default).
        options: backend-specific, e.g. ``model='digitnet_s'`` for torch weights.

    Returns:
        A :class:`Session`; ``session.run(x)`` maps float32 N x 1 x 28 x 28 to float32 N x 10.
    """
    chosen = natural_backend(format) if backend is None else get_backend(backend)
    return chosen.load(path, format, precision, device, threads, **options)


__all__ = [
    "Backend",
    "Session",
    "BackendError",
    "NAMES",
    "get_backend",
    "backends",
    "available_backends",
    "natural_backend",
    "open_file",
    "check_input",
]
