"""The layer contract of pyproject.toml (import-linter): DESIGN.md's layers, and no import cycles.

``export/`` and ``runtimes/`` live beside ``edgedigits/`` in the repository but install inside it,
which import-linter (walking one folder) cannot see; so the check runs on a copy of the Python
files laid out as installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[test]')")


def _installed_layout(dest: Path) -> Path:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "assets")
    shutil.copytree(ROOT / "edgedigits", dest / "edgedigits", ignore=skip)
    for folder in ("export", "runtimes"):
        shutil.copytree(ROOT / folder, dest / "edgedigits" / folder, ignore=skip)
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_package_keeps_its_layers_and_has_no_import_cycles(tmp_path):
    result = _lint(_installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_runtime_module_importing_the_exporter_breaks_the_contract(tmp_path):
    """The check can fail: a function-level import of export/ from runtimes/ is caught as a broken
    layer and as a cycle (export imports runtimes)."""
    tree = _installed_layout(tmp_path)
    base = tree / "edgedigits" / "runtimes" / "base.py"
    base.write_text(base.read_text() + "\n\ndef _bad():\n    from ..export import pipeline\n    return pipeline\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "edgedigits.runtimes is not allowed to import edgedigits.export" in result.stdout
    assert "edgedigits.runtimes.base -> edgedigits.export.pipeline" in result.stdout
