"""The export pipeline's parts on real models and images: data sets, validation, the gate, sources."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgedigits._deps import has
from edgedigits.errors import ExportError, UsageError
from edgedigits.export import datasets
from edgedigits.export.pipeline import Context, ExportReport, Row, _baseline, _export_target, parse_formats
from edgedigits.export.quantize import quantize_int8
from edgedigits.export.source import load_model_source
from edgedigits.export.targets import FORMATS, TARGETS, Built, Target, select
from edgedigits.export.validate import OutputMismatchError, compare, validate_outputs

from _export_cli import export_cli

requires_torch = pytest.mark.skipif(not has("torch"), reason="PyTorch is not installed (pip install torch==2.13.0)")
NO_MNIST = {"EDGEDIGITS_DATA": ""}


def test_registry_is_the_one_list_of_targets():
    assert FORMATS == ("onnx", "openvino", "tensorrt")
    assert len({t.id for t in TARGETS}) == len(TARGETS)
    assert [t.id for t in select(("onnx",), int8=False, fp16=False)] == ["onnx-fp32"]
    assert [t.id for t in select(("onnx", "openvino"), int8=True, fp16=False)] == [
        "onnx-fp32",
        "onnx-int8",
        "openvino-fp32",
        "openvino-int8",
    ]


def test_parse_formats():
    assert parse_formats(None) is None
    assert parse_formats(" OpenVINO,onnx,onnx ") == ("openvino", "onnx")
    with pytest.raises(UsageError, match="choose from onnx, openvino, tensorrt"):
        parse_formats("tflite")
    with pytest.raises(UsageError, match="no format given"):
        parse_formats(",")


def test_calibration_set_is_deterministic_training_data(mnist_dir):
    a = datasets.calibration_set(500, mnist_dir)
    b = datasets.calibration_set(500, mnist_dir)
    assert a.source == "mnist-train" and len(a) == 500
    assert a.images.shape == (500, 1, 28, 28) and a.images.dtype == np.float32
    assert 0.0 <= a.images.min() and a.images.max() <= 1.0
    assert np.array_equal(a.images, b.images)
    assert len(np.unique(a.labels)) == 10


def test_evaluation_set_is_the_full_test_set(mnist_dir):
    e = datasets.evaluation_set(mnist_dir)
    assert e.source == "mnist-test" and len(e) == 10000


def test_validation_names_the_output_and_the_difference(default_bundle):
    from edgedigits.runtimes import open_file

    images, _ = _heldout()
    with open_file(default_bundle.artifact_path("onnx-fp32"), "onnx", "fp32") as s:
        reference = s.run(images)
    shifted = reference.copy()
    shifted[3, 7] += 0.5
    assert validate_outputs("x", "PyTorch", reference, reference).max_abs_diff == 0
    with pytest.raises(OutputMismatchError) as info:
        validate_outputs("openvino-fp32", "PyTorch", reference, shifted)
    message = str(info.value)
    assert "openvino-fp32" in message and "'logits'" in message and "0.5" in message and "PyTorch" in message
    assert info.value.comparison.max_abs_diff == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ExportError, match="different output layout"):
        compare(reference, reference[:, :5])


def _heldout():
    from edgedigits.samples import load_sample

    images, labels = load_sample("heldout")
    return datasets.to_input(images), labels.astype(np.int64)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A real pipeline context on the shipped bundle and the shipped held-out sample."""
    images, labels = _heldout()
    work = tmp_path_factory.mktemp("work")
    ctx = Context(
        load_model_source(None, work),
        datasets.ImageSet(images, labels, "shipped-heldout-sample"),
        None,
        work,
        64,
        log=lambda *_: None,
    )
    return ctx


def test_miscalibrated_int8_is_rejected_by_the_gate(context, tmp_path):
    """A real INT8 model calibrated on over-dark images loses accuracy; the gate keeps it out."""
    from edgedigits.samples import load_sample

    images, labels = load_sample("calibration")
    dim = datasets.ImageSet(datasets.to_input(images[:200]) * 0.05, labels[:200].astype(np.int64), "dimmed")

    def build(ctx, target, root):
        quantize_int8(ctx.source.onnx_path, root / target.file, dim)
        return Built(target.file, [], {})

    reference, name, baseline = _baseline(context)
    root = tmp_path / "bundle"
    root.mkdir()
    row, artifact = _export_target(
        context, Target("onnx", "int8", "model.int8.onnx", build), root, reference, name, baseline, max_drop=0.3
    )
    assert artifact is None and row.status == "rejected"
    assert row.drop_pp > 0.3 and f"{row.drop_pp:.2f} pp > --max-drop 0.3 pp" in row.reason
    assert list(root.iterdir()) == []
    report = ExportReport(root, [row], baseline, {}, 0.0)
    assert "rejected" in report.table()
    with pytest.raises(ExportError, match=r"onnx-int8 rejected: accuracy drop .* pp > --max-drop 0.3 pp"):
        report.raise_for_problems()


def test_well_calibrated_int8_passes_the_gate(context, tmp_path):
    context.calibration = _calibration(200)
    reference, name, baseline = _baseline(context)
    context.parity = baseline - 0.001
    target = next(t for t in TARGETS if t.id == "onnx-int8")
    row, artifact = _export_target(context, target, tmp_path, reference, name, baseline, max_drop=0.3)
    assert row.status == "ok" and artifact.file == "model.int8.onnx" and row.drop_pp <= 0.3
    assert artifact.build["calibration"]["images"] == 200


def _calibration(n):
    from edgedigits.samples import load_sample

    images, labels = load_sample("calibration")
    return datasets.ImageSet(datasets.to_input(images[:n]), labels[:n].astype(np.int64), "shipped-calibration-sample")


def test_report_without_problems_does_not_raise(tmp_path):
    ExportReport(
        tmp_path,
        [Row("onnx-fp32", "onnx", "fp32", "ok"), Row("tensorrt-int8", "tensorrt", "int8", "skipped", "no GPU")],
        0.99,
        {},
        1.0,
    ).raise_for_problems()


def test_export_without_mnist_uses_the_shipped_samples(tmp_path):
    """A fresh install has no MNIST: calibration and the gate use the samples shipped in the package."""
    out = tmp_path / "out"
    result = export_cli(
        "--formats", "onnx", "--int8", "--out", out, env={**NO_MNIST, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["export"]["evaluation"] == {"images": 1000, "source": "shipped-heldout-sample"}
    assert manifest["export"]["calibration"] == {"images": 500, "source": "shipped-calibration-sample"}
    assert [a["id"] for a in manifest["artifacts"]] == ["onnx-fp32", "onnx-int8", "torch-fp32"]


@requires_torch
def test_export_from_a_training_checkpoint_is_checked_against_pytorch(tmp_path, mnist_dir, default_bundle):
    """A checkpoint is exported with torch.onnx and its ONNX compared with PyTorch on every MNIST test digit."""
    import torch

    weights = torch.load(default_bundle.artifact_path("torch-fp32"), weights_only=True)
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"config": {"model": default_bundle.model_name, "epochs": 30}, "model": weights, "epoch": 30}, ckpt)
    out = tmp_path / "out"
    result = export_cli("--model", ckpt, "--formats", "onnx", "--data", mnist_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "FP32 ONNX vs PyTorch on 10,000 images: max abs logit difference" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    onnx_fp32 = next(a for a in manifest["artifacts"] if a["id"] == "onnx-fp32")
    assert onnx_fp32["build"]["checks"]["vs_pytorch"]["label_mismatches"] == 0
    assert onnx_fp32["build"]["checks"]["vs_pytorch"]["max_abs_logit_diff"] < 1e-3
    assert onnx_fp32["accuracy"] == default_bundle.find("onnx", "fp32").accuracy
    assert manifest["training"]["checkpoint"] == "checkpoint.pt" and manifest["training"]["epoch"] == 30


def test_int8_method_is_chosen_on_validation_images_never_on_the_evaluation_set(tmp_path, monkeypatch):
    """Every INT8 candidate the chooser measures runs on the validation images; the evaluation set only gates."""
    from edgedigits.export import pipeline
    from edgedigits.export.quantize import CANDIDATES

    images, labels = _heldout()
    evaluation = datasets.ImageSet(images, labels, "shipped-heldout-sample")
    validation = _calibration(300)
    ctx = Context(
        load_model_source(None, tmp_path),
        evaluation,
        _calibration(200),
        tmp_path,
        64,
        log=lambda *_: None,
        validation=validation,
    )
    seen, real_open = [], pipeline.open_file

    def spying_open(path, format, precision, *args, **kwargs):
        session = real_open(path, format, precision, *args, **kwargs)
        run = session.run
        session.run = lambda x: (seen.append((precision, x)), run(x))[1]
        return session

    monkeypatch.setattr(pipeline, "open_file", spying_open)
    ctx.parity = 1.01  # unreachable, so every calibration method is tried and compared
    _, facts = ctx.int8_onnx()
    assert list(facts["tried"]) == list(CANDIDATES)
    int8_runs = [x for precision, x in seen if precision == "int8"]
    assert int8_runs  # candidates whose files are identical share one (cached) run
    for x in int8_runs:
        assert np.array_equal(x, validation.images)
        assert not any(np.array_equal(x, evaluation.images[i : i + len(x)]) for i in range(0, len(evaluation), 1000))


def test_validation_set_is_the_split_training_holds_out(mnist_dir):
    from edgedigits.train import split_indices, validation_split

    val = datasets.validation_set(2000, mnist_dir)
    images, labels = validation_split(2000, mnist_dir)
    assert len(val) == 2000 and val.source == "mnist-train-validation-split-2000"
    assert np.array_equal(val.images, datasets.to_input(images)) and np.array_equal(val.labels, labels)
    train_idx, val_idx = split_indices(60000, 2000)
    assert not set(train_idx) & set(val_idx) and len(train_idx) + len(val_idx) == 60000
