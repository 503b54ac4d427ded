"""The TensorRT Python modules edgedigits can use, what each one offers, and the GPU check.

Three modules share one API: ``tensorrt`` (full TensorRT 10 or 11: builder, ONNX parser, runtime),
``tensorrt_lean`` (TensorRT's lean runtime: runs engines, builds none) and ``tensorrt_rtx``
(TensorRT for RTX: builder, parser and runtime; compiles for RTX GPUs ahead of time, without one).
Where they differ - TensorRT 11 dropped ``BuilderFlag.FP16``/``INT8`` and ``EXPLICIT_BATCH``,
renamed ``device_memory_size`` to ``device_memory_size_v2``; TensorRT-RTX takes target compute
capabilities - :class:`Library` asks the module what it offers, never its version string.

Creating a TensorRT ``Runtime`` on a machine without a usable GPU logs a CUDA failure and returns
an object whose ``deserialize_cuda_engine`` then kills the process (segmentation fault), so
:func:`cuda_device` must succeed before any runtime object is made.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..._deps import has
from ...errors import BackendError
from ._engine import BUILDER_RTX, BUILDER_TENSORRT

FULL, LEAN, RTX = "tensorrt", "tensorrt_lean", "tensorrt_rtx"
TITLES = {FULL: "TensorRT", LEAN: "TensorRT lean runtime", RTX: "TensorRT-RTX"}
#: Distributions that install each module (for versions and install hints).
DISTRIBUTIONS = {
    FULL: ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-bindings", "tensorrt-cu12-bindings"),
    LEAN: ("tensorrt-lean-cu13", "tensorrt-lean-cu12", "tensorrt_lean_cu13_bindings", "tensorrt_lean_cu12_bindings"),
    RTX: ("tensorrt-rtx", "tensorrt_rtx_cu13", "tensorrt_rtx_cu12"),
}
INSTALL = {
    FULL: "pip install tensorrt from NVIDIA's index; see NVIDIA's TensorRT install guide",
    LEAN: "pip install tensorrt-lean-cu13",
    RTX: "pip install 'edgedigits[tensorrt-rtx]'",
}
#: The first compute capability a TensorRT-RTX build targets by default (NVIDIA: Turing, 7.5,
#: needs an engine of its own, so it is not in the default portable set).
RTX_DEFAULT_MIN_CC = (8, 0)


@dataclass(frozen=True)
class Library:
    """One imported TensorRT module and what its API offers."""

    name: str  # FULL, LEAN or RTX
    trt: ModuleType

    @property
    def title(self) -> str:
        return TITLES[self.name]

    @property
    def version(self) -> str:
        return str(getattr(self.trt, "__version__", "unknown"))

    @property
    def builder(self) -> str:
        """Whose engines this module runs: 'tensorrt' (full and lean) or 'tensorrt_rtx'."""
        return BUILDER_RTX if self.name == RTX else BUILDER_TENSORRT

    @property
    def can_build(self) -> bool:
        """Whether it has a builder and an ONNX parser (the lean runtime has neither)."""
        return hasattr(self.trt, "Builder") and hasattr(self.trt, "OnnxParser")

    @property
    def strongly_typed(self) -> bool:
        """Whether networks can be strongly typed (precision from the ONNX's own types)."""
        return hasattr(getattr(self.trt, "NetworkDefinitionCreationFlag", None), "STRONGLY_TYPED")

    @property
    def ahead_of_time(self) -> bool:
        """Whether the builder compiles for listed compute capabilities (TensorRT-RTX), GPU or not."""
        config = getattr(self.trt, "IBuilderConfig", None)
        return hasattr(self.trt, "ComputeCapability") and hasattr(config, "set_compute_capability")

    def network_flags(self) -> int:
        """``create_network`` flags: strongly typed where offered, else explicit batch, else none."""
        flags = self.trt.NetworkDefinitionCreationFlag
        if hasattr(flags, "STRONGLY_TYPED"):
            return 1 << int(flags.STRONGLY_TYPED)
        if hasattr(flags, "EXPLICIT_BATCH"):
            return 1 << int(flags.EXPLICIT_BATCH)
        return 0

    def precision_flags(self, precision: str) -> list:
        """Builder flags that ``precision`` needs: none for a strongly typed network (the ONNX's
        types decide); ``BuilderFlag.FP16``/``INT8`` for a weakly typed one (TensorRT 10 before strong typing).

        Raises:
            BackendError: a weakly typed builder without the flag for ``precision``.
        """
        if self.strongly_typed or precision == "fp32":
            return []
        flag = getattr(self.trt.BuilderFlag, precision.upper(), None)
        if flag is None:
            raise BackendError(
                f"{self.title} {self.version} has neither strongly typed networks nor "
                f"BuilderFlag.{precision.upper()}, so it cannot build a {precision} engine."
            )
        return [flag]

    def compute_capabilities(self) -> list[str]:
        """Compute capabilities the builder can target ('8.6', ...; from ``ComputeCapability``); [] if none."""
        enum = getattr(self.trt, "ComputeCapability", None)
        found = []
        for name in dir(enum) if enum is not None else ():
            digits = name[2:]
            if name.startswith("SM") and digits.isdigit():
                found.append((int(digits[:-1]), int(digits[-1])))
        return [f"{major}.{minor}" for major, minor in sorted(found)]

    def default_targets(self) -> list[str]:
        """The compute capabilities an ahead-of-time build targets unless told otherwise."""
        return [cc for cc in self.compute_capabilities() if tuple(int(p) for p in cc.split(".")) >= RTX_DEFAULT_MIN_CC]

    def device_memory(self, engine) -> int:
        """Device memory an engine needs (``device_memory_size_v2`` on TensorRT 10.x+/11, else the old name)."""
        if hasattr(engine, "device_memory_size_v2"):
            return int(engine.device_memory_size_v2)
        return int(engine.device_memory_size)


def load_library(name: str) -> tuple[Library | None, str]:
    """(the imported module ``name``, '') or (None, why it cannot be used)."""
    if not has(name):
        return None, f"{TITLES[name]} is not installed ({INSTALL[name]})"
    try:
        module = importlib.import_module(name)
    except (ImportError, OSError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return None, f"{TITLES[name]} is installed but does not load ({lines[0][:120]})"
    if not hasattr(module, "Logger"):  # e.g. a folder of that name on sys.path (a namespace package)
        return None, f"'{name}' imports {getattr(module, '__path__', module)}, which is not {TITLES[name]}"
    return Library(name, module), ""


def first_library(names: tuple[str, ...]) -> tuple[Library | None, str]:
    """The first of ``names`` that loads, or (None, why none does)."""
    reasons = []
    for name in names:
        lib, why = load_library(name)
        if lib is not None:
            return lib, ""
        reasons.append(why)
    return None, "; ".join(reasons)


def cuda_device(index: int = 0) -> tuple[str, str]:
    """(name, compute capability) of CUDA device ``index``, asked through cuda-bindings.

    Raises:
        BackendError: cuda-bindings is missing, or CUDA reports no usable device (no driver, no GPU).
    """
    if not has("cuda"):
        raise BackendError(
            "cuda-bindings is not installed (pip install cuda-bindings), so edgedigits cannot check "
            "for an NVIDIA GPU before starting TensorRT"
        )
    try:
        from cuda.bindings import runtime as cudart
    except ImportError as exc:
        raise BackendError(f"cuda-bindings does not import ({exc}), so no NVIDIA GPU can be found") from exc
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count < 1:
        raise BackendError(
            f"no NVIDIA GPU is visible to CUDA ({getattr(err, 'name', err)}); TensorRT runs only on "
            "an NVIDIA GPU with its driver"
        )
    err, props = cudart.cudaGetDeviceProperties(index)
    if int(err) != 0:
        raise BackendError(f"cannot query the NVIDIA GPU ({getattr(err, 'name', err)})")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.strip("\x00 "), f"{props.major}.{props.minor}"
