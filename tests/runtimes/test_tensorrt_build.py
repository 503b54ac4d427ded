"""Real TensorRT-RTX engines built from the shipped model, on this machine without a GPU.

TensorRT-RTX compiles ahead of time without a GPU, so the builder runs here for real (CI included):
what can be checked without running an engine is checked - the plan, the build facts, and what the
parser made of each model (I/O names, shapes, dtypes; layer types and precisions).
"""

from __future__ import annotations

import pytest

from edgedigits.errors import BackendError
from edgedigits.runtimes.tensorrt import DEFAULT_MAX_BATCH, EngineFacts
from edgedigits.runtimes.tensorrt.build import build_engine, parse_onnx, describe, profile_shapes


@pytest.fixture(scope="module")
def sources(default_bundle, fp16_onnx):
    return {
        "fp32": default_bundle.artifact_path("onnx-fp32"),
        "fp16": fp16_onnx,
        "int8": default_bundle.artifact_path("onnx-int8"),
    }


@pytest.fixture(scope="module")
def built(rtx, sources, tmp_path_factory):
    """One engine per precision, built by the real TensorRT-RTX builder."""
    out = tmp_path_factory.mktemp("engines")
    return {p: build_engine(src, out / f"model.{p}.engine", p, 32, f"onnx-{p}", rtx) for p, src in sources.items()}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_is_built_with_its_facts(built, rtx, precision):
    engine = built[precision]
    assert engine.path.stat().st_size > 100_000  # a real plan (weights included), not a stub
    facts = engine.facts
    assert facts.builder == "tensorrt_rtx" and facts.trt_version == rtx.version and facts.precision == precision
    assert list(facts.targets) == rtx.default_targets() and facts.source == f"onnx-{precision}"
    assert facts.profile == {"input": "input", "min": [1, 1, 28, 28], "opt": [16, 1, 28, 28], "max": [32, 1, 28, 28]}
    assert EngineFacts.from_build(facts.to_build()) == facts


def test_the_three_plans_differ(built):
    plans = {p: b.path.read_bytes() for p, b in built.items()}
    assert len(set(plans.values())) == 3


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_io_is_float32_with_a_dynamic_batch(built, precision):
    network = built[precision].network
    assert [(t.name, t.shape, t.dtype) for t in network.inputs] == [("input", (-1, 1, 28, 28), "float32")]
    assert [(t.name, t.shape, t.dtype) for t in network.outputs] == [("logits", (-1, 10), "float32")]


def test_fp32_network_computes_in_float(built):
    network = built["fp32"].network
    assert network.types_of("CONVOLUTION") == {"FLOAT"} and network.types_of("MATRIX_MULTIPLY") == {"FLOAT"}
    assert network.types_of("CAST") == set() and network.types_of("QUANTIZE") == set()


def test_fp16_network_computes_in_half_between_two_casts(built):
    network = built["fp16"].network
    assert network.types_of("CONVOLUTION") == {"HALF"} and network.types_of("MATRIX_MULTIPLY") == {"HALF"}
    assert network.layers[0] == ("CAST", "HALF") and network.layers[-1] == ("CAST", "FLOAT")


def test_int8_network_is_explicitly_quantized(built, default_bundle):
    import onnx

    network = built["int8"].network
    model = onnx.load(str(default_bundle.artifact_path("onnx-int8")))
    q_nodes = sum(n.op_type == "QuantizeLinear" for n in model.graph.node)
    assert network.types_of("QUANTIZE") == {"INT8"}
    assert sum(kind == "QUANTIZE" for kind, _ in network.layers) == q_nodes
    assert sum(kind == "CONVOLUTION" for kind, _ in network.layers) == sum(
        n.op_type == "Conv" for n in model.graph.node
    )


def test_turing_gets_an_fp16_engine_of_its_own(rtx, sources, tmp_path):
    facts = build_engine(sources["fp16"], tmp_path / "t.engine", "fp16", 8, "onnx-fp16", rtx, targets=["7.5"]).facts
    assert facts.targets == ("7.5",)


def test_a_failed_build_is_one_sentence_quoting_the_builder(rtx, sources, tmp_path):
    """TensorRT-RTX has no FP32 GEMM for Turing (SM 7.5): the build fails, and says so."""
    with pytest.raises(
        BackendError,
        match=r"^TensorRT-RTX failed to build the fp32 engine from .*model.onnx "
        r"\(.*FP32 GEMM is not supported.*\); check the model",
    ):
        build_engine(sources["fp32"], tmp_path / "t.engine", "fp32", 8, "onnx-fp32", rtx, targets=["7.5"])
    assert not (tmp_path / "t.engine").exists()


def test_a_target_the_builder_does_not_offer_is_one_sentence(rtx, sources, tmp_path):
    with pytest.raises(
        BackendError,
        match=r"^TensorRT-RTX [\d.]+ cannot target compute capability 9.0; it targets "
        r"7.5, 8.0, .*\.$",
    ):
        build_engine(sources["fp32"], tmp_path / "x.engine", "fp32", 8, "onnx-fp32", rtx, targets=["9.0"])
    assert not (tmp_path / "x.engine").exists()


@pytest.mark.parametrize(
    "payload, sentence",
    [
        (
            b"not an onnx model" * 10,
            "{bad} is not a readable ONNX model (TensorRT-RTX could not deserialize it); "
            "re-export it or restore the file.",
        ),
        # these bytes happen to decode as a protobuf message: an empty model
        (
            b"this is not an ONNX model" * 10,
            "{bad} is not an edgedigits model (TensorRT-RTX found 0 inputs and 0 "
            "outputs, expected one of each); re-export it or restore the file.",
        ),
    ],
)
def test_a_damaged_onnx_file_is_one_sentence(rtx, tmp_path, payload, sentence):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(payload)
    with pytest.raises(BackendError) as info:
        build_engine(bad, tmp_path / "x.engine", "fp32", 8, "onnx-fp32", rtx)
    assert str(info.value) == sentence.format(bad=bad)
    assert not (tmp_path / "x.engine").exists()


def test_a_missing_onnx_file_is_one_sentence(rtx, tmp_path):
    with pytest.raises(BackendError, match=r"missing.onnx does not exist; pass the ONNX model of a bundle\.$"):
        parse_onnx(rtx, tmp_path / "missing.onnx")


def test_an_unsupported_operator_is_one_sentence(rtx, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 1, 28, 28]) for n in ("input", "logits")]
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["a"]), helper.make_node("StringNormalizer", ["a"], ["logits"])],
        "g",
        io[:1],
        io[1:],
    )
    path = tmp_path / "unsupported.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(BackendError) as info:
        build_engine(path, tmp_path / "x.engine", "fp32", 8, "onnx-fp32", rtx)
    assert str(info.value) == (
        f"TensorRT-RTX cannot build {path}: node 1 (StringNormalizer) is not supported "
        "(UNSUPPORTED_NODE); export the model without that operator."
    )


def test_profile_spans_batch_one_to_the_default_maximum():
    assert profile_shapes((-1, 1, 28, 28), DEFAULT_MAX_BATCH) == {
        "min": [1, 1, 28, 28],
        "opt": [DEFAULT_MAX_BATCH // 2, 1, 28, 28],
        "max": [DEFAULT_MAX_BATCH, 1, 28, 28],
    }


def test_describe_reads_the_parsed_network(rtx, sources):
    network = describe(rtx, parse_onnx(rtx, sources["fp32"])[1])
    assert network.to_dict() == {
        "inputs": [{"name": "input", "shape": [-1, 1, 28, 28], "dtype": "float32"}],
        "outputs": [{"name": "logits", "shape": [-1, 10], "dtype": "float32"}],
        "layers": len(network.layers),
    }


def _full_tensorrt_without_a_gpu():
    """A stand-in for full TensorRT (it cannot be installed here), on this machine without a GPU."""
    from types import SimpleNamespace

    from edgedigits.runtimes.tensorrt._library import Library, cuda_device

    try:
        cuda_device()
        pytest.skip("this machine has a GPU")
    except BackendError:
        pass
    return Library("tensorrt", SimpleNamespace(__version__="11.4.0", Builder=object, OnnxParser=object))


def test_full_tensorrt_refuses_to_build_without_a_gpu(sources, tmp_path):
    """Full TensorRT builds on the GPU it targets; without one the build stops before the parser runs."""
    full = _full_tensorrt_without_a_gpu()
    with pytest.raises(
        BackendError,
        match=r"^TensorRT builds engines only on an NVIDIA GPU, and no NVIDIA GPU is "
        r"visible to CUDA \(cudaError\w+\); .*\.$",
    ):
        build_engine(sources["fp32"], tmp_path / "x.engine", "fp32", lib=full)


def test_without_a_gpu_tensorrt_rtx_builds_even_where_full_tensorrt_is_installed(rtx, monkeypatch):
    from edgedigits.runtimes.tensorrt import build
    from edgedigits.runtimes.tensorrt._library import load_library

    full = _full_tensorrt_without_a_gpu()
    monkeypatch.setattr(build, "load_library", lambda name: (full, "") if name == "tensorrt" else load_library(name))
    assert build.builder_library()[0].name == "tensorrt_rtx"
    monkeypatch.setattr(build, "load_library", lambda name: (full, "") if name == "tensorrt" else (None, "no RTX"))
    assert build.unavailable_reason().startswith("TensorRT builds engines only on an NVIDIA GPU, and no NVIDIA GPU")
    assert build.unavailable_reason().endswith("; no RTX")
