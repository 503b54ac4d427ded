"""Choosing a backend: explicit requests, the INT8 gate, the environment override and the trial."""

from __future__ import annotations

import json
import shutil

import pytest

from edgedigits import runtimes
from edgedigits.bundle import Bundle
from edgedigits.errors import BackendError
from edgedigits.runtimes import select
from edgedigits.runtimes.select import Candidate, choose, int8_gate, plan


def _fake(keys):
    return [Candidate(*k.split("/"), artifact=None) for k in keys]


ORT, OV, CV = "onnxruntime/cpu/int8", "openvino/cpu/int8", "opencv/cpu/int8"


def test_plan_picks_one_candidate_fastest_everywhere():
    timings = {ORT: {1: 50e-6, 4: 120e-6, 16: 400e-6, 64: 1.5e-3}, OV: {1: 40e-6, 4: 90e-6, 16: 300e-6, 64: 0.8e-3}}
    routes, worst = plan(timings, _fake([OV, ORT]))
    assert routes == [(None, OV)] and worst == 1.0


def test_plan_routes_small_and_large_batches_when_no_candidate_is_within_10_percent():
    timings = {OV: {1: 60e-6, 4: 90e-6, 16: 300e-6, 64: 0.8e-3}, ORT: {1: 42e-6, 4: 110e-6, 16: 450e-6, 64: 1.8e-3}}
    routes, worst = plan(timings, _fake([OV, ORT]))
    assert routes == [(2, ORT), (None, OV)] and worst == 1.0


def test_plan_prefers_one_session_when_routing_gains_less_than_10_percent():
    timings = {OV: {1: 45e-6, 4: 90e-6, 16: 300e-6, 64: 0.8e-3}, ORT: {1: 42e-6, 4: 110e-6, 16: 450e-6, 64: 1.8e-3}}
    routes, worst = plan(timings, _fake([OV, ORT]))
    assert routes == [(None, OV)] and worst == pytest.approx(45 / 42)


def test_plan_never_mixes_precisions_and_picks_the_faster_precision():
    fp32 = "openvino/cpu/fp32"
    timings = {OV: {1: 60e-6, 4: 90e-6, 16: 300e-6, 64: 0.8e-3}, fp32: {1: 30e-6, 4: 200e-6, 16: 800e-6, 64: 3e-3}}
    routes, _ = plan(timings, _fake([OV, fp32]))
    assert routes == [(None, OV)]


def _with_manifest(bundle: Bundle, dest, edit) -> Bundle:
    shutil.copytree(bundle.path, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    edit(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return Bundle.load(dest)


def _set_int8_accuracy(manifest, value):
    for a in manifest["artifacts"]:
        if a["precision"] == "int8":
            a["accuracy"] = value


def test_int8_gate_uses_recorded_accuracies(int8_bundle, tmp_path):
    ok, why = int8_gate(int8_bundle, int8_bundle.find("onnx", "int8"))
    assert ok and why.startswith("INT8 passed the accuracy gate: onnx-int8 accuracy")
    fp32 = int8_bundle.find("onnx", "fp32").accuracy
    worse = _with_manifest(int8_bundle, tmp_path / "worse", lambda m: _set_int8_accuracy(m, fp32 - 0.01))
    ok, why = int8_gate(worse, worse.find("onnx", "int8"))
    assert not ok and "too inaccurate" in why and "drop 1.00 pp, gate 0.30 pp" in why
    unknown = _with_manifest(int8_bundle, tmp_path / "unknown", lambda m: _set_int8_accuracy(m, None))
    assert int8_gate(unknown, unknown.find("onnx", "int8")) == (
        False,
        "its INT8 model onnx-int8 has no recorded accuracy, so it is not trusted by default",
    )
    loose = _with_manifest(
        int8_bundle,
        tmp_path / "loose",
        lambda m: (_set_int8_accuracy(m, fp32 - 0.01), m.update(export={"max_drop_pp": 2.0, "fp32_accuracy": fp32})),
    )
    assert int8_gate(loose, loose.find("onnx", "int8"))[0]


def test_auto_keeps_fp32_when_int8_fails_its_gate_and_says_why(int8_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_TRIAL", "0")
    fp32 = int8_bundle.find("onnx", "fp32").accuracy
    worse = _with_manifest(int8_bundle, tmp_path / "worse", lambda m: _set_int8_accuracy(m, fp32 - 0.01))
    choice = choose(worse)
    assert choice.precision == "fp32"
    assert "not INT8: its INT8 model is too inaccurate" in choice.why
    good = choose(int8_bundle)
    assert good.precision == "int8" and "INT8 passed the accuracy gate" in good.why


def test_auto_never_picks_the_pytorch_reference(int8_bundle):
    assert {c.backend for c in select.candidates(int8_bundle)} <= {"tensorrt", "openvino", "onnxruntime", "opencv"}


def test_explicit_unavailable_backend_lists_what_is_available(default_bundle):
    trt = runtimes.get_backend("tensorrt")
    if trt.available:
        pytest.skip("TensorRT is available here")
    with pytest.raises(BackendError) as err:
        choose(default_bundle, backend="tensorrt")
    msg = str(err.value)
    assert msg.startswith("the tensorrt backend is not available here: ")
    assert "; available: " in msg and "onnxruntime (cpu: int8/fp32)" in msg and "opencv (cpu: int8/fp32)" in msg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(backend="caffe"), "unknown backend 'caffe'"),
        (dict(precision="fp64"), "unknown precision 'fp64'; precisions are: auto, fp32, fp16, int8"),
        (dict(device="npu"), "no device 'npu' for auto/npu/auto: the available backends have cpu here"),
        (dict(backend="onnxruntime", device="cuda"), "the onnxruntime backend has cpu here"),
        (dict(backend="torch", precision="int8"), "torch/auto/int8 cannot run int8 here; it offers: fp32"),
        (dict(device=None), "device must be a name such as 'auto', got None"),
        (dict(backend=""), "backend must be a name such as 'auto', got ''"),
    ],
)
def test_impossible_requests_are_refused_with_what_exists(default_bundle, kwargs, message):
    with pytest.raises(BackendError, match=message):
        choose(default_bundle, **kwargs)


def test_missing_artifact_for_a_precision_names_what_the_bundle_has(default_bundle, tmp_path):
    fp32_only = _with_manifest(
        default_bundle,
        tmp_path / "fp32",
        lambda m: m.update(artifacts=[a for a in m["artifacts"] if a["precision"] != "int8"]),
    )
    with pytest.raises(BackendError, match=r"has no artifact for onnxruntime/auto/int8 \(it has: onnx-fp32"):
        choose(fp32_only, backend="onnxruntime", precision="int8")


def test_environment_variable_stands_in_for_auto(int8_bundle, monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_BACKEND", "opencv:cpu:fp32")
    choice = choose(int8_bundle)
    assert (choice.backend, choice.device, choice.precision) == ("opencv", "cpu", "fp32")
    assert "(EDGEDIGITS_BACKEND=opencv:cpu:fp32)" in choice.why
    assert choose(int8_bundle, backend="onnxruntime", precision="fp32").backend == "onnxruntime"  # explicit wins
    monkeypatch.setenv("EDGEDIGITS_BACKEND", "a:b:c:d")
    with pytest.raises(BackendError, match="is not 'name', 'name:device' or 'name:device:precision'"):
        choose(int8_bundle)
    monkeypatch.setenv("EDGEDIGITS_BACKEND", "nope")
    with pytest.raises(BackendError, match="unknown backend 'nope'"):
        choose(int8_bundle)


def test_trial_runs_once_and_is_cached_per_bundle_and_machine(int8_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("EDGEDIGITS_TRIAL", raising=False)
    first = choose(int8_bundle, precision="int8")
    files = list((tmp_path / "trials").glob("*.json"))
    assert len(files) == 1 and "trial just now" in first.why
    record = json.loads(files[0].read_text())
    assert set(record["timings"]) == {c.key for c in select.candidates(int8_bundle, precision="int8")}
    second = choose(int8_bundle, precision="int8")
    assert "trial cached" in second.why and (second.key, second.routes) == (first.key, first.routes)
    assert not list(tmp_path.glob("trials/.*"))  # no temporary files left behind
    files[0].write_text("{not json")
    assert "trial just now" in choose(int8_bundle, precision="int8").why  # a damaged cache is re-measured


def test_choice_opens_a_working_session(int8_bundle, digits, run_all, monkeypatch):
    monkeypatch.delenv("EDGEDIGITS_TRIAL", raising=False)
    choice = choose(int8_bundle)
    x, labels, _ = digits
    with choice.open(int8_bundle) as session:
        assert (run_all(session, x[:2000]).argmax(1) == labels[:2000]).mean() > 0.98
        assert session.run(x[:1]).shape == (1, 10)
