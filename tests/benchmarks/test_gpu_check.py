"""benchmarks/gpu_check.py: what can be checked without a GPU (the GPU run itself is in its results file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _support import requires_torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA: the check would run")
def test_without_cuda_it_exits_with_one_sentence(tmp_path):
    r = _run("--out", tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("gpu_check: ") and line.endswith("run it on a machine with an NVIDIA GPU and a CUDA "
                                                             "build of PyTorch.") or "PyTorch is not installed" in line
    assert not list(tmp_path.iterdir())


@requires_torch
def test_every_part_that_needs_no_cuda_runs_on_the_cpu(tmp_path, mnist_dir):
    r = _run("--device", "cpu", "--data", mnist_dir, "--limit", 64, "--batch", 16, "--latency-calls", 5,
             "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["digits"] == "MNIST test (10,000 digits), first 64"
    c = report["conformance"]
    assert c["labels_equal"] == 64 and c["max_abs_logit_diff"] == 0.0    # the CPU against itself
    assert report["latency_batch1"]["cuda_graph"] == "not measured: CUDA graphs need CUDA"
    f16 = report["throughput"]["fp16_conformance"]
    assert f16["digits"] == 64 and 0 < f16["max_abs_logit_diff"] < 0.1
    assert report["throughput"]["fp32_images_per_s"] > 0
    for name in ("tensorrt", "tensorrt_rtx"):
        assert set(report["tensorrt"][name]) >= {"available", "reason"}
    md = (tmp_path / "gpu_check.md").read_text()
    assert "| cpu vs CPU, FP32 | 64/64 labels equal" in md and "tensorrt_rtx" in md


def test_it_imports_edgedigits_from_a_plain_checkout(tmp_path):
    """On the GPU machine nothing is installed: the script maps export/ and runtimes/ itself."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import gpu_check; e = gpu_check.import_tree(); "
            "import edgedigits.runtimes.tensorrt.build as b, edgedigits.export.onnx as o; print(b.__file__, o.__file__)")
    blocker = tmp_path / "sitecustomize.py"    # hide the installed (editable) package
    blocker.write_text("import sys\nsys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
                       "type(f).__module__.lower() and 'editable' not in repr(f).lower()]\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code, str(SCRIPT.parent)], capture_output=True, text=True,
                       env=env, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    root = SCRIPT.parents[1]
    assert r.stdout.split() == [str(root / "runtimes/tensorrt/build.py"), str(root / "export/onnx.py")]
