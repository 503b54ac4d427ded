"""Without the web stack, Ray or pyarrow: `import edgedigits` and the CLI work, and each feature that
needs one says in one sentence what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HIDE = textwrap.dedent("""
    import importlib.abc, sys
    HIDDEN = set(sys.argv[1].split(','))
    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
            return None
    sys.meta_path.insert(0, Hide())
    sys.argv = ['edgedigits', *sys.argv[2:]]
    from edgedigits.cli import main
    code = main()
    assert not HIDDEN & set(m.split('.')[0] for m in sys.modules), 'a hidden module was imported'
    sys.exit(code)
""")


def _cli(hidden: str, *args, tmp_path=None):
    return subprocess.run(
        [sys.executable, "-c", HIDE, hidden, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )


def test_help_and_batch_without_web_stack_ray_or_pyarrow(tmp_path):
    hidden = "starlette,uvicorn,multipart,ray,pyarrow"
    r = _cli(hidden, "--help")
    assert r.returncode == 0 and "serve" in r.stdout and "batch" in r.stdout
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 60), 255, np.uint8))
    r = _cli(hidden, "batch", tmp_path / "a.png", "--out", tmp_path / "out", "--no-progress")
    assert r.returncode == 0, r.stderr


def test_each_missing_dependency_is_one_sentence(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    for hidden, args, install in [
        ("starlette", ["serve"], "pip install 'edgedigits[serve]'"),
        ("ray", ["serve", "--engine", "ray"], "pip install 'edgedigits[ray]'"),
        (
            "ray",
            ["batch", tmp_path / "a.png", "--out", tmp_path / "o1", "--engine", "ray"],
            "pip install 'edgedigits[ray]'",
        ),
        (
            "pyarrow",
            ["batch", tmp_path / "a.png", "--out", tmp_path / "o2", "--format", "parquet"],
            "pip install 'edgedigits[parquet]'",
        ),
    ]:
        r = _cli(hidden, *args)
        assert r.returncode == 1 and install in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
