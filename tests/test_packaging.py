"""The built wheel: quiet build, assets and the mapped export/runtimes packages inside, and a normal
(non-editable) install that still works when run from the checkout root, whose own edgedigits/
folder then shadows the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return next(out.glob("edgedigits-*.whl")), r.stdout + r.stderr


def test_build_is_quiet_about_packages(wheel):
    _, log = wheel
    assert "absent from the `packages` configuration" not in log


def test_wheel_holds_assets_and_mapped_packages(wheel):
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    for asset in (
        "default/manifest.json",
        "default/model.onnx",
        "default/model.int8.onnx",
        "digits/photo_7.png",
        "samples/heldout.npz",
        "samples/calibration.npz",
    ):
        assert f"edgedigits/assets/{asset}" in names
    for module in ("export/__init__.py", "export/pipeline.py", "runtimes/__init__.py", "runtimes/onnxrt.py"):
        assert f"edgedigits/{module}" in names
    assert not any(n.startswith(("export/", "runtimes/", "tests/", "benchmarks/")) for n in names)


def _deps_path() -> list[str]:
    """Folders holding the base dependencies in this environment (without the editable install)."""
    import cv2
    import numpy
    import onnxruntime

    return sorted({str(Path(m.__file__).resolve().parent.parent) for m in (numpy, cv2, onnxruntime)})


def _run_installed(target: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Python without site (so no editable install) seeing the installed wheel and the dependencies;
    like any `python -c`, it puts ``cwd`` first on sys.path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), *_deps_path()]))
    return subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


SNIPPET = (
    "import edgedigits, edgedigits.export, edgedigits.runtimes\n"
    "from edgedigits import Recognizer\n"
    "from edgedigits.samples import load_sample\n"
    "images, labels = load_sample('heldout')\n"
    "r = Recognizer(backend='onnxruntime').classify(images[:100])\n"
    "print(edgedigits.__file__, edgedigits.export.__file__, (r.labels == labels[:100]).mean())\n"
)


@pytest.mark.slow
def test_installed_wheel_runs_from_anywhere_including_the_checkout_root(wheel, tmp_path):
    target = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel[0])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    elsewhere = _run_installed(target, SNIPPET, tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stderr
    package, export, accuracy = elsewhere.stdout.split()
    assert Path(package).is_relative_to(target) and Path(export).is_relative_to(target)
    assert float(accuracy) > 0.95
    shadowed = _run_installed(target, SNIPPET, REPO)
    assert shadowed.returncode == 0, shadowed.stderr
    package, export, accuracy = shadowed.stdout.split()
    assert Path(package).is_relative_to(REPO / "edgedigits") and Path(export) == REPO / "export" / "__init__.py"
    assert float(accuracy) > 0.95
