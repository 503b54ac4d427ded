"""Bad input to `edgedigits export`: one clear sentence, a non-zero exit, and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgedigits._deps import has
from edgedigits.bundle import default_bundle_path, load_bundle, make_artifact, write_manifest

from _export_cli import error_line, export_cli

requires_torch = pytest.mark.skipif(not has("torch"), reason="PyTorch is not installed (pip install torch==2.13.0)")


def _refused(tmp_path: Path, *args, out: Path | None = None, code: int | None = None) -> str:
    """Run export with ``args``; check it failed cleanly and left nothing behind; return the error line."""
    out = out or tmp_path / "out"
    before = sorted(p.name for p in out.parent.iterdir()) if out.parent.is_dir() else []
    result = export_cli(*args, "--out", out)
    assert result.returncode != 0
    if code is not None:
        assert result.returncode == code
    line = error_line(result)
    after = sorted(p.name for p in out.parent.iterdir()) if out.parent.is_dir() else []
    assert after == before, f"the failed export left {set(after) - set(before)} behind"
    return line


def _copy_default(tmp_path: Path) -> Path:
    return Path(shutil.copytree(default_bundle_path(), tmp_path / "bundle"))


def test_missing_model(tmp_path):
    line = _refused(tmp_path, "--model", tmp_path / "nowhere", out=tmp_path / "new" / "deep" / "out")
    assert "does not exist" in line and "checkpoint" in line
    assert not (tmp_path / "new").exists()


def test_bundle_file_that_does_not_match_its_checksum(tmp_path):
    bundle = _copy_default(tmp_path)
    model = bundle / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    line = _refused(tmp_path, "--model", bundle)
    assert "does not match its SHA-256" in line and "model.onnx" in line


def test_corrupted_model_file_with_a_consistent_manifest(tmp_path):
    bundle = _copy_default(tmp_path)
    (bundle / "model.onnx").write_bytes(b"this is not an ONNX model\n" * 20)
    loaded = load_bundle(bundle, verify=False)
    write_manifest(
        bundle,
        loaded.manifest,
        [
            make_artifact(bundle, a.id, a.format, a.precision, a.file, accuracy=a.accuracy, build=a.build)
            for a in loaded.artifacts
        ],
    )
    line = _refused(tmp_path, "--model", bundle, "--formats", "onnx")
    assert "model.onnx" in line and "not a valid ONNX model" in line


def test_folder_that_is_not_a_bundle(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no manifest.json" in _refused(tmp_path, "--model", tmp_path / "empty")


@requires_torch
def test_corrupted_checkpoint(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"\x00not a checkpoint" * 64)
    line = _refused(tmp_path, "--model", ckpt)
    assert "checkpoint.pt" in line and "corrupted" in line


@requires_torch
def test_checkpoint_whose_weights_belong_to_another_architecture(tmp_path):
    import torch

    from edgedigits.models import create_model

    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"config": {"model": "digitnet_s"}, "model": create_model("digitnet_xs").state_dict(), "epoch": 1}, ckpt)
    line = _refused(tmp_path, "--model", ckpt)
    assert "do not fit the digitnet_s architecture" in line and "size mismatch" in line


@requires_torch
def test_checkpoint_of_an_unknown_architecture(tmp_path):
    import torch

    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"config": {"model": "resnet50"}, "model": {}, "epoch": 1}, ckpt)
    line = _refused(tmp_path, "--model", ckpt)
    assert "'resnet50'" in line and "digitnet_s" in line


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    line = _refused(tmp_path, out=blocker / "bundle")
    assert "cannot write the output folder" in line and "--out" in line


def test_unknown_format(tmp_path):
    line = _refused(tmp_path, "--formats", "onnx,coreml", code=2)
    assert "'coreml'" in line and "onnx, openvino, tensorrt" in line


def test_existing_output_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = _refused(tmp_path, out=out)
    assert "already exists" in line and "--force" in line
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("size", ["10", "99"])
def test_too_little_calibration_data(tmp_path, size):
    line = _refused(tmp_path, "--int8", "--calib-size", size, code=2)
    assert "too little calibration data" in line and "at least 100" in line


def test_more_calibration_images_than_the_shipped_sample(tmp_path):
    """Without MNIST the calibration sample shipped in the package (1,000 images) is all there is."""
    result = export_cli(
        "--int8",
        "--calib-size",
        "5000",
        "--out",
        tmp_path / "out",
        env={"EDGEDIGITS_DATA": "", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    line = error_line(result)
    assert result.returncode == 2 and "at most 1000" in line and "--data" in line
    assert not (tmp_path / "out").exists()


def test_negative_max_drop(tmp_path):
    assert "--max-drop" in _refused(tmp_path, "--max-drop", "-1", code=2)


def test_force_replaces_an_existing_bundle(tmp_path, mnist_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    result = export_cli("--formats", "onnx", "--data", mnist_dir, "--out", out, "--force")
    assert result.returncode == 0, result.stderr
    assert not (out / "old.txt").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["id"] for a in manifest["artifacts"]] == ["onnx-fp32", "torch-fp32"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_int8_without_the_onnx_package_writes_nothing_and_names_the_package(tmp_path):
    """A failed INT8 step leaves no half bundle behind (so a retry is not 'already exists'), and
    the hint installs `onnx` itself, not the PyTorch-pulling `edgedigits[export]` extra."""
    blocker = tmp_path / "blocker" / "onnx"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('onnx is blocked for this test')\n")
    env = {"PYTHONPATH": str(blocker.parent), "EDGEDIGITS_DATA": ""}
    out = tmp_path / "out"
    result = export_cli("--int8", "--formats", "onnx", "--out", out, env=env)
    line = error_line(result)
    assert result.returncode == 1 and not out.exists()
    assert "onnx-int8 failed" in line and "pip install onnx" in line and "edgedigits[export]" not in line
    assert "nothing was written" in line and "--partial" in line
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]
    kept = export_cli("--int8", "--formats", "onnx", "--partial", "--out", out, env=env)
    assert kept.returncode == 1 and "partial bundle" in error_line(kept)
    bundle = load_bundle(out, verify=True)
    assert [a.id for a in bundle.artifacts] == ["onnx-fp32", "torch-fp32"] or [a.id for a in bundle.artifacts] == [
        "onnx-fp32"
    ]
    assert "onnx-int8" in bundle.manifest["export"]["partial"]
