"""`import edgedigits` must work on a device without PyTorch (or OpenVINO, or TensorRT)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HIDE = textwrap.dedent("""
    import importlib.abc, sys
    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in {'torch', 'openvino', 'tensorrt', 'nncf', 'onnxscript'}:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
            return None
    sys.meta_path.insert(0, Hide())
""")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HIDE + textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def test_import_and_classify_without_torch():
    r = _run("""
        import sys
        import edgedigits, edgedigits.runtimes, edgedigits.export, edgedigits.preprocess
        from edgedigits.recognizer import Recognizer
        from edgedigits.samples import load_sample
        images, labels = load_sample('heldout')
        result = Recognizer().classify(images[:200])
        print((result.labels == labels[:200]).mean())
        assert 'torch' not in sys.modules and 'openvino' not in sys.modules
    """)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.strip()) > 0.97


def test_train_without_torch_says_how_to_install(tmp_path):
    r = _run(f"""
        import sys
        from edgedigits.cli import main
        sys.exit(main(['train', '--out', {str(tmp_path)!r}]))
    """)
    assert r.returncode == 1
    assert "needs the 'torch' package, which is not installed; install it with: pip install torch==2.13.0" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_version_comes_from_the_package_metadata():
    from importlib import metadata

    import edgedigits

    assert edgedigits.__version__ == metadata.version("edgedigits")
