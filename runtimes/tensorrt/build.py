"""Building TensorRT engines from ONNX: parse, inspect the network, one optimisation profile, serialize.

One code path for full TensorRT 10/11 and TensorRT-RTX (:class:`~._library.Library` says what the
module offers). Networks are strongly typed wherever the module offers it, so the precision comes
from the ONNX itself: an INT8 engine from the Q/DQ model (explicit quantization), an FP16 engine
from an FP16 ONNX, FP32 from the FP32 one. Full TensorRT builds for the GPU it runs on (it needs
one); TensorRT-RTX compiles ahead of time, without a GPU, for a list of compute capabilities.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..._progress import Progress
from ...errors import BackendError
from ._engine import DEFAULT_MAX_BATCH, HW_LEVELS, HW_NONE, EngineFacts, parse_cc
from ._library import FULL, RTX, Library, cuda_device, load_library

#: Builders in the order they are preferred: full TensorRT where it exists, else TensorRT-RTX.
BUILDERS = (FULL, RTX)


@dataclass(frozen=True)
class TensorInfo:
    """One network input or output: name, shape (-1 = dynamic) and numpy dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class NetworkInfo:
    """What the parser made of an ONNX model: I/O and every layer with its output type."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    layers: tuple[tuple[str, str], ...]  # (layer type, output data type), e.g. ("CONVOLUTION", "HALF")

    def types_of(self, layer_type: str) -> set[str]:
        """The output data types of every layer of ``layer_type``."""
        return {dtype for kind, dtype in self.layers if kind == layer_type}

    def to_dict(self) -> dict:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "layers": len(self.layers),
        }


@dataclass(frozen=True)
class Built:
    """A serialized engine written to disk, its build facts and the network it came from."""

    path: Path
    facts: EngineFacts
    network: NetworkInfo


def builder_library() -> tuple[Library | None, str]:
    """The library engines are built with here, or (None, why none can build).

    Full TensorRT where it can build (it needs the GPU it builds for), else TensorRT-RTX (no GPU needed).
    """
    reasons = []
    for name in BUILDERS:
        lib, why = load_library(name)
        if lib is not None and not lib.can_build:
            lib, why = None, f"{lib.title} has no builder"
        if lib is not None and not lib.ahead_of_time:
            try:
                cuda_device()
            except BackendError as exc:
                lib, why = None, f"{lib.title} builds engines only on an NVIDIA GPU, and {str(exc).rstrip('.')}"
        if lib is not None:
            return lib, ""
        reasons.append(why)
    return None, "; ".join(reasons)


def unavailable_reason() -> str | None:
    """One line saying why no engine can be built here, or None when one can."""
    return builder_library()[1] or None


def _logger(trt):
    """A TensorRT logger that keeps messages (quoted in errors) instead of printing them."""

    class Keep(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: list[tuple[object, str]] = []

        def log(self, severity, msg):
            self.messages.append((severity, msg))

    return Keep()


def parse_onnx(lib: Library, onnx_path: str | os.PathLike):
    """Parse ``onnx_path`` into a network; returns (builder, network, parser, logger) to keep alive.

    Raises:
        BackendError: one sentence naming the file and what the parser found (a damaged file,
            an operator TensorRT does not support).
    """
    trt = lib.trt
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(lib.network_flags())
    parser = trt.OnnxParser(network, logger)
    if not Path(onnx_path).is_file():
        raise BackendError(f"{onnx_path} does not exist; pass the ONNX model of a bundle.")
    if parser.parse_from_file(str(onnx_path)):
        if network.num_inputs != 1 or network.num_outputs != 1:  # bytes protobuf reads as an empty model
            raise BackendError(
                f"{onnx_path} is not an edgedigits model ({lib.title} found {network.num_inputs} "
                f"inputs and {network.num_outputs} outputs, expected one of each); re-export it or "
                "restore the file."
            )
        return builder, network, parser, logger
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    raise BackendError(_parse_error(lib, onnx_path, errors))


def _parse_error(lib: Library, onnx_path, errors) -> str:
    """One sentence for the parser's first error."""
    if not errors:
        return f"{lib.title} could not parse {onnx_path}; check that it is a valid ONNX model."
    first = errors[0]
    code = getattr(first.code(), "name", str(first.code()))
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    if code == "MODEL_DESERIALIZE_FAILED":
        return (
            f"{onnx_path} is not a readable ONNX model ({lib.title} could not deserialize it){more}; "
            "re-export it or restore the file."
        )
    op = first.node_operator() if hasattr(first, "node_operator") else ""
    if op:
        return (
            f"{lib.title} cannot build {onnx_path}: node {first.node()} ({op}) is not supported "
            f"({code}){more}; export the model without that operator."
        )
    detail = first.desc().strip().splitlines()[0][:200]
    return f"{lib.title} could not parse {onnx_path} ({code}: {detail}){more}; check that it is a valid ONNX model."


def describe(lib: Library, network) -> NetworkInfo:
    """The parsed network's I/O (names, shapes, numpy dtypes) and layers (type, output type)."""

    def tensor(t):
        return TensorInfo(t.name, tuple(int(d) for d in t.shape), str(lib.trt.nptype(t.dtype).__name__))

    layers = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        dtype = layer.get_output_type(0).name if layer.num_outputs else ""
        layers.append((layer.type.name, dtype))
    return NetworkInfo(
        tuple(tensor(network.get_input(i)) for i in range(network.num_inputs)),
        tuple(tensor(network.get_output(i)) for i in range(network.num_outputs)),
        tuple(layers),
    )


def profile_shapes(shape: tuple[int, ...], max_batch: int) -> dict[str, list[int]]:
    """min/opt/max shapes of the one optimisation profile: batch 1..``max_batch``, optimum at the middle."""
    rest = [int(d) for d in shape[1:]]
    return {"min": [1, *rest], "opt": [max(1, max_batch // 2), *rest], "max": [max_batch, *rest]}


def _progress_monitor(trt):
    """A ``trt.IProgressMonitor`` that shows the builder's phases as progress bars."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.bars = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            indent = "  " if parent_phase else ""
            self.bars[phase_name] = Progress(num_steps, desc=f"{indent}tensorrt: {phase_name}")

        def step_complete(self, phase_name, step):
            if phase_name in self.bars:
                self.bars[phase_name].update(1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            bar = self.bars.pop(phase_name, None)
            if bar:
                bar.close()

    return Monitor()


def _configure_targets(lib: Library, config, targets: list[str] | None, hardware_compatibility_level: str):
    """Set what the engine may run on; returns the compute capabilities it targets ([] = the build GPU)."""
    if lib.ahead_of_time:
        targets = list(targets) if targets is not None else lib.default_targets()
        offered = lib.compute_capabilities()
        unknown = [t for t in targets if t not in offered]
        if unknown or not targets:
            raise BackendError(
                f"{lib.title} {lib.version} cannot target compute capability "
                f"{', '.join(unknown) or '(none given)'}; it targets {', '.join(offered)}."
            )
        config.num_compute_capabilities = len(targets)
        for i, cc in enumerate(targets):
            major, minor = parse_cc(cc)
            config.set_compute_capability(getattr(lib.trt.ComputeCapability, f"SM{major}{minor}"), i)
        return targets
    if targets:
        raise BackendError(f"{lib.title} builds for the GPU it runs on; it takes no target compute capabilities.")
    if hardware_compatibility_level != HW_NONE:
        config.hardware_compatibility_level = getattr(
            lib.trt.HardwareCompatibilityLevel, hardware_compatibility_level.upper()
        )
    return []


def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    precision: str,
    max_batch: int = DEFAULT_MAX_BATCH,
    source: str = "",
    lib: Library | None = None,
    targets: list[str] | None = None,
    hardware_compatibility_level: str = HW_NONE,
    version_compatible: bool = False,
) -> Built:
    """Build and serialize an engine from ``onnx_path`` to ``engine_path``.

    Args:
        precision: 'fp32', 'fp16' or 'int8'; with strong typing the ONNX must already be of it.
        max_batch: the largest batch of the optimisation profile.
        source: the bundle artifact id of the ONNX model (recorded).
        lib: the builder library (default: :func:`builder_library`).
        targets: compute capabilities for an ahead-of-time (TensorRT-RTX) build; default: every
            one the library offers from 8.0 up.

    A build on the GPU (full TensorRT: it times kernels there, minutes for a large model) shows its
    phases as progress bars; an ahead-of-time build (well under a second here) shows none.

    Raises:
        BackendError: no builder, no GPU where the builder needs one, a bad ONNX, a failed build.
    """
    if lib is None:
        lib, why = builder_library()
        if lib is None:
            raise BackendError(f"no TensorRT engine can be built here: {why}.")
    if hardware_compatibility_level not in HW_LEVELS:
        raise BackendError(
            f"unknown hardware compatibility level {hardware_compatibility_level!r}; use one of {', '.join(HW_LEVELS)}."
        )
    gpu, cc = _build_gpu(lib)
    builder, network, _parser, _logger_kept = parse_onnx(lib, onnx_path)
    info = describe(lib, network)
    config = builder.create_builder_config()
    for flag in lib.precision_flags(precision):
        config.set_flag(flag)
    chosen = _configure_targets(lib, config, targets, hardware_compatibility_level)
    profile = builder.create_optimization_profile()
    shapes = profile_shapes(info.inputs[0].shape, max_batch)
    profile.set_shape(info.inputs[0].name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    if version_compatible:
        config.set_flag(lib.trt.BuilderFlag.VERSION_COMPATIBLE)
    if not lib.ahead_of_time and hasattr(lib.trt, "IProgressMonitor"):
        config.progress_monitor = _progress_monitor(lib.trt)
    plan = builder.build_serialized_network(network, config)
    if plan is None or plan.nbytes == 0:
        raise BackendError(
            f"{lib.title} failed to build the {precision} engine from {onnx_path}"
            f"{_first_error(_logger_kept)}; check the model with polygraphy inspect."
        )
    Path(engine_path).parent.mkdir(parents=True, exist_ok=True)
    Path(engine_path).write_bytes(bytes(plan))
    facts = EngineFacts(
        lib.version,
        gpu,
        cc,
        lib.builder,
        hardware_compatibility_level,
        version_compatible,
        max_batch,
        precision,
        source,
        tuple(chosen),
        {"input": info.inputs[0].name, **shapes},
    )
    return Built(Path(engine_path), facts, info)


def _build_gpu(lib: Library) -> tuple[str, str]:
    """The GPU a build runs on: required by full TensorRT; ('', '') for an ahead-of-time build without one."""
    try:
        return cuda_device()
    except BackendError as exc:
        if lib.ahead_of_time:
            return "", ""
        raise BackendError(f"{lib.title} builds engines only on an NVIDIA GPU, and {str(exc).rstrip('.')}.") from exc


def _first_error(logger) -> str:
    errors = [m for sev, m in logger.messages if getattr(sev, "name", "") in ("ERROR", "INTERNAL_ERROR")]
    return f" ({errors[0].strip().splitlines()[0][:200]})" if errors else ""


__all__ = [
    "BUILDERS",
    "Built",
    "NetworkInfo",
    "TensorInfo",
    "build_engine",
    "builder_library",
    "describe",
    "parse_onnx",
    "profile_shapes",
    "unavailable_reason",
]
