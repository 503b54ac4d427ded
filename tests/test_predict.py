"""`edgedigits predict`: shipped example images, photos, and bad files among good ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

DIGITS = Path(__file__).resolve().parents[1] / "edgedigits" / "assets" / "digits"


def _label(row: dict):
    """The one digit read in a JSON row of a single-digit image (None when none was accepted)."""
    assert len(row["digits"]) <= 1, row
    return row["digits"][0]["label"] if row["digits"] else None


def test_predicts_every_shipped_example(cli):
    r = cli("predict", DIGITS, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 10
    for row in rows:
        expected = int(Path(row["file"]).stem.split("_")[1])
        assert _label(row) == expected and row["numbers"][0]["value"] == str(expected), row
        assert row["rejected"] == [] and 0.4 < row["digits"][0]["confidence"] <= 1.0


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


def _hostile_folder(folder: Path) -> dict[str, int]:
    """Good images in unusual formats among files that are not images; returns the good ones' labels."""
    raw = (DIGITS / "photo_3.png").read_bytes()
    (folder / "good.png").write_bytes(raw)
    seven = cv2.imread(str(DIGITS / "photo_7.png"))
    cv2.imwrite(str(folder / "alpha.png"), cv2.cvtColor(seven, cv2.COLOR_BGR2BGRA))
    five = cv2.imread(str(DIGITS / "photo_5.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(folder / "deep.png"), five.astype(np.uint16) * 257)
    (folder / "empty.png").write_bytes(b"")
    (folder / "zero").write_bytes(b"")
    (folder / "truncated.png").write_bytes(raw[:len(raw) // 2])
    (folder / "text.png").write_text("a text file with an image's name")
    (folder / "sub").mkdir()
    (folder / "sub" / "inside.png").write_bytes(raw)
    return {"good.png": 3, "alpha.png": 7, "deep.png": 5}


def _messages(stderr: str) -> list[str]:
    """The lines on stderr (OpenCV's decoder log is silenced, so every line is the CLI's own)."""
    return stderr.splitlines()


def test_hostile_folder_reports_each_bad_file_once_and_reads_the_rest(cli, tmp_path):
    good = _hostile_folder(tmp_path)
    r = cli("predict", tmp_path, "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    rows = {Path(row["file"]).name: row for row in map(json.loads, r.stdout.splitlines())}
    assert {name: _label(row) for name, row in rows.items() if "digits" in row} == good
    errors = {name: row["error"] for name, row in rows.items() if "error" in row}
    assert errors == {"empty.png": "is empty", "zero": "is empty",
                      "truncated.png": errors["truncated.png"], "text.png": errors["text.png"]}
    assert errors["truncated.png"].startswith("is not an image") and errors["text.png"].startswith("is not an image")
    assert "sub" not in rows and "inside.png" not in rows   # folders are not searched recursively


def test_hostile_folder_in_text_mode_gives_one_line_per_file(cli, tmp_path):
    _hostile_folder(tmp_path)
    r = cli("predict", tmp_path)
    assert r.returncode == 1
    assert sorted(line.split(":")[0].rsplit("/", 1)[-1] for line in r.stdout.splitlines()) == \
        ["alpha.png", "deep.png", "good.png"]
    errors = _messages(r.stderr)
    assert len(errors) == 4 and all(": error: " in e for e in errors), errors


def test_a_folder_of_good_images_in_any_format_exits_0(cli, tmp_path):
    good = _hostile_folder(tmp_path)
    for p in tmp_path.iterdir():
        if p.name not in good and p.is_file():
            p.unlink()
    r = cli("predict", tmp_path, tmp_path / "sub", "--json")
    assert r.returncode == 0, r.stderr
    labels = [_label(json.loads(line)) for line in r.stdout.splitlines()]
    assert sorted(labels) == [3, 3, 5, 7] and not _messages(r.stderr)


def test_a_tiny_or_blank_image_is_no_digit_and_no_error(cli, tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.zeros((1, 1), np.uint8))
    cv2.imwrite(str(tmp_path / "strip.png"), np.full((1, 300), 255, np.uint8))
    cv2.imwrite(str(tmp_path / "page.png"), np.full((60, 80), 200, np.uint8))
    r = cli("predict", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["digits"], row["numbers"], row["rejected"]) for row in rows] == [([], [], [])] * 3
    text = cli("predict", tmp_path / "page.png")
    assert text.returncode == 0 and text.stdout.strip().endswith("no digit (no ink that could be one)")


def test_a_low_confidence_image_is_reported_as_not_a_digit(cli):
    # min_confidence 1.0 rejects everything the model is not certain of; 0 rejects nothing
    strict = cli("predict", DIGITS / "mnist_4.png", "--min-confidence", "1", "--json")
    lax = cli("predict", DIGITS / "mnist_4.png", "--min-confidence", "0", "--json")
    assert strict.returncode == lax.returncode == 0
    (rejected,) = json.loads(strict.stdout)["rejected"]
    assert rejected["label"] == 4 and rejected["why"] == "low confidence" and not json.loads(strict.stdout)["digits"]
    assert not json.loads(lax.stdout)["rejected"] and _label(json.loads(lax.stdout)) == 4
    words = cli("predict", DIGITS / "mnist_4.png", "--min-confidence", "1")
    assert "no digit (best guess 4" in words.stdout and "low confidence" in words.stdout
    bad = cli("predict", DIGITS / "mnist_4.png", "--min-confidence", "2")
    assert bad.returncode != 0 and "min-confidence" in bad.stderr and "Traceback" not in bad.stderr


def test_camera_on_a_hostile_folder_skips_what_it_cannot_read(cli, tmp_path):
    good = _hostile_folder(tmp_path)
    r = cli("camera", "--source", tmp_path, "--json", "--headless", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(d["label"] for rec in records for d in rec["digits"]) == sorted(good.values())
    skipped = [line for line in _messages(r.stderr) if "skipping" in line]
    assert len(skipped) == 3, r.stderr            # empty.png, text.png, truncated.png ('zero' is no image name)
    assert "Traceback" not in r.stderr


def test_json_mode_reports_errors_as_objects(cli, tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    r = cli("predict", tmp_path / "x.txt", DIGITS / "mnist_4.png", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 1
    assert rows[0]["error"].startswith("is not an image") and _label(rows[1]) == 4


def test_large_light_digit_on_dark_colour_image(cli, tmp_path):
    img = cv2.imread(str(DIGITS / "mnist_8.png"), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(img, (200, 200), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big8.png"), cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
    r = cli("predict", tmp_path / "big8.png", "--json")
    assert _label(json.loads(r.stdout)) == 8


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


def test_camera_on_a_folder_with_no_readable_image_is_an_error(cli, tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    r = cli("camera", "--source", tmp_path, "--json", "--headless", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith(
        f"none of the 2 image files in {tmp_path} could be read; fix or replace them "
        "(the messages above say what is wrong with each).")
    assert "latency -" in r.stderr and "nan" not in r.stderr
