"""The form-page generator (benchmarks/formgen.py) and its scorer."""

from __future__ import annotations

import numpy as np
import pytest

import formgen


@pytest.fixture(scope="module")
def form_page(mnist_dir, monkeypatch_module):
    monkeypatch_module.setenv("EDGEDIGITS_DATA", str(mnist_dir))
    return formgen.make_page("test", seed=5, index=1)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _gray(page):
    return page.image.min(axis=2).astype(np.int16)


def test_same_seed_same_page_and_truth(form_page):
    again = formgen.make_page("test", seed=5, index=1)
    assert np.array_equal(again.image, form_page.image)
    assert again.digits == form_page.digits and again.numbers == form_page.numbers
    assert again.structure == form_page.structure and again.marks == form_page.marks
    other = formgen.make_page("test", seed=5, index=2)
    assert other.digits != form_page.digits


def test_test_split_takes_mnist_test_digits_and_dev_training_digits(form_page, mnist_test, mnist_train):
    images, labels = mnist_test
    source = formgen.mnist_source("test")
    assert source.images is not None and np.array_equal(source.images, images)
    assert len(form_page.digits) > 30
    for d in form_page.digits:
        assert 0 <= d.source_index < len(images) and d.label == labels[d.source_index]
    dev = formgen.make_page("dev", seed=5, index=1)
    assert np.array_equal(formgen.mnist_source("dev").images, mnist_train[0])
    assert any(d.source_index >= len(images) for d in dev.digits)  # indexes only the training set has
    for d in dev.digits:
        assert d.label == mnist_train[1][d.source_index]
    assert [d.box for d in dev.digits] != [d.box for d in form_page.digits]  # another page, not the same layout


def test_truth_boxes_lie_on_ink(form_page):
    gray = _gray(form_page)
    paper = np.median(gray)
    for d in form_page.digits:
        x, y, w, h = d.box
        patch = gray[y : y + h, x : x + w]
        assert (patch < paper - 60).mean() > 0.04, d
        # the box is tight: its first and last columns hold ink
        assert (patch[:, 0] < paper - 30).any() or (patch[:, :2] < paper - 30).any(), d
        assert (patch[:, -2:] < paper - 30).any(), d
    for i, n in enumerate(form_page.numbers):  # a number's box is the union of its digits'
        assert n.box == formgen._union([d.box for d in form_page.digits if d.number == i])
    members = {}
    for d in form_page.digits:
        members.setdefault(d.number, []).append(d.label)
    assert ["".join(map(str, members[i])) for i in range(len(form_page.numbers))] == [
        n.value for n in form_page.numbers
    ]


def test_photo_keeps_the_truth_on_the_warped_ink(form_page):
    photo = formgen.make_page("test", seed=5, index=1, photo=True)
    assert photo.image.shape[:2] != form_page.image.shape[:2]
    assert [d.label for d in photo.digits] == [d.label for d in form_page.digits]
    gray = _gray(photo)
    on_ink = 0
    for d in photo.digits:
        x, y, w, h = d.box
        inside = gray[y : y + h, x : x + w]
        ring = gray[max(0, y - h // 2) : y + h + h // 2, max(0, x - w // 2) : x + w + w // 2]
        on_ink += inside.min() < np.percentile(ring, 90) - 50
    assert on_ink >= 0.97 * len(photo.digits)
    # and a box shifted off its digit by twice its size is not on ink as often (the check can fail)
    off = sum(
        gray[y + 2 * h : y + 3 * h, x : x + w].size > 0
        and gray[y + 2 * h : y + 3 * h, x : x + w].min()
        < np.percentile(gray[y + 2 * h : y + 3 * h, x : x + w], 90) - 50
        for x, y, w, h in (d.box for d in photo.digits)
    )
    assert off < on_ink


def test_scorer_counts_a_perfect_reading_as_perfect(form_page):
    s = formgen.score_page(
        form_page, [(d.box, d.label) for d in form_page.digits], [(n.box, n.value) for n in form_page.numbers]
    )
    assert s.digits_right == s.digits == len(form_page.digits)
    assert s.numbers_right == s.numbers and s.false_total == 0 and s.digits_wrong == 0


def test_scorer_counts_wrong_labels_broken_numbers_and_structure(form_page):
    digits = [(d.box, d.label) for d in form_page.digits]
    digits[0] = (digits[0][0], (digits[0][1] + 1) % 10)  # one wrong label
    numbers = [(n.box, n.value) for n in form_page.numbers]
    numbers[0] = (numbers[0][0], numbers[0][1] + "1")  # a divider read into a number
    # a detection on a printed stroke far from any handwriting, as a reader that reads a box edge as "1"
    seg = next(
        s
        for s in form_page.structure
        if s.kind in ("comb", "box", "cell", "checkbox")
        and all(not formgen._hits_segment(d.box, s) for d in form_page.digits)
        and all(not formgen._hits_segment(b, s) for b, _ in form_page.marks)
    )
    mx, my = (seg.p0[0] + seg.p1[0]) / 2, (seg.p0[1] + seg.p1[1]) / 2
    digits.append(((int(mx) - 3, int(my) - 10, 6, 20), 1))
    digits.append(((5, 5, 10, 10), 7))  # blank margin
    s = formgen.score_page(form_page, digits, numbers)
    assert s.digits_right == s.digits - 1 and s.digits_wrong == 1
    assert s.numbers_right == s.numbers - 1
    assert s.false == {f"structure:{seg.kind}": 1, "background": 1} and s.false_structure == 1


def test_scorer_does_not_count_a_digit_merged_with_its_box_as_right(form_page):
    d = next(d for d in form_page.digits if d.box[2] > 8)
    x, y, w, h = d.box
    big = (x - 3 * w, y - 3 * h, 7 * w, 7 * h)  # one blob of the digit and everything around it
    s = formgen.score_page(form_page, [(big, d.label)], [])
    assert s.digits_right == 0 and s.false_total == 1
    # an OCR-style character box around a narrow digit (a 1): three times as wide, taller, IoU < 0.3
    one = next(d for d in form_page.digits if 4 <= 2 * d.box[2] < d.box[3])
    x, y, w, h = one.box
    char = (x - w, y - h // 4, 3 * w, h + h // 2)
    assert formgen.iou(char, one.box) < 0.3
    assert formgen.score_page(form_page, [(char, one.label)], []).digits_right == 1
    assert formgen.score_page(form_page, [], []).digits_right == 0


def test_a_piece_of_a_signature_on_its_line_is_a_mark_and_a_piece_of_the_line_is_structure():
    """A false detection half inside a signature's box is the signature's ink (a mark), also where
    it lies on the signature line; one on the line away from the signature is the line."""
    line = formgen.Segment("underline", (100.0, 200.0), (500.0, 200.0), 2.0)
    page = formgen.Page(
        image=np.zeros((400, 600, 3), np.uint8),
        digits=[],
        numbers=[],
        marks=[((150, 120, 200, 90), "signature")],
        texts=[],
        structure=[line],
        meta={},
    )
    assert formgen.classify_false(page, (300, 170, 12, 36)) == "mark"  # a stroke of it down to the line
    assert formgen.classify_false(page, (420, 180, 8, 24)) == "structure:underline"
    s = formgen.score_page(page, [((300, 170, 12, 36), 1), ((420, 180, 8, 24), 1)], [])
    assert s.false == {"mark": 1, "structure:underline": 1} and s.false_structure == 1
