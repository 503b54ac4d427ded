"""The base contract: what every backend answers, what every session accepts, and the errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edgedigits import runtimes
from edgedigits.bundle import FORMATS, PRECISIONS
from edgedigits.errors import BackendError, InputError
from edgedigits.runtimes.base import RoutedSession


@pytest.fixture(scope="module")
def onnx_path(default_bundle):
    return default_bundle.artifact_path(default_bundle.find("onnx", "fp32"))


@pytest.fixture(scope="module")
def batch():
    from edgedigits.samples import load_sample

    images, labels = load_sample("heldout")
    return np.ascontiguousarray(images[:10, None], dtype=np.float32) / 255, labels[:10]


@pytest.mark.parametrize("name", runtimes.NAMES)
def test_every_backend_answers_the_contract(name):
    b = runtimes.get_backend(name)
    assert b.name == name and runtimes.get_backend(name.upper()) is b
    assert b.formats and set(b.formats) <= set(FORMATS)
    ok, reason = b.availability()
    assert isinstance(ok, bool) and isinstance(reason, str) and reason
    if ok:
        assert b.devices(), "an available backend has at least one device"
        assert b.version()
        for device in b.devices():
            assert set(b.precisions(device)) <= set(PRECISIONS)
    else:
        assert b.devices() == []
        with pytest.raises(BackendError, match=f"the {name} backend is not available here: "):
            b.require()


def test_backends_import_without_their_libraries():
    code = textwrap.dedent("""
        import importlib.abc, sys
        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {'torch', 'openvino', 'tensorrt', 'cuda'}:
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Hide())
        from edgedigits import runtimes
        for b in runtimes.backends():
            print(b.name, *b.availability(), sep='|')
        assert not {'torch', 'openvino', 'tensorrt'} & set(sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = dict((line.split("|")[0], line.split("|")[1:]) for line in r.stdout.splitlines())
    assert rows["onnxruntime"][0] == "True" and rows["opencv"][0] == "True"
    assert rows["openvino"] == ["False", "the 'openvino' package is not installed (pip install 'edgedigits[openvino]')"]
    assert rows["torch"][0] == "False" and "pip install torch==2.13.0" in rows["torch"][1]
    assert rows["tensorrt"][0] == "False" and "not installed" in rows["tensorrt"][1]


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(
        BackendError,
        match="unknown backend 'onnx'; the backends are: tensorrt, tensorrt_rtx, openvino, onnxruntime, opencv, torch",
    ):
        runtimes.get_backend("onnx")


def test_open_file_uses_the_natural_backend_of_the_format(onnx_path, batch):
    assert runtimes.natural_backend("onnx").name == "onnxruntime"
    assert runtimes.natural_backend("openvino").name == "openvino"
    assert runtimes.natural_backend("tensorrt").name == "tensorrt"
    assert runtimes.natural_backend("torch").name == "torch"
    x, labels = batch
    with runtimes.open_file(onnx_path, "onnx", "fp32") as session:
        assert session.backend == "onnxruntime" and session.device == "cpu" and session.precision == "fp32"
        logits = session.run(x)
    assert logits.dtype == np.float32 and logits.shape == (10, 10)
    assert (logits.argmax(1) == labels).mean() >= 0.9
    assert session.closed


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((1, 28, 28), np.float32), r"shape \(1, 28, 28\)"),
        (np.zeros((2, 1, 28, 28), np.float64), "dtype float64"),
        (np.zeros((2, 1, 28, 28), np.uint8), "dtype uint8"),
        (np.zeros((0, 1, 28, 28), np.float32), r"shape \(0, 1, 28, 28\)"),
        (np.zeros((2, 3, 28, 28), np.float32), r"shape \(2, 3, 28, 28\)"),
        (np.zeros((2, 1, 28, 56), np.float32)[:, :, :, ::2], "non-contiguous"),
        ([[0.0]], "given a list"),
    ],
)
def test_sessions_check_their_input_once_in_the_base(onnx_path, bad, message):
    with runtimes.open_file(onnx_path, "onnx", "fp32") as session:
        with pytest.raises(InputError, match=message) as err:
            session.run(bad)
    assert "expected a C-contiguous float32 array of shape N x 1 x 28 x 28" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_a_closed_session_refuses_to_run(onnx_path, batch):
    session = runtimes.open_file(onnx_path, "onnx", "fp32")
    session.close()
    session.close()  # closing twice is harmless
    with pytest.raises(BackendError, match="session was closed"):
        session.run(batch[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(backend="nope"), "unknown backend 'nope'"),
        (dict(backend="tensorrt"), "the tensorrt backend is not available here"),
        (dict(device="cuda"), "the onnxruntime backend has no device 'cuda' here; it has: cpu"),
        (dict(precision="fp16"), "the onnxruntime backend cannot run fp16 on cpu; it can run: int8, fp32"),
        (dict(format="openvino", backend="onnxruntime"), "the onnxruntime backend cannot load openvino files"),
        (dict(format="caffe"), "no backend loads the 'caffe' format"),
        (dict(threads=0), "threads must be at least 1"),
    ],
)
def test_open_file_refuses_what_it_cannot_do(onnx_path, kwargs, message):
    if kwargs.get("backend") == "tensorrt" and runtimes.get_backend("tensorrt").available:
        pytest.skip("TensorRT is available here")
    args = dict(format="onnx", precision="fp32")
    args.update(kwargs)
    with pytest.raises(BackendError, match=message):
        runtimes.open_file(onnx_path, args.pop("format"), args.pop("precision"), **args)


@pytest.mark.parametrize("name", [n for n in runtimes.NAMES if "onnx" in runtimes.get_backend(n).formats])
def test_a_damaged_model_file_is_one_clear_error(tmp_path, name):
    b = runtimes.get_backend(name)
    if not b.available:
        pytest.skip(f"{name} is not available here: {b.availability()[1]}")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not an ONNX model" * 10)
    if name == "tensorrt":
        pytest.skip("building an engine from a damaged file is covered on GPU machines")
    with pytest.raises(BackendError, match=str(bad)):
        runtimes.open_file(bad, "onnx", "fp32", backend=name)
    with pytest.raises(BackendError, match="does not exist"):
        runtimes.open_file(tmp_path / "missing.onnx", "onnx", "fp32", backend=name)


def test_sessions_split_batches_larger_than_their_limit(onnx_path, batch):
    x, _ = batch
    with runtimes.open_file(onnx_path, "onnx", "fp32") as session:
        whole = session.run(x)
        session.max_batch = 3
        np.testing.assert_array_equal(session.run(x), whole)


def test_routed_session_sends_each_batch_size_to_its_session(onnx_path, batch):
    x, _ = batch
    small = runtimes.open_file(onnx_path, "onnx", "fp32", backend="opencv")
    large = runtimes.open_file(onnx_path, "onnx", "fp32")
    with RoutedSession([(2, small), (None, large)]) as routed:
        assert routed.session_for(1) is small and routed.session_for(2) is small
        assert routed.session_for(3) is large and routed.session_for(1000) is large
        assert routed.backend == "opencv+onnxruntime"
        np.testing.assert_allclose(routed.run(x[:2]), large.run(x[:2]), atol=1e-4)
        with pytest.raises(InputError):
            routed.run(x[:, 0])
    assert small.closed and large.closed
