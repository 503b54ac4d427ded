"""The TensorRT backends: engines from the bundle, or built here from its ONNX model and cached.

Two backends share this code and differ only in their library:

- ``tensorrt``: full TensorRT 10/11 (``tensorrt``), or only its lean runtime (``tensorrt_lean``),
  which runs engines but cannot build one;
- ``tensorrt_rtx``: TensorRT for RTX (``tensorrt_rtx``), for RTX-class GPUs (compute capability
  7.5 to 12.x; not Hopper data-centre GPUs).

Whether an engine fits is decided from its recorded build facts (:mod:`._engine`); when none fits,
one is built from the bundle's ONNX model of the wanted precision (the Q/DQ model for INT8) and
cached in the user cache folder under a key of everything that makes it valid. No TensorRT
runtime object is created before :func:`~._library.cuda_device` has found a GPU: without one,
the backend is unavailable with its reason (TensorRT would crash the process otherwise).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..._io import atomic_path, sha256_file, write_json_atomic
from ...bundle import Artifact, Bundle
from ...errors import BackendError
from .._cache import read_json
from ..base import Backend, Session
from ._engine import (
    BUILDER_TITLES,
    DEFAULT_MAX_BATCH,
    MachineFacts,
    compatibility,
    engine_cache_dir,
    engine_cache_key,
    host_code_decision,
)
from ._library import DISTRIBUTIONS, FULL, LEAN, RTX, Library, cuda_device, first_library
from .build import build_engine


def _check(result, what: str):
    """Unpack a cuda-bindings ``(err, value...)`` tuple, raising BackendError on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"CUDA failed to {what} (error {err}); check the GPU and its driver.")
    return values[0] if len(values) == 1 else tuple(values) if values else None


def build_source(bundle: Bundle, precision: str) -> Artifact | None:
    """The ONNX artifact an engine of ``precision`` is built from (strong typing: the ONNX's own types).

    INT8 needs the Q/DQ model (explicit quantization), FP16 an FP16 ONNX, FP32 the FP32 model.
    """
    return bundle.find("onnx", precision)


class TensorRtSession(Session):
    """One deserialized engine with device buffers sized for its largest batch."""

    def __init__(
        self,
        lib: Library,
        path: Path,
        device: str,
        precision: str,
        facts: dict | None = None,
        built_here: bool = False,
        backend: str = "tensorrt",
    ):
        super().__init__(backend, path, device, precision)
        allowed, why = host_code_decision(facts, built_here)
        if not allowed:
            raise BackendError(f"the TensorRT engine {path} was not loaded: {why}.")
        self._buffers: list = []
        self._stream = None
        try:
            cuda_device()  # a TensorRT runtime made without a GPU crashes the process when it loads an engine
        except BackendError as exc:
            raise BackendError(f"the {lib.title} engine {path} was not loaded: {str(exc).rstrip('.')}.") from exc
        from cuda.bindings import runtime as cudart

        trt, self._cudart = lib.trt, cudart
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        if facts and facts.get("version_compatible"):
            runtime.engine_host_code_allowed = True  # allowed by host_code_decision above
        plan = path.read_bytes()
        if hasattr(runtime, "get_engine_validity"):  # TensorRT-RTX checks the plan's header first
            validity, diagnostics = runtime.get_engine_validity(plan[: runtime.engine_header_size])
            if validity.name == "INVALID":  # SUBOPTIMAL still runs
                raise BackendError(
                    f"{lib.title} reports the engine {path} as invalid on this GPU (diagnostics "
                    f"{diagnostics}); delete it to have it rebuilt, or re-export the bundle."
                )
        self._engine = runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise BackendError(
                f"{lib.title} could not load the engine {path}; it was built for another version "
                "or GPU: delete it to have it rebuilt, or re-export the bundle."
            )
        self.device_memory = lib.device_memory(self._engine)
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        modes = {n: self._engine.get_tensor_mode(n) for n in names}
        self._in = next(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
        self._out = next(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        self._in_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._in)))
        self._out_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._out)))
        self.max_batch = int(self._engine.get_tensor_profile_shape(self._in, 0)[2][0])
        self._width = int(self._engine.get_tensor_shape(self._out)[1])  # 10 logits, or 11 with a reject class
        self._stream = _check(cudart.cudaStreamCreate(), "create a stream")
        self._d_in = self._malloc(self.max_batch * 28 * 28 * self._in_dtype.itemsize)
        self._d_out = self._malloc(self.max_batch * self._width * self._out_dtype.itemsize)
        self._context.set_tensor_address(self._in, int(self._d_in))
        self._context.set_tensor_address(self._out, int(self._d_out))

    def _malloc(self, nbytes: int):
        ptr = _check(self._cudart.cudaMalloc(nbytes), f"allocate {nbytes} bytes on the GPU")
        self._buffers.append(ptr)
        return ptr

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        cudart, n = self._cudart, len(x)
        x = x if x.dtype == self._in_dtype else x.astype(self._in_dtype)
        out = np.empty((n, self._width), self._out_dtype)
        self._context.set_input_shape(self._in, (n, 1, 28, 28))
        _check(
            cudart.cudaMemcpyAsync(
                self._d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream
            ),
            "copy the batch",
        )
        if not self._context.execute_async_v3(int(self._stream)):
            raise BackendError("TensorRT failed to run the engine (see its log); use another backend.")
        _check(
            cudart.cudaMemcpyAsync(
                out.ctypes.data, self._d_out, out.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self._stream
            ),
            "copy the logits",
        )
        _check(cudart.cudaStreamSynchronize(self._stream), "finish the batch")
        return out

    def _close_impl(self) -> None:
        for ptr in self._buffers:
            self._cudart.cudaFree(ptr)
        self._buffers = []
        if self._stream is not None:
            self._cudart.cudaStreamDestroy(self._stream)
        self._context = self._engine = self._stream = None


class TensorRtBackend(Backend):
    """Full TensorRT (or its lean runtime): engines for the GPU they were built on."""

    name = "tensorrt"
    package = "tensorrt"
    formats = ("tensorrt", "onnx")
    role = "NVIDIA GPUs; engines from the bundle, or built here from the ONNX model and cached"
    #: Modules that can run this backend's engines, preferred first.
    libraries: tuple[str, ...] = (FULL, LEAN)
    builder = "tensorrt"

    def _probe(self):
        lib, why = first_library(self.libraries)
        if lib is None:
            return False, why
        try:
            gpu, cc = cuda_device()
        except BackendError as exc:
            return False, str(exc).rstrip(".")
        unsupported = self._unsupported(lib, cc)
        if unsupported:
            return False, unsupported
        self._lib, self._here = lib, MachineFacts(lib.version, gpu, cc, self.builder)
        self._devices = ["cuda"]
        note = "" if lib.can_build else "; runs engines only (no builder to make one from the ONNX model)"
        return True, f"{lib.title} {lib.version} on {gpu} (SM {cc}){note}"

    def _unsupported(self, lib: Library, cc: str) -> str | None:
        """Why ``lib`` cannot run on a GPU of compute capability ``cc``, or None."""
        return None

    def version(self):
        lib, _ = first_library(self.libraries)
        return lib.version if lib is not None else None

    def _distributions(self):
        return tuple(d for name in self.libraries for d in DISTRIBUTIONS[name])

    def precisions(self, device):
        return ["int8", "fp16", "fp32"] if device == "cuda" else []

    def artifact_for(self, bundle, precision, device):
        """A fitting engine of the bundle, else the ONNX model an engine would be built from."""
        for a in bundle.select("tensorrt", precision):
            if compatibility(a.build, self._here)[0] and host_code_decision(a.build, built_here=False)[0]:
                return a
        return build_source(bundle, precision) if self._lib.can_build else None

    def open_artifact(self, bundle, artifact, device="cuda", threads=None, precision=None):
        precision = precision or artifact.precision
        self.require()
        device = self.check_device(device)
        if artifact.format == "tensorrt":
            fits, why = compatibility(artifact.build, self._here)
            if not fits:
                raise BackendError(
                    f"the bundle's engine {artifact.file} cannot run here: {why}; "
                    "re-export the bundle on this machine, or ask for the ONNX model to be built."
                )
            return self._session(bundle.artifact_path(artifact), device, precision, artifact.build)
        return self._from_onnx(bundle.artifact_path(artifact), artifact.sha256, artifact.id, precision, device)

    def _session(self, path: Path, device: str, precision: str, facts: dict | None, built_here: bool = False):
        return TensorRtSession(self._lib, path, device, precision, facts, built_here, self.name)

    def _from_onnx(
        self, onnx_path: Path, sha256: str, source: str, precision: str, device: str, max_batch: int = DEFAULT_MAX_BATCH
    ) -> Session:
        engine = self.cached_engine(onnx_path, sha256, source, precision, max_batch)
        return self._session(engine, device, precision, read_json(engine.with_suffix(".json")), built_here=True)

    def cached_engine(
        self, onnx_path: Path, onnx_sha256: str, source: str, precision: str, max_batch: int = DEFAULT_MAX_BATCH
    ) -> Path:
        """The cached engine for this ONNX file, GPU and library version; built (with progress) on first use."""
        if not self._lib.can_build:
            raise BackendError(
                f"the {self._lib.title} runs engines but cannot build one from {onnx_path.name}; "
                "install full TensorRT, or use a bundle with an engine for this GPU."
            )
        path = engine_cache_dir() / f"{engine_cache_key(onnx_sha256, precision, self._here, max_batch)}.engine"
        facts = read_json(path.with_suffix(".json"))
        if path.is_file() and facts and compatibility(facts, self._here)[0]:
            return path
        print(
            f"edgedigits: building a {BUILDER_TITLES[self.builder]} {precision} engine from {onnx_path.name} "
            f"for this GPU (once; cached in {path.parent})",
            file=sys.stderr,
        )
        targets = [self._here.compute_capability] if self._lib.ahead_of_time else None
        with atomic_path(path) as tmp:
            built = build_engine(onnx_path, tmp, precision, max_batch, source, self._lib, targets)
        write_json_atomic(path.with_suffix(".json"), built.facts.to_build())
        return path

    def _load_impl(self, path, format, precision, device, threads, **options):
        if format == "tensorrt":
            facts = options.get("build") or read_json(path.with_suffix(".json")) or {}
            fits, why = compatibility(facts, self._here)
            if not fits:
                raise BackendError(f"the engine {path} cannot run here: {why}; rebuild it on this machine.")
            return self._session(path, device, precision, facts)
        return self._from_onnx(
            path, sha256_file(path), path.name, precision, device, options.get("max_batch", DEFAULT_MAX_BATCH)
        )


class TensorRtRtxBackend(TensorRtBackend):
    """TensorRT for RTX: engines compiled ahead of time for RTX-class GPUs, specialised on the device."""

    name = "tensorrt_rtx"
    package = "tensorrt_rtx"
    role = "NVIDIA RTX GPUs (SM 7.5-12.x); engines from the bundle, or compiled here from the ONNX model"
    libraries = (RTX,)
    builder = "tensorrt_rtx"

    def _unsupported(self, lib, cc):
        offered = lib.compute_capabilities()
        if cc not in offered:
            return (
                f"{lib.title} {lib.version} does not target this GPU (compute capability {cc}); it targets "
                f"{', '.join(offered)} (RTX-class GPUs): use the tensorrt backend"
            )
        return None


BACKEND = TensorRtBackend
