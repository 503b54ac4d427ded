"""`edgedigits export --int8` of the shipped model, measured on the full MNIST test set (one export per session)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgedigits.bundle import load_bundle

from edgedigits._deps import has
from edgedigits.export.tensorrt import check_explicit_quantization

from _export_cli import export_cli

requires_openvino = pytest.mark.skipif(
    not has("openvino"), reason="OpenVINO is not installed (pip install 'edgedigits[openvino]')"
)
requires_torch = pytest.mark.skipif(not has("torch"), reason="PyTorch is not installed (pip install torch==2.13.0)")
PARITY_PP = 0.1  # the target: INT8 within 0.1 percentage points of FP32
MAX_SIZE_RATIO = 0.4


@pytest.fixture(scope="session")
def full_export(tmp_path_factory, mnist_dir):
    """`edgedigits export --int8` of the shipped bundle, measured on the full MNIST test set."""
    out = tmp_path_factory.mktemp("export") / "bundle"
    result = export_cli("--int8", "--data", mnist_dir, "--out", out)
    return result, out


@pytest.fixture(scope="session")
def exported(full_export):
    """The bundle written by :func:`full_export`, loaded and checksum-verified."""
    from edgedigits.bundle import load_bundle

    result, out = full_export
    assert result.returncode == 0, result.stdout + result.stderr
    return load_bundle(out, verify=True)


@pytest.fixture(scope="session")
def manifest(exported):
    return json.loads((Path(exported.path) / "manifest.json").read_text())


def _rows(stdout: str) -> dict[tuple[str, str], str]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] in ("onnx", "openvino", "tensorrt"):
            rows[parts[0], parts[1]] = line
    return rows


def test_export_succeeds_and_prints_the_table(full_export):
    result, out = full_export
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["onnx", "fp32"].endswith("ok") and rows["onnx", "int8"].endswith("ok")
    header = result.stdout.splitlines()[0].split()
    assert header[:4] == ["format", "precision", "size", "accuracy"] and header[-1] == "status"


def test_export_shows_its_own_progress_one_line_per_artifact(full_export):
    result, _ = full_export
    steps = [line.split()[:2] for line in result.stderr.splitlines() if line.startswith("[")]
    total = len(steps)
    assert total >= 4  # onnx and openvino, fp32 and int8 at least
    assert [s[0] for s in steps] == [f"[{i}/{total}]" for i in range(1, total + 1)]
    assert {"onnx-fp32", "onnx-int8"} <= {s[1] for s in steps}
    lines = result.stderr.splitlines()
    for _, target in steps:  # each step's start comes before its result
        start = next(i for i, ln in enumerate(lines) if ln.startswith("[") and ln.split()[1] == target)
        assert any(ln.startswith(f"{target}: ") for ln in lines[start + 1 :]), target


def test_tensorrt_engines_are_built_or_skipped_with_one_line_reason(full_export):
    from edgedigits.export.tensorrt import unavailable_reason, unmeasured_note

    rows = _rows(full_export[0].stdout)
    reason = unavailable_reason()
    for precision in ("fp32", "int8"):
        if reason:
            assert f"skipped: {reason}" in rows["tensorrt", precision]
        elif not has("tensorrt"):  # TensorRT-RTX builds here, without a GPU: engines written, not measured
            assert unmeasured_note() in rows["tensorrt", precision] and rows["tensorrt", precision].endswith("ok")
    assert "Traceback" not in full_export[0].stderr


def test_tensorrt_rtx_engines_are_in_the_bundle_with_their_build_facts(exported):
    from _support import tensorrt_library

    if has("tensorrt"):
        pytest.skip("full TensorRT builds the engines here")
    rtx = tensorrt_library("tensorrt_rtx")
    for precision in ("fp32", "int8"):
        artifact = exported.find("tensorrt", precision)
        assert artifact.file == f"tensorrt/model.{precision}.rtx.engine" and artifact.size > 100_000
        assert artifact.accuracy is None and artifact.build["accuracy"] == "not measured here: needs an RTX GPU"
        assert artifact.build["builder"] == "tensorrt_rtx" and artifact.build["trt_version"] == rtx.version
        assert artifact.build["targets"] and artifact.build["profile"]["min"] == [1, 1, 28, 28]


@requires_openvino
def test_openvino_artifacts_are_written(full_export, exported):
    rows = _rows(full_export[0].stdout)
    assert rows["openvino", "fp32"].endswith("ok") and rows["openvino", "int8"].endswith("ok")
    for precision in ("fp32", "int8"):
        artifact = exported.find("openvino", precision)
        assert artifact.file == f"openvino/model.{precision}.xml"
        assert [c.file for c in artifact.companions] == [f"openvino/model.{precision}.bin"]


def test_manifest_records_every_artifact(exported, manifest):
    for artifact in exported.artifacts:
        assert len(artifact.sha256) == 64 and artifact.size > 0
        if artifact.accuracy is None:  # an engine no backend here can run: the note says why
            assert artifact.build["accuracy"].startswith("not measured here"), artifact.id
        else:
            assert 0.98 < artifact.accuracy <= 1.0, artifact.id
        assert artifact.build, artifact.id
    int8 = exported.find("onnx", "int8")
    assert int8.file == "model.int8.onnx"
    assert int8.build["calibration"] == {"images": 500, "source": "mnist-train"}
    assert int8.build["onnxruntime"] and int8.build["calibration_method"] in int8.build["tried"]
    assert int8.build["checks"]["evaluation"] == {"images": 10000, "source": "mnist-test"}
    assert manifest["export"]["calibration"] == {"images": 500, "source": "mnist-train"}
    assert manifest["export"]["evaluation"] == {"images": 10000, "source": "mnist-test"}
    assert manifest["training"] and manifest["model"]["name"] == load_bundle().model_name


def test_fp32_onnx_is_the_shipped_file_unchanged(exported, default_bundle):
    assert exported.find("onnx", "fp32").sha256 == default_bundle.find("onnx", "fp32").sha256


def _check_int8(exported, fmt, record_property):
    fp32, int8 = exported.find(fmt, "fp32"), exported.find(fmt, "int8")
    drop_pp = (fp32.accuracy - int8.accuracy) * 100
    ratio = int8.total_size / fp32.total_size
    record_property(f"{fmt}_fp32_accuracy", fp32.accuracy)
    record_property(f"{fmt}_int8_accuracy", int8.accuracy)
    record_property(f"{fmt}_int8_size_ratio", round(ratio, 3))
    print(
        f"{fmt}: FP32 {fp32.accuracy:.4%} ({fp32.total_size:,} B), INT8 {int8.accuracy:.4%} "
        f"({int8.total_size:,} B, {ratio:.0%}), drop {drop_pp:+.2f} pp"
    )
    assert drop_pp <= PARITY_PP + 1e-9
    assert ratio <= MAX_SIZE_RATIO


def test_onnx_int8_is_within_parity_and_small(exported, record_property):
    _check_int8(exported, "onnx", record_property)


@requires_openvino
@pytest.mark.skipif(
    not has("nncf"),
    reason="nncf is not installed: the Q/DQ-only OpenVINO INT8 IR is larger than 40% of FP32 (pip install nncf)",
)
def test_openvino_int8_is_within_parity_and_small(exported, record_property):
    _check_int8(exported, "openvino", record_property)


@requires_openvino
def test_openvino_int8_method_is_recorded(exported):
    build = exported.find("openvino", "int8").build
    assert build["method"] in ("qdq-onnx", "nncf")
    assert "accuracy" in build["candidates"]["qdq-onnx"]
    assert build["method"] in build["candidates"] and "accuracy" in build["candidates"][build["method"]]


def test_int8_onnx_meets_tensorrt_rules(exported):
    assert check_explicit_quantization(exported.artifact_path("onnx-int8")) == []


def test_shipped_int8_is_what_the_export_command_writes(exported, default_bundle):
    """The shipped model.int8.onnx is reproducible: the same command writes the same bytes."""
    import onnxruntime

    shipped = default_bundle.find("onnx", "int8")
    assert shipped is not None and shipped.file == "model.int8.onnx"
    assert check_explicit_quantization(default_bundle.artifact_path(shipped)) == []
    if shipped.build["onnxruntime"] != onnxruntime.__version__:
        pytest.skip(
            f"the shipped INT8 model was quantized with onnxruntime {shipped.build['onnxruntime']}, "
            f"this is {onnxruntime.__version__}; byte equality holds only for the same quantizer"
        )
    assert exported.find("onnx", "int8").sha256 == shipped.sha256


def _logits(path, fmt, precision, images):
    from edgedigits.runtimes import open_file

    with open_file(path, fmt, precision) as session:
        return np.concatenate([session.run(images[i : i + 1000]) for i in range(0, len(images), 1000)])


@requires_torch
@pytest.mark.parametrize("fmt", ["onnx", pytest.param("openvino", marks=requires_openvino)])
def test_fp32_agrees_with_pytorch_on_every_test_digit(exported, mnist_test, fmt, record_property):
    """ONNX Runtime and OpenVINO FP32 give PyTorch's label for each of the 10,000 MNIST test digits."""
    from edgedigits.export.datasets import to_input

    images = to_input(mnist_test[0])
    torch_logits = _logits(exported.artifact_path("torch-fp32"), "torch", "fp32", images)
    artifact = exported.find(fmt, "fp32")
    logits = _logits(exported.artifact_path(artifact), fmt, "fp32", images)
    diff = float(np.abs(logits - torch_logits).max())
    record_property(f"{fmt}_fp32_max_abs_logit_diff_vs_pytorch", diff)
    print(f"{fmt} FP32 vs PyTorch on {len(images):,} MNIST test digits: max abs logit difference {diff:.2e}")
    assert np.array_equal(logits.argmax(1), torch_logits.argmax(1))
    assert diff < 1e-3
    assert artifact.build["checks"]["vs_pytorch"]["label_mismatches"] == 0
