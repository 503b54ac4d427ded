"""TensorRT without TensorRT: the explicit-quantization rules, engine facts, and rebuild decisions."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgedigits.bundle import load_bundle, make_artifact, write_manifest, base_manifest
from edgedigits.errors import BundleError, ExportError
from edgedigits.export import tensorrt as trt_export
from edgedigits.export.datasets import to_input, ImageSet
from edgedigits.export.quantize import quantize_int8
from edgedigits.samples import load_sample
from edgedigits.export.tensorrt import EngineFacts, MachineFacts, check_explicit_quantization, rebuild_reasons


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
    zps = [numpy_helper.to_array(inits[n.input[2]]) for n in qdq.graph.node
           if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
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
    quantize_static(str(fp32_path), str(path), _reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
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


# -- engine facts ------------------------------------------------------------------------------------------
FACTS = EngineFacts("10.13.0", "NVIDIA H100 80GB HBM3", "9.0", "none", False, 64, "int8", "onnx-int8")


def test_engine_facts_round_trip_through_a_bundle_manifest(tmp_path):
    engine = tmp_path / trt_export.engine_file("int8", FACTS.compute_capability)
    engine.parent.mkdir()
    engine.write_bytes(b"a serialized plan stands in here; only the manifest is read")
    artifact = make_artifact(tmp_path, "tensorrt-int8", "tensorrt", "int8", str(engine.relative_to(tmp_path)),
                             accuracy=0.995, build=FACTS.to_build())
    write_manifest(tmp_path, base_manifest("digitnet_s", 1, 1), [artifact])
    loaded = load_bundle(tmp_path).get("tensorrt-int8")
    assert loaded.file == "tensorrt/model.int8.sm90.engine"
    assert EngineFacts.from_build(loaded.build) == FACTS
    assert set(loaded.build) >= {"trt_version", "gpu_name", "compute_capability", "hardware_compatibility_level",
                                 "version_compatible", "max_batch", "source"}


@pytest.mark.parametrize("change, message", [
    (lambda b: b.pop("trt_version"), "lacks the build fact 'trt_version'"),
    (lambda b: b.update(compute_capability="sm90"), "compute capability 'sm90'"),
    (lambda b: b.update(hardware_compatibility_level="anything"), "unknown hardware_compatibility_level"),
    (lambda b: b.update(version_compatible="yes"), "malformed build facts"),
])
def test_malformed_engine_facts_are_refused(change, message):
    build = FACTS.to_build()
    change(build)
    with pytest.raises(BundleError, match=message):
        EngineFacts.from_build(build)


def _on(trt="10.13.0", gpu="NVIDIA H100 80GB HBM3", cc="9.0"):
    return MachineFacts(trt, gpu, cc)


def _built(**changes):
    return EngineFacts(**{**FACTS.to_build(), **changes})


@pytest.mark.parametrize("built, here, fits", [
    (_built(), _on(), True),
    (_built(), _on(trt="10.13.1"), False),                                  # plain engine: exact version
    (_built(version_compatible=True), _on(trt="10.14.0"), True),            # version-compatible: later runs it
    (_built(version_compatible=True), _on(trt="11.1.0"), True),
    (_built(version_compatible=True), _on(trt="10.12.0"), False),           # ... an older one does not
    (_built(), _on(gpu="NVIDIA H200", cc="9.0"), False),                    # plain engine: same GPU model
    (_built(hardware_compatibility_level="same_compute_capability"), _on(gpu="NVIDIA H200"), True),
    (_built(hardware_compatibility_level="same_compute_capability"), _on(gpu="NVIDIA L4", cc="8.9"), False),
    (_built(), _on(gpu="NVIDIA A100", cc="8.0"), False),
    (_built(hardware_compatibility_level="ampere_plus"), _on(gpu="NVIDIA A100", cc="8.0"), True),
    (_built(hardware_compatibility_level="ampere_plus"), _on(gpu="Tesla T4", cc="7.5"), False),
])
def test_rebuild_decision(built, here, fits):
    reasons = rebuild_reasons(built, here)
    assert (reasons == []) is fits
    assert trt_export.needs_rebuild(built, here) is not fits
    assert all(isinstance(r, str) and r for r in reasons)


def test_rebuild_reason_names_both_sides():
    (reason,) = rebuild_reasons(_built(), _on(trt="10.14.1"))
    assert "10.13.0" in reason and "10.14.1" in reason


def test_tensorrt_module_imports_and_explains_without_tensorrt():
    from edgedigits._deps import has
    if has("tensorrt"):
        pytest.skip("TensorRT is installed here; this test covers machines without it")
    reason = trt_export.unavailable_reason()
    assert reason and "TensorRT" in reason and "\n" not in reason


@pytest.mark.tensorrt
@pytest.mark.skipif(trt_export.unavailable_reason() is not None,
                    reason=f"TensorRT engines cannot be built here: {trt_export.unavailable_reason()}")
def test_int8_engine_builds_from_the_shipped_qdq_model_and_fits_this_machine(tmp_path, default_bundle):
    source = default_bundle.artifact_path("onnx-int8")
    machine = trt_export.machine_facts()
    engine = tmp_path / trt_export.engine_file("int8", machine.compute_capability)
    facts = trt_export.build_engine(source, engine, "int8", 32, source="onnx-int8", log=lambda *_: None)
    assert engine.stat().st_size > 0
    assert facts.trt_version == machine.trt_version and facts.compute_capability == machine.compute_capability
    assert facts.max_batch == 32 and facts.precision == "int8"
    assert rebuild_reasons(facts, machine) == []
