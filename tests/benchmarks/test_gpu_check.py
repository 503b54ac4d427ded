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
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


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
    assert (
        line.startswith("gpu_check: ")
        and line.endswith("run it on a machine with an NVIDIA GPU and a CUDA build of PyTorch.")
        or "PyTorch is not installed" in line
    )
    assert not list(tmp_path.iterdir())


#: What the GPU machine may lack: everything but PyTorch and numpy, and the installed (editable) package.
ONLY_TORCH_AND_NUMPY = """
import importlib.abc, sys
HIDDEN = {'cv2', 'onnxruntime', 'onnx', 'onnxscript', 'openvino', 'nncf', 'sklearn', 'hypothesis', 'cuda',
          'tensorrt', 'tensorrt_lean', 'tensorrt_rtx'}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HIDDEN:
            raise ModuleNotFoundError(name)
sys.meta_path[:] = [Hide()] + [f for f in sys.meta_path if 'editable' not in repr(f).lower()]
"""


@requires_torch
def test_every_part_that_needs_no_cuda_runs_on_the_cpu_with_only_torch_and_numpy(tmp_path, mnist_dir):
    """As on the GPU machine: nothing installed but PyTorch and numpy, edgedigits imported from the checkout."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(ONLY_TORCH_AND_NUMPY)
    out = tmp_path / "results"
    r = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--device",
            "cpu",
            "--data",
            str(mnist_dir),
            "--limit",
            "64",
            "--batch",
            "16",
            "--latency-calls",
            "5",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["digits"] == "MNIST test (10,000 digits), first 64"
    c = report["conformance"]
    assert c["labels_equal"] == 64 and c["max_abs_logit_diff"] == 0.0  # the CPU against itself
    assert report["latency_batch1"]["cuda_graph"] == "not measured: CUDA graphs need CUDA"
    f16 = report["throughput"]["fp16_conformance"]
    assert f16["digits"] == 64 and 0 < f16["max_abs_logit_diff"] < 0.1
    assert report["throughput"]["fp32_images_per_s"] > 0
    assert report["tensorrt"]["tensorrt_rtx"] == {
        "available": False,
        "version": None,
        "reason": "TensorRT-RTX is not installed (pip install 'edgedigits[tensorrt-rtx]')",
    }
    md = (out / "gpu_check.md").read_text()
    assert "| cpu vs CPU, FP32 | 64/64 labels equal" in md and "| tensorrt_rtx | not run: " in md
