"""The shipped bundle and the manifest's promises: checksums, confinement, schema, accuracy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgedigits.bundle import MANIFEST, default_bundle_path, load_bundle
from edgedigits.errors import BundleError


def test_shipped_bundle_verifies_and_is_small(default_bundle):
    default_bundle.verify()  # every file's size and SHA-256 against the manifest
    total = sum(a.total_size for a in default_bundle.artifacts)
    assert total < 1_000_000
    m = default_bundle.manifest
    assert m["model"]["params"] <= 100_000 and m["model"]["macs"] <= 5_000_000
    assert m["input"]["shape"] == ["batch", 1, 28, 28] and m["labels"] == [str(i) for i in range(10)]
    assert set(m["training"]["mnist_sha256"]) == {
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    }
    assert default_bundle.find("onnx", "fp32") is not None


def test_shipped_model_accuracy_matches_manifest(default_bundle, mnist_test):
    """Recompute the shipped FP32 ONNX model's accuracy on the real 10k MNIST test set."""
    import onnxruntime as ort

    images, labels = mnist_test
    sess = ort.InferenceSession(str(default_bundle.artifact_path("onnx-fp32")), providers=["CPUExecutionProvider"])
    x = images.astype(np.float32)[:, None] / 255
    preds = np.concatenate([sess.run(None, {"input": x[i : i + 2000]})[0].argmax(1) for i in range(0, 10000, 2000)])
    accuracy = float((preds == labels).mean())
    assert accuracy >= 0.996, f"shipped model reaches only {accuracy:.2%} on MNIST test"
    assert accuracy == pytest.approx(default_bundle.test_accuracy, abs=1e-4)
    int8 = ort.InferenceSession(str(default_bundle.artifact_path("onnx-int8")), providers=["CPUExecutionProvider"])
    preds = np.concatenate([int8.run(None, {"input": x[i : i + 2000]})[0].argmax(1) for i in range(0, 10000, 2000)])
    assert float((preds == labels).mean()) == pytest.approx(default_bundle.find("onnx", "int8").accuracy, abs=1e-4)


def test_shipped_bundles_load_by_name_and_a_folder_of_that_name_wins(tmp_path, monkeypatch):
    assert load_bundle("default").path == load_bundle().path
    assert load_bundle().manifest["training"]["base_model"]["metrics"]["mnist_test_accuracy"] >= 0.996
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()  # a folder of that name here is a path, not the bundle
    with pytest.raises(BundleError):
        load_bundle("default")


@pytest.fixture
def bundle_copy(default_bundle, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(default_bundle.path, dst)
    return dst


def _edit_manifest(root, fn):
    m = json.loads((root / MANIFEST).read_text())
    fn(m)
    (root / MANIFEST).write_text(json.dumps(m))


def test_bit_flip_is_refused_by_checksum(bundle_copy):
    p = bundle_copy / "model.onnx"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))
    with pytest.raises(BundleError, match=r"model.onnx does not match its SHA-256 .* tampered"):
        load_bundle(bundle_copy)
    bundle = load_bundle(bundle_copy, verify=False)
    with pytest.raises(BundleError, match=r"model.onnx does not match its SHA-256 .* tampered"):
        bundle.artifact_path("onnx-fp32")


def test_truncated_artifact_is_refused(bundle_copy):
    p = bundle_copy / "model.onnx"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(BundleError, match=r"model.onnx is 1000 bytes but the manifest says"):
        load_bundle(bundle_copy, verify=True)


def test_missing_artifact_file(bundle_copy):
    (bundle_copy / "model.onnx").unlink()
    with pytest.raises(BundleError, match=r"model.onnx is listed in the bundle's manifest but missing"):
        load_bundle(bundle_copy, verify=True)


@pytest.mark.parametrize("bad", ["../outside.onnx", "/etc/passwd", "sub/../../x.onnx"])
def test_paths_must_stay_inside_the_bundle(bundle_copy, bad):
    _edit_manifest(bundle_copy, lambda m: m["artifacts"][0].update(file=bad))
    with pytest.raises(BundleError, match=r"a bundle may only refer to files inside its own folder"):
        load_bundle(bundle_copy)


def test_symlink_leaving_the_bundle_is_refused(bundle_copy, tmp_path):
    (tmp_path / "evil.onnx").write_bytes(b"x")
    (bundle_copy / "link.onnx").symlink_to(tmp_path / "evil.onnx")
    _edit_manifest(bundle_copy, lambda m: m["artifacts"][0].update(file="link.onnx"))
    with pytest.raises(BundleError, match=r"leads outside the bundle"):
        load_bundle(bundle_copy)


def test_unknown_schema_version(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(schema_version=99))
    with pytest.raises(BundleError, match=r"schema version 99, but this edgedigits reads version 1"):
        load_bundle(bundle_copy)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match=r"does not exist"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match=r"has no manifest.json, so it is not an edgedigits bundle"):
        load_bundle(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match=r"is not valid JSON"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("backend", ["", "onnxruntime:cpu:int8"])
def test_tampered_file_is_refused_with_a_warm_trial_cache(bundle_copy, tmp_path, cli, backend):
    """A cached backend trial must not let a damaged file through: after `edgedigits backends` and
    a successful predict have warmed the cache for this bundle, one flipped byte of model.onnx
    still makes `predict --model` refuse the bundle, whichever artifact the cached choice uses."""
    digit = default_bundle_path().parent / "digits" / "mnist_0.png"
    env = {"EDGEDIGITS_CACHE_DIR": str(tmp_path / "cache"), "EDGEDIGITS_BACKEND": backend, "EDGEDIGITS_TRIAL": "1"}
    warm = cli("predict", "--model", bundle_copy, digit, env=env)
    assert warm.returncode == 0, warm.stderr
    assert backend or any((tmp_path / "cache" / "trials").iterdir())
    p = bundle_copy / "model.onnx"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))
    r = cli("predict", "--model", bundle_copy, digit, env=env)
    assert r.returncode == 1 and "model.onnx does not match its SHA-256" in r.stderr
    assert "Traceback" not in r.stderr
