"""Engine build facts and the run-or-rebuild decision (pure Python: no TensorRT, no GPU)."""

from __future__ import annotations

import pytest

from edgedigits.bundle import base_manifest, load_bundle, make_artifact, write_manifest
from edgedigits.errors import BundleError
from edgedigits.runtimes.tensorrt import EngineFacts, MachineFacts, compatibility, rebuild_reasons

FACTS = EngineFacts(
    "10.13.0",
    "NVIDIA H100 80GB HBM3",
    "9.0",
    "tensorrt",
    max_batch=64,
    precision="int8",
    source="onnx-int8",
    profile={"input": "input", "min": [1, 1, 28, 28], "opt": [32, 1, 28, 28], "max": [64, 1, 28, 28]},
)
RTX_FACTS = EngineFacts(
    "1.7.1.116",
    "",
    "",
    "tensorrt_rtx",
    max_batch=256,
    precision="fp16",
    source="onnx-fp16",
    targets=("8.0", "8.6", "8.9", "12.0", "12.1"),
)


@pytest.mark.parametrize("facts", [FACTS, RTX_FACTS], ids=["tensorrt", "tensorrt_rtx"])
def test_engine_facts_round_trip_through_a_bundle_manifest(tmp_path, facts):
    engine = tmp_path / "tensorrt" / "model.engine"
    engine.parent.mkdir()
    engine.write_bytes(b"a serialized plan stands in here; only the manifest is read")
    artifact = make_artifact(
        tmp_path,
        f"tensorrt-{facts.precision}",
        "tensorrt",
        facts.precision,
        "tensorrt/model.engine",
        build=facts.to_build(),
    )
    write_manifest(tmp_path, base_manifest("digitnet_s", 1, 1), [artifact])
    loaded = load_bundle(tmp_path).get(f"tensorrt-{facts.precision}")
    assert EngineFacts.from_build(loaded.build) == facts
    assert set(loaded.build) >= {
        "builder",
        "trt_version",
        "gpu_name",
        "compute_capability",
        "targets",
        "profile",
        "precision",
        "hardware_compatibility_level",
        "version_compatible",
        "max_batch",
        "source",
    }


def test_facts_recorded_before_the_builder_field_read_as_full_tensorrt():
    old = {k: v for k, v in FACTS.to_build().items() if k not in ("builder", "targets", "profile")}
    assert EngineFacts.from_build(old).builder == "tensorrt"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.pop("trt_version"), "lacks the build fact 'trt_version'"),
        (lambda b: b.update(compute_capability="sm90"), "compute capability 'sm90'"),
        (lambda b: b.update(compute_capability="", targets=[]), "compute capability ''"),
        (lambda b: b.update(targets=["8.6", "nine"]), "compute capability 'nine'"),
        (lambda b: b.update(targets="8.6"), "malformed build facts"),
        (lambda b: b.update(builder="onnxruntime"), "names the builder 'onnxruntime'"),
        (lambda b: b.update(hardware_compatibility_level="anything"), "unknown hardware_compatibility_level"),
        (lambda b: b.update(version_compatible="yes"), "malformed build facts"),
    ],
)
def test_malformed_engine_facts_are_refused(change, message):
    build = FACTS.to_build()
    change(build)
    with pytest.raises(BundleError, match=message):
        EngineFacts.from_build(build)


def _on(trt="10.13.0", gpu="NVIDIA H100 80GB HBM3", cc="9.0", builder="tensorrt"):
    return MachineFacts(trt, gpu, cc, builder)


def _built(base=FACTS, **changes):
    return EngineFacts.from_build({**base.to_build(), **changes})


@pytest.mark.parametrize(
    "built, here, fits",
    [
        (_built(), _on(), True),
        (_built(), _on(trt="10.13.1"), False),  # plain engine: exact version
        (_built(version_compatible=True), _on(trt="10.14.0"), True),  # version-compatible: later runs it
        (_built(version_compatible=True), _on(trt="11.1.0"), True),
        (_built(version_compatible=True), _on(trt="10.12.0"), False),  # ... an older one does not
        (_built(), _on(gpu="NVIDIA H200", cc="9.0"), False),  # plain engine: same GPU model
        (_built(hardware_compatibility_level="same_compute_capability"), _on(gpu="NVIDIA H200"), True),
        (_built(hardware_compatibility_level="same_compute_capability"), _on(gpu="NVIDIA L4", cc="8.9"), False),
        (_built(), _on(gpu="NVIDIA A100", cc="8.0"), False),
        (_built(hardware_compatibility_level="ampere_plus"), _on(gpu="NVIDIA A100", cc="8.0"), True),
        (_built(hardware_compatibility_level="ampere_plus"), _on(gpu="Tesla T4", cc="7.5"), False),
        # TensorRT-RTX: the compiled targets decide, not the (absent) build GPU
        (RTX_FACTS, _on("1.7.1.116", "NVIDIA GeForce RTX 4090", "8.9", "tensorrt_rtx"), True),
        (RTX_FACTS, _on("1.7.1.116", "NVIDIA GeForce RTX 2080 Ti", "7.5", "tensorrt_rtx"), False),
        (RTX_FACTS, _on("1.7.1.116", "NVIDIA H200", "9.0", "tensorrt_rtx"), False),
        (RTX_FACTS, _on("1.8.0.1", "NVIDIA GeForce RTX 4090", "8.9", "tensorrt_rtx"), False),
        # an engine never crosses between the two builders
        (RTX_FACTS, _on("10.13.0", "NVIDIA GeForce RTX 4090", "8.9", "tensorrt"), False),
        (_built(), _on(builder="tensorrt_rtx"), False),
    ],
)
def test_rebuild_decision(built, here, fits):
    reasons = rebuild_reasons(built, here)
    assert (reasons == []) is fits
    assert all(isinstance(r, str) and r for r in reasons)


def test_rebuild_reasons_name_both_sides():
    (reason,) = rebuild_reasons(_built(), _on(trt="10.14.1"))
    assert "10.13.0" in reason and "10.14.1" in reason
    (reason,) = rebuild_reasons(RTX_FACTS, _on("1.7.1.116", "NVIDIA H200", "9.0", "tensorrt_rtx"))
    assert "8.0, 8.6, 8.9, 12.0, 12.1" in reason and "NVIDIA H200" in reason and "9.0" in reason
    (reason,) = rebuild_reasons(RTX_FACTS, _on())
    assert reason == "it was built by TensorRT-RTX, and this backend runs TensorRT engines"


def test_compatibility_says_what_an_rtx_engine_was_built_for():
    ok, why = compatibility(RTX_FACTS.to_build(), _on("1.7.1.116", "NVIDIA RTX A6000", "8.6", "tensorrt_rtx"))
    assert ok and why == "built for SM 8.0, 8.6, 8.9, 12.0, 12.1 with TensorRT-RTX 1.7.1.116"
