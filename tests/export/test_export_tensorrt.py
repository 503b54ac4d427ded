"""The export's TensorRT target: the explicit-quantization rules, and real engines in the bundle.

Engine facts and the rebuild rules are tested beside the runtime (tests/runtimes/tensorrt/).
The engines here are built by the real TensorRT-RTX builder, which needs no GPU.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgedigits.errors import ExportError
from edgedigits.export import tensorrt as trt_export
from edgedigits.export.datasets import to_input, ImageSet
from edgedigits.export.quantize import quantize_int8
from edgedigits.samples import load_sample
from edgedigits.export.tensorrt import check_explicit_quantization


@pytest.fixture(scope="module")
def fp32_path(default_bundle):
    return default_bundle.artifact_path("onnx-fp32")


@pytest.fixture(scope="module")
def calibration():
    images, labels = load_sample("calibration")
    return ImageSet(to_input(images[:200]), labels[:200].astype(np.int64), "shipped-calibration-sample")


@pytest.fixture(scope="module")
def qdq(tmp_path_factory, fp32_path, calibration):
    """The shipped model quantized with the export recipe (real ONNX Runtime quantizer)."""
    path = tmp_path_factory.mktemp("qdq") / "model.int8.onnx"
    quantize_int8(fp32_path, path, calibration, "minmax")
    return onnx.load(str(path))


def _inits(model):
    return {i.name: i for i in model.graph.initializer}


def _set(model, name, array):
    init = _inits(model)[name]
    init.CopyFrom(numpy_helper.from_array(np.asarray(array, dtype=numpy_helper.to_array(init).dtype), name))


def _weight_dq(model, op="Conv"):
    """The DequantizeLinear node that feeds the first ``op``'s weight."""
    produced = {o: n for n in model.graph.node for o in n.output}
    consumer = next(n for n in model.graph.node if n.op_type == op)
    return produced[consumer.input[1]]


def test_export_recipe_meets_every_rule(qdq):
    assert check_explicit_quantization(qdq) == []
    trt_export.require_explicit_quantization(qdq)


def test_recipe_is_signed_symmetric_per_channel(qdq):
    inits = _inits(qdq)
    zps = [
        numpy_helper.to_array(inits[n.input[2]])
        for n in qdq.graph.node
        if n.op_type in ("QuantizeLinear", "DequantizeLinear")
    ]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    dq = _weight_dq(qdq)
    scale = numpy_helper.to_array(inits[dq.input[1]])
    weight = numpy_helper.to_array(inits[dq.input[0]])
    assert scale.shape == (weight.shape[0],) and (scale > 0).all()
    assert next(a.i for a in dq.attribute if a.name == "axis") == 0


def test_fp32_model_is_not_explicitly_quantized(fp32_path):
    problems = check_explicit_quantization(fp32_path)
    assert len(problems) == 1 and "no QuantizeLinear" in problems[0]
    with pytest.raises(ExportError, match="explicit-quantization"):
        trt_export.require_explicit_quantization(fp32_path)


def _broken(qdq, change):
    model = copy.deepcopy(qdq)
    change(model)
    return check_explicit_quantization(model)


def test_nonzero_zero_point_is_refused(qdq):
    q = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear")
    problems = _broken(qdq, lambda m: _set(m, q.input[2], 3))
    assert any("non-zero zero points" in p for p in problems)


def test_unsigned_activation_is_refused(qdq):
    q = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear")

    def to_uint8(m):
        init = _inits(m)[q.input[2]]
        init.CopyFrom(numpy_helper.from_array(np.array(0, dtype=np.uint8), init.name))

    assert any("signed INT8" in p for p in _broken(qdq, to_uint8))


def test_missing_zero_point_is_refused(qdq):
    name = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear").name

    def drop(m):
        node = next(n for n in m.graph.node if n.name == name)
        del node.input[2]

    assert any("no INT8 zero point" in p for p in _broken(qdq, drop))


@pytest.mark.parametrize("bad", [0.0, -0.5, np.nan, np.inf])
def test_bad_scales_are_refused(qdq, bad):
    q = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear")
    assert any("zero, negative or not finite" in p for p in _broken(qdq, lambda m: _set(m, q.input[1], bad)))


def test_weight_scales_must_run_along_output_channels(qdq):
    name = _weight_dq(qdq).name

    def axis1(m):
        node = next(n for n in m.graph.node if n.name == name)
        next(a for a in node.attribute if a.name == "axis").i = 1

    assert any("axis 1" in p for p in _broken(qdq, axis1))


def test_per_tensor_activation_scale_is_required(qdq):
    q = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear")
    assert any("one per tensor" in p for p in _broken(qdq, lambda m: _set(m, q.input[1], [0.1, 0.2])))


def test_weight_value_minus_128_is_refused(qdq):
    dq = _weight_dq(qdq)
    weight = numpy_helper.to_array(_inits(qdq)[dq.input[0]]).copy()
    weight.flat[0] = -128
    assert any("[-127, 127]" in p for p in _broken(qdq, lambda m: _set(m, dq.input[0], weight)))


def test_int32_bias_dequantization_is_refused(tmp_path, fp32_path, calibration):
    """ONNX Runtime's default quantizes biases to INT32, which TensorRT's DequantizeLinear does not take."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from edgedigits.export.quantize import _reader

    path = tmp_path / "bias.onnx"
    quantize_static(
        str(fp32_path),
        str(path),
        _reader(calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    assert any("int32 constant" in p for p in check_explicit_quantization(path))


def test_onnxruntime_defaults_are_refused(tmp_path, fp32_path, calibration):
    """quantize_static's defaults (asymmetric activations) break the zero-point rule."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    from edgedigits.export.quantize import _reader

    path = tmp_path / "default.onnx"
    quantize_static(str(fp32_path), str(path), _reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True)
    assert any("non-zero zero points" in p or "signed INT8" in p for p in check_explicit_quantization(path))


def test_q_must_feed_only_dq(qdq):
    q = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear")
    dq = next(n for n in qdq.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0])

    def rewire(m):
        consumer = next(n for n in m.graph.node if dq.output[0] in n.input)
        consumer.input[list(consumer.input).index(dq.output[0])] = q.output[0]

    assert any("Q/DQ must come in pairs" in p for p in _broken(qdq, rewire))


# -- engines built into a bundle ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rtx_builder():
    """TensorRT-RTX, the builder of this machine (full TensorRT cannot be installed here)."""
    from _support import has_module, tensorrt_library

    if has_module("tensorrt"):
        pytest.skip("full TensorRT is installed here: it is the builder, and it needs the GPU")
    return tensorrt_library("tensorrt_rtx")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engines_are_built_into_the_bundle_by_tensorrt_rtx(tmp_path, default_bundle, rtx_builder, precision):
    from edgedigits.export.onnx import convert_to_fp16

    sources = {
        "fp32": lambda: default_bundle.artifact_path("onnx-fp32"),
        "fp16": lambda: convert_to_fp16(default_bundle.artifact_path("onnx-fp32"), tmp_path / "fp16.onnx"),
        "int8": lambda: default_bundle.artifact_path("onnx-int8"),
    }
    relative, facts = trt_export.build_into(
        sources[precision](), tmp_path / "bundle", "tensorrt/model.{sm}.engine", precision, 64, f"onnx-{precision}"
    )
    assert relative == "tensorrt/model.rtx.engine" and (tmp_path / "bundle" / relative).stat().st_size > 100_000
    assert facts["builder"] == "tensorrt_rtx" and facts["trt_version"] == rtx_builder.version
    assert facts["targets"] == rtx_builder.default_targets() and facts["precision"] == precision
    assert facts["profile"]["max"] == [64, 1, 28, 28] and facts["max_batch"] == 64
    assert facts["network"]["inputs"] == [{"name": "input", "shape": [-1, 1, 28, 28], "dtype": "float32"}]


def test_rtx_engines_are_measured_by_the_rtx_backend_or_carry_a_note(rtx_builder):
    assert trt_export.unavailable_reason() is None  # no GPU needed to build
    assert trt_export.engine_backend() == "tensorrt_rtx"
    assert trt_export.unmeasured_note() == "not measured here: needs an RTX GPU"


def test_export_writes_unmeasured_rtx_engines_into_a_verified_bundle(tmp_path, rtx_builder):
    from edgedigits.bundle import load_bundle

    from _export_cli import export_cli

    out = tmp_path / "bundle"
    r = export_cli("--fp16", "--formats", "tensorrt", "--out", out, env={"EDGEDIGITS_DATA": str(tmp_path / "none")})
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {tuple(line.split()[:2]): line for line in r.stdout.splitlines() if line.startswith("tensorrt ")}
    for precision in ("fp32", "fp16"):
        assert "not measured here: needs an RTX GPU" in rows["tensorrt", precision]
        assert rows["tensorrt", precision].endswith("ok")
    bundle = load_bundle(out, verify=True)
    engine = bundle.find("tensorrt", "fp16")
    assert engine.file == "tensorrt/model.fp16.rtx.engine" and engine.accuracy is None
    assert engine.build["builder"] == "tensorrt_rtx" and engine.build["source"] == "onnx-fp16"


def test_an_unmeasured_engine_is_not_built_from_a_model_that_failed_its_checks(tmp_path):
    from types import SimpleNamespace

    from edgedigits.export.pipeline import Row, _export_unmeasured
    from edgedigits.export.targets import TARGETS

    target = next(t for t in TARGETS if t.id == "tensorrt-int8")
    ctx = SimpleNamespace(failed={"onnx-int8"})  # the pipeline records each rejected or failed target here
    row, artifact = _export_unmeasured(ctx, target, tmp_path, Row(target.id, "tensorrt", "int8", "ok"))
    assert artifact is None and row.status == "skipped"
    assert row.reason == "its source onnx-int8 did not pass its checks, and it cannot be measured here"
    assert not list(tmp_path.iterdir())
