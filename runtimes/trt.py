"""TensorRT: NVIDIA GPUs, from the bundle's engines or from engines built here and cached.

A serialized engine runs only with the TensorRT version and the GPU it was built for, unless it
was built version-compatible or with a hardware-compatibility level; TensorRT has no pre-flight
check, so every engine carries its build facts (in the bundle's manifest, or in a JSON file next
to a cached engine) and :func:`compatibility` decides from those facts (with the rules of
:func:`edgedigits.export.tensorrt.rebuild_reasons`, shared with the exporter) whether it can be
used or must be rebuilt. When no engine fits, one is built from the bundle's ONNX model of the wanted
precision (the Q/DQ model for INT8: explicit quantization), with progress shown, and cached in
the user cache folder under a key of everything that makes it valid.

Written against TensorRT 10 and 11's name-based API (``execute_async_v3``, ``set_tensor_address``)
and cuda-bindings for device memory. This module imports neither: the decisions above are plain
functions, tested without a GPU.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .._io import atomic_path, write_json_atomic
from ..bundle import Artifact, Bundle
from ..errors import BackendError, BundleError, ExportError
from ..export.tensorrt import (EngineFacts, MachineFacts, build_engine, machine_facts, rebuild_reasons,
                                unavailable_reason)
from ._cache import cache_dir, digest, read_json
from .base import Backend, Session

#: Largest batch an engine built here accepts; bigger batches are split by the session.
DEFAULT_MAX_BATCH = 256
ENV_TRUST_ENGINE_CODE = "EDGEDIGITS_TRUST_ENGINE_CODE"


# -- decisions from recorded facts (no TensorRT needed; the rules live in edgedigits.export.tensorrt) --
def compatibility(build: dict, here: MachineFacts) -> tuple[bool, str]:
    """Whether an engine with the recorded ``build`` facts can run on a machine with facts ``here``.

    Returns:
        (True, what it was built for) or (False, why it must be rebuilt).
    """
    try:
        facts = EngineFacts.from_build(build)
    except BundleError as exc:
        return False, str(exc).rstrip(".")
    reasons = rebuild_reasons(facts, here)
    if reasons:
        return False, "; ".join(reasons)
    return True, f"built for SM {facts.compute_capability} with TensorRT {facts.trt_version}"


def engine_cache_key(source_sha256: str, precision: str, here: MachineFacts, max_batch: int) -> str:
    """Name of a cached engine: everything that decides whether it is valid goes into it."""
    return digest({"source": source_sha256, "precision": precision, "trt": here.trt_version,
                   "gpu": here.gpu_name, "cc": here.compute_capability, "max_batch": max_batch})


def engine_cache_dir() -> Path:
    return cache_dir("tensorrt")


def build_source(bundle: Bundle, precision: str) -> Artifact | None:
    """The ONNX artifact an engine of ``precision`` is built from (strong typing: the ONNX's own types).

    INT8 needs the Q/DQ model (explicit quantization), FP16 an FP16 ONNX, FP32 the FP32 model.
    """
    return bundle.find("onnx", precision)


def host_code_decision(facts: dict | None, built_here: bool) -> tuple[bool, str]:
    """Whether TensorRT may load an engine, as far as the code inside it goes: (allowed, why).

    A version-compatible engine carries host code (its lean runtime) that TensorRT executes when
    ``engine_host_code_allowed`` is set, so such an engine is code, not data. edgedigits runs that
    code only from engines it built itself on this machine (its cache), or when the user says they
    trust the bundle's author with ``EDGEDIGITS_TRUST_ENGINE_CODE=1``. Other engines hold no host
    code and are allowed.
    """
    if not (facts or {}).get("version_compatible"):
        return True, "the engine is not version-compatible, so it holds no host code"
    if built_here:
        return True, "a version-compatible engine edgedigits built on this machine"
    if os.environ.get(ENV_TRUST_ENGINE_CODE, "").strip() == "1":
        return True, f"a version-compatible engine trusted by {ENV_TRUST_ENGINE_CODE}=1"
    return False, (f"it is version-compatible, so it carries host code TensorRT would execute, and edgedigits "
                   f"runs such code only from engines it built here; set {ENV_TRUST_ENGINE_CODE}=1 if you "
                   "trust the bundle's author, or let edgedigits build an engine from the bundle's ONNX model")


# -- the library -------------------------------------------------------------------------------
def _check(result, what: str):
    """Unpack a cuda-bindings ``(err, value...)`` tuple, raising BackendError on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"CUDA failed to {what} (error {err}); check the GPU and its driver.")
    return values[0] if len(values) == 1 else tuple(values) if values else None


def _cudart():
    from cuda.bindings import runtime as cudart
    return cudart


class TensorRtSession(Session):
    """One deserialized engine with device buffers sized for its largest batch."""

    def __init__(self, path: Path, device: str, precision: str, facts: dict | None = None,
                 built_here: bool = False):
        super().__init__("tensorrt", path, device, precision)
        allowed, why = host_code_decision(facts, built_here)
        if not allowed:
            raise BackendError(f"the TensorRT engine {path} was not loaded: {why}.")
        import tensorrt as trt
        cudart = _cudart()
        self._cudart = cudart
        self._buffers: list = []
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        if facts and facts.get("version_compatible"):
            runtime.engine_host_code_allowed = True  # allowed by host_code_decision above
        self._engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise BackendError(f"TensorRT could not load the engine {path}; it was built for another TensorRT "
                               "version or GPU: delete it to have it rebuilt, or re-export the bundle.")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        modes = {n: self._engine.get_tensor_mode(n) for n in names}
        self._in = next(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
        self._out = next(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        self._in_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._in)))
        self._out_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(self._out)))
        max_shape = self._engine.get_tensor_profile_shape(self._in, 0)[2]
        self.max_batch = int(max_shape[0])
        self._stream = _check(cudart.cudaStreamCreate(), "create a stream")
        self._d_in = self._malloc(self.max_batch * 28 * 28 * self._in_dtype.itemsize)
        self._d_out = self._malloc(self.max_batch * 10 * self._out_dtype.itemsize)
        self._context.set_tensor_address(self._in, int(self._d_in))
        self._context.set_tensor_address(self._out, int(self._d_out))

    def _malloc(self, nbytes: int):
        ptr = _check(self._cudart.cudaMalloc(nbytes), f"allocate {nbytes} bytes on the GPU")
        self._buffers.append(ptr)
        return ptr

    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        cudart, n = self._cudart, len(x)
        x = x if x.dtype == self._in_dtype else x.astype(self._in_dtype)
        out = np.empty((n, 10), self._out_dtype)
        self._context.set_input_shape(self._in, (n, 1, 28, 28))
        _check(cudart.cudaMemcpyAsync(self._d_in, x.ctypes.data, x.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream), "copy the batch")
        if not self._context.execute_async_v3(int(self._stream)):
            raise BackendError("TensorRT failed to run the engine (see its log); use another backend.")
        _check(cudart.cudaMemcpyAsync(out.ctypes.data, self._d_out, out.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self._stream), "copy the logits")
        _check(cudart.cudaStreamSynchronize(self._stream), "finish the batch")
        return out

    def _close_impl(self) -> None:
        for ptr in self._buffers:
            self._cudart.cudaFree(ptr)
        self._buffers = []
        if getattr(self, "_stream", None) is not None:
            self._cudart.cudaStreamDestroy(self._stream)
        self._context = self._engine = self._stream = None


class TensorRtBackend(Backend):
    name = "tensorrt"
    package = "tensorrt"
    formats = ("tensorrt", "onnx")
    role = "NVIDIA GPUs; engines from the bundle, or built here from the ONNX model and cached"

    def _probe(self):
        reason = unavailable_reason()
        if reason:
            return False, reason
        self._here = machine_facts()
        self._devices = ["cuda"]
        return True, f"TensorRT {self._here.trt_version} on {self._here.gpu_name} (SM {self._here.compute_capability})"

    def _distributions(self):
        return ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-bindings", "tensorrt-cu12-bindings")

    def precisions(self, device):
        return ["int8", "fp16", "fp32"] if device == "cuda" else []

    def artifact_for(self, bundle, precision, device):
        """A fitting engine of the bundle, else the ONNX model an engine would be built from."""
        for a in bundle.select("tensorrt", precision):
            if compatibility(a.build, self._here)[0] and host_code_decision(a.build, built_here=False)[0]:
                return a
        return build_source(bundle, precision)

    def open_artifact(self, bundle, artifact, device="cuda", threads=None, precision=None):
        precision = precision or artifact.precision
        self.require()
        device = self.check_device(device)
        if artifact.format == "tensorrt":
            fits, why = compatibility(artifact.build, self._here)
            if not fits:
                raise BackendError(f"the bundle's engine {artifact.file} cannot run here: {why}; "
                                   "re-export the bundle on this machine, or ask for the ONNX model to be built.")
            return TensorRtSession(bundle.artifact_path(artifact), device, precision, artifact.build)
        return self._from_onnx(bundle.artifact_path(artifact), artifact.sha256, artifact.id, precision, device)

    def _from_onnx(self, onnx_path: Path, sha256: str, source: str, precision: str, device: str,
                   max_batch: int = DEFAULT_MAX_BATCH) -> Session:
        engine = self.cached_engine(onnx_path, sha256, source, precision, max_batch)
        return TensorRtSession(engine, device, precision, read_json(engine.with_suffix(".json")), built_here=True)

    def cached_engine(self, onnx_path: Path, onnx_sha256: str, source: str, precision: str,
                      max_batch: int = DEFAULT_MAX_BATCH) -> Path:
        """The cached engine for this ONNX file, GPU and TensorRT version; built (with progress) on first use."""
        path = engine_cache_dir() / f"{engine_cache_key(onnx_sha256, precision, self._here, max_batch)}.engine"
        facts = read_json(path.with_suffix(".json"))
        if path.is_file() and facts and compatibility(facts, self._here)[0]:
            return path
        print(f"edgedigits: building a TensorRT {precision} engine from {onnx_path.name} for this GPU "
              f"(once; cached in {path.parent})", file=sys.stderr)
        try:
            with atomic_path(path) as tmp:
                built = build_engine(onnx_path, tmp, precision, max_batch, source)
        except ExportError as exc:
            raise BackendError(str(exc)) from exc
        write_json_atomic(path.with_suffix(".json"), built.to_build())
        return path

    def _load_impl(self, path, format, precision, device, threads, **options):
        if format == "tensorrt":
            facts = options.get("build") or read_json(path.with_suffix(".json")) or {}
            fits, why = compatibility(facts, self._here)
            if not fits:
                raise BackendError(f"the engine {path} cannot run here: {why}; rebuild it on this machine.")
            return TensorRtSession(path, device, precision, facts)
        from .._io import sha256_file
        return self._from_onnx(path, sha256_file(path), path.name, precision, device,
                               options.get("max_batch", DEFAULT_MAX_BATCH))


BACKEND = TensorRtBackend
