"""The export's TensorRT target: explicit-quantization checks, and engines built into the bundle.

- :func:`check_explicit_quantization` reads an INT8 ONNX graph and lists every place where it
  breaks TensorRT's explicit-quantization rules (TensorRT 10 deprecated and TensorRT 11 removed
  implicit INT8 calibration, so a Q/DQ model is the only INT8 path).
- :func:`build_into` builds one engine into a bundle with the builder this machine has (full
  TensorRT, else TensorRT-RTX, which needs no GPU) and returns its manifest ``build`` facts.

Engine facts, compatibility rules and the build itself live beside the TensorRT runtime, in
:mod:`edgedigits.runtimes.tensorrt`; this module only imports them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._deps import need
from ..errors import ExportError
from ..runtimes.tensorrt import build as trt_build
from ..runtimes.tensorrt import cuda_device

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
    onnx = need("onnx", "Checking an INT8 model against TensorRT's rules")
    from onnx import numpy_helper

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consts = {
        n.output[0]: n.attribute[0].t
        for n in graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
    }

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
            problems.append(
                f"QuantizeLinear {node.name!r} feeds {', '.join(sorted(set(others)))} "
                "instead of only DequantizeLinear (Q/DQ must come in pairs)"
            )
        problems += _check_scale_zero_point(node, const, per_channel_len=None)
    for node in dqs:
        source = node.input[0]
        data = const(source)
        if data is None:
            if source not in producers or producers[source].op_type != "QuantizeLinear":
                problems.append(
                    f"DequantizeLinear {node.name!r} reads {source!r}, which is neither a "
                    "QuantizeLinear output nor a constant"
                )
            problems += _check_scale_zero_point(node, const, per_channel_len=None)
            continue
        if data.dtype != np.int8:
            problems.append(
                f"DequantizeLinear {node.name!r} dequantizes a {data.dtype} constant {source!r}; "
                "TensorRT takes only INT8 here (keep biases in float)"
            )
            continue
        weight_of = [
            c
            for c in consumers.get(node.output[0], [])
            if c.op_type in PER_CHANNEL_OPS and list(c.input).index(node.output[0]) == PER_CHANNEL_OPS[c.op_type]
        ]
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
        out.append(
            f"{where} has non-zero zero points (e.g. {int(zp.flat[np.flatnonzero(zp)[0]])}); "
            "TensorRT supports only symmetric quantization"
        )
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
        raise ExportError(
            f"{what} does not meet TensorRT's explicit-quantization rules: {problems[0]}{more}; "
            "quantize with symmetric signed INT8 and per-channel weights."
        )


# ---------------------------------------------------------------------------------------------
# (b) engines in the bundle
# ---------------------------------------------------------------------------------------------


def unavailable_reason() -> str | None:
    """Why no engine can be built here (one line), or None."""
    return trt_build.unavailable_reason()


def _builder():
    lib, why = trt_build.builder_library()
    if lib is None:
        raise ExportError(f"no TensorRT engine can be built here: {why}.")
    return lib


def engine_backend() -> str:
    """The backend that runs the engines this machine builds ('tensorrt' or 'tensorrt_rtx')."""
    lib, _ = trt_build.builder_library()
    return lib.builder if lib is not None else "tensorrt"


def unmeasured_note() -> str:
    """What the manifest says in place of an accuracy when the engines cannot be run here."""
    lib, _ = trt_build.builder_library()
    return (
        "not measured here: needs an RTX GPU"
        if lib is not None and lib.ahead_of_time
        else "not measured here: needs an NVIDIA GPU"
    )


def build_into(
    onnx_path: Path, root: Path, pattern: str, precision: str, max_batch: int, source: str
) -> tuple[str, dict]:
    """Build the ``precision`` engine of ``onnx_path`` under ``root``.

    Args:
        pattern: the bundle-relative file with ``{sm}`` standing for what the engine targets
            (``sm90`` for a full TensorRT build on that GPU, ``rtx`` for a TensorRT-RTX build).

    Returns:
        (bundle-relative file, manifest ``build`` facts: builder, version, targets, profile, I/O).
    """
    lib = _builder()
    if lib.ahead_of_time:
        tag = "rtx"
    else:
        major, minor = cuda_device()[1].split(".")
        tag = f"sm{major}{minor}"
    relative = pattern.format(sm=tag)
    built = trt_build.build_engine(onnx_path, root / relative, precision, max_batch, source, lib)
    return relative, {**built.facts.to_build(), "network": built.network.to_dict()}
