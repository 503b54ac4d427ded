"""TensorRT: NVIDIA GPUs, from the bundle's engines or from engines built here and cached.

A serialized engine runs only with the TensorRT version and the GPU it was built for, unless it
was built version-compatible or with a hardware-compatibility level; TensorRT has no pre-flight
check, so every engine carries its build facts (in the bundle's manifest, or in a JSON file next
to a cached engine) and :func:`compatibility` decides from those facts whether it can be used or
must be rebuilt. When no engine fits, one is built from the bundle's ONNX model of the wanted
precision (the Q/DQ model for INT8: explicit quantization), with progress shown, and cached in
the user cache folder under a key of everything that makes it valid.

Written against TensorRT 10 and 11's name-based API (``execute_async_v3``, ``set_tensor_address``)
and cuda-bindings for device memory. This module imports neither: the decisions above are plain
functions, tested without a GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .._deps import has
from .._io import write_bytes_atomic, write_json_atomic
from ..bundle import Artifact, Bundle
from ..errors import BackendError
from ._cache import cache_dir, digest, read_json
from .base import Backend, Session, describe

#: Largest batch an engine built here accepts; bigger batches are split by the session.
DEFAULT_MAX_BATCH = 256
WORKSPACE_BYTES = 256 << 20
HW_COMPAT_NONE, HW_COMPAT_AMPERE_PLUS, HW_COMPAT_SAME_CC = "none", "ampere_plus", "same_compute_capability"


# -- decisions from recorded facts (no TensorRT needed) -----------------------------------------
def _version_tuple(version: str) -> tuple[int, ...]:
    out = []
    for part in str(version).split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out + [0] * (3 - len(out)))


def _cc_tuple(cc: str) -> tuple[int, int]:
    major, _, minor = str(cc).partition(".")
    return int(major or 0), int(minor or 0)


def compatibility(built: dict, here: dict) -> tuple[bool, str]:
    """Whether an engine built with facts ``built`` can run where the facts are ``here``.

    Both dicts hold ``trt_version``, ``gpu_name`` and ``compute_capability`` ('9.0'); ``built``
    may also hold ``version_compatible`` (bool) and ``hardware_compatibility_level``
    ('none', 'ampere_plus', 'same_compute_capability'). Rules (NVIDIA's engine-compatibility docs):
    a plain engine needs the same TensorRT version; a version-compatible one needs a runtime at
    least as new as its builder. A plain engine needs the same GPU model; 'same_compute_capability'
    the same SM; 'ampere_plus' any SM 8.0 or newer.

    Returns:
        (True, why it fits) or (False, why it must be rebuilt).
    """
    missing = [k for k in ("trt_version", "compute_capability") if not built.get(k)]
    if missing:
        return False, f"its build facts lack {', '.join(missing)}, so its fit cannot be checked"
    b_ver, h_ver = _version_tuple(built["trt_version"]), _version_tuple(here["trt_version"])
    if built.get("version_compatible"):
        if h_ver < b_ver:
            return False, (f"it was built version-compatible with TensorRT {built['trt_version']}, "
                           f"newer than this runtime {here['trt_version']}")
    elif b_ver != h_ver:
        return False, f"it was built with TensorRT {built['trt_version']}, this runtime is {here['trt_version']}"
    level = str(built.get("hardware_compatibility_level") or HW_COMPAT_NONE).lower()
    b_cc, h_cc = _cc_tuple(built["compute_capability"]), _cc_tuple(here["compute_capability"])
    if level == HW_COMPAT_AMPERE_PLUS:
        if h_cc < (8, 0):
            return False, f"it targets Ampere or newer GPUs, this GPU is SM {here['compute_capability']}"
        return True, f"built for Ampere+ GPUs with TensorRT {built['trt_version']}"
    if b_cc != h_cc:
        return False, (f"it was built for SM {built['compute_capability']}, this GPU is SM "
                       f"{here['compute_capability']}")
    if level != HW_COMPAT_SAME_CC and built.get("gpu_name") and built["gpu_name"] != here.get("gpu_name"):
        return False, f"it was built on a {built['gpu_name']}, this GPU is a {here.get('gpu_name')}"
    return True, f"built for SM {built['compute_capability']} with TensorRT {built['trt_version']}"


def engine_cache_key(source_sha256: str, precision: str, here: dict, max_batch: int) -> str:
    """Name of a cached engine: everything that decides whether it is valid goes into it."""
    return digest({"source": source_sha256, "precision": precision, "trt": here["trt_version"],
                   "gpu": here.get("gpu_name"), "cc": here["compute_capability"], "max_batch": max_batch})


def engine_cache_dir() -> Path:
    return cache_dir("tensorrt")


def build_source(bundle: Bundle, precision: str, fp16_flag: bool) -> Artifact | None:
    """The ONNX artifact an engine of ``precision`` is built from, or None when there is none.

    INT8 needs the Q/DQ model (explicit quantization); FP16 prefers an FP16 ONNX and otherwise
    needs the builder's FP16 flag (TensorRT 10; removed in 11); FP32 uses the FP32 model.
    """
    if precision == "fp16":
        return bundle.find("onnx", "fp16") or (bundle.find("onnx", "fp32") if fp16_flag else None)
    return bundle.find("onnx", precision)


def unavailable_reason(has_package: bool, import_error: str | None, gpu_count: int | None,
                       cuda_error: str | None = None) -> str | None:
    """Why TensorRT cannot run here, or None when it can (a pure function of what was probed)."""
    if not has_package:
        return ("the 'tensorrt' package is not installed (it needs an NVIDIA GPU, its driver and NVIDIA's "
                "TensorRT libraries; see NVIDIA's install guide)")
    if import_error:
        return f"'tensorrt' is installed but does not import ({import_error}); its libraries are missing or broken"
    if cuda_error:
        return f"CUDA cannot be used from Python ({cuda_error}); install cuda-bindings matching the driver"
    if not gpu_count:
        return "no NVIDIA GPU is visible (CUDA reports 0 devices)"
    return None


# -- the library -------------------------------------------------------------------------------
def _check(result, what: str):
    """Unpack a cuda-bindings ``(err, value...)`` tuple, raising BackendError on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"CUDA failed to {what} (error {err}); check the GPU and its driver.")
    return values[0] if len(values) == 1 else tuple(values)


def _cudart():
    from cuda.bindings import runtime as cudart
    return cudart


def gpu_facts() -> dict:
    """TensorRT version, GPU name and compute capability of device 0 (needs TensorRT + CUDA)."""
    import tensorrt as trt
    cudart = _cudart()
    props = _check(cudart.cudaGetDeviceProperties(0), "read the GPU's properties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return {"trt_version": trt.__version__, "gpu_name": name.strip("\x00 "),
            "compute_capability": f"{props.major}.{props.minor}"}


class _BuildProgress:
    """Adapts TensorRT's progress-monitor callbacks to an edgedigits progress bar."""

    def __init__(self, trt):
        from .._progress import Progress
        base = trt.IProgressMonitor

        class Monitor(base):  # TensorRT calls these from its builder thread
            def __init__(self):
                base.__init__(self)
                self.bar = None

            def phase_start(self, phase_name, parent_phase, num_steps):
                if parent_phase is None:
                    self.bar = Progress(max(1, num_steps), f"building TensorRT engine: {phase_name}")

            def step_complete(self, phase_name, step):
                if self.bar is not None and self.bar.desc.endswith(phase_name):
                    self.bar.update(1)
                return True  # False would cancel the build

            def phase_finish(self, phase_name):
                if self.bar is not None and self.bar.desc.endswith(phase_name):
                    self.bar.close()
                    self.bar = None

        self.monitor = Monitor()


def build_engine(onnx_path: Path, precision: str, max_batch: int = DEFAULT_MAX_BATCH,
                 log=None) -> tuple[bytes, dict]:
    """Build a serialized engine from an ONNX file; returns (plan bytes, build facts)."""
    import tensorrt as trt
    log = log or (lambda msg: print(msg, file=sys.stderr))
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    fp16_from_fp32 = precision == "fp16" and _onnx_is_fp32(onnx_path)
    if fp16_from_fp32:
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise BackendError(f"TensorRT {trt.__version__} builds FP16 only from an FP16 ONNX model, and the "
                               "bundle has none; export one with 'edgedigits export --fp16'.")
        flags = 0  # weakly typed: the FP16 flag lets TensorRT choose FP16 kernels
    else:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(parser.get_error(i).desc() for i in range(parser.num_errors))
        raise BackendError(f"TensorRT could not parse {onnx_path} ({errors or 'no detail'}); re-export the bundle.")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16_from_fp32:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    profile.set_shape(name, (1, 1, 28, 28), (min(64, max_batch), 1, 28, 28), (max_batch, 1, 28, 28))
    config.add_optimization_profile(profile)
    if hasattr(trt, "IProgressMonitor"):
        progress = _BuildProgress(trt)
        config.progress_monitor = progress.monitor
    log(f"building a TensorRT {precision} engine from {onnx_path.name} for this GPU (once; it is cached)")
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(f"TensorRT failed to build an engine from {onnx_path} (see its log above); "
                           "use another backend or precision.")
    facts = dict(gpu_facts(), hardware_compatibility_level=HW_COMPAT_NONE, version_compatible=False,
                 max_batch=max_batch, source=onnx_path.name, precision=precision)
    return bytes(plan), facts


def _onnx_is_fp32(path: Path) -> bool:
    """Whether the ONNX model's input is float32 (an FP16 export has float16 inputs)."""
    import onnxruntime as ort  # a base dependency; only reads the graph's signature
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).get_inputs()[0].type == \
        "tensor(float)"


class TensorRtSession(Session):
    """One deserialized engine with device buffers sized for its largest batch."""

    def __init__(self, path: Path, device: str, precision: str, facts: dict | None = None):
        super().__init__("tensorrt", path, device, precision)
        import tensorrt as trt
        cudart = _cudart()
        self._cudart = cudart
        self._buffers: list = []
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        if facts and facts.get("version_compatible"):
            runtime.engine_host_code_allowed = True  # only for engines from a verified bundle or our cache
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
        has_package = has("tensorrt")
        import_error = cuda_error = None
        gpu_count = None
        if has_package:
            try:
                import tensorrt  # noqa: F401
            except (ImportError, OSError) as exc:
                import_error = describe(exc)
            if import_error is None:
                try:
                    gpu_count = _check(_cudart().cudaGetDeviceCount(), "count GPUs")
                except ImportError as exc:
                    cuda_error = describe(exc)
                except BackendError as exc:
                    cuda_error = str(exc)
        reason = unavailable_reason(has_package, import_error, gpu_count, cuda_error)
        if reason:
            return False, reason
        self._devices = ["cuda"]
        self._here = gpu_facts()
        return True, f"TensorRT {self._here['trt_version']} on {self._here['gpu_name']} (SM {self._here['compute_capability']})"

    def _distributions(self):
        return ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-bindings", "tensorrt-cu12-bindings")

    def precisions(self, device):
        return ["int8", "fp16", "fp32"] if device == "cuda" else []

    def _fp16_flag(self) -> bool:
        import tensorrt as trt
        return hasattr(trt.BuilderFlag, "FP16")

    def artifact_for(self, bundle, precision, device):
        """A fitting engine of the bundle, else the ONNX model an engine would be built from."""
        for a in bundle.select("tensorrt", precision):
            if compatibility(a.build, self._here)[0]:
                return a
        return build_source(bundle, precision, self._fp16_flag())

    def open_artifact(self, bundle, artifact, device="cuda", threads=None, precision=None):
        precision = precision or artifact.precision
        self.require()
        device = self.check_device(device)
        if artifact.format == "tensorrt":
            fits, why = compatibility(artifact.build, self._here)
            if not fits:
                raise BackendError(f"the bundle's engine {artifact.file} cannot run here: {why}; "
                                   "ask for backend='tensorrt' with the ONNX model to build one, or re-export.")
            return TensorRtSession(bundle.artifact_path(artifact), device, precision, artifact.build)
        path = self.cached_engine(bundle.artifact_path(artifact), artifact.sha256, precision)
        return TensorRtSession(path, device, precision, read_json(path.with_suffix(".json")))

    def cached_engine(self, onnx_path: Path, onnx_sha256: str, precision: str,
                      max_batch: int = DEFAULT_MAX_BATCH) -> Path:
        """The cached engine for this ONNX file, GPU and TensorRT version; built on first use."""
        key = engine_cache_key(onnx_sha256, precision, self._here, max_batch)
        path = engine_cache_dir() / f"{key}.engine"
        facts = read_json(path.with_suffix(".json"))
        if path.is_file() and facts and compatibility(facts, self._here)[0]:
            return path
        plan, facts = build_engine(onnx_path, precision, max_batch)
        write_bytes_atomic(path, plan)
        write_json_atomic(path.with_suffix(".json"), facts)
        return path

    def _load_impl(self, path, format, precision, device, threads, **options):
        if format == "tensorrt":
            facts = options.get("build") or read_json(path.with_suffix(".json"))
            return TensorRtSession(path, device, precision, facts)
        from .._io import sha256_file
        engine = self.cached_engine(path, sha256_file(path), precision, options.get("max_batch", DEFAULT_MAX_BATCH))
        return TensorRtSession(engine, device, precision, read_json(engine.with_suffix(".json")))


BACKEND = TensorRtBackend

__all__ = ["TensorRtBackend", "TensorRtSession", "compatibility", "engine_cache_key", "build_source",
           "unavailable_reason", "build_engine", "gpu_facts", "DEFAULT_MAX_BATCH"]
