"""Small checks for optional dependencies, so heavy libraries are imported only where needed."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingDependencyError

# One place that says how to install each optional package.
INSTALL_HINTS = {
    "torch": "pip install torch==2.13.0  (then: pip install 'edgedigits[train]')",
    "onnx": "pip install onnx",
    "onnxscript": "pip install onnxscript",
    "openvino": "pip install 'edgedigits[openvino]'",
    "tensorrt": "pip install tensorrt  (needs an NVIDIA GPU and driver; see NVIDIA's install guide)",
    "nncf": "pip install nncf",
    "ray": "pip install 'edgedigits[ray]'",
}


def has(package: str) -> bool:
    """Whether ``package`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def need(package: str, feature: str) -> ModuleType:
    """Import ``package`` or raise a :class:`MissingDependencyError` quoting the install command."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(package, feature, INSTALL_HINTS.get(package, f"pip install {package}")) from exc


RAY_INSTALL = INSTALL_HINTS["ray"]


def need_ray(feature: str) -> ModuleType:
    """``import ray`` (with Serve and Data available) or a one-sentence MissingDependencyError."""
    try:
        import ray
        import ray.data  # noqa: F401
        import ray.serve  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray", feature, RAY_INSTALL) from None
    return ray
