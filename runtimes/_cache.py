"""Where edgedigits keeps what it learns about a machine (engines built, backend trials).

``$EDGEDIGITS_CACHE_DIR`` if set; else the platform's user cache folder. Everything in it can be
deleted at any time; it is rebuilt on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The user cache folder of edgedigits (joined with ``parts``); not created here."""
    env = os.environ.get("EDGEDIGITS_CACHE_DIR")
    if env:
        base = Path(env)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "edgedigits" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "edgedigits"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgedigits"
    return base.joinpath(*parts)


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
