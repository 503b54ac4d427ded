"""One exit-code scheme for every command (edgedigits/cli/__init__.py): 2 = the command line is wrong,
1 = the work it asked for failed, each with one sentence on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

DIGIT = Path(__file__).resolve().parent.parent / "edgedigits" / "assets" / "digits" / "mnist_0.png"


@pytest.mark.parametrize(
    "args,message",
    [
        (["nosuchcommand"], "invalid choice"),
        (["predict", "--min-confidence", "2", str(DIGIT)], "between 0 and 1"),
        (["predict", "--backend", "nosuch", str(DIGIT)], "unknown backend 'nosuch'"),
        (["camera", "--backend", "nosuch", "--source", "demo"], "unknown backend 'nosuch'"),
        (["camera", "--source", "demo", "--save", "out.gif", "--headless"], "unsupported video type"),
        (["export", "--out", "{existing}", "--formats", "onnx"], "already exists; pass --force"),
        (["bench", "--out", "{file}", "--quick"], "is a file, not a folder"),
    ],
)
def test_wrong_command_line_exits_2(cli, tmp_path, args, message):
    (tmp_path / "existing").mkdir()
    (tmp_path / "file").write_text("")
    args = [a.format(existing=tmp_path / "existing", file=tmp_path / "file") for a in args]
    r = cli(*args, cwd=tmp_path, timeout=300)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["predict", "{missing}"], "no such file"),
        (["predict", "--model", "{existing}", str(DIGIT)], "no manifest.json"),
        (["camera", "--source", "{missing}", "--headless"], "not a camera index"),
        (["data", "verify", "--data", "{existing}"], "is missing"),
    ],
)
def test_failed_work_exits_1(cli, tmp_path, args, message):
    (tmp_path / "existing").mkdir()
    args = [a.format(existing=tmp_path / "existing", missing=tmp_path / "missing.png") for a in args]
    r = cli(*args, cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
