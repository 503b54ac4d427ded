"""`edgedigits predict`: shipped example images, photos, and bad files among good ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

DIGITS = Path(__file__).resolve().parents[1] / "edgedigits" / "assets" / "digits"


def test_predicts_every_shipped_example(cli):
    r = cli("predict", DIGITS, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 10
    for row in rows:
        expected = int(Path(row["file"]).stem.split("_")[1])
        assert row["label"] == expected, row
        assert 0.5 < row["confidence"] <= 1.0


def test_mixed_folder_reports_each_bad_file_and_processes_the_rest(cli, tmp_path):
    shutil.copy(DIGITS / "photo_3.png", tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    r = cli("predict", tmp_path, tmp_path / "missing.png")
    assert r.returncode == 1
    assert "good.png: 3 (" in r.stdout
    err = r.stderr.splitlines()
    assert len(err) == 4 and "Traceback" not in r.stderr
    assert any("empty.png: error: is empty" in e for e in err)
    assert any("notes.txt: error: is not an image" in e for e in err)
    assert any("broken.jpg: error: is not an image" in e for e in err)
    assert any("missing.png: error: no such file" in e for e in err)


def test_json_mode_reports_errors_as_objects(cli, tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    r = cli("predict", tmp_path / "x.txt", DIGITS / "mnist_4.png", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 1
    assert rows[0]["error"].startswith("is not an image") and rows[1]["label"] == 4


def test_large_light_digit_on_dark_colour_image(cli, tmp_path):
    img = cv2.imread(str(DIGITS / "mnist_8.png"), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(img, (200, 200), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big8.png"), cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
    r = cli("predict", tmp_path / "big8.png", "--json")
    assert json.loads(r.stdout)["label"] == 8


def test_no_images_in_folder(cli, tmp_path):
    r = cli("predict", tmp_path)
    assert r.returncode == 2 and "no image files were found" in r.stderr


def test_bad_model_folder(cli, tmp_path):
    r = cli("predict", DIGITS / "mnist_0.png", "--model", tmp_path)
    assert r.returncode == 1 and "is not an edgedigits bundle" in r.stderr and "Traceback" not in r.stderr


def test_cli_without_command_and_version(cli):
    assert cli().returncode == 2
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("edgedigits ")
