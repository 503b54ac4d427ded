"""Fixtures of the runtime tests: real digits, and a bundle with INT8 artifacts.

``int8_bundle`` is the shipped bundle plus what ``edgedigits export --int8`` adds (ONNX Q/DQ
INT8 and, when OpenVINO is installed, OpenVINO IR FP32/INT8), built here in a temporary folder
by the exporter's own INT8 recipe (:func:`edgedigits.export.quantize.quantize_int8`, calibrated on
the shipped calibration sample) rather than by a whole export run.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgedigits._deps import has

from _support import tensorrt_library


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep backend trials and engines of the tests out of the user's cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEDIGITS_CACHE_DIR", str(tmp_path_factory.mktemp("edgedigits-cache")))
        mp.delenv("EDGEDIGITS_BACKEND", raising=False)
        yield


@pytest.fixture(scope="session")
def digits(request):
    """(float32 N x 1 x 28 x 28, labels, description): all of MNIST test when present, else the shipped 1,000."""
    try:
        images, labels = request.getfixturevalue("mnist_test")
        source = f"MNIST test ({len(images):,} images)"
    except pytest.skip.Exception:
        from edgedigits.samples import load_sample

        images, labels = load_sample("heldout")
        source = f"shipped held-out MNIST test sample ({len(images):,} images)"
    x = np.ascontiguousarray(images[:, None], dtype=np.float32) / np.float32(255)
    return x, labels.astype(np.int64), source


def _run_all(session, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    return np.concatenate([session.run(x[i : i + batch]) for i in range(0, len(x), batch)])


@pytest.fixture(scope="session")
def run_all():
    """``run_all(session, x)``: logits of ``x`` through ``session`` in batches of 1,000."""
    return _run_all


@pytest.fixture(scope="session")
def int8_bundle(tmp_path_factory, default_bundle, digits):
    """The shipped bundle plus, where it lacks them, onnx-int8 and (with OpenVINO) openvino-fp32/int8."""
    from edgedigits import runtimes
    from edgedigits.bundle import Bundle, make_artifact, write_manifest
    from edgedigits.samples import load_sample

    root = tmp_path_factory.mktemp("int8-bundle")
    for a in default_bundle.artifacts:
        for f in a.files:
            (root / f.file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(default_bundle.path / f.file, root / f.file)
    added = []
    if default_bundle.find("onnx", "int8") is None:
        from edgedigits.export.datasets import ImageSet, to_input
        from edgedigits.export.quantize import quantize_int8

        calib, calib_labels = load_sample("calibration")
        quantize_int8(
            root / "model.onnx",
            root / "model.int8.onnx",
            ImageSet(to_input(calib), calib_labels.astype(np.int64), "shipped-calibration-sample"),
        )
        added.append(("onnx-int8", "onnx", "int8", "model.int8.onnx", ()))
    if has("openvino") and not default_bundle.select("openvino"):
        import openvino as ov

        (root / "openvino").mkdir()
        for precision, source in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
            ov.save_model(
                ov.convert_model(str(root / source)),
                str(root / f"openvino/model.{precision}.xml"),
                compress_to_fp16=False,
            )
            added.append(
                (
                    f"openvino-{precision}",
                    "openvino",
                    precision,
                    f"openvino/model.{precision}.xml",
                    (f"openvino/model.{precision}.bin",),
                )
            )
    if not added:
        return default_bundle
    x, labels, _ = digits
    artifacts = list(default_bundle.artifacts)
    for id_, fmt, precision, file, companions in added:
        with runtimes.open_file(root / file, fmt, precision) as s:
            acc = float((_run_all(s, x).argmax(1) == labels).mean())
        artifacts.append(
            make_artifact(
                root,
                id_,
                fmt,
                precision,
                file,
                companions,
                accuracy=acc,
                build={"method": "qdq-onnx", "made_by": "tests/runtimes fixture"},
            )
        )
    # Every accuracy measured on the same images, so the INT8 gate compares like with like.
    for i, a in enumerate(artifacts):
        if a.precision == "fp32" and a.format in ("onnx", "openvino"):
            fmt = a.format
            with runtimes.open_file(root / a.file, fmt, "fp32") as s:
                acc = float((_run_all(s, x).argmax(1) == labels).mean())
            artifacts[i] = make_artifact(
                root, a.id, a.format, a.precision, a.file, [c.file for c in a.companions], acc, a.build
            )
    manifest = {k: v for k, v in default_bundle.manifest.items() if k != "export"}
    write_manifest(root, manifest, artifacts)
    return Bundle.load(root)


@pytest.fixture(scope="session")
def reference(int8_bundle, digits):
    """(FP32 logits of ``digits``, name): PyTorch on CPU when installed, else ONNX Runtime FP32."""
    from edgedigits import runtimes

    name = "torch" if runtimes.get_backend("torch").available else "onnxruntime"
    backend = runtimes.get_backend(name)
    artifact = backend.artifact_for(int8_bundle, "fp32", "cpu")
    with backend.open_artifact(int8_bundle, artifact, "cpu") as s:
        return _run_all(s, digits[0]), name


# -- TensorRT: the real modules installed here (make test installs both; under CI a missing one fails) --
@pytest.fixture(scope="session")
def rtx():
    """The real ``tensorrt_rtx`` module, as a Library."""
    return tensorrt_library("tensorrt_rtx")


@pytest.fixture(scope="session")
def lean():
    """The real ``tensorrt_lean`` module, as a Library."""
    return tensorrt_library("tensorrt_lean")


@pytest.fixture(scope="session")
def fp16_onnx(tmp_path_factory, default_bundle):
    """The shipped FP32 model cast to FP16 by the exporter's own conversion (float32 I/O)."""
    from edgedigits.export.onnx import convert_to_fp16

    return convert_to_fp16(
        default_bundle.artifact_path("onnx-fp32"), tmp_path_factory.mktemp("fp16") / "model.fp16.onnx"
    )
