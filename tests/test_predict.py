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
    (folder / "truncated.png").write_bytes(raw[: len(raw) // 2])
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
    assert errors == {
        "empty.png": "is empty",
        "zero": "is empty",
        "truncated.png": errors["truncated.png"],
        "text.png": errors["text.png"],
    }
    assert errors["truncated.png"].startswith("is not an image") and errors["text.png"].startswith("is not an image")
    assert "sub" not in rows and "inside.png" not in rows  # folders are not searched recursively


def test_hostile_folder_in_text_mode_gives_one_line_per_file(cli, tmp_path):
    _hostile_folder(tmp_path)
    r = cli("predict", tmp_path)
    assert r.returncode == 1
    assert sorted(line.split(":")[0].rsplit("/", 1)[-1] for line in r.stdout.splitlines()) == [
        "alpha.png",
        "deep.png",
        "good.png",
    ]
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
    assert len(skipped) == 3, r.stderr  # empty.png, text.png, truncated.png ('zero' is no image name)
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
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"none of the 2 image files in {tmp_path} could be read; fix or replace them "
            "(the messages above say what is wrong with each)."
        )
    )
    assert "latency -" in r.stderr and "nan" not in r.stderr


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (its image data is a stub)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _form(tmp_path, name="form.png", dtype=np.uint8) -> Path:
    from test_reader import _form as draw

    page = draw()
    if dtype == np.uint16:
        page = page.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / name), page)
    return tmp_path / name


def test_a_page_gives_every_number_with_its_box(cli, tmp_path):
    page = _form(tmp_path)
    text = cli("predict", page)
    assert text.returncode == 0, text.stderr
    line = text.stdout.strip()
    assert line.startswith(f"{page}: 30517 (") and "; 8 (" in line and "; 2406 (" in line and " at " in line
    row = json.loads(cli("predict", page, "--json").stdout)
    assert [n["value"] for n in row["numbers"]] == ["30517", "8", "2406"] and row["size"] == [900, 500]
    assert all(len(n["box"]) == 4 for n in row["numbers"]) and row["rejected"]


def test_a_16_bit_page_reads_like_the_8_bit_one(cli, tmp_path):
    eight, sixteen = _form(tmp_path), _form(tmp_path, "deep.png", np.uint16)
    assert cv2.imread(str(sixteen), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    rows = [json.loads(cli("predict", p, "--json").stdout) for p in (eight, sixteen)]
    assert rows[0]["numbers"] == rows[1]["numbers"] and rows[0]["numbers"]


def test_save_draws_what_was_read_atomically(cli, tmp_path):
    page = _form(tmp_path)
    out = tmp_path / "annotated.png"
    r = cli("predict", page, "--save", out)
    assert r.returncode == 0, r.stderr
    drawn, original = cv2.imread(str(out)), cv2.imread(str(page))
    assert drawn.shape == original.shape
    changed = np.any(drawn != original, axis=2)
    assert changed[60:110, 60:310].any() and not changed[420:, 300:].any()  # boxes at the comb, not elsewhere
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    two = cli("predict", page, DIGITS / "mnist_4.png", "--save", tmp_path / "two.png")
    assert two.returncode == 2 and "--save draws on one image" in two.stderr and not (tmp_path / "two.png").exists()
    bad = cli("predict", page, "--save", tmp_path / "out.txt")
    assert bad.returncode == 2 and "must end in .png" in bad.stderr
    nowhere = cli("predict", page, "--save", tmp_path / "missing" / "a.png")
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr and "Traceback" not in nowhere.stderr


def test_a_huge_image_is_refused_before_decoding(cli, tmp_path):
    (tmp_path / "huge.png").write_bytes(_png_header(20_000, 20_000))
    r = cli("predict", tmp_path / "huge.png")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        f"{tmp_path / 'huge.png'}: error: is 20000 x 20000 pixels, more than the 100 "
        "million edgedigits reads; scale it down first"
    )


def test_header_sizes_are_read_without_decoding(tmp_path):
    from edgedigits.images import header_size

    assert header_size(_png_header(123, 45)) == (123, 45)
    for suffix in (".jpg", ".bmp"):
        ok, data = cv2.imencode(suffix, np.zeros((37, 81, 3), np.uint8))
        assert header_size(data.tobytes()) == (81, 37), suffix
    assert header_size(b"not an image") is None


def test_a_large_light_digit_on_dark_is_no_page_on_a_desk():
    """Most of a large light-on-dark digit's frame is dark, as is a dim photo of a page on dark
    wood; the digit's outline holds as much dark ground as stroke, a page's is mostly bright."""
    from edgedigits.vision import _light_on_dark

    img = cv2.imread(str(DIGITS / "mnist_8.png"), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(img, (200, 200), interpolation=cv2.INTER_CUBIC)
    assert _light_on_dark(big, "auto")
    page = np.full((200, 200), 40, np.uint8)  # a dim page on dark wood
    page[30:170, 50:150] = 150
    cv2.putText(page, "42", (70, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 60, 3)
    assert cv2.mean(page)[0] < 100 and not _light_on_dark(page, "auto")
