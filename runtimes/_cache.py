"""Helpers for what edgedigits caches about a machine (engines built, backend trials).

The folder itself is :func:`edgedigits._io.cache_dir` (imported here for the backends).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from .._io import cache_dir

__all__ = ["cache_dir", "cpu_name", "digest", "read_json"]


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else what platform reports)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def digest(obj) -> str:
    """A short stable hash of a JSON-able object (cache keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def read_json(path: Path) -> dict | None:
    """The JSON object at ``path``, or None when it is missing or unreadable (caches are optional)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
