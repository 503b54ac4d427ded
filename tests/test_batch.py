"""`edgedigits batch`: folders, lists and archives into parts; per-file errors; resume; both formats."""

from __future__ import annotations

import json
import tarfile
import zipfile

import cv2
import numpy as np
import pytest

from edgedigits import batch
from edgedigits.batch import Item, Output, discover, run_batch


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder (with a sub-folder and two broken files), a zip, a tar and a file list of rendered sheets."""
    from edgedigits.camera.render import render_scene
    from edgedigits.samples import load_sample

    images, labels = load_sample("heldout")
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("batch-in")
    (root / "scans" / "sub").mkdir(parents=True)
    sheets = {}
    for i in range(6):
        scene = render_scene(rng, images, labels, n_digits=3, n_marks=0)
        path = root / "scans" / ("sub" if i % 2 else "") / f"sheet{i}.png"
        cv2.imwrite(str(path), scene.image)
        sheets[str(path)] = sorted(d.label for d in scene.digits)
    (root / "scans" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "scans" / "empty.png").write_bytes(b"")
    (root / "scans" / "notes.md").write_text("not an image, not in a folder scan")
    with zipfile.ZipFile(root / "more.zip", "w") as z:
        z.write(root / "scans" / "sheet0.png", "a/zipped.png")
        z.writestr("a/readme.txt", "skipped: not an image name")
    with tarfile.open(root / "more.tar", "w") as t:
        t.add(root / "scans" / "sheet2.png", "tarred.png")
    (root / "list.txt").write_text("scans/sheet0.png\n# a comment\n\nmissing.png\n")
    return root, sheets


def _rows(folder) -> list[dict]:
    return [json.loads(line) for p in sorted(folder.glob("part-*.jsonl")) for line in p.read_text().splitlines()]


def test_discover_all_kinds(inputs):
    root, _ = inputs
    keys = [
        i.key
        for i in discover([str(root / "scans"), str(root / "more.zip"), str(root / "more.tar"), str(root / "list.txt")])
    ]
    assert f"{root}/more.zip::a/zipped.png" in keys and f"{root}/more.tar::tarred.png" in keys
    assert f"{root}/missing.png" in keys  # listed: its error is recorded in the output
    assert not any(k.endswith((".md", "readme.txt")) for k in keys)
    assert len(keys) == len(set(keys)) == 6 + 2 + 2 + 1  # sheet0 listed twice counts once


def test_rows_errors_and_the_one_reader(inputs, tmp_path):
    from edgedigits.recognizer import Recognizer
    from edgedigits.serve.core import read_json

    root, sheets = inputs
    summary = run_batch(
        [str(root / "scans"), str(root / "more.zip"), str(root / "list.txt")],
        tmp_path / "out",
        workers=1,
        progress=False,
    )
    rows = {r["file"]: r for r in _rows(tmp_path / "out")}
    assert summary.found == len(rows) == 10 and summary.errors == 3 and summary.read == 7
    assert "truncated or corrupt" in rows[str(root / "scans" / "broken.jpg")]["error"]
    assert "empty" in rows[str(root / "scans" / "empty.png")]["error"]
    assert "cannot be read" in rows[str(root / "missing.png")]["error"]
    with Recognizer() as rec:
        for path, truth in sheets.items():
            row = rows[path]
            assert row["error"] is None and (row["width"], row["height"]) == (640, 480)
            expected = read_json(rec, cv2.imread(path))
            assert [n["value"] for n in row["numbers"]] == [n["value"] for n in expected["numbers"]]
            assert [d["label"] for d in row["digits"]] == [d["label"] for d in expected["digits"]]
    zipped = rows[f"{root}/more.zip::a/zipped.png"]
    assert zipped["numbers"] == rows[str(root / "scans" / "sheet0.png")]["numbers"]


def test_processes_give_the_same_rows(inputs, tmp_path):
    root, _ = inputs
    run_batch([str(root / "scans")], tmp_path / "one", workers=1, progress=False)
    run_batch([str(root / "scans")], tmp_path / "two", workers=2, progress=False)
    key = lambda r: r["file"]  # noqa: E731
    assert sorted(_rows(tmp_path / "one"), key=key) == sorted(_rows(tmp_path / "two"), key=key)


def test_resume_after_an_interruption(inputs, tmp_path, monkeypatch):
    root, _ = inputs
    out = tmp_path / "out"
    real = batch.read_item
    seen = []

    def interrupted(recognizer, item, load):
        if len(seen) == 5:
            raise KeyboardInterrupt
        seen.append(item.key)
        return real(recognizer, item, load)

    monkeypatch.setattr(batch, "read_item", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch([str(root / "scans")], out, workers=1, progress=False, part_rows=2)
    first = _rows(out)
    assert len(first) == 4  # five files were read: two complete parts of two were written
    assert not [p for p in out.iterdir() if not p.name.startswith("part-")]  # no temporary file left
    monkeypatch.setattr(batch, "read_item", real)
    summary = run_batch([str(root / "scans")], out, workers=1, progress=False, part_rows=2)
    assert summary.skipped == len(first) and summary.read + summary.errors == 8 - len(first)
    keys = [r["file"] for r in _rows(out)]
    assert len(keys) == len(set(keys)) == 8
    again = run_batch([str(root / "scans")], out, workers=1, progress=False)
    assert again.skipped == 8 and again.read == again.errors == 0


def test_parquet_holds_the_same_rows(inputs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (pip install 'edgedigits[parquet]')")
    root, _ = inputs
    run_batch([str(root / "scans")], tmp_path / "j", workers=1, progress=False)
    run_batch([str(root / "scans")], tmp_path / "p", fmt="parquet", workers=1, progress=False)
    table = pq.read_table(sorted((tmp_path / "p").glob("part-*.parquet"))[0]).to_pylist()
    by_file = {r["file"]: r for r in _rows(tmp_path / "j")}
    assert len(table) == 8
    for row in table:
        want = by_file[row["file"]]
        assert row["error"] == want["error"] and row["numbers"] == want["numbers"]
        assert [d["label"] for d in row["digits"]] == [d["label"] for d in want["digits"]]
    assert Output(tmp_path / "p", "parquet").done() == set(by_file)


def test_cli_batch_and_its_bad_inputs(cli, inputs, tmp_path):
    root, _ = inputs
    r = cli("batch", root / "more.tar", "--out", tmp_path / "out", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "1 images read" in r.stderr and len(_rows(tmp_path / "out")) == 1
    (tmp_path / "afile").write_text("x")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 broken")
    for args, words in [
        ((tmp_path / "nothing-here",), "does not exist"),
        ((root / "scans", "--out", tmp_path / "afile"), "is a file"),
        ((tmp_path / "emptydir",), "no images were found"),
        ((tmp_path / "bad.zip",), "cannot be opened"),
        ((root / "more.tar", "--format", "parquet", "--out", tmp_path / "out"), "another format"),
    ]:
        full = [*args] if "--out" in args else [*args, "--out", tmp_path / "o2"]
        r = cli("batch", *full)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_item_key():
    assert Item("a.zip", "x/y.png").key == "a.zip::x/y.png" and Item("b.png").key == "b.png"
