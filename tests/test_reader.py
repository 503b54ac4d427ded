"""The one reader: Recognizer.read, the camera Pipeline and `edgedigits predict` give the same answer."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from _pages import blank, box, comb, handwriting, write_in_cells, write_number
from edgedigits.camera.loop import Pipeline
from edgedigits.reader import Digit, Reader, Reading
from edgedigits.recognizer import Recognizer

DIGITS = Path(__file__).resolve().parents[1] / "edgedigits" / "assets" / "digits"
BACKEND = ("--backend", "onnxruntime", "--precision", "fp32")


@pytest.fixture(scope="module")
def rec():
    with Recognizer(backend="onnxruntime", precision="fp32") as r:
        yield r


def _form() -> np.ndarray:
    images, labels = handwriting()
    page = blank(900, 500)
    write_in_cells(page, images, labels, "30517", comb(page, 60, 60, 50, 5))
    box(page, 500, 60, 90, 70)
    write_in_cells(page, images, labels, "8", [(500, 60, 90, 70)], k=1)
    write_number(page, images, labels, "2406", 80, 250, 44, k=2)
    cv2.putText(page, "KM", (600, 300), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 40, 6)  # letters: rejected
    return page


def _images(tmp_path) -> list[Path]:
    paths = sorted(DIGITS.iterdir())
    cv2.imwrite(str(tmp_path / "form.png"), _form())
    sheet = np.concatenate([cv2.imread(str(DIGITS / f"photo_{n}.png")) for n in (1, 3, 5, 7, 9)], axis=1)
    cv2.imwrite(str(tmp_path / "sheet.png"), sheet)
    return paths + [tmp_path / "form.png", tmp_path / "sheet.png"]


def _summary(digits, numbers) -> tuple:
    """What must be identical: each digit's box, label and confidence (4 places), each number's box and value."""
    return (
        [(tuple(d["box"]), d["label"], round(d["confidence"], 4)) for d in digits],
        [(tuple(n["box"]), n["value"]) for n in numbers],
    )


def test_the_three_entry_points_give_identical_readings(rec, cli, tmp_path):
    paths = _images(tmp_path)
    r = cli("predict", *paths, "--json", *BACKEND)
    assert r.returncode == 0, r.stderr
    from_cli = {row["file"]: _summary(row["digits"], row["numbers"]) for row in map(json.loads, r.stdout.splitlines())}
    pipeline = Pipeline(rec)
    numbers_seen = 0
    for path in paths:
        from edgedigits.images import read_image

        image = read_image(path)
        reading = rec.read(image).to_dict()
        frame = pipeline(image)
        from_sdk = _summary(reading["digits"], reading["numbers"])
        from_camera = _summary(
            [{"box": d.box, "label": d.label, "confidence": d.confidence} for d in frame.digits],
            [{"box": n.box, "value": n.value} for n in frame.numbers],
        )
        assert from_sdk == from_camera == from_cli[str(path)], path.name
        numbers_seen += len(reading["numbers"])
    assert numbers_seen >= 10 + 1 + 3  # every example, "30517" "8" "2406", the sheet's digits


def test_the_form_reads_as_numbers_and_rejects_the_letters(rec):
    reading = rec.read(_form())
    assert [n.value for n in reading.numbers] == ["30517", "8", "2406"]
    assert len(reading) == 10 and all(isinstance(d, Digit) for d in reading)
    assert all(d.rejected in ("low confidence", "unlike handwriting", "among letters") for d in reading.digits[10:])
    for n in reading.numbers:  # a number's digits lie inside its box
        for i in n.digits:
            x, y, w, h = reading.digits[i].box
            assert n.box[0] <= x and x + w <= n.box[0] + n.box[2] and n.box[1] <= y and y + h <= n.box[1] + n.box[3]


def test_reading_to_dict_is_json_ready(rec):
    reading = rec.read(_form())
    d = json.loads(json.dumps(reading.to_dict()))
    assert d["size"] == [900, 500] and [n["value"] for n in d["numbers"]] == ["30517", "8", "2406"]
    assert len(d["digits"]) == 10 and all("why" not in x for x in d["digits"])
    assert d["rejected"] and all(x["why"] for x in d["rejected"])
    assert set(d["digits"][0]) == {"box", "label", "confidence"}


def test_reader_options(rec):
    page = _form()
    everything = Reader(rec, min_confidence=0.0, max_novelty=None).read(page)
    assert all(d.rejected is None for d in everything.digits) and len(everything) > 10
    strict = Reader(rec, min_confidence=1.0).read(page)
    assert strict.numbers == () and {d.rejected for d in strict.digits} == {"low confidence"}
    assert Reader(rec).read(page) == rec.read(page)


def test_a_scanned_page_at_300_dpi_reads_like_the_150_dpi_one(rec):
    page = _form()
    big = cv2.resize(page, None, fx=2.9, fy=2.9, interpolation=cv2.INTER_CUBIC)  # 2610 x 1450: over the budget
    small, large = rec.read(page), rec.read(big)
    assert [n.value for n in large.numbers] == [n.value for n in small.numbers]
    assert large.size == (big.shape[1], big.shape[0])
    for a, b in zip(small.numbers, large.numbers):  # boxes in the input's own pixels
        assert abs(b.box[0] - 2.9 * a.box[0]) <= 12 and abs(b.box[2] - 2.9 * a.box[2]) <= 20


def test_empty_and_tiny_images_read_as_nothing(rec):
    for image in (
        np.zeros((1, 1), np.uint8),
        np.full((1, 300), 255, np.uint8),
        np.full((60, 80), 200, np.uint8),
        np.zeros((2, 2, 3), np.uint8),
        np.zeros((4, 1), np.uint8),  # four pixels or fewer: OpenCV could take the frame for a scalar
        np.zeros((1, 3), np.uint8),
    ):
        reading = rec.read(image)
        assert isinstance(reading, Reading) and reading.digits == () and reading.numbers == ()


@pytest.mark.parametrize("value", ["28", "34"])
def test_two_digits_joined_by_ink_are_read_as_two(rec, value):
    from dataclasses import replace

    from edgedigits.vision import DEFAULT_CONFIG

    images, labels = handwriting()
    page = blank(300, 160)
    write_number(page, images, labels, value, 40, 50, 50, gap=-5)  # the second digit overlaps the first
    joined = Reader(rec).read(page)
    assert [n.value for n in joined.numbers] == [value]
    assert [d.rejected for d in joined.digits] == [None, None]
    # Without the recut the pair is one blob, and it is not read as a digit.
    whole = Reader(rec, config=replace(DEFAULT_CONFIG, recut_aspect=0)).read(page)
    assert len(whole.digits) == 1 and whole.digits[0].rejected is not None and not whole.numbers


def test_a_wide_blob_is_cut_only_into_two_digit_tall_halves():
    from edgedigits.vision import DEFAULT_CONFIG, _recut

    tick = np.zeros((40, 60), np.uint8)
    cv2.line(tick, (2, 26), (18, 38), 255, 4)  # the short stroke of a tick
    cv2.line(tick, (18, 38), (57, 2), 255, 4)
    assert _recut((0, 0, 60, 40), tick, DEFAULT_CONFIG) == []
    pair = np.zeros((40, 60), np.uint8)
    cv2.ellipse(pair, (15, 20), (12, 18), 0, 0, 360, 255, 4)  # "00" touching in the middle
    cv2.ellipse(pair, (44, 20), (12, 18), 0, 0, 360, 255, 4)
    halves = _recut((100, 50, 60, 40), pair, DEFAULT_CONFIG)
    assert len(halves) == 2
    (left, _), (right, _) = halves
    assert left[0] == 100 + 1 and left[0] + left[2] <= right[0] and right[0] + right[2] <= 160
    assert min(left[3], right[3]) >= 0.75 * 40
    narrow = np.zeros((40, 40), np.uint8)
    cv2.ellipse(narrow, (20, 20), (17, 18), 0, 0, 360, 255, 4)  # a round 0: not wide enough
    assert _recut((0, 0, 40, 40), narrow, DEFAULT_CONFIG) == []


def _label(text: str) -> np.ndarray:
    page = blank(400, 120)
    cv2.putText(page, text, (20, 60), cv2.FONT_HERSHEY_DUPLEX, 0.6, 40, 1, cv2.LINE_AA)
    return page


def test_the_small_letters_of_a_printed_word_make_its_tall_letters_a_word(rec, monkeypatch):
    import edgedigits.reader as reader_module
    from edgedigits.vision import locate

    page = _label("Weight (kg)")
    found = locate(page)
    assert found.others  # the small letters: ink, but no candidate
    assert [d for d in Reader(rec).read(page).digits if d.rejected is None] == []
    # Counting only the candidates (the i, h, t and brackets), the word is too short to be one.
    monkeypatch.setattr(reader_module, "locate", lambda gray, config: replace(locate(gray, config), others=[]))
    assert [d.label for d in Reader(rec).read(page).digits if d.rejected is None] == [1, 1, 1, 1]


def test_a_smudge_beside_a_digit_and_two_boxed_ones_does_not_make_a_word():
    from edgedigits.reader import LOW_CONFIDENCE, _among_letters

    # A camera frame (dev video): a 5, two hand-drawn boxes read whole at low confidence, and a
    # blurred smudge that was never a candidate, 60 px tall beside candidates of 99-130 px.
    boxes = [(408, 84, 84, 99), (173, 74, 106, 130), (280, 74, 120, 130)]
    why = [None, LOW_CONFIDENCE, LOW_CONFIDENCE]
    assert _among_letters(boxes, why, [], [None] * 3, others=[(556, 57, 69, 60)]) == why
    # As tall as a letter beside them, the same ink would make the four a word.
    assert _among_letters(boxes, why, [], [None] * 3, others=[(556, 57, 69, 90)])[0] is not None


def test_a_filled_smudge_is_not_counted_as_a_letter():
    from edgedigits.vision import locate

    page = _label("Weight (kg)")
    cv2.rectangle(page, (300, 40), (314, 76), 40, -1)  # a filled bar as tall as a digit
    boxes = locate(page).others
    assert boxes and all(x + w < 290 for x, _, w, _ in boxes)  # the letters, not the bar


def test_an_empty_rectangle_is_told_from_a_0():
    from edgedigits.vision import empty_rectangle

    box = np.zeros((26, 25), np.uint8)
    cv2.rectangle(box, (1, 1), (23, 24), 255, 2)
    assert empty_rectangle(box, 2.0)
    with_0 = box.copy()
    cv2.ellipse(with_0, (12, 14), (8, 9), 0, 0, 360, 255, 2)  # a 0 written inside the box
    filling = box.copy()
    cv2.ellipse(filling, (12, 13), (11, 12), 0, 0, 360, 255, 3)  # a 0 that fills its box
    round_0 = np.zeros((30, 24), np.uint8)
    cv2.ellipse(round_0, (12, 15), (10, 13), 0, 0, 360, 255, 3)
    assert not any(empty_rectangle(m, 2.5) for m in (with_0, filling, round_0))


def test_an_empty_box_read_as_0_is_rejected_as_a_box(rec):
    from edgedigits.preprocess import mnist_normalize
    from edgedigits.reader import A_BOX
    from edgedigits.vision import InkBlob

    outline = np.zeros((26, 25), np.uint8)
    cv2.rectangle(outline, (1, 1), (23, 24), 255, 2)
    crop = mnist_normalize(outline)
    for rectangle, expected in ((False, None), (True, A_BOX)):
        _, labels, _, why = Reader(rec, min_confidence=0.45)._classify(
            [InkBlob((0, 0, 25, 26), crop, rectangle=rectangle)]
        )
        assert labels == [0] and why == [expected]  # the model alone takes the box for a 0


def _tilted_squares(n_cols: int, n_rows: int, sq: float, tilt: float, drop=()):
    """Cells of squared paper photographed a little turned (each row rising ``tilt`` px per square),
    as upright boxes; the cells in ``drop`` (col, row) are missing, as where a digit broke a line."""
    cells = []
    for r in range(n_rows):
        for c in range(n_cols):
            if (c, r) not in drop:
                cells.append((round(100 + c * sq), round(100 + r * sq - c * tilt), round(sq) - 3, round(sq) - 3))
    return tuple(cells)


def _in_square(col: int, row: int, sq: float, tilt: float, dx: int = 0) -> tuple[int, int, int, int]:
    return (round(100 + col * sq + 4 + dx), round(100 + row * sq - col * tilt + 3), 16, 20)


def test_squared_paper_numbers_follow_a_tilted_row_and_squares_whose_lines_broke():
    """On squared paper a number is the digits in neighbouring squares of one row. Across a
    photographed page the rows are not level (here one rises 14 px, half a square, over 14
    squares), and where a digit broke a line its square is no cell: each digit is placed on the
    lattice of the cell nearest it, and neighbours are judged pair by pair."""
    from edgedigits.reader import _grid_runs

    sq, tilt = 28.0, 1.0
    cells = _tilted_squares(20, 6, sq, tilt, drop={(6, 2), (7, 2), (8, 2)})
    first = [_in_square(c, 2, sq, tilt) for c in range(2, 12)]  # ten squares in a row, three broken
    second = [_in_square(c, 2, sq, tilt, dx=-3) for c in range(13, 16)]  # one blank square, then three
    below = [_in_square(c, 3, sq, tilt) for c in range(4, 6)]
    boxes = first + second + below
    runs = _grid_runs(boxes, list(range(len(boxes))), cells)
    assert sorted(sorted(r) for r in runs) == [list(range(10)), [10, 11, 12], [13, 14]]


def test_a_digit_written_higher_on_an_underline_stays_in_its_number(monkeypatch):
    """On an underline, digits written a little above the line (their feet 20 px above it), one of
    them a little higher still (26 px: too high to be on the line by itself), are one row over
    the line: one number. A digit beside the line's end, or on the row above, is not taken in."""
    from edgedigits import reader
    from edgedigits.paper import Field
    from edgedigits.reader import group

    line = Field((80, 120, 340, 3), "underline")
    boxes = [(100, 60, 30, 40), (140, 61, 30, 40), (180, 54, 30, 40), (220, 60, 30, 40)]
    boxes += [(440, 60, 30, 40), (140, 8, 30, 40)]  # past the line's end; the row above
    digits = [Digit(b, 1, 0.9) for b in boxes]
    assert [reader._field_of(b, [line]) for b in boxes] == [0, 0, None, 0, None, None]
    assert sorted(group(digits, [line])) == [[0, 1, 2, 3], [4], [5]]
    monkeypatch.setattr(reader, "UNDERLINE_ROW", False)
    assert [0, 1, 2, 3] not in group(digits, [line])
