"""edgedigits.vision on rendered sheets of real MNIST test digits with known ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgedigits.camera.render import FrameJitter, Score, Style, paper, render_scene, score, shifted
from edgedigits.errors import InputError
from edgedigits.vision import FinderConfig, find_digits, group_numbers


def _sheet(gray_level=220, size=(320, 240)):
    return np.full((size[1], size[0], 3), gray_level, np.uint8)


def _read(recognizer, frame):
    cands = find_digits(frame)
    if not cands:
        return cands, np.zeros(0, int), np.zeros(0)
    r = recognizer.classify(np.stack([c.crop for c in cands]))
    return cands, r.labels, r.confidences


def test_reads_rendered_sheets_of_mnist_test_digits(mnist_test, recognizer):
    """Full-MNIST test digits, uneven light, blur, noise, perspective, marks: >= 95 % read right."""
    images, labels = mnist_test
    rng = np.random.default_rng(11)
    total = Score()
    for _ in range(25):
        scene = render_scene(rng, images, labels)
        frame, shift = FrameJitter(rng, (640, 480)).apply(scene)
        cands, got, conf = _read(recognizer, frame)
        keep = conf >= 0.6
        total.add(score(shifted(scene.digits, shift), [c.box for c, k in zip(cands, keep) if k], got[keep]))
    assert total.digits > 80
    assert total.read_rate >= 0.95, total


def test_empty_sheets_under_uneven_light_give_nothing(rng):
    for _ in range(5):
        scene = render_scene(
            rng,
            np.zeros((1, 28, 28), np.uint8),
            np.zeros(1, int),
            n_digits=0,
            n_marks=0,
            style=Style(light_min=(0.3, 0.5), blur_sigma=(0.8, 1.5)),
        )
        frame, _ = FrameJitter(rng, (640, 480), noise_sigma=5).apply(scene)
        assert find_digits(frame) == []


def test_holes_are_not_separate_digits(heldout):
    images, labels = heldout
    for digit in (0, 6, 8, 9):
        tile = images[np.flatnonzero(labels == digit)[0]]
        big = cv2.resize(255 - tile, (112, 112), interpolation=cv2.INTER_CUBIC)
        sheet = np.full((200, 200), 230, np.uint8)
        sheet[40:152, 40:152] = np.minimum(sheet[40:152, 40:152], big)
        assert len(find_digits(sheet)) == 1, digit


def test_broken_stroke_is_joined_into_one_digit():
    sheet = np.full((160, 160), 225, np.uint8)
    cv2.line(sheet, (50, 40), (110, 40), 30, 6)  # the bar of a 7 ...
    cv2.line(sheet, (108, 46), (70, 125), 30, 6)  # ... its stem, 2 px below: broken
    found = find_digits(sheet)
    assert len(found) == 1
    x, y, w, h = found[0].box
    assert y <= 38 and y + h >= 124


def test_a_thin_tall_one_is_kept_and_thin_strokes_are_thickened(recognizer):
    sheet = np.full((200, 200), 225, np.uint8)
    cv2.line(sheet, (100, 40), (96, 150), 40, 2)  # a hairline 1, 110 px tall
    cands, labels, _ = _read(recognizer, sheet)
    assert len(cands) == 1 and labels[0] == 1
    assert cands[0].crop.max() == 255 and (cands[0].crop > 128).sum() >= 25


@pytest.mark.parametrize(
    "mark", ["horizontal line", "slanted line", "filled smudge", "specks", "cut off at the edge", "huge"]
)
def test_non_digit_blobs_are_rejected_by_shape(mark):
    sheet = np.full((240, 320), 225, np.uint8)
    if mark == "horizontal line":
        cv2.line(sheet, (40, 120), (260, 130), 30, 4)
    elif mark == "slanted line":
        cv2.line(sheet, (60, 150), (200, 60), 30, 4)  # 33 degrees: flatter than any 1
    elif mark == "filled smudge":
        cv2.ellipse(sheet, (160, 120), (40, 30), 20, 0, 360, 90, -1)
        sheet = cv2.GaussianBlur(sheet, (0, 0), 3)
    elif mark == "specks":
        for x in range(20, 300, 25):
            cv2.circle(sheet, (x, 60 + x % 90), 1, 40, -1)
    elif mark == "cut off at the edge":
        cv2.line(sheet, (5, 0), (5, 80), 30, 5)
    else:
        cv2.rectangle(sheet, (2, 2), (317, 237), 30, 6)
    assert find_digits(sheet) == []


@pytest.mark.parametrize("side", ["left", "top", "right", "bottom"])
def test_a_digit_clipped_by_the_frame_edge_is_read_and_a_thin_stroke_running_off_it_is_not(heldout, recognizer, side):
    """A digit whose ink reaches the frame's edge (its last 2 px out of the frame) is read; a
    1-like stroke running off the frame is not a candidate (it may be any stroke cut off)."""
    images, labels = heldout
    digit = next(i for i, k in enumerate(labels) if k == 4)
    ink = cv2.resize(images[digit], (84, 84), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.nonzero(ink > 40)
    ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    frame = np.full((240, 320), 225, np.uint8)
    h, w = ink.shape
    y, x = {"left": (80, -2), "top": (-2, 120), "right": (80, 322 - w), "bottom": (242 - h, 120)}[side]
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(240, y + h), min(320, x + w)
    region = frame[y0:y1, x0:x1]
    frame[y0:y1, x0:x1] = np.minimum(region, 255 - ink[y0 - y : y1 - y, x0 - x : x1 - x] * 0.8).astype(np.uint8)
    cands, got, conf = _read(recognizer, frame)
    assert len(cands) == 1 and got[0] == 4 and conf[0] >= 0.6
    if side == "left":
        cv2.line(frame, (200, 0), (203, 70), 30, 5)  # a stroke running off the top
        assert len(find_digits(frame)) == 1


def test_crops_are_normalised_like_mnist(heldout):
    images, labels = heldout
    scene = render_scene(np.random.default_rng(2), images, labels, n_marks=0)
    for c in find_digits(scene.image):
        assert c.crop.shape == (28, 28) and c.crop.dtype == np.uint8
        ys, xs = np.nonzero(c.crop)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) <= 21  # fitted into 20x20 (+AA)
        m = c.crop.astype(float)
        cy, cx = (m.sum(1) * np.arange(28)).sum() / m.sum(), (m.sum(0) * np.arange(28)).sum() / m.sum()
        assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1  # centre of mass centred
        assert c.crop.max() >= 230 and c.crop[0].max() == 0  # MNIST intensity, dark border


def test_rendered_numbers_are_grouped(heldout, recognizer):
    images, labels = heldout
    rng = np.random.default_rng(5)
    found = expected = 0
    for _ in range(10):
        scene = render_scene(rng, images, labels, n_marks=0, style=Style(blur_sigma=(0, 0.5)))
        cands, got, _ = _read(recognizer, scene.image)
        values = {n.value for n in group_numbers([c.box for c in cands], got)}
        expected += len(scene.numbers)
        found += sum(v in values for _, v in scene.numbers)
    assert found >= 0.85 * expected


def test_group_numbers_lines_and_gaps():
    boxes = [
        (10, 10, 20, 40),
        (34, 12, 22, 40),
        (60, 8, 20, 42),  # "471" on one line
        (200, 10, 20, 40),  # far away: its own number
        (12, 100, 20, 40),
        (36, 104, 20, 38),
    ]  # next line: "52"
    labels = [4, 7, 1, 9, 5, 2]
    numbers = group_numbers(boxes, labels)
    assert [n.value for n in numbers] == ["471", "9", "52"]
    assert numbers[0].box == (10, 8, 70, 44)
    assert group_numbers([], []) == []


def test_bad_input_is_one_clear_error():
    with pytest.raises(InputError):
        find_digits("frame.png")
    with pytest.raises(InputError, match="polarity"):
        find_digits(np.zeros((40, 40), np.uint8), FinderConfig(polarity="white"))
    with pytest.raises(InputError):
        find_digits(np.zeros((0, 10), np.uint8))


def test_paper_texture_alone_is_not_ink(rng):
    frame = np.clip(paper(rng, (640, 480)), 0, 255).astype(np.uint8)
    assert find_digits(frame) == []


def test_touching_digits_are_split(heldout, recognizer):
    """Two digits joined by a pen stroke form one blob; it is split between them."""
    images, labels = heldout
    sheet = np.full((160, 300), 225, np.uint8)
    x, placed = 40, []
    for digit in (4, 7):
        tile = 255 - cv2.resize(images[np.flatnonzero(labels == digit)[0]], (84, 84), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.nonzero(tile < 100)
        left = x - xs.min()
        sheet[40:124, left : left + 84] = np.minimum(sheet[40:124, left : left + 84], tile)
        placed.append(((left + xs.min(), 40 + ys[xs.argmin()]), (left + xs.max(), 40 + ys[xs.argmax()])))
        x = left + xs.max() + 6
    cv2.line(sheet, placed[0][1], placed[1][0], 40, 2)  # the joining stroke
    assert len(find_digits(sheet, FinderConfig(split_aspect=99))) == 1  # one blob ...
    cands = sorted(find_digits(sheet), key=lambda c: c.box[0])
    assert len(cands) == 2  # ... two digits
    assert list(recognizer.classify(np.stack([c.crop for c in cands])).labels) == [4, 7]
