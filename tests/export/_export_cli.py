"""Running the real `edgedigits export` in a subprocess, for the export tests."""

from __future__ import annotations

import os
import subprocess
import sys


def export_cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run the real `edgedigits export ...` in a subprocess (text output)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "edgedigits", "export", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one error sentence the CLI printed (fails the test if there is not exactly one)."""
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("edgedigits export: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]
