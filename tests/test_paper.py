"""Paper structure is not ink to read: pages drawn with OpenCV, handwriting from MNIST training digits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from _pages import INK, PRINT, blank, box, comb, handwriting, pick, ruled, stamp, write_in_cells, write_number
from edgedigits.novelty import DEFAULT_MAX_NOVELTY
from edgedigits.paper import page_corners, page_region
from edgedigits.reader import Reader
from edgedigits.recognizer import Recognizer
from edgedigits.vision import locate


@pytest.fixture(scope="module")
def rec():
    with Recognizer(backend="onnxruntime", precision="fp32") as r:
        yield r


@pytest.fixture(scope="module")
def hand():
    return handwriting()


def _values(reading) -> list[str]:
    return [n.value for n in reading.numbers]


def test_empty_boxes_combs_tables_and_checkboxes_are_never_read(rec):
    page = blank(900, 700)
    box(page, 60, 60, 60, 60)
    box(page, 200, 60, 40, 40, thick=1)
    box(page, 300, 60, 90, 50, thick=3)
    comb(page, 60, 200, 44, 6)
    comb(page, 400, 200, 30, 8, thick=1)
    ruled(page, 60, 350, 185, 60, cols=4, rows=3)
    cv2.line(page, (500, 120), (800, 120), PRINT, 2)  # an underline
    for x in (60, 120, 180):
        box(page, x, 600, 26, 26)  # checkboxes
    reading = rec.read(page)
    assert reading.digits == () and reading.numbers == ()
    found = locate(page)
    assert len(found.structure.boxes) == 10 and found.blobs == []  # 3 boxes, 2 combs, a table, a line, 3 checkboxes


def test_a_digit_inside_a_box_is_read_and_the_box_is_not(rec, hand):
    images, labels = hand
    page = blank(400, 300)
    box(page, 60, 60, 80, 80)
    write_in_cells(page, images, labels, "3", [(60, 60, 80, 80)], fill=0.6)
    box(page, 220, 60, 80, 80)  # touching the box from inside
    stamp(page, pick(images, labels, 7), 245, 61, 60)
    reading = rec.read(page)
    assert _values(reading) == ["3", "7"]
    assert all(d.box[2] < 60 for d in reading.digits)  # the digits' boxes, not the printed ones


@pytest.mark.parametrize("digit", [2, 5, 8])
def test_a_digit_crossing_a_box_border_is_read_whole(rec, hand, digit):
    images, labels = hand
    page = blank(300, 300)
    box(page, 100, 100, 70, 70)
    ink = stamp(page, pick(images, labels, digit, 1), 118, 78, 64)  # reaches 22 px above the box
    reading = rec.read(page)
    assert _values(reading) == [str(digit)]
    (d,) = reading.digits
    assert d.box[1] <= ink[1] + 2 and d.box[1] + d.box[3] >= ink[1] + ink[3] - 2  # top to bottom


def test_a_comb_field_is_one_number_in_reading_order(rec, hand):
    images, labels = hand
    page = blank(700, 300)
    cells = comb(page, 80, 100, 50, 6)
    write_in_cells(page, images, labels, "40712", cells)  # the last box stays empty
    writing = write_number(page, images, labels, "96", 500, 100, 40, k=2)  # free writing beside it
    reading = rec.read(page)
    assert _values(reading) == ["40712", "96"]
    assert reading.numbers[0].box[0] >= 80 and reading.numbers[1].box[0] >= writing[0][0] - 2
    assert "1" not in "".join(str(d.label) for d in reading.digits if d.rejected is None)[5:]  # no divider read


def test_digits_touching_comb_dividers_are_read(rec, hand):
    images, labels = hand
    page = blank(500, 200)
    cells = comb(page, 60, 60, 44, 5)
    for ch, (x, y, w, h) in zip("31846", cells):  # wide digits touching both dividers
        stamp(page, pick(images, labels, int(ch), 3), x + 4, y + 6, 34)
    assert _values(rec.read(page)) == ["31846"]


def test_squared_paper(rec, hand):
    images, labels = hand
    page = blank(800, 600)
    for x in range(0, 800, 30):
        cv2.line(page, (x, 0), (x, 599), 170, 1)
    for y in range(0, 600, 30):
        cv2.line(page, (0, y), (799, y), 170, 1)
    write_number(page, images, labels, "2024", 95, 95, 50, gap=10)
    write_number(page, images, labels, "75", 455, 335, 50, gap=10, k=1)
    reading = rec.read(page)
    assert _values(reading) == ["2024", "75"]


def test_squared_paper_one_digit_per_square(rec, hand):
    """Numbers written one digit per square, a blank square between them; digits in two rows
    touching the line between them stay two digits."""
    images, labels = hand
    page = blank(700, 400)
    sq = 40
    for x in range(20, 700, sq):
        cv2.line(page, (x, 20), (x, 380), 110, 1)
    for y in range(20, 400, sq):
        cv2.line(page, (20, y), (680, y), 110, 1)

    def in_square(value, col, row, k=0, height=24, dy=8):
        for i, ch in enumerate(value):
            stamp(page, pick(images, labels, int(ch), k), 20 + (col + i) * sq + 12, 20 + row * sq + dy, height)

    in_square("31", 2, 2)  # small in their squares: too far apart for free writing
    in_square("580", 5, 2, k=1)  # one blank square after "31"
    in_square("7", 3, 3, height=30, dy=10)  # the row below, its foot on the line under it ...
    in_square("2", 3, 4, height=26, dy=3)  # ... and this one just under that line
    reading = rec.read(page)
    assert _values(reading) == ["31", "580", "7", "2"]


def test_a_table_gives_one_number_per_cell(rec, hand):
    images, labels = hand
    page = blank(900, 400)
    ruled(page, 50, 50, 200, 70, cols=4, rows=3)
    write_number(page, images, labels, "91", 80, 62, 44)
    write_number(page, images, labels, "57", 290, 132, 44, k=1)
    write_number(page, images, labels, "6", 480, 202, 44)
    write_number(page, images, labels, "38", 680, 202, 44, k=2)  # the same row, the next cell ...
    write_number(page, images, labels, "4", 700, 100, 70)  # ... and one crossing a rule
    reading = rec.read(page)
    assert sorted(_values(reading)) == sorted(["91", "57", "4", "6", "38"])


def test_an_underlined_number_is_one_number(rec, hand):
    images, labels = hand
    page = blank(600, 200)
    cv2.line(page, (80, 120), (420, 120), PRINT, 2)
    write_number(page, images, labels, "2563", 100, 80, 40, gap=14)
    assert _values(rec.read(page)) == ["2563"]


def test_ticked_and_crossed_checkboxes_are_not_read(rec):
    page = blank(400, 200)
    for x in (60, 160, 260):
        box(page, x, 80, 30, 30)
    cv2.line(page, (64, 84), (86, 106), INK, 3)  # a cross
    cv2.line(page, (86, 84), (64, 106), INK, 3)
    cv2.line(page, (164, 96), (172, 106), INK, 3)  # a tick, reaching out of its box
    cv2.line(page, (172, 106), (192, 70), INK, 3)
    cv2.line(page, (258, 78), (292, 112), INK, 4)  # a cross corner to corner
    cv2.line(page, (292, 78), (258, 112), INK, 4)
    # The boxes are structure at the defaults. The marks in them are not all refused by the
    # shipped model's own confidence (a cross was read as an 8 at 0.46, just above its 0.45
    # threshold: a known miss of issue 13's model); the novelty check, off by default, refuses them.
    boxes_only = blank(400, 200)
    for x in (60, 160, 260):
        box(boxes_only, x, 80, 30, 30)
    assert rec.read(boxes_only).accepted == ()
    assert Reader(rec, max_novelty=DEFAULT_MAX_NOVELTY).read(page).accepted == ()


def _photo_on_desk(page: np.ndarray, seed: int = 3) -> np.ndarray:
    """The page photographed on a dark desk: perspective, a shadow, uneven light, noise."""
    rng = np.random.default_rng(seed)
    h, w = page.shape
    out_w, out_h = int(w * 1.3), int(h * 1.25)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32(
        [
            [0.12 * out_w, 0.08 * out_h],
            [0.9 * out_w, 0.1 * out_h],
            [0.86 * out_w, 0.93 * out_h],
            [0.1 * out_w, 0.9 * out_h],
        ]
    )
    desk = cv2.GaussianBlur(rng.normal(70, 12, (out_h, out_w)).astype(np.float32), (0, 0), 3)
    warped = cv2.warpPerspective(
        page.astype(np.float32), cv2.getPerspectiveTransform(src, dst), (out_w, out_h), borderValue=-1
    )
    img = np.where(warped >= 0, warped, desk)
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    light = 0.75 + 0.25 * xx / out_w
    shadow = 1 - 0.3 * np.exp(-(((xx - 0.3 * out_w) / (0.2 * out_w)) ** 2))
    img = img * light * shadow + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_page_on_a_dark_desk_with_perspective_is_read(rec, hand):
    images, labels = hand
    page = blank(1000, 1400)
    cells = comb(page, 150, 200, 70, 5)
    write_in_cells(page, images, labels, "35091", cells)
    write_number(page, images, labels, "482", 200, 600, 70, gap=14)
    box(page, 600, 600, 100, 100)
    write_in_cells(page, images, labels, "6", [(600, 600, 100, 100)], fill=0.6, k=1)
    photo = _photo_on_desk(page)
    assert page_region(photo) is not None
    assert sorted(_values(rec.read(photo))) == sorted(["35091", "482", "6"])


def test_a_dim_photo_of_a_page_on_a_dark_desk_is_not_read_as_light_ink_on_dark(rec, hand):
    """A dimly lit page on a dark desk that fills most of the frame: the frame's mean is under
    the light-on-dark test's 100 grey levels, but it is a page on a desk, read as pen on paper."""
    images, labels = hand
    page = blank(700, 900)
    write_number(page, images, labels, "482", 150, 300, 70, gap=14)
    cells = comb(page, 150, 550, 70, 4)
    write_in_cells(page, images, labels, "7305", cells)
    photo = _photo_on_desk(page)
    h, w = photo.shape
    framed = np.full((h * 2, w * 2), 0, np.uint8)  # more desk around it
    framed[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = photo
    framed = cv2.GaussianBlur(np.clip(framed * 0.55 + np.where(framed == 0, 30, 0), 0, 255).astype(np.uint8), (3, 3), 0)
    assert cv2.mean(framed)[0] < 100 and page_region(framed) is not None
    assert sorted(_values(rec.read(framed))) == sorted(["482", "7305"])


def test_a_sharp_shadow_across_a_photographed_page_is_not_ink(rec, hand, monkeypatch):
    """A hard shadow's edge runs across a photographed page (a quarter darker on one side). The
    flattened page's paper is estimated so that it follows the step (a closing, not a local
    maximum that carries the bright side's level into the shadow): the number written across
    the edge and the one beside it are read; with the local maximum the shadow's edge became a
    wide band of "ink" joining everything, and nothing was read."""
    from edgedigits import vision

    images, labels = hand
    page = blank(1000, 1400)
    write_number(page, images, labels, "6137", 450, 650, 70, gap=14, k=1)
    write_number(page, images, labels, "95", 650, 1000, 70, gap=14, k=2)
    photo = _photo_on_desk(page).astype(np.float32)
    h, w = photo.shape
    yy, xx = np.mgrid[0:h, 0:w]
    photo[xx + 0.6 * yy < 0.62 * w + 0.35 * h] *= 0.75  # the edge runs through the "6" of 6137
    photo = photo.clip(0, 255).astype(np.uint8)
    assert sorted(_values(rec.read(photo))) == ["6137", "95"]
    monkeypatch.setattr(vision, "PHOTO_CONTRAST", 0.0)
    assert _values(rec.read(photo)) == []


def test_page_region_is_none_for_a_sheet_filling_the_frame_under_uneven_light():
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    sheet = (230 * (0.5 + 0.5 * xx / 640)).astype(np.uint8)
    assert page_region(sheet) is None


def test_the_few_letters_of_a_printed_word_read_as_digits_are_rejected_with_it(rec, hand):
    """In "Total" the T, a and t are not digits; the o and l, read alone as 0 and 1, go with them.
    A handwritten number beside the word is still read."""
    images, labels = hand
    page = blank(700, 200)
    cv2.putText(page, "Total", (30, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.6, PRINT, 3, cv2.LINE_AA)
    write_number(page, images, labels, "36", 400, 70, 50)
    reading = rec.read(page)
    assert _values(reading) == ["36"]
    among = [d for d in reading.digits if d.rejected == "among letters"]
    assert {d.label for d in among} >= {0, 1} and all(d.box[0] < 300 for d in among)


def test_empty_checkboxes_with_thick_lines_are_not_read_as_0(rec):
    page = blank(600, 200)
    for x in (60, 200, 340):
        cv2.rectangle(page, (x, 80), (x + 30, 110), PRINT, 5)  # lines a sixth of the box
    cv2.GaussianBlur(page, (3, 3), 0, dst=page)
    assert [d.label for d in rec.read(page).accepted] == []


def test_digits_touching_the_rules_above_and_below_do_not_join_the_rules(rec, hand):
    """Digits as tall as their row, touching the rule above and the rule below: the rules are
    still two lines (not one band through the digits) and the digits are read."""
    images, labels = hand
    page = blank(900, 320)
    ruled(page, 40, 40, 273, 70, cols=3, rows=3, thick=3)
    write_number(page, images, labels, "5702", 90, 41, 68, k=3)  # from one rule to the next
    write_number(page, images, labels, "83", 400, 111, 68, k=4)
    reading = rec.read(page)
    assert sorted(_values(reading)) == ["5702", "83"]


def test_a_big_table_of_equal_wide_cells_is_not_squared_paper(rec, hand):
    """30 cells of one size, but three times wider than tall: a table (a number per cell), not
    squared paper (a digit per square)."""
    images, labels = hand
    page = blank(900, 420)
    ruled(page, 50, 40, 160, 55, cols=5, rows=6)
    write_number(page, images, labels, "47", 80, 47, 40)
    write_number(page, images, labels, "123", 390, 212, 40, k=1)
    assert _values(rec.read(page)) == ["47", "123"]


def test_page_corners_of_a_page_in_perspective_and_none_when_a_corner_is_cut_off(hand):
    images, labels = hand
    page = blank(1000, 1400)
    write_number(page, images, labels, "482", 200, 600, 70, gap=14)
    photo = _photo_on_desk(page)
    corners = page_corners(page_region(photo))
    out_h, out_w = photo.shape
    truth = np.float32(
        [
            [0.12 * out_w, 0.08 * out_h],
            [0.9 * out_w, 0.1 * out_h],
            [0.86 * out_w, 0.93 * out_h],
            [0.1 * out_w, 0.9 * out_h],
        ]
    )
    assert corners is not None
    assert np.abs(corners - truth).max() < 0.03 * out_w  # the page region lies two cells inside
    # A page whose top-right corner is out of the frame: five corners, and four of them are
    # not the page.
    cut = np.zeros((800, 600), np.uint8)
    cv2.fillConvexPoly(cut, np.int32([[60, 60], [380, 60], [560, 320], [540, 740], [80, 720]]), 255)
    assert page_corners(cut) is None


def _squared(page, x0, y0, x1, y1, sq, level=110, thick=1):
    for x in range(x0, x1 + 1, sq):
        cv2.line(page, (x, y0), (x, y1), level, thick)
    for y in range(y0, y1 + 1, sq):
        cv2.line(page, (x0, y), (x1, y), level, thick)


def test_squared_paper_photographed_in_perspective_is_read_flat(rec, hand):
    """A page of squared paper in perspective is warped flat before reading, so its tilted
    lines are found as lines; the digits' boxes come back in the photo's pixels."""
    images, labels = hand
    page = blank(1000, 1400)
    _squared(page, 100, 100, 900, 1300, 40, level=120, thick=2)  # a 1-px line goes soft in the photo
    placed = {}
    for value, col, row, k in (("2045", 3, 4, 0), ("318", 8, 12, 1), ("76", 2, 20, 2)):
        for i, ch in enumerate(value):
            placed[(value, i)] = stamp(
                page, pick(images, labels, int(ch), k), 100 + (col + i) * 40 + 10, 100 + row * 40 + 6, 28
            )
    photo = _photo_on_desk(page, seed=5)
    reading = rec.read(photo)
    assert sorted(_values(reading)) == sorted(["2045", "318", "76"])
    h, w = page.shape
    out_h, out_w = photo.shape
    to_photo = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [w, 0], [w, h], [0, h]]),
        np.float32(
            [
                [0.12 * out_w, 0.08 * out_h],
                [0.9 * out_w, 0.1 * out_h],
                [0.86 * out_w, 0.93 * out_h],
                [0.1 * out_w, 0.9 * out_h],
            ]
        ),
    )
    centres = cv2.perspectiveTransform(
        np.float32([[[x + bw / 2, y + bh / 2] for x, y, bw, bh in placed.values()]]), to_photo
    )[0]
    found = np.float32([[x + bw / 2, y + bh / 2] for x, y, bw, bh in (d.box for d in reading.accepted)])
    assert len(found) == len(centres)
    assert max(np.linalg.norm(found - c, axis=1).min() for c in centres) < 8


def test_a_digit_lying_on_the_rule_of_squared_paper_is_not_joined_to_the_one_above(rec, hand):
    """A 0 whose top stroke lies along the rule between two rows of squares keeps that rule's
    pixels (a stroke along a line is kept); the 8 above, its foot on the same rule, stays its own digit."""
    images, labels = hand
    page = blank(600, 400)
    _squared(page, 20, 20, 580, 380, 40)
    stamp(page, pick(images, labels, 8), 20 + 5 * 40 + 10, 20 + 3 * 40 + 9, 31)  # foot on the rule at y = 180
    stamp(page, pick(images, labels, 0), 20 + 5 * 40 + 4, 20 + 4 * 40 - 3, 36)  # top stroke along it
    reading = rec.read(page)
    assert sorted(d.label for d in reading.accepted) == [0, 8]


def test_a_component_as_tall_as_the_frame_takes_in_no_digit():
    """A desk seen all round a page whose outline was not found is one component as tall as the
    frame, and its box holds every digit: merging a digit into it would drop the digit with it."""
    from edgedigits.vision import _merge_pieces

    desk, digit, flag = (0, 0, 700, 500), (300, 200, 30, 50), (331, 204, 9, 14)
    groups = sorted(sorted(g) for g in _merge_pieces([desk, digit, flag], frame_height=500))
    assert groups == [[0], [1, 2]]  # the 5's flag still joins its digit


def test_remnants_of_a_broken_rule_on_a_cell_edge_are_dropped_and_a_1_inside_a_cell_is_kept():
    """What is left of a vertical rule that broke up (a light line in a photo's shadow, not found
    as a line) stands on the edge of the cells beside it: thin, upright, centred on the edge. A 1
    written in its cell stands away from the edges, and a digit across an edge is not thin."""
    from edgedigits.paper import _no_rule_remnants

    residual = np.zeros((200, 400), np.uint8)
    cells = [(10 + 40 * c, 10 + 40 * r, 38, 38) for r in range(4) for c in range(9)]
    residual[92:118, 128:131] = 255  # on the edge at x = 128-130: a remnant
    residual[132:158, 326:336] = 255  # a blurred one, as wide as a photo's pen (10 px of a 38 px cell)
    residual[52:80, 175:179] = 255  # a 1 in the middle of its cell (x 170-208)
    cv2.circle(residual, (249, 105), 12, 255, 3)  # a 0 written across an edge
    kept = _no_rule_remnants(residual, cells)
    assert not kept[92:118, 128:131].any() and not kept[132:158, 326:336].any()
    assert kept[52:80, 175:179].all() and kept[93:118, 237:262].any()


def test_a_comb_with_half_height_dividers_and_one_whole_one(rec, hand):
    """A comb whose dividers rise half way from the bottom line, with only the middle one drawn
    whole, and boxes a little narrower than tall: the half dividers stand on the spacing the
    pieces themselves keep (not on the comb's height) and are not read as 1s."""
    images, labels = hand
    page = blank(700, 300)
    x0, y0, cw, ch, n = 100, 100, 90, 100, 4
    cv2.line(page, (x0, y0), (x0 + n * cw, y0), PRINT, 3)
    cv2.line(page, (x0, y0 + ch), (x0 + n * cw, y0 + ch), PRINT, 3)
    for k in range(n + 1):
        top = y0 if k == n // 2 else y0 + ch // 2
        cv2.line(page, (x0 + k * cw, top), (x0 + k * cw, y0 + ch), PRINT, 3)
    write_in_cells(page, images, labels, "2375", [(x0 + k * cw, y0, cw, ch) for k in range(n)], fill=0.6)
    assert _values(rec.read(page)) == ["2375"]


@pytest.mark.parametrize("value", ["117101", "411711", "141171"])
def test_1s_written_to_the_size_of_their_comb_boxes_are_no_dividers(rec, hand, monkeypatch, value):
    """A comb with half-height dividers at three places, 1s as tall as their boxes (touching both
    lines) and a 7 or a 4 touching a whole divider: the 1s are read and the dividers are not.
    Without one lattice of dividers (the 1s in the boxes' middles stand on half its spacing, and
    the touched divider is one piece with its digit) dividers are read as 1s, or 1s dropped."""
    from edgedigits import paper

    images, labels = hand
    page = blank(800, 300)
    x0, y0, c, n = 80, 100, 70, len(value)
    cv2.line(page, (x0, y0), (x0 + n * c, y0), PRINT, 2)
    cv2.line(page, (x0, y0 + c), (x0 + n * c, y0 + c), PRINT, 2)
    for j in range(n + 1):
        cv2.line(page, (x0 + j * c, y0 + c // 2 if j in (2, 4, 5) else y0), (x0 + j * c, y0 + c), PRINT, 2)
    write_in_cells(page, images, labels, value, [(x0 + j * c, y0, c, c) for j in range(n)], fill=0.97, k=1)
    assert _values(rec.read(page)) == [value]
    monkeypatch.setattr(paper, "COMB", False)
    assert _values(rec.read(page)) != [value]


def _boxed_camera_frame(hand, digits: str, k: int) -> np.ndarray:
    """A blurred grey frame of handwritten digits, each in a box drawn touching its ink: the
    camera's blur thickens the box's lines and joins them to the strokes that touch them."""
    images, labels = hand
    page = blank(1100, 400, level=200)
    x = 40
    for d in digits:
        bx, by, bw, bh = stamp(page, pick(images, labels, int(d), k), x, 150, 70)
        cv2.rectangle(page, (bx - 1, by - 1), (bx + bw, by + bh), PRINT, 2, cv2.LINE_AA)
        x += bw + 40
    return cv2.GaussianBlur(page, (5, 5), 1.5)


def test_digits_in_boxes_touching_their_ink_on_a_blurred_frame_are_read(rec, hand, monkeypatch):
    """The box's sides are found by their outer edges (straight, unbroken, square corners), not
    as thin lines: each digit is read in its own box. Without that step the boxes are read with
    their digits, mostly as low-confidence 0s and 8s, or rejected as among letters."""
    from edgedigits import paper

    frame = _boxed_camera_frame(hand, "012345678", k=2)
    assert _values(rec.read(frame)) == list("012345678")
    monkeypatch.setattr(paper, "FRAMES", False)
    assert len(rec.read(frame).numbers) < 3


def _touching_boxes_frame(hand, pair: str) -> np.ndarray:
    """A blurred frame: a digit in a thin box drawn touching its right side, and beside it, 3 px
    away, a neighbour's digit in a thick box; the blur joins the two boxes into one piece of ink."""
    images, labels = hand
    page = blank(400, 300, level=200)
    bx, by, bw, bh = stamp(page, pick(images, labels, int(pair[0]), 0), 48, 108, 56)
    cv2.rectangle(page, (40, 100), (bx + bw, 170), PRINT, 2, cv2.LINE_AA)
    x2 = bx + bw + 3
    cv2.rectangle(page, (x2, 92), (x2 + 72, 176), PRINT, 5, cv2.LINE_AA)
    stamp(page, pick(images, labels, int(pair[1]), 0), x2 + 18, 108, 56)
    return cv2.GaussianBlur(page, (5, 5), 1.5)


@pytest.mark.parametrize("pair", ["30", "46", "89"])
def test_two_drawn_boxes_run_together_are_each_read_as_a_box(rec, hand, monkeypatch, pair):
    """Two boxes side by side that the blur joined (neither test for one box holds for the pair)
    are found each between its own uprights: both digits are read. Without that step neither is."""
    from edgedigits import paper

    frame = _touching_boxes_frame(hand, pair)
    assert [d.label for d in rec.read(frame).digits if d.rejected is None] == [int(pair[0]), int(pair[1])]
    monkeypatch.setattr(paper, "SIDE_BY_SIDE", 0.0)
    assert [d.label for d in rec.read(frame).digits if d.rejected is None] == []


def test_no_handwritten_digit_is_taken_for_a_drawn_box():
    """A 0's round loop, a 9's loop over its tail, a 4's closed top: 200 training digits written
    70 px tall with a thick pen, and none of them has four straight sides meeting at square
    corners that enclose it."""
    from edgedigits.paper import _frame

    images, labels = handwriting()
    for d in range(10):
        for k in range(20):
            tile = pick(images, labels, d, k)
            ys, xs = np.nonzero(tile > 40)
            crop = tile[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            size = (max(1, round(crop.shape[1] * 70 / crop.shape[0])), 70)
            mask = cv2.dilate(
                ((cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC) > 100) * 255).astype(np.uint8), None
            )
            assert _frame(mask, 12) is None, (d, k)


def _thick_box() -> np.ndarray:
    """The mask of a box drawn 12 px thick (as a camera's blur makes a pen line), too thick for
    the thin-line tracing: only its outer edges find it."""
    mask = np.zeros((100, 90), np.uint8)
    cv2.rectangle(mask, (5, 5), (84, 94), 255, 11)
    return mask


def test_a_stroke_along_a_box_side_stays_with_its_digit(monkeypatch):
    """A 5's bar written just under the top side thickens that side's band; the box's pen is as
    thick as its thinnest side, and only that much is taken as the line."""
    from edgedigits import paper

    mask = _thick_box()
    mask[14:22, 25:70] = 255  # the bar, 2 px under the top side
    mask[22:60, 25:33] = 255  # and the stroke down from it
    lines = paper.separate_lines(mask, 12, 480)
    assert lines is not None and lines.cells
    assert lines.residual[14:22, 27:68].all() and lines.residual[24:58, 26:32].all()
    assert not lines.residual[:, :10].any() and not lines.residual[:, 80:].any() and not lines.residual[90:].any()
    monkeypatch.setattr(paper, "FRAMES", False)
    assert paper.separate_lines(mask, 12, 480) is None


def test_a_sliver_along_a_box_side_is_dropped_and_a_1_in_its_middle_is_kept(monkeypatch):
    """What is left of a stroke that ran along the left side is thin, upright and off the box's
    middle: no 1. A 1 written in the middle of the box is kept."""
    from edgedigits import paper

    mask = _thick_box()
    mask[20:70, 14:18] = 255  # a sliver along the left side
    mask[20:80, 43:48] = 255  # a 1 in the middle
    lines = paper.separate_lines(mask, 12, 480)
    assert not lines.residual[20:70, 12:19].any() and lines.residual[22:78, 44:47].all()
    monkeypatch.setattr(paper, "_frame_leftovers", lambda residual, cell: residual)
    assert paper.separate_lines(mask, 12, 480).residual[22:68, 14:18].all()


def test_a_lines_faint_edge_goes_with_it_and_a_stroke_touching_it_stays():
    """Beside a photographed line lies its blurred edge, ink much lighter than the line; a pen
    stroke touching the line is as dark as the line. With the frame's darkness known, the edge
    is removed with the line and the stroke is not."""
    from edgedigits.paper import _line_pixels

    component = np.zeros((20, 80), np.uint8)
    lines = np.zeros_like(component)
    lines[8:11, :] = 255  # the line, 3 px
    component[7:12, :] = 255  # ... with a faint row of edge on each side
    component[11:19, 40:44] = 255  # a stroke standing on it
    darkness = np.full(component.shape, 30, np.uint8)
    darkness[8:11, :] = 200
    darkness[11:19, 40:44] = 190
    grown = _line_pixels(lines, [(0, 8, 80, 3)], component, 1, darkness)
    assert grown[7, :].all() and grown[11, :40].all() and grown[11, 44:].all()  # the edge goes
    assert not grown[11, 40:44].any() and not grown[12:, :].any()  # the stroke stays whole
    plain = _line_pixels(lines, [(0, 8, 80, 3)], component, 1)
    assert not plain[7].any() and not plain[11].any()  # without the darkness, the line only


def test_a_bold_printed_word_whose_letters_ran_together_is_no_line(monkeypatch):
    """Shrinking a 300-dpi scan keeps the darkest pixels, so the letters of a bold label run into
    one wide blob, and its middle band looks like a thick horizontal line. A printed line is thin
    for the component it lies in; a band 16 px thick in a word 24 px tall is no line, and the
    word stays ink (its letters rejected as letters, not read as 1s)."""
    from edgedigits import paper

    mask = np.zeros((40, 200), np.uint8)
    cv2.putText(mask, "Customer", (2, 30), cv2.FONT_HERSHEY_DUPLEX, 1.0, 255, 4)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(mask)
    mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert cv2.connectedComponents(mask)[0] == 2  # one blob
    assert paper.separate_lines(mask, 12, 1500) is None
    monkeypatch.setattr(paper, "TEXT_T", 10.0)
    assert paper.separate_lines(mask, 12, 1500) is not None  # without the test: a 16-px "line"


def test_a_box_touched_from_outside_by_a_neighbouring_stroke_is_found_at_its_own_sides():
    """A neighbouring digit touching a box from the side joins the box's component and brings
    uprights of its own: the box's sides are the uprights where its top and bottom end, and the
    neighbour stays ink."""
    from edgedigits.paper import _frame, separate_lines

    mask = np.zeros((100, 140), np.uint8)
    cv2.rectangle(mask, (55, 5), (134, 94), 255, 11)
    mask[15:90, 30:40] = 255  # a 1 beside the box
    mask[50:56, 40:50] = 255  # ... joined to its left side
    _, _, _, uprights = _frame(mask, 12)
    assert [x for x, _, _, _ in uprights] == [49, 128]  # not the 1 at x = 30
    lines = separate_lines(mask, 12, 480)
    assert lines.cells == [(62, 12, 66, 76)] and lines.residual[20:85, 31:39].all()


def test_a_line_thickening_across_a_photo_goes_and_a_stroke_along_its_thin_part_stays(monkeypatch):
    """A long horizontal line 2 px thick at its left end and 5 px at its right (a photographed page
    nearer the lens on one side), with a pen stroke lying along its thin part: the whole line goes,
    the stroke stays. Taken against the thickness of the whole line, its thick end is kept as a
    stroke."""
    from edgedigits import paper

    component = np.zeros((40, 960), np.uint8)
    for x in range(960):
        t = 2 + (4 * x) // 960
        component[20 : 20 + t, x] = 255
    component[15:27, 100:130] = 255  # a stroke 12 px thick along the thin part
    lines = component.copy()
    boxes = [(0, 15, 960, 12)]
    removed = paper._line_pixels(lines, boxes, component, 1)
    assert removed[20:25, 860:960].all()  # the thick end (5 px) goes
    assert not removed[15:27, 105:125].any()  # the stroke stays
    monkeypatch.setattr(paper, "THICK_BLOCK", 0)
    assert not paper._line_pixels(lines, boxes, component, 1)[20:25, 860:960].any()


def _touching_in_squares(hand, value: str) -> np.ndarray:
    """``value`` on squared paper, one digit per square; the first and second digits, the third
    and fourth (and so on), are written towards each other until their ink overlaps by 2 px
    across the rule between their squares."""
    images, labels = hand
    sq, height = 26, 22  # squared paper at 150 dpi
    page = blank(400, 160)
    _squared(page, 20, 20, 20 + 14 * sq, 20 + 5 * sq, sq)
    for i, ch in enumerate(value):
        tile = pick(images, labels, int(ch), i)
        ys, xs = np.nonzero(tile > 40)
        width = round((xs.max() - xs.min() + 1) * height / (ys.max() - ys.min() + 1))
        rule = 20 + (4 + i + (1 - i % 2)) * sq  # the rule between this digit and its partner
        left = rule - width + 2 if i % 2 == 0 else rule - 2
        stamp(page, tile, left, 20 + 2 * sq + 2, height)
    return page


@pytest.mark.parametrize("value", ["04", "22", "35", "78"])
def test_digits_touching_across_a_rule_of_squared_paper_are_read_apart(rec, hand, monkeypatch, value):
    """Two digits in neighbouring squares whose ink touches across the rule between them are cut
    apart along that rule's own columns; without the cut they are one wide piece, not read.
    (Over all 100 pairs drawn this way, 39 are read with the cut and 23 without; none is lost.)"""
    from edgedigits import paper

    page = _touching_in_squares(hand, value)
    assert _values(rec.read(page)) == [value]
    monkeypatch.setattr(paper, "VBANDS", False)
    assert _values(rec.read(page)) != [value]


@pytest.mark.parametrize(("k", "dy"), [(1, -1), (2, -2), (3, -2)])
def test_a_7_whose_bar_lies_on_a_light_rule_keeps_its_bar(rec, hand, monkeypatch, k, dy):
    """On light squared paper a dark 7 written with its bar along a rule, the bar as thin as the
    rule, is told from the rule by its darkness and read as 7; the rule's removal alone takes the
    bar (the 7 is read as a 1 or lost)."""
    from edgedigits import paper

    images, labels = hand
    page = blank(400, 240)
    _squared(page, 20, 20, 380, 220, 26, level=150, thick=2)
    rule = 20 + 3 * 26
    stamp(page, pick(images, labels, 7, k), 20 + 5 * 26 + 3, rule + dy, 23)
    stamp(page, pick(images, labels, 3, k), 20 + 6 * 26 + 4, rule + 3, 21)
    assert _values(rec.read(page)) == ["73"]
    monkeypatch.setattr(paper, "DARKER", 0.0)
    assert _values(rec.read(page)) != ["73"]


@pytest.mark.parametrize("past", [4, 9])
def test_a_number_written_on_past_its_box_is_one_number(rec, hand, monkeypatch, past):
    """A number too long for its box: its last digit begins just beyond the box's right side. It
    is one number, not a number in the box and a digit beside it; a number written well clear of
    the box is its own."""
    from edgedigits import reader

    images, labels = hand
    page = blank(560, 200)
    box(page, 60, 50, 110, 60)
    boxes = write_number(page, images, labels, "85", 70, 62, 36, gap=8)
    x = 170 + past
    stamp(page, pick(images, labels, 3), x, 62, 36)
    write_number(page, images, labels, "46", 300, 62, 36, gap=8, k=1)  # well clear: its own number
    assert boxes[-1][0] + boxes[-1][2] < x
    assert _values(rec.read(page)) == ["853", "46"]
    monkeypatch.setattr(reader, "OVERFLOW", False)
    assert _values(rec.read(page)) != ["853", "46"]


@pytest.mark.parametrize("digit", [0, 4, 6, 9])
def test_a_bold_digit_is_a_candidate(rec, hand, digit):
    """A digit written with a broad marker (its mean stroke a quarter or more of its height, up to
    0.3) is read; a filled smudge is thicker still. With the limit at 0.25 it was no candidate."""
    from dataclasses import replace

    from edgedigits.vision import DEFAULT_CONFIG, stroke_width

    images, labels = hand
    bold = cv2.dilate(pick(images, labels, digit), np.ones((3, 3), np.uint8), iterations=2)
    page = blank(300, 200)
    x, y, w, h = stamp(page, bold, 100, 50, 60)
    ink = np.where(page[y : y + h, x : x + w] < 150, 255, 0).astype(np.uint8)
    assert 0.25 < stroke_width(ink) / max(w, h) <= 0.3
    assert [(d.label, d.rejected) for d in rec.read(page).digits] == [(digit, None)]
    thin_limit = Reader(rec, config=replace(DEFAULT_CONFIG, max_stroke=0.25))
    assert thin_limit.read(page).digits == ()
