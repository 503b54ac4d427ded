"""The TensorRT backends (``tensorrt``, ``tensorrt_rtx``): what can be decided without a GPU, and the
real thing where one exists.

CI has no GPU, so running engines is tested only where a GPU is present; everything else (which
artifact to use, whether a recorded engine fits, the cache key, the reason a backend is
unavailable) is tested here, with the real TensorRT modules installed.
"""

from __future__ import annotations

import json
import shutil

from types import SimpleNamespace

import numpy as np
import pytest

from edgedigits import runtimes
from edgedigits.bundle import Bundle, make_artifact, write_manifest
from edgedigits.errors import BackendError
from edgedigits.runtimes import tensorrt as trt
from edgedigits.runtimes.tensorrt import MachineFacts
from edgedigits.runtimes.tensorrt._library import Library
from edgedigits.runtimes.tensorrt.backend import TensorRtBackend, TensorRtRtxBackend, TensorRtSession

H100 = MachineFacts("10.13.0", "NVIDIA H100 80GB HBM3", "9.0")
TRT = runtimes.get_backend("tensorrt")
RTX = runtimes.get_backend("tensorrt_rtx")
needs_tensorrt = pytest.mark.skipif(not TRT.available, reason=f"TensorRT cannot run here: {TRT.availability()[1]}")
needs_rtx = pytest.mark.skipif(not RTX.available, reason=f"TensorRT-RTX cannot run here: {RTX.availability()[1]}")
#: A library that can build, for decisions that only ask whether one can.
BUILDS = Library("tensorrt", SimpleNamespace(Builder=object, OnnxParser=object))


def _facts(**over):
    facts = {
        "trt_version": "10.13.0",
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "compute_capability": "9.0",
        "hardware_compatibility_level": "none",
        "version_compatible": False,
        "max_batch": 256,
        "precision": "int8",
        "source": "onnx-int8",
    }
    facts.update(over)
    return facts


@pytest.mark.parametrize("backend", [TRT, RTX], ids=["tensorrt", "tensorrt_rtx"])
def test_unavailable_with_a_reason_and_refused_when_asked_for(default_bundle, backend):
    if backend.available:
        pytest.skip(f"{backend.name} is available here")
    ok, reason = backend.availability()
    assert not ok and "\n" not in reason
    assert "not installed" in reason or reason.startswith("no NVIDIA GPU is visible to CUDA")
    assert backend.devices() == []
    from edgedigits.runtimes.select import choose

    with pytest.raises(BackendError, match=f"the {backend.name} backend is not available here: "):
        choose(default_bundle, backend=backend.name)


def test_backends_table_lists_both_with_their_reasons():
    from edgedigits.cli.backends_cmd import _table, describe_backends

    lines = _table(describe_backends()).splitlines()
    for backend in (TRT, RTX):
        line = next(line for line in lines if line.split()[:1] == [backend.name])
        ok, reason = backend.availability()
        assert line.split()[1] == ("yes" if ok else "no") and line.rstrip().endswith(reason)


def test_rtx_is_unavailable_on_a_gpu_it_does_not_target(monkeypatch):
    from edgedigits.runtimes.tensorrt import _library

    lib, why = _library.load_library(_library.RTX)
    if lib is None:
        pytest.skip(why)
    backend = TensorRtRtxBackend()
    assert backend._unsupported(lib, "8.9") is None
    reason = backend._unsupported(lib, "9.0")
    assert reason.startswith(
        f"TensorRT-RTX {lib.version} does not target this GPU (compute capability 9.0); it targets 7.5, 8.0"
    ) and reason.endswith("use the tensorrt backend")


@pytest.mark.parametrize(
    "built, fits, why",
    [
        (_facts(), True, "built for SM 9.0 with TensorRT 10.13.0"),
        (_facts(trt_version="10.12.0"), False, "built with TensorRT 10.12.0 but this machine has 10.13.0"),
        (_facts(trt_version="10.12.0", version_compatible=True), True, ""),
        (_facts(trt_version="10.14.0", version_compatible=True), False, "runs only on that version or later"),
        (_facts(compute_capability="8.9", gpu_name="NVIDIA L4"), False, "built for compute capability 8.9"),
        (
            _facts(compute_capability="8.0", gpu_name="NVIDIA A100", hardware_compatibility_level="ampere_plus"),
            True,
            "",
        ),
        (_facts(gpu_name="NVIDIA H100 PCIe"), False, "but this GPU is a NVIDIA H100 80GB HBM3"),
        (_facts(gpu_name="NVIDIA H100 PCIe", hardware_compatibility_level="same_compute_capability"), True, ""),
        ({"gpu_name": "NVIDIA H100 80GB HBM3"}, False, "lacks the build fact 'trt_version'"),
    ],
)
def test_recorded_engine_facts_decide_use_or_rebuild(built, fits, why):
    ok, reason = trt.compatibility(built, H100)
    assert ok is fits and why in reason


def test_engine_cache_key_changes_with_everything_that_makes_an_engine_valid():
    base = trt.engine_cache_key("a" * 64, "int8", H100, 256)
    assert base == trt.engine_cache_key("a" * 64, "int8", H100, 256)
    others = {
        trt.engine_cache_key("b" * 64, "int8", H100, 256),
        trt.engine_cache_key("a" * 64, "fp32", H100, 256),
        trt.engine_cache_key("a" * 64, "int8", MachineFacts("10.14.0", H100.gpu_name, "9.0"), 256),
        trt.engine_cache_key("a" * 64, "int8", MachineFacts("10.13.0", "NVIDIA L4", "8.9"), 256),
        trt.engine_cache_key("a" * 64, "int8", H100, 64),
    }
    assert base not in others and len(others) == 5


def test_engines_are_cached_in_the_user_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_CACHE_DIR", str(tmp_path))
    assert trt.engine_cache_dir() == tmp_path / "tensorrt"


@pytest.fixture
def engine_bundle(int8_bundle, tmp_path):
    """The INT8 bundle plus two (dummy-content) engines with recorded facts: one for this H100, one for an L4."""
    root = tmp_path / "bundle"
    shutil.copytree(int8_bundle.path, root)
    (root / "tensorrt").mkdir()
    artifacts = list(Bundle.load(root).artifacts)
    for name, facts in (("sm89", _facts(compute_capability="8.9", gpu_name="NVIDIA L4")), ("sm90", _facts())):
        (root / f"tensorrt/model.int8.{name}.engine").write_bytes(b"engine " + name.encode())
        artifacts.append(
            make_artifact(
                root, f"tensorrt-int8-{name}", "tensorrt", "int8", f"tensorrt/model.int8.{name}.engine", build=facts
            )
        )
    write_manifest(root, json.loads((root / "manifest.json").read_text()), artifacts)
    return Bundle.load(root)


def _pretend_gpu(monkeypatch, here, cls=TensorRtBackend, lib=BUILDS):
    backend = cls()
    monkeypatch.setattr(backend, "_here", here, raising=False)
    monkeypatch.setattr(backend, "_lib", lib, raising=False)
    return backend


def test_a_fitting_engine_of_the_bundle_is_used(engine_bundle, monkeypatch):
    backend = _pretend_gpu(monkeypatch, H100)
    assert backend.artifact_for(engine_bundle, "int8", "cuda").id == "tensorrt-int8-sm90"


def test_without_a_fitting_engine_the_onnx_model_is_the_build_source(engine_bundle, monkeypatch):
    backend = _pretend_gpu(monkeypatch, MachineFacts("10.13.0", "NVIDIA A10G", "8.6"))
    assert backend.artifact_for(engine_bundle, "int8", "cuda").id == "onnx-int8"  # the Q/DQ model
    assert backend.artifact_for(engine_bundle, "fp32", "cuda").id == "onnx-fp32"
    assert backend.artifact_for(engine_bundle, "fp16", "cuda") is None  # needs an FP16 ONNX (strong typing)


def test_the_lean_runtime_uses_fitting_engines_but_builds_none(engine_bundle, monkeypatch, tmp_path):
    lean = Library("tensorrt_lean", SimpleNamespace(Runtime=object))
    backend = _pretend_gpu(monkeypatch, H100, lib=lean)
    assert backend.artifact_for(engine_bundle, "int8", "cuda").id == "tensorrt-int8-sm90"
    elsewhere = _pretend_gpu(monkeypatch, MachineFacts("10.13.0", "NVIDIA A10G", "8.6"), lib=lean)
    assert elsewhere.artifact_for(engine_bundle, "int8", "cuda") is None
    with pytest.raises(BackendError, match="runs engines but cannot build one from model.onnx; install full TensorRT"):
        elsewhere.cached_engine(tmp_path / "model.onnx", "a" * 64, "onnx-fp32", "fp32")


@pytest.fixture
def rtx_bundle(engine_bundle, tmp_path):
    """``engine_bundle`` plus a TensorRT-RTX engine record (compiled for 8.6 and 8.9)."""
    root = tmp_path / "rtx"
    shutil.copytree(engine_bundle.path, root)
    (root / "tensorrt/model.int8.rtx.engine").write_bytes(b"rtx engine")
    facts = _facts(
        builder="tensorrt_rtx", trt_version="1.7.1.116", gpu_name="", compute_capability="", targets=["8.6", "8.9"]
    )
    artifacts = list(Bundle.load(root).artifacts) + [
        make_artifact(root, "tensorrt-int8-rtx", "tensorrt", "int8", "tensorrt/model.int8.rtx.engine", build=facts)
    ]
    write_manifest(root, json.loads((root / "manifest.json").read_text()), artifacts)
    return Bundle.load(root)


def test_each_backend_picks_only_its_own_builders_engines(rtx_bundle, monkeypatch):
    l4 = dict(gpu_name="NVIDIA L4", compute_capability="8.9")
    rtx = _pretend_gpu(
        monkeypatch, MachineFacts("1.7.1.116", l4["gpu_name"], "8.9", "tensorrt_rtx"), TensorRtRtxBackend
    )
    assert rtx.artifact_for(rtx_bundle, "int8", "cuda").id == "tensorrt-int8-rtx"
    full = _pretend_gpu(monkeypatch, MachineFacts("10.13.0", l4["gpu_name"], "8.9"))
    assert full.artifact_for(rtx_bundle, "int8", "cuda").id == "tensorrt-int8-sm89"
    newer_rtx = _pretend_gpu(
        monkeypatch, MachineFacts("1.8.0.0", "NVIDIA L4", "8.9", "tensorrt_rtx"), TensorRtRtxBackend
    )
    assert newer_rtx.artifact_for(rtx_bundle, "int8", "cuda").id == "onnx-int8"  # rebuilt for its version


def test_cache_keys_of_the_two_builders_differ():
    assert trt.engine_cache_key("a" * 64, "fp32", H100, 256) != trt.engine_cache_key(
        "a" * 64, "fp32", MachineFacts(H100.trt_version, H100.gpu_name, H100.compute_capability, "tensorrt_rtx"), 256
    )


@pytest.mark.parametrize(
    "vc, built_here, trust, allowed",
    [
        (False, False, "", True),  # no host code in the engine
        (True, True, "", True),  # version-compatible, built by edgedigits on this machine
        (True, False, "", False),  # version-compatible, from a bundle: its code is not run ...
        (True, False, "1", True),  # ... unless the user trusts the bundle's author
        (True, False, "yes", False),  # only the documented value counts
    ],
)
def test_engine_host_code_runs_only_from_our_own_builds_or_when_trusted(monkeypatch, vc, built_here, trust, allowed):
    monkeypatch.setenv(trt.ENV_TRUST_ENGINE_CODE, trust)
    ok, why = trt.host_code_decision(_facts(version_compatible=vc), built_here)
    assert ok is allowed
    if not ok:
        assert "host code" in why and trt.ENV_TRUST_ENGINE_CODE in why


def test_a_version_compatible_bundle_engine_is_refused_before_tensorrt_is_touched(tmp_path, monkeypatch):
    monkeypatch.delenv(trt.ENV_TRUST_ENGINE_CODE, raising=False)
    engine = tmp_path / "model.int8.engine"
    engine.write_bytes(b"not trusted")
    with pytest.raises(BackendError, match="carries host code"):
        TensorRtSession(None, engine, "cuda", "int8", _facts(version_compatible=True))


def test_auto_prefers_building_over_an_untrusted_version_compatible_engine(engine_bundle, monkeypatch, tmp_path):
    root = tmp_path / "vc"
    shutil.copytree(engine_bundle.path, root)
    manifest = json.loads((root / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        if a["format"] == "tensorrt":
            a["build"]["version_compatible"] = True
    (root / "manifest.json").write_text(json.dumps(manifest))
    backend = _pretend_gpu(monkeypatch, H100)
    monkeypatch.delenv(trt.ENV_TRUST_ENGINE_CODE, raising=False)
    assert backend.artifact_for(Bundle.load(root), "int8", "cuda").id == "onnx-int8"
    monkeypatch.setenv(trt.ENV_TRUST_ENGINE_CODE, "1")
    assert backend.artifact_for(Bundle.load(root), "int8", "cuda").id == "tensorrt-int8-sm90"


@pytest.mark.parametrize(
    "backend",
    [pytest.param(TRT, marks=needs_tensorrt, id="tensorrt"), pytest.param(RTX, marks=needs_rtx, id="tensorrt_rtx")],
)
def test_engines_run_the_bundle_like_the_reference(backend, int8_bundle, digits, reference, run_all):
    x, labels, _ = digits
    for precision in ("fp32", "int8"):
        artifact = backend.artifact_for(int8_bundle, precision, "cuda")
        with backend.open_artifact(int8_bundle, artifact, "cuda") as session:
            logits = run_all(session, x)
        assert (logits.argmax(1) == labels).mean() >= (reference[0].argmax(1) == labels).mean() - 0.003
        if precision == "fp32":
            assert np.abs(logits - reference[0]).max() < 1e-2
