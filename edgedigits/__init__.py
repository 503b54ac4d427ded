"""edgedigits: handwritten digit recognition for edge devices.

``import edgedigits`` needs only numpy, onnxruntime and OpenCV; PyTorch, OpenVINO and TensorRT
are imported only by the parts that use them.
"""

from __future__ import annotations

from . import _source_tree

_source_tree.map_source_tree()  # run from a source checkout: find export/ and runtimes/ beside it

from ._version import __version__  # noqa: E402
from .bundle import Bundle, load_bundle  # noqa: E402
from .errors import (  # noqa: E402
    BackendError,
    BundleError,
    DataError,
    EdgeDigitsError,
    ExportError,
    InputError,
    MissingDependencyError,
)

# The SDK's classes load on first use (PEP 562), so that ``import edgedigits.models`` or
# ``edgedigits.runtimes`` does not pull in OpenCV and the reader (the GPU check runs where only
# PyTorch and numpy are installed).
_LAZY = {
    "Recognizer": "recognizer",
    "Classification": "recognizer",
    "RuntimeInfo": "recognizer",
    "Digit": "reader",
    "Number": "reader",
    "Reading": "reader",
    "Reader": "reader",
}

__all__ = [
    "__version__",
    *_LAZY,
    "Bundle",
    "load_bundle",
    "EdgeDigitsError",
    "BundleError",
    "BackendError",
    "DataError",
    "ExportError",
    "InputError",
    "MissingDependencyError",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgedigits' has no attribute {name!r}")
