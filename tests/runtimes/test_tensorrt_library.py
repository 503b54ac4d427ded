"""What each TensorRT module offers, read from the real modules installed here, and the GPU check.

``tensorrt_rtx`` stands for the builder surface of TensorRT 11 (no ``BuilderFlag.FP16``, no
``EXPLICIT_BATCH``, strong typing only), ``tensorrt_lean`` for the runtime surface. TensorRT 10's
older surface cannot be installed here, so it is described by a small stand-in module holding
exactly the names whose presence the code branches on.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from edgedigits.errors import BackendError
from edgedigits.runtimes.tensorrt._library import Library, cuda_device


def test_rtx_builder_surface(rtx):
    assert rtx.can_build and rtx.ahead_of_time and rtx.strongly_typed and rtx.builder == "tensorrt_rtx"
    assert not hasattr(rtx.trt.BuilderFlag, "FP16") and not hasattr(
        rtx.trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"
    )
    assert rtx.network_flags() == 1 << int(rtx.trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert rtx.precision_flags("fp16") == [] and rtx.precision_flags("int8") == []


def test_rtx_targets_come_from_the_module(rtx):
    offered = rtx.compute_capabilities()
    assert offered == sorted(offered, key=lambda cc: tuple(map(int, cc.split("."))))
    assert {"7.5", "8.6", "12.0"} <= set(offered) and "9.0" not in offered  # Hopper is not an RTX target
    assert rtx.default_targets() == [cc for cc in offered if cc != "7.5"]


def test_lean_runtime_surface(lean):
    assert not lean.can_build and not lean.ahead_of_time and lean.builder == "tensorrt"
    assert hasattr(lean.trt, "Runtime") and hasattr(lean.trt.ICudaEngine, "device_memory_size_v2")
    assert lean.device_memory(SimpleNamespace(device_memory_size_v2=4096)) == 4096


def _trt10_like():
    """The names TensorRT 10.x (before 10.12) offers where the code branches: weak typing with precision
    flags, EXPLICIT_BATCH, the old ``device_memory_size``."""
    return SimpleNamespace(
        __version__="10.8.0",
        Builder=object,
        OnnxParser=object,
        IBuilderConfig=SimpleNamespace(),
        NetworkDefinitionCreationFlag=SimpleNamespace(EXPLICIT_BATCH=0),
        BuilderFlag=SimpleNamespace(FP16="FP16", INT8="INT8"),
    )


def test_weakly_typed_tensorrt_10_uses_explicit_batch_and_precision_flags():
    lib = Library("tensorrt", _trt10_like())
    assert lib.can_build and not lib.strongly_typed and not lib.ahead_of_time
    assert lib.network_flags() == 1
    assert lib.precision_flags("fp16") == ["FP16"] and lib.precision_flags("int8") == ["INT8"]
    assert lib.precision_flags("fp32") == []
    assert lib.device_memory(SimpleNamespace(device_memory_size=512)) == 512
    assert lib.compute_capabilities() == []


def test_a_weakly_typed_builder_without_the_flag_refuses_that_precision():
    trt = _trt10_like()
    del trt.BuilderFlag.FP16
    with pytest.raises(BackendError, match="neither strongly typed networks nor BuilderFlag.FP16"):
        Library("tensorrt", trt).precision_flags("fp16")


def lib_title(backend: str) -> str:
    return "TensorRT-RTX" if backend == "tensorrt_rtx" else "TensorRT lean runtime"


def test_no_gpu_here_is_one_reason():
    try:
        name, cc = cuda_device()
    except BackendError as exc:
        assert "NVIDIA GPU" in str(exc) and "\n" not in str(exc)
    else:
        pytest.skip(f"this machine has a GPU ({name}, SM {cc})")


@pytest.mark.parametrize("backend", ["tensorrt", "tensorrt_rtx"])
def test_asking_for_tensorrt_without_a_gpu_gives_the_reason_and_does_not_crash(lean, rtx, backend, tmp_path):
    """With real TensorRT runtimes installed and no GPU, a TensorRT runtime object would kill the
    process when loading an engine (segmentation fault); the backend must say why it is unavailable."""
    try:
        cuda_device()
        pytest.skip("this machine has a GPU")
    except BackendError:
        pass
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from edgedigits import runtimes
        from edgedigits.bundle import load_bundle
        from edgedigits.errors import BackendError
        from edgedigits.runtimes.select import choose
        b = runtimes.get_backend({backend!r})
        print(*b.availability(), sep="|")
        try:
            choose(load_bundle(), backend={backend!r})
        except BackendError as exc:
            print(exc)
        # the session itself checks for the GPU before it makes a TensorRT runtime object
        from edgedigits.runtimes.tensorrt._library import LEAN, RTX, load_library
        from edgedigits.runtimes.tensorrt.backend import TensorRtSession
        lib = load_library(RTX if {backend!r} == "tensorrt_rtx" else LEAN)[0]
        try:
            TensorRtSession(lib, Path(sys.argv[1]), "cuda", "fp32")
        except BackendError as exc:
            print(exc)
            sys.exit(3)
    """)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"a plan would crash a runtime made without a GPU" * 100)
    r = subprocess.run([sys.executable, "-c", code, str(engine)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)  # not -11 (SIGSEGV) nor 139
    ok, reason = r.stdout.splitlines()[0].split("|")
    assert ok == "False" and reason.startswith("no NVIDIA GPU is visible to CUDA")
    lines = r.stdout.splitlines()
    assert lines[1].startswith(f"the {backend} backend is not available here: {reason};")
    assert lines[2] == f"the {lib_title(backend)} engine {engine} was not loaded: {reason}."


def test_a_folder_named_tensorrt_on_the_path_is_not_taken_for_tensorrt(tmp_path, monkeypatch):
    """An empty folder called ``tensorrt`` imports as a namespace package; it must not pass for TensorRT."""
    from edgedigits.runtimes.tensorrt._library import load_library

    (tmp_path / "tensorrt").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    lib, why = load_library("tensorrt")
    assert lib is None and why.startswith("'tensorrt' imports ") and why.endswith("which is not TensorRT")
