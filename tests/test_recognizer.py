"""The SDK entry point: Recognizer.classify / read / info, its input checks and thread safety."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedigits.errors import BackendError, BundleError, InputError
from edgedigits.samples import load_sample
from edgedigits.recognizer import Classification, Digit, Recognizer

DIGITS = Path(__file__).resolve().parents[1] / "edgedigits" / "assets" / "digits"


@pytest.fixture(scope="module", autouse=True)
def _quick_choice(tmp_path_factory):
    """A private cache, and the fixed priority order instead of a trial (the trial has its own tests)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEDIGITS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("EDGEDIGITS_TRIAL", "0")
        mp.delenv("EDGEDIGITS_BACKEND", raising=False)
        yield


@pytest.fixture(scope="module")
def rec():
    with Recognizer() as r:
        yield r


@pytest.fixture(scope="module")
def sample():
    return load_sample("heldout")


def test_classify_accepts_every_documented_layout(rec, sample):
    images, labels = sample
    batch = images[:50]
    expected = rec.classify(batch).labels
    assert (expected == labels[:50]).mean() > 0.95
    for variant in (
        batch[:, None],
        batch.astype(np.float32) / 255,
        batch[:, None].astype(np.float64) / 255,
        list(batch),
    ):
        np.testing.assert_array_equal(rec.classify(variant).labels, expected)
    single = rec.classify(batch[0])
    assert isinstance(single, Classification) and len(single) == 1 and single.labels[0] == expected[0]
    result = rec.classify(batch)
    assert result.probabilities.shape == (50, 10) and result.probabilities.dtype == np.float32
    np.testing.assert_allclose(result.probabilities.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(result.confidences, result.probabilities.max(1), rtol=1e-5)
    for n in (1, 5, 50):  # the small-batch and the numpy paths agree with the full softmax
        r = rec.classify(batch[:n])
        np.testing.assert_allclose(r.confidences, rec.classify(batch[:n]).probabilities.max(1), rtol=1e-5)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((28, 27), np.uint8), "got images of 28x27 pixels"),
        (np.zeros((2, 3, 28, 28), np.uint8), r"got shape \(2, 3, 28, 28\)"),
        (np.zeros((2, 28, 28, 3), np.uint8), r"got shape \(2, 28, 28, 3\)"),
        (np.zeros((0, 28, 28), np.uint8), "got an empty batch"),
        (np.zeros((28, 28), np.complex64), "got dtype complex64"),
        (np.zeros((28, 28), "U1"), "got dtype <U1"),
        (np.full((28, 28), np.nan, np.float32), "NaN or infinite"),
        ("digit.png", "expected a numpy array, got str"),
        ([np.zeros((28, 28)), np.zeros((27, 28))], "different shapes"),
    ],
)
def test_bad_input_is_a_value_error_saying_what_was_expected(rec, bad, message):
    with pytest.raises(ValueError, match=message) as err:
        rec.classify(bad)
    assert isinstance(err.value, InputError)
    assert "28x28" in str(err.value) or "finite" in str(err.value)


def test_info_says_what_runs_and_why(rec):
    info = rec.info
    assert info.backend in {"openvino", "onnxruntime", "opencv", "tensorrt"}
    assert info.device and info.precision in {"fp32", "int8", "fp16"} and info.artifact
    assert info["why"] == info.why and info.why
    assert Path(info.file).is_file() and info.to_dict()["backend"] == info.backend
    assert info.backend in str(info) and repr(rec).startswith(f"Recognizer({info.backend}/")


def test_explicit_backends_are_honoured_or_refused(default_bundle):
    with Recognizer(default_bundle, backend="opencv", precision="fp32") as r:
        assert (r.info.backend, r.info.precision) == ("opencv", "fp32")
        assert r.info.why.startswith("requested backend=opencv, precision=fp32")
    with pytest.raises(BackendError, match="unknown backend 'gpu'"):
        Recognizer(backend="gpu")


def test_environment_variable_picks_the_backend(monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_BACKEND", "opencv")
    with Recognizer() as r:
        assert r.info.backend == "opencv" and "EDGEDIGITS_BACKEND=opencv" in r.info.why


def test_a_corrupted_bundle_is_refused(default_bundle, tmp_path):
    shutil.copytree(default_bundle.path, tmp_path / "bundle")
    model = tmp_path / "bundle" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its SHA-256 in the manifest"):
        Recognizer(tmp_path / "bundle", backend="onnxruntime", precision="fp32")
    with pytest.raises(BundleError, match="does not exist"):
        Recognizer(tmp_path / "nowhere")


def test_read_finds_each_digit_on_a_page(rec):
    photos = [cv2.imread(str(DIGITS / f"photo_{n}.png")) for n in (1, 3, 5, 7, 9)]
    page = np.concatenate(photos, axis=1)
    found = sorted(rec.read(page), key=lambda d: d.box[0])
    assert [d.label for d in found] == [1, 3, 5, 7, 9]
    assert all(isinstance(d, Digit) and 0.5 < d.confidence <= 1 for d in found)
    for i, d in enumerate(found):  # each box lies inside the photo it came from
        x, y, w, h = d.box
        assert i * 180 <= x and x + w <= (i + 1) * 180 and 0 <= y and y + h <= page.shape[0]
    gray = sorted(rec.read(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)), key=lambda d: d.box[0])
    assert [d.label for d in gray] == [1, 3, 5, 7, 9]
    blank = rec.read(np.full((120, 160), 255, np.uint8))
    assert list(blank) == [] and blank.numbers == () and blank.size == (160, 120)


def test_read_refuses_what_is_not_an_image(rec):
    assert list(rec.read(np.zeros((50, 50), np.uint8))) == []
    with pytest.raises(InputError, match="the image is empty"):
        rec.read(np.zeros((0, 0), np.uint8))


def test_one_recognizer_can_be_shared_by_threads(rec, sample):
    images, _ = sample
    expected = rec.classify(images).labels
    results, errors = {}, []

    def work(i):
        try:
            for _ in range(5):
                chunk = images[i * 100 : (i + 1) * 100]
                results[i] = rec.classify(chunk).labels
                rec.classify(chunk[:1])
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_array_equal(np.concatenate([results[i] for i in range(8)]), expected[:800])


def test_a_closed_recognizer_refuses_work(sample):
    r = Recognizer(backend="onnxruntime")
    r.close()
    with pytest.raises(BackendError, match="was closed"):
        r.classify(sample[0][:1])


def test_auto_does_not_import_pytorch_on_a_device(tmp_path):
    code = (
        "import sys; from edgedigits.recognizer import Recognizer; r = Recognizer(); "
        "print(r.info.backend, 'torch' in sys.modules)"
    )
    env = {**os.environ, "EDGEDIGITS_CACHE_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    backend, imported = r.stdout.split()
    assert backend != "torch" and imported == "False"


def test_float_pixels_follow_one_rule_for_classify_and_read(rec, sample):
    """Float pixels in 0..255 are read as 0..255 by classify, as read() (to_gray) reads them:
    an image with a pixel above 1 is divided by 255, decided per image; the input is not changed."""
    from edgedigits.preprocess import to_gray

    images, labels = sample
    batch = images
    expected = rec.classify(batch).labels
    for dtype in (np.float64, np.float32, np.float16):
        x = batch.astype(dtype)
        np.testing.assert_array_equal(rec.classify(x).labels, expected)
        np.testing.assert_array_equal(x, batch.astype(dtype))  # the caller's array is untouched
        np.testing.assert_array_equal(to_gray(x[0]), batch[0])  # read()'s rule gives the same pixels
    mixed = batch.astype(np.float32)
    mixed[::2] /= 255  # half 0..1, half 0..255
    np.testing.assert_array_equal(rec.classify(mixed).labels, expected)
    np.testing.assert_array_equal(rec.classify(mixed[1]).labels, expected[1:2])


@pytest.mark.parametrize("n", [1, 3, 20])  # 20 images take the large-batch (isfinite) path
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_one_non_finite_pixel_anywhere_is_refused(rec, n, value):
    batch = np.zeros((n, 1, 28, 28), np.float32)
    batch[-1, 0, 27, 27] = value
    with pytest.raises(InputError, match="NaN or infinite"):
        rec.classify(batch)


def test_huge_but_finite_pixels_are_not_called_infinite(rec):
    # their float32 sum overflows; the check must then look at each value rather than refuse
    batch = np.full((2, 1, 28, 28), 3e38, np.float32)
    with np.errstate(over="ignore"):
        assert np.isinf(batch.sum())
    assert rec.classify(batch).labels.shape == (2,)
