"""TensorRT: explicit-quantization checks, engine build facts, rebuild decisions, engine build.

Everything above :func:`build_engine` is pure Python and works without TensorRT, so it is tested
on machines without a GPU and reused by ``edgedigits.runtimes.tensorrt``:

- :func:`check_explicit_quantization` reads an INT8 ONNX graph and lists every place where it
  breaks TensorRT's explicit-quantization rules (TensorRT 10 deprecated and TensorRT 11 removed
  implicit INT8 calibration, so a Q/DQ model is the only INT8 path).
- :class:`EngineFacts` is what an engine was built with; it is stored in the bundle manifest's
  ``build`` entry of the engine (:meth:`EngineFacts.to_build` / :meth:`EngineFacts.from_build`).
- :func:`rebuild_reasons` compares recorded facts with this machine's and says why an engine does
  not fit (TensorRT has no pre-flight check: a foreign engine just fails to deserialize).

TensorRT itself is imported only inside :func:`build_engine`, :func:`machine_facts` and
:func:`unavailable_reason`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import BundleError, ExportError

# Hardware-compatibility levels as the manifest records them (trt.HardwareCompatibilityLevel names,
# lower case, as edgedigits.runtimes reads them).
HW_NONE = "none"
HW_AMPERE_PLUS = "ampere_plus"
HW_SAME_CC = "same_compute_capability"
HW_LEVELS = (HW_NONE, HW_AMPERE_PLUS, HW_SAME_CC)
AMPERE = (8, 0)

# TensorRT reads INT8 weights in [-127, 127] (symmetric); activations may use -128.
WEIGHT_RANGE = (-127, 127)
# Ops whose weight input (index 1) TensorRT quantizes per output channel, along axis 0.
PER_CHANNEL_OPS = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1}


# ---------------------------------------------------------------------------------------------
# (a) explicit-quantization rules, read from the ONNX graph
# ---------------------------------------------------------------------------------------------

def check_explicit_quantization(model) -> list[str]:
    """Every way ``model`` (an ONNX path or ModelProto) breaks TensorRT's explicit-quantization rules.

    Rules checked: the graph has Q/DQ nodes; every QuantizeLinear feeds only DequantizeLinear
    nodes (Q/DQ pairs); every DequantizeLinear reads a QuantizeLinear output or an INT8 constant
    (no INT32 bias dequantization); zero points are given, signed INT8 and all zero; scales are
    constant, positive and finite; activations are quantized per tensor; a Conv/Gemm weight is
    quantized per output channel (axis 0, one scale per channel) with values in [-127, 127].

    Returns:
        A list of one-line problems; empty when the model follows every rule.
    """
    from .._deps import need
    onnx = need("onnx", "Checking an INT8 model against TensorRT's rules")
    from onnx import numpy_helper

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in graph.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}

    def const(name):
        proto = inits.get(name) or consts.get(name)
        return None if proto is None else numpy_helper.to_array(proto)

    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {out: node for node in graph.node for out in node.output}
    problems: list[str] = []
    qs = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    dqs = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    if not qs or not dqs:
        return ["the graph has no QuantizeLinear/DequantizeLinear nodes, so it is not an explicitly quantized model"]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        problems.append(f"opset {opset} is below 13, the first with per-channel Q/DQ")

    for node in qs:
        others = [c.op_type for c in consumers.get(node.output[0], []) if c.op_type != "DequantizeLinear"]
        if others:
            problems.append(f"QuantizeLinear {node.name!r} feeds {', '.join(sorted(set(others)))} "
                            "instead of only DequantizeLinear (Q/DQ must come in pairs)")
        problems += _check_scale_zero_point(node, const, per_channel_len=None)
    for node in dqs:
        source = node.input[0]
        data = const(source)
        if data is None:
            if source not in producers or producers[source].op_type != "QuantizeLinear":
                problems.append(f"DequantizeLinear {node.name!r} reads {source!r}, which is neither a "
                                "QuantizeLinear output nor a constant")
            problems += _check_scale_zero_point(node, const, per_channel_len=None)
            continue
        if data.dtype != np.int8:
            problems.append(f"DequantizeLinear {node.name!r} dequantizes a {data.dtype} constant {source!r}; "
                            "TensorRT takes only INT8 here (keep biases in float)")
            continue
        weight_of = [c for c in consumers.get(node.output[0], [])
                     if c.op_type in PER_CHANNEL_OPS and list(c.input).index(node.output[0]) == PER_CHANNEL_OPS[c.op_type]]
        if weight_of:
            problems += _check_weight(node, data, const, weight_of[0])
        else:
            problems += _check_scale_zero_point(node, const, per_channel_len=None)
    return problems


def _attr(node, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def _check_scale_zero_point(node, const, per_channel_len: int | None) -> list[str]:
    """Problems with ``node``'s scale and zero point (per tensor unless ``per_channel_len``)."""
    out = []
    where = f"{node.op_type} {node.name!r}"
    scale = const(node.input[1]) if len(node.input) > 1 else None
    if scale is None:
        return [f"{where} has a scale {node.input[1] if len(node.input) > 1 else ''!r} that is not a constant"]
    if not np.issubdtype(scale.dtype, np.floating):
        out.append(f"{where} has a {scale.dtype} scale; it must be floating point")
    elif not (np.isfinite(scale).all() and (scale > 0).all()):
        out.append(f"{where} has a scale that is zero, negative or not finite (min {float(np.min(scale)):g})")
    if per_channel_len is None and scale.size != 1:
        out.append(f"{where} quantizes an activation with {scale.size} scales; TensorRT needs one per tensor")
    elif per_channel_len is not None and scale.size not in (1, per_channel_len):
        out.append(f"{where} has {scale.size} weight scales for {per_channel_len} output channels")
    zp = const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if zp is None:
        out.append(f"{where} has no INT8 zero point (a missing zero point means UINT8)")
    elif zp.dtype != np.int8:
        out.append(f"{where} has a {zp.dtype} zero point; TensorRT needs signed INT8")
    elif np.any(zp != 0):
        out.append(f"{where} has non-zero zero points (e.g. {int(zp.flat[np.flatnonzero(zp)[0]])}); "
                   "TensorRT supports only symmetric quantization")
    return out


def _check_weight(node, data: np.ndarray, const, op) -> list[str]:
    """Problems with the per-channel INT8 weight that ``node`` dequantizes for ``op``."""
    where = f"the weight {node.input[0]!r} of {op.op_type} {op.name!r}"
    channels = data.shape[0] if data.ndim else 1
    if op.op_type == "Gemm" and _attr(op, "transB", 0) == 0 and data.ndim == 2:
        channels = data.shape[1]
    out = _check_scale_zero_point(node, const, per_channel_len=channels)
    scale = const(node.input[1])
    if scale is not None and scale.size > 1:
        axis = _attr(node, "axis", 1)
        expected = 0 if op.op_type != "Gemm" or _attr(op, "transB", 0) else 1
        if axis != expected:
            out.append(f"{where} is quantized along axis {axis}; TensorRT needs the output-channel axis {expected}")
    lo, hi = int(data.min()), int(data.max())
    if lo < WEIGHT_RANGE[0] or hi > WEIGHT_RANGE[1]:
        out.append(f"{where} holds INT8 values in [{lo}, {hi}]; TensorRT weights must lie in [-127, 127]")
    return out


def require_explicit_quantization(model, what: str = "the INT8 model") -> None:
    """Raise :class:`ExportError` if ``model`` breaks TensorRT's explicit-quantization rules."""
    problems = check_explicit_quantization(model)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExportError(f"{what} does not meet TensorRT's explicit-quantization rules: {problems[0]}{more}; "
                          "quantize with symmetric signed INT8 and per-channel weights.")


# ---------------------------------------------------------------------------------------------
# (b) engine build facts, stored in the manifest
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MachineFacts:
    """What decides whether an engine runs here: the TensorRT version and the GPU."""
    trt_version: str
    gpu_name: str
    compute_capability: str          # "major.minor", e.g. "9.0"


@dataclass(frozen=True)
class EngineFacts(MachineFacts):
    """What an engine was built with, recorded in its manifest ``build`` entry."""
    hardware_compatibility_level: str = HW_NONE
    version_compatible: bool = False
    max_batch: int = 1
    precision: str = "fp32"
    source: str = ""                  # the artifact id of the ONNX the engine was built from

    def to_build(self) -> dict:
        """The manifest ``build`` dict for this engine."""
        return asdict(self)

    @classmethod
    def from_build(cls, build: dict, where: str = "the engine's manifest entry") -> "EngineFacts":
        """Read facts back from a manifest ``build`` dict, refusing incomplete or malformed ones."""
        if not isinstance(build, dict):
            raise BundleError(f"{where} has no build facts; rebuild the TensorRT engine on this machine.")
        values = {}
        for f in fields(cls):
            if f.name not in build:
                if f.default is not MISSING:  # a fact with a default may be absent
                    values[f.name] = f.default
                    continue
                raise BundleError(f"{where} lacks the build fact {f.name!r}; rebuild the TensorRT engine on "
                                  "this machine.")
            values[f.name] = build[f.name]
        facts = cls(**values)
        if facts.hardware_compatibility_level not in HW_LEVELS:
            raise BundleError(f"{where} has unknown hardware_compatibility_level "
                              f"{facts.hardware_compatibility_level!r}; expected one of {', '.join(HW_LEVELS)}.")
        if not isinstance(facts.version_compatible, bool) or not isinstance(facts.max_batch, int):
            raise BundleError(f"{where} has malformed build facts; rebuild the TensorRT engine on this machine.")
        _parse_cc(facts.compute_capability, where)
        _parse_version(facts.trt_version, where)
        return facts


def _parse_cc(text: str, where: str = "the build facts") -> tuple[int, int]:
    try:
        major, minor = (int(p) for p in str(text).split("."))
    except ValueError:
        raise BundleError(f"{where} has compute capability {text!r}, expected 'major.minor' such as '9.0'.") from None
    return major, minor


def _parse_version(text: str, where: str = "the build facts") -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(text).split(".")[:3])
    except ValueError:
        raise BundleError(f"{where} has TensorRT version {text!r}, expected digits such as '10.13.0'.") from None


def engine_file(precision: str, compute_capability: str) -> str:
    """Bundle-relative file name of an engine, e.g. ``tensorrt/model.int8.sm90.engine``."""
    major, minor = _parse_cc(compute_capability)
    return f"tensorrt/model.{precision}.sm{major}{minor}.engine"


# ---------------------------------------------------------------------------------------------
# (c) does this engine fit this machine?
# ---------------------------------------------------------------------------------------------

def rebuild_reasons(recorded: EngineFacts, current: MachineFacts) -> list[str]:
    """Why an engine built with ``recorded`` facts will not run on ``current``; empty if it fits.

    TensorRT's rules (NVIDIA's "engine compatibility" pages): an engine runs only with the exact
    TensorRT version that built it, unless it was built version-compatible (8.6 or later), which
    runs with that version and any later one. It runs only on the kind of GPU it was built on,
    unless built with a hardware-compatibility level: ``ampere_plus`` runs on any GPU of compute
    capability 8.0 or later, ``same_compute_capability`` on any GPU of the same compute capability.
    """
    reasons = []
    built, now = _parse_version(recorded.trt_version), _parse_version(current.trt_version)
    if recorded.version_compatible:
        if now < built:
            reasons.append(f"it was built version-compatible with TensorRT {recorded.trt_version}, which runs only "
                           f"on that version or later, but this machine has {current.trt_version}")
    elif now != built:
        reasons.append(f"it was built with TensorRT {recorded.trt_version} but this machine has "
                       f"{current.trt_version}")
    cc_built, cc_now = _parse_cc(recorded.compute_capability), _parse_cc(current.compute_capability)
    if recorded.hardware_compatibility_level == HW_AMPERE_PLUS:
        if cc_now < AMPERE:
            reasons.append(f"it was built for Ampere or newer GPUs (compute capability 8.0+) but this GPU "
                           f"({current.gpu_name}) has {current.compute_capability}")
    elif cc_now != cc_built:
        reasons.append(f"it was built for compute capability {recorded.compute_capability} "
                       f"({recorded.gpu_name}) but this GPU ({current.gpu_name}) has {current.compute_capability}")
    elif recorded.hardware_compatibility_level == HW_NONE and recorded.gpu_name != current.gpu_name:
        reasons.append(f"it was built on a {recorded.gpu_name} without a hardware-compatibility level, "
                       f"but this GPU is a {current.gpu_name}")
    return reasons


def needs_rebuild(recorded: EngineFacts, current: MachineFacts) -> bool:
    return bool(rebuild_reasons(recorded, current))


# ---------------------------------------------------------------------------------------------
# this machine, and the build itself (need TensorRT and an NVIDIA GPU)
# ---------------------------------------------------------------------------------------------

def unavailable_reason() -> str | None:
    """One line saying why engines cannot be built here, or None when they can."""
    from .._deps import has
    if not has("tensorrt"):
        return "TensorRT is not installed (it needs an NVIDIA GPU; see NVIDIA's TensorRT install guide)"
    if not has("cuda"):
        return "cuda-bindings is not installed (pip install cuda-bindings), so the GPU cannot be queried"
    try:
        importlib.import_module("tensorrt")  # only to see that its libraries load
    except (ImportError, OSError) as exc:
        return f"TensorRT is installed but does not load ({str(exc).splitlines()[0][:100]})"
    try:
        _gpu()
    except ExportError as exc:
        return str(exc).rstrip(".")
    return None


def _gpu(index: int = 0) -> tuple[str, str]:
    """(name, compute capability) of CUDA device ``index``, via cuda-bindings."""
    from cuda.bindings import runtime as cudart
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count < 1:
        raise ExportError(f"no NVIDIA GPU is visible to CUDA ({getattr(err, 'name', err)})")
    err, props = cudart.cudaGetDeviceProperties(index)
    if int(err) != 0:
        raise ExportError(f"cannot query the NVIDIA GPU ({getattr(err, 'name', err)})")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.strip("\x00 "), f"{props.major}.{props.minor}"


def machine_facts() -> MachineFacts:
    """This machine's TensorRT version and GPU (needs tensorrt and cuda-bindings)."""
    import tensorrt as trt
    name, cc = _gpu()
    return MachineFacts(trt.__version__, name, cc)


def _progress_monitor(trt, log):
    """A ``trt.IProgressMonitor`` that shows the builder's phases as progress bars."""
    from .._progress import Progress

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


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, precision: str, max_batch: int,
                 source: str, hardware_compatibility_level: str = HW_NONE, version_compatible: bool = False,
                 log=print) -> EngineFacts:
    """Build and serialize a TensorRT engine from ``onnx_path``; return its build facts.

    The network is strongly typed, so precision comes from the ONNX itself: an INT8 engine is
    built from the Q/DQ model, an FP16 engine from an FP16 ONNX, an FP32 engine from the FP32 one.
    One optimization profile covers batch 1..``max_batch`` (optimum at the middle).
    """
    import tensorrt as trt
    if hardware_compatibility_level not in HW_LEVELS:
        raise ExportError(f"unknown hardware compatibility level {hardware_compatibility_level!r}; "
                          f"use one of {', '.join(HW_LEVELS)}.")
    machine = machine_facts()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        first = parser.get_error(0).desc() if parser.num_errors else "unknown error"
        raise ExportError(f"TensorRT could not parse {onnx_path} ({parser.num_errors} errors, first: {first}); "
                          "check that the ONNX model is valid.")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    shape = tuple(network.get_input(0).shape)[1:]
    profile.set_shape(name, (1, *shape), (max(1, max_batch // 2), *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel,
                                                  hardware_compatibility_level.upper())
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    config.progress_monitor = _progress_monitor(trt, log)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError(f"TensorRT failed to build the {precision} engine from {onnx_path}; "
                          "run with TensorRT's verbose log to see why.")
    Path(engine_path).parent.mkdir(parents=True, exist_ok=True)
    Path(engine_path).write_bytes(bytes(plan))
    return EngineFacts(machine.trt_version, machine.gpu_name, machine.compute_capability,
                       hardware_compatibility_level, version_compatible, max_batch, precision, source)
