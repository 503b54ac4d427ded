"""edgedigits: handwritten digit recognition for edge devices.

``import edgedigits`` needs only numpy, onnxruntime and OpenCV; PyTorch, OpenVINO and TensorRT
are imported only by the parts that use them.
"""

from __future__ import annotations

from . import _source_tree

_source_tree.map_source_tree()     # run from a source checkout: find export/ and runtimes/ beside it

__version__ = "0.1.0"

from .bundle import Bundle, load_bundle
from .errors import (BackendError, BundleError, DataError, EdgeDigitsError, ExportError, InputError,
                     MissingDependencyError)
from .recognizer import Classification, Digit, Recognizer, RuntimeInfo

__all__ = ["__version__", "Recognizer", "Classification", "Digit", "RuntimeInfo", "Bundle", "load_bundle", "EdgeDigitsError", "BundleError", "BackendError",
           "DataError", "ExportError", "InputError", "MissingDependencyError"]
