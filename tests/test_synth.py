"""edgedigits.synth: deterministic generators, train/eval sources kept apart, MNIST-like output."""

from __future__ import annotations

import numpy as np
import pytest

from _support import has_module
from edgedigits import synth
from edgedigits.errors import InputError, MissingDependencyError
from edgedigits.samples import load_sample


@pytest.fixture(scope="module")
def digits():
    return load_sample("heldout")[0][:20]


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0:28, 0:28]
    total = img.sum()
    return (ys * img).sum() / total, (xs * img).sum() / total


@pytest.mark.parametrize("kind", list(synth.CORRUPTIONS))
def test_every_corruption_changes_images_and_is_deterministic(digits, kind):
    for severity in synth.SEVERITIES:
        a = synth.corrupt(digits, kind, severity, seed=3)
        assert a.shape == digits.shape and a.dtype == np.uint8
        assert not np.array_equal(a, digits)
        assert np.array_equal(a, synth.corrupt(digits, kind, severity, seed=3))


@pytest.mark.parametrize("kind", ["blur", "noise", "low_contrast", "thick", "jpeg"])
def test_severity_grows(digits, kind):
    change = [np.abs(synth.corrupt(digits, kind, s).astype(int) - digits).mean() for s in synth.SEVERITIES]
    assert change[0] < change[1] < change[2]


def test_corrupt_accepts_one_image(digits):
    assert synth.corrupt(digits[0], "rotate", 1).shape == (1, 28, 28)


@pytest.mark.parametrize(
    "kind, severity, message", [("fog", 1, "unknown corruption 'fog'"), ("blur", 4, "severity must be 1, 2 or 3")]
)
def test_bad_corruption_arguments(digits, kind, severity, message):
    with pytest.raises(InputError, match=message):
        synth.corrupt(digits, kind, severity)


def test_corrupt_refuses_non_mnist_arrays():
    with pytest.raises(InputError, match="expected uint8 images N x 28 x 28"):
        synth.corrupt(np.zeros((2, 32, 32), np.uint8), "blur", 1)


def test_negatives_cover_every_kind_and_are_placed_like_mnist():
    images, kinds = synth.negatives(160, "eval", seed=1)
    assert images.shape == (160, 28, 28) and images.dtype == np.uint8
    assert set(kinds) == set(synth.NEGATIVE_KINDS)
    for img, kind in zip(images, kinds):
        if img.any():  # mnist_normalize: ink inside the 20x20 box, centre of mass near the middle
            cy, cx = _centre_of_mass(img.astype(float))
            assert abs(cy - 13.5) < 2.5 and abs(cx - 13.5) < 2.5, kind
    ink = {k: images[kinds == k].mean() for k in synth.NEGATIVE_KINDS}
    assert ink["blank"] < ink["blob"]


def test_generators_are_deterministic_and_splits_differ():
    a, _ = synth.negatives(40, "train", seed=5)
    b, _ = synth.negatives(40, "train", seed=5)
    c, _ = synth.negatives(40, "eval", seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    d1, l1 = synth.rendered_digits(30, "eval", seed=2)
    d2, l2 = synth.rendered_digits(30, "eval", seed=2)
    assert np.array_equal(d1, d2) and np.array_equal(l1, l2)
    assert not np.array_equal(d1, synth.rendered_digits(30, "train", seed=2)[0])


def test_training_and_evaluation_fonts_are_disjoint():
    assert not set(synth.FONTS["train"]) & set(synth.FONTS["eval"])


def test_no_negative_glyph_looks_like_a_digit():
    for ch in "OoQDIilJjTtZzSsBGbgqay0123456789|/\\!()[]{}$":
        assert ch not in synth.LETTERS + synth.SYMBOLS, ch


def test_rendered_digits_are_balanced_and_inked():
    images, labels = synth.rendered_digits(50, "train", seed=0)
    assert images.shape == (50, 28, 28) and np.bincount(labels).tolist() == [5] * 10
    assert all(img.max() > 200 for img in images)


def test_bad_split_and_kind():
    with pytest.raises(InputError, match="unknown split 'test'"):
        synth.rendered_digits(5, "test")
    with pytest.raises(InputError, match="unknown negative kinds"):
        synth.negatives(5, "eval", kinds=("letter", "cat"))


@pytest.mark.skipif(not has_module("sklearn"), reason="scikit-learn is not installed (pip install scikit-learn)")
def test_sklearn_digits_become_mnist_like_crops():
    images, labels = synth.sklearn_digits()
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert set(labels.tolist()) == set(range(10))
    assert all(img.max() > 200 for img in images[:50])


def test_form_marks_are_placed_like_mnist_and_deterministic():
    images, kinds = synth.negatives(50, "eval", seed=3, kinds=synth.FORM_KINDS)
    assert set(kinds) == set(synth.FORM_KINDS) and all(img.max() > 100 for img in images)
    again, _ = synth.negatives(50, "eval", seed=3, kinds=synth.FORM_KINDS)
    assert np.array_equal(images, again)
    assert not np.array_equal(images, synth.negatives(50, "train", seed=3, kinds=synth.FORM_KINDS)[0])


def test_partial_digits_leave_out_the_digits_that_survive_a_cut():
    assert not {1, 7} & set(synth.PARTIAL_DIGITS)


def test_letter_and_font_files_of_the_two_splits_are_disjoint():
    from edgedigits import glyphs

    for script, splits in glyphs.FONTS.items():
        train = {f for files in splits["train"].values() for f in files}
        evaluation = {f for files in splits["eval"].values() for f in files}
        assert not train & evaluation, script
    assert len(glyphs.SCRIPTS) >= 6
    for chars in glyphs.SCRIPTS.values():
        assert not set(chars) & set("0123456789OoIl|")


def test_font_kinds_name_their_script_or_say_what_to_install():
    from edgedigits import glyphs
    from edgedigits._deps import has

    if has("PIL") and glyphs.available("eval", "latin", "printed"):
        _, kinds = synth.negatives(8, "eval", seed=0, kinds=synth.FONT_KINDS)
        assert all(k.split(":")[0] in synth.FONT_KINDS and k.split(":")[1] in glyphs.SCRIPTS for k in kinds)
    else:
        with pytest.raises(MissingDependencyError, match="install"):
            synth.negatives(2, "eval", seed=0, kinds=("printed_letter",))
