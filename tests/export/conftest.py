"""Fixtures for the export tests: one real `edgedigits export --int8` shared by the whole session."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def export_cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run the real `edgedigits export ...` in a subprocess (text output)."""
    import os
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "edgedigits", "export", *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one error sentence the CLI printed (fails the test if there is not exactly one)."""
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("edgedigits export: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


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
