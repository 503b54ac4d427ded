"""Malformed inputs never crash the process (property-based, with hypothesis).

Every public entry point that takes pixels - the preprocessing functions, the digit finder and
the SDK's ``Recognizer.read`` / ``Recognizer.classify`` - is given frames of any size (0x0 and
1 pixel included), dtype (uint8, uint16, int32, float32/64 with NaN and infinities, bool), channel
count and memory layout (strided, transposed, reversed, Fortran-ordered, read-only), and
non-arrays. Each call must either return a well-formed result or raise the documented
:class:`edgedigits.errors.InputError` (a ``ValueError``) with one sentence saying what was
expected: never another exception type, never a crash.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgedigits.errors import InputError
from edgedigits.preprocess import ink_from_gray, mnist_normalize, prepare_single, to_gray
from edgedigits.recognizer import Classification, Digit, Recognizer
from edgedigits.vision import InkBlob, find_digits

# deadline=None: the machine may be busy; the example counts keep the module well under a minute.
# EDGEDIGITS_FUZZ_SCALE=20 runs twenty times as many examples (a longer hunt, outside CI).
_SCALE = float(os.environ.get("EDGEDIGITS_FUZZ_SCALE", "1"))
FAST = settings(
    max_examples=int(150 * _SCALE),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOWER = settings(FAST, max_examples=int(100 * _SCALE))

FRAME_DTYPES = (np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_)


# -- strategies --------------------------------------------------------------------------------
def _elements(dtype: np.dtype):
    """Every value of ``dtype``, NaN and both infinities included for floats."""
    if dtype.kind == "f":
        return st.one_of(
            st.floats(0, 1, width=dtype.itemsize * 8),
            st.floats(allow_nan=True, allow_infinity=True, width=dtype.itemsize * 8),
        )
    return hnp.from_dtype(dtype)


def _sides(largest: int):
    """Image sides: often 0, 1 or 2 pixels, otherwise up to ``largest``, now and then a camera's."""
    return st.one_of(st.integers(0, 2), st.integers(0, largest), st.sampled_from([480, 641]))


@st.composite
def _layout(draw, arr: np.ndarray) -> np.ndarray:
    """The same kind of array in another memory layout: strided, transposed, reversed, read-only."""
    how = draw(st.sampled_from(["as-is", "transposed", "stepped", "reversed", "fortran", "channels-reversed"]))
    if how == "transposed":
        arr = arr.swapaxes(0, 1)
    elif how == "stepped":
        arr = arr[:: draw(st.integers(1, 3)), :: draw(st.integers(1, 3))]
    elif how == "reversed":
        arr = arr[::-1, ::-1]
    elif how == "fortran":
        arr = np.asfortranarray(arr)
    elif how == "channels-reversed" and arr.ndim == 3:
        arr = arr[:, :, ::-1]
    if draw(st.booleans()):
        arr = arr.view()
        arr.setflags(write=False)
    return arr


def _shape(h: int, w: int, channels: int | None) -> tuple:
    return (h, w) if channels is None else (h, w, channels)


@st.composite
def noise_frames(draw, largest: int = 40, dtypes=FRAME_DTYPES, channels=(None, 1, 3, 4)) -> np.ndarray:
    """Frames of arbitrary pixel values, sizes, dtypes, channel counts and layouts."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = _shape(draw(_sides(largest)), draw(_sides(largest)), draw(st.sampled_from(channels)))
    if np.prod(shape) > 4096:  # a camera-sized frame: a few values over a plain background
        arr = draw(hnp.arrays(dtype, shape, elements=_elements(dtype), fill=_elements(dtype)))
    else:
        arr = draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    return draw(_layout(arr))


def _convert(canvas: np.ndarray, dtype: np.dtype, draw) -> np.ndarray:
    """A uint8 drawing in ``dtype`` (at its usual scale), floats with some NaN/inf pixels."""
    if dtype == np.bool_:
        return canvas > 127
    if dtype == np.uint16:
        return canvas.astype(np.uint16) * 257
    if dtype.kind == "f":
        out = canvas.astype(dtype) / draw(st.sampled_from([255.0, 1.0]))
        for value in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=3)):
            out.flat[draw(st.integers(0, out.size - 1))] = value
        return out
    return canvas.astype(dtype)


@functools.lru_cache(maxsize=1)
def _digits() -> np.ndarray:
    """The shipped held-out MNIST test digits (28x28, white on black)."""
    from edgedigits.samples import load_sample

    return load_sample("heldout")[0]


def _mark(canvas: np.ndarray, kind: str, x: int, y: int, size: int, thick: int, ink: int, digit: int) -> None:
    """Draw one mark of about ``size`` pixels at (x, y): a real MNIST digit, a stroke, a ring or a blob."""
    if kind == "digit":
        tile = cv2.resize(_digits()[digit % len(_digits())], (size, size), interpolation=cv2.INTER_LINEAR)
        y0, x0 = max(0, y), max(0, x)
        y1, x1 = min(canvas.shape[0], y + size), min(canvas.shape[1], x + size)
        if y1 > y0 and x1 > x0:
            alpha = tile[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255
            region = canvas[y0:y1, x0:x1]
            region[:] = (region * (1 - alpha) + ink * alpha).astype(np.uint8)
    elif kind == "line":
        cv2.line(canvas, (x, y), (x + size, y + size // (thick + 1)), ink, thick)
    elif kind == "ring":
        cv2.circle(canvas, (x, y), size // 2, ink, thick)
    else:
        cv2.circle(canvas, (x, y), size // 3, ink, cv2.FILLED)


@st.composite
def drawn_frames(draw, dtypes=FRAME_DTYPES, channels=(None, 1, 3, 4)) -> np.ndarray:
    """Sheets with real MNIST digits (some touching or cut by the border), strokes, rings and
    smudges, so the digit finder's deeper steps (merging, splitting, stroke checks) run too; any
    size, paper and ink levels, dtype, channel count and layout."""
    h, w = draw(st.integers(1, 160)), draw(st.integers(1, 200))
    paper, ink = draw(st.sampled_from([(230, 30), (30, 230)]) | st.tuples(st.integers(0, 255), st.integers(0, 255)))
    canvas = np.full((h, w), paper, np.uint8)
    marks = st.tuples(
        st.sampled_from(["digit", "digit", "digit", "line", "ring", "blob"]),
        st.floats(-0.1, 1.1),
        st.floats(-0.1, 1.1),
        st.integers(4, 90),
        st.integers(1, 8),
        st.integers(0, 999),
    )
    for kind, fx, fy, size, thick, digit in draw(st.lists(marks, min_size=1, max_size=6)):
        _mark(canvas, kind, int(fx * (w - size)), int(fy * (h - size)), size, thick, ink, digit)
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    channel = draw(st.sampled_from(channels))
    arr = _convert(canvas, dtype, draw)
    if channel is not None:
        arr = np.repeat(arr[:, :, None], channel, axis=2)
    return draw(_layout(arr))


frames = st.one_of(noise_frames(), drawn_frames())

#: Unusual arrays: other dtypes (complex, int8, float16, ...), channel counts (2, 5) and dimensions (0-D to 5-D).
odd_arrays = st.one_of(
    noise_frames(dtypes=(np.complex64, np.int8, np.float16, np.int64, np.uint32), channels=(None, 3, 2, 5)),
    hnp.arrays(
        st.sampled_from([np.uint8, np.float32]), hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)
    ),
    st.builds(lambda s: np.full((3, 4), s, dtype=object), st.sampled_from([None, "x", 1.5])),
    st.builds(lambda s: np.full((3, 4), s), st.sampled_from(["ab", b"cd"])),
)

#: Things that are not arrays at all.
not_arrays = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.integers(),
    st.floats(),
    st.lists(st.integers(0, 255), max_size=5),
    st.lists(st.lists(st.integers(0, 255), max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.none(), max_size=3),
)


# -- the contract ------------------------------------------------------------------------------
def outcome(call, *args):
    """(result, None) when ``call`` works, (None, error) when it refuses its input.

    A refusal must be the documented InputError (a ValueError) with one sentence saying what was
    expected; any other exception fails the test.
    """
    try:
        return call(*args), None
    except InputError as exc:
        message = str(exc)
        assert isinstance(exc, ValueError)
        assert message.endswith(".") and "\n" not in message, message
        assert "expected" in message or "pass " in message, message
        return None, exc


def frame_size(frame) -> tuple[int, int]:
    return frame.shape[0], frame.shape[1]


def supported_frame(frame) -> bool:
    """Whether the preprocessing documents ``frame`` as readable (so it must not be refused)."""
    return (
        isinstance(frame, np.ndarray)
        and frame.size > 0
        and frame.dtype.kind in "buif"
        and (frame.ndim == 2 or frame.ndim == 3 and frame.shape[2] in (1, 3, 4))
    )


def supported_ink(ink) -> bool:
    """Whether :func:`mnist_normalize` documents ``ink`` as readable."""
    if not isinstance(ink, np.ndarray) or ink.ndim != 2 or ink.dtype.kind not in "buif":
        return False
    return ink.dtype.kind != "f" or bool(np.isfinite(ink).all())


def check_box(box, frame) -> None:
    h, w = frame_size(frame)
    assert len(box) == 4 and all(isinstance(v, int) for v in box), box
    x, y, bw, bh = box
    assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h, (box, frame.shape)


def check_crop(crop) -> None:
    assert isinstance(crop, np.ndarray) and crop.shape == (28, 28) and crop.dtype == np.uint8


def check_classification(result, n: int) -> None:
    assert isinstance(result, Classification) and len(result) == n
    assert result.labels.shape == (n,) and result.labels.dtype.kind == "i"
    assert ((0 <= result.labels) & (result.labels <= 9)).all()
    p = result.probabilities
    assert p.shape == (n, 10) and p.dtype == np.float32 and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-4)
    c = result.confidences
    assert c.shape == (n,) and np.isfinite(c).all() and ((0 <= c) & (c <= 1 + 1e-6)).all()
    assert result.rejected.shape == (n,) and result.rejected.dtype == np.bool_


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEDIGITS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        with Recognizer(backend="onnxruntime") as r:
            yield r


# -- preprocessing -----------------------------------------------------------------------------
@FAST
@given(st.one_of(frames, odd_arrays, not_arrays))
@example(np.full((3, 3), 1e300))  # found: float32 overflow warning on conversion
def test_to_gray_gives_a_gray_uint8_frame_or_refuses(frame):
    gray, error = outcome(to_gray, frame)
    if error is not None:
        assert not supported_frame(frame)
        return
    assert supported_frame(frame)
    assert gray.dtype == np.uint8 and gray.shape == frame_size(frame) and gray.flags.c_contiguous


@FAST
@given(st.one_of(frames, odd_arrays, not_arrays))
@example(np.zeros((0, 5), np.uint8))  # found: IndexError
@example(np.zeros((5, 6, 3), np.uint8))  # found: cv2.error from Otsu's threshold
@example(np.zeros(5, np.uint8))  # found: IndexError
@example(np.full((3, 4), "ab"))  # found: ValueError "invalid literal for int()"
@example(None)  # found: AttributeError
def test_ink_from_gray_gives_ink_of_the_same_size_or_refuses(frame):
    ink, error = outcome(ink_from_gray, frame)
    if error is not None:
        assert not supported_frame(frame)
        return
    assert supported_frame(frame)
    assert ink.dtype == np.uint8 and ink.shape == frame_size(frame)


@FAST
@given(st.one_of(frames, odd_arrays, not_arrays))
@example(np.ones((5, 6, 3), np.uint8))  # found: ValueError "too many values to unpack"
@example(np.ones(5, np.uint8))  # found: ValueError "not enough values to unpack"
@example(None)  # found: AttributeError
@example(np.full((3, 4), None, object))  # found: objects silently read as no ink
@example(np.full((5, 6), np.nan, np.float32))  # found: NaN silently read as no ink
def test_mnist_normalize_gives_28x28_or_refuses(ink):
    crop, error = outcome(mnist_normalize, ink)
    assert (error is None) == supported_ink(ink), error
    if error is None:
        check_crop(crop)


def test_mnist_normalize_reads_bool_ink_as_full_intensity():
    ink = np.zeros((20, 10), bool)
    ink[2:18, 4:6] = True
    np.testing.assert_array_equal(mnist_normalize(ink), mnist_normalize(ink.astype(np.uint8) * 255))


@FAST
@given(st.one_of(frames, odd_arrays, not_arrays))
def test_prepare_single_gives_28x28_or_refuses(image):
    crop, error = outcome(prepare_single, image)
    if error is not None:
        assert not supported_frame(image)
        return
    check_crop(crop)


@SLOWER
@given(st.one_of(frames, odd_arrays, not_arrays))
def test_find_digits_gives_candidates_inside_the_frame_or_refuses(frame):
    found, error = outcome(find_digits, frame)
    if error is not None:
        assert not supported_frame(frame)
        return
    for c in found:
        assert isinstance(c, InkBlob)
        check_box(c.box, frame)
        check_crop(c.crop)
        assert 0 <= c.density <= 1


# -- the SDK -----------------------------------------------------------------------------------
@SLOWER
@given(st.one_of(frames, odd_arrays, not_arrays))
def test_read_gives_digits_inside_the_frame_or_refuses(rec, frame):
    digits, error = outcome(rec.read, frame)
    if error is not None:
        assert not supported_frame(frame)
        return
    for d in digits:
        assert isinstance(d, Digit) and isinstance(d.label, int) and 0 <= d.label <= 9
        assert isinstance(d.confidence, float) and 0 <= d.confidence <= 1
        check_box(d.box, frame)


BATCH_DTYPES = (np.uint8, np.float32, np.float64, np.float16, np.uint16, np.int32, np.bool_, np.complex64)


@st.composite
def batches(draw) -> np.ndarray:
    """28x28 images in every documented layout (and a few wrong ones), any dtype and layout."""
    n = draw(st.integers(0, 4))
    shape = draw(
        st.sampled_from(
            [
                (28, 28),
                (n, 28, 28),
                (n, 1, 28, 28),
                (27, 28),
                (28, 27),
                (n, 28, 28, 1),
                (n, 2, 28, 28),
                (1, 1, 1, 28, 28),
                (n, 784),
                (784,),
                (),
            ]
        )
    )
    dtype = np.dtype(draw(st.sampled_from(BATCH_DTYPES)))
    elements = st.floats(0, 1, width=32) if dtype.kind == "f" and draw(st.booleans()) else _elements(dtype)
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(_layout(arr)) if arr.ndim >= 2 else arr


def documented_batch(images) -> bool:
    """Whether ``images`` is a batch that Recognizer.classify documents as accepted."""
    if (
        not isinstance(images, np.ndarray)
        or images.dtype.kind not in "uf"
        or images.dtype.kind == "u"
        and images.dtype != np.uint8
    ):
        return False
    layout = (
        images.shape in ((28, 28),)
        or images.ndim == 3
        and images.shape[1:] == (28, 28)
        or images.ndim == 4
        and images.shape[1:] == (1, 28, 28)
    )
    with np.errstate(over="ignore"):  # floats beyond float32's range are refused like inf
        return layout and images.size > 0 and bool(np.isfinite(images.astype(np.float32)).all())


def batch_size(images: np.ndarray) -> int:
    return 1 if images.ndim == 2 else len(images)


@FAST
@given(st.one_of(batches(), odd_arrays, not_arrays, st.lists(batches(), max_size=3), st.tuples(batches(), batches())))
@example([])  # found: reported as "different shapes"
@example([np.zeros((28, 28)), np.full((28, 28), "a")])  # found: numpy's DTypePromotionError (a TypeError)
@example(np.full((28, 28), 1e300))  # found: overflow warning, then called "infinite"
@example(np.ma.masked_array(np.zeros((28, 28), np.float32)))  # an ndarray subclass
def test_classify_gives_a_well_formed_result_or_refuses(rec, images):
    result, error = outcome(rec.classify, images)
    if isinstance(images, np.ndarray):
        assert (error is None) == documented_batch(images), (images.shape, images.dtype, error)
    if error is None:
        check_classification(result, batch_size(np.asarray(images)))


# -- NaN and infinite pixels: refused by classify, sanitised by read ---------------------------
def test_classify_refuses_non_finite_pixels_in_every_layout(rec):
    for value in (np.nan, np.inf, -np.inf):
        for dtype in (np.float32, np.float64):
            batch = np.zeros((3, 1, 28, 28), dtype)
            batch[1, 0, 5, 7] = value
            for variant in (batch, batch[:, 0], batch[:, :, ::-1], batch[1, 0]):
                with pytest.raises(InputError, match="NaN or infinite"):
                    rec.classify(variant)


@pytest.mark.parametrize("white", [1.0, 255.0])
def test_a_frame_with_nan_or_inf_pixels_is_read_as_if_they_were_black_or_white(rec, white):
    page = cv2.imread(str(_photo(3)), cv2.IMREAD_GRAYSCALE).astype(np.float32) * (white / 255)
    spoiled, expected = page.copy(), page.copy()  # a few bad pixels scattered over the sensor
    for (rows, cols), bad, read_as in (
        ((slice(0, None, 17), slice(0, None, 13)), np.nan, 0),
        ((slice(5, None, 19), slice(7, None, 23)), np.inf, white),
        ((slice(9, None, 29), slice(3, None, 31)), -np.inf, 0),
    ):
        spoiled[rows, cols] = bad
        expected[rows, cols] = read_as
    np.testing.assert_array_equal(to_gray(spoiled), to_gray(expected))
    assert rec.read(spoiled) == rec.read(expected)
    assert [d.label for d in rec.read(spoiled)] == [3]


def _variants(bgr: np.ndarray):
    """The same picture in every dtype, channel count and memory layout the SDK reads."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    yield "bgr", bgr
    yield "gray", gray
    yield "gray HxWx1", gray[:, :, None]
    yield "bgra", cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    yield "uint16", gray.astype(np.uint16) * 257
    yield "float 0..1", gray / 255.0
    yield "float32 0..255", gray.astype(np.float32)
    yield "int32", gray.astype(np.int32)
    yield "fortran", np.asfortranarray(bgr)
    yield "transposed twice", np.ascontiguousarray(bgr.swapaxes(0, 1)).swapaxes(0, 1)
    padded = np.zeros((bgr.shape[0] * 2, bgr.shape[1] * 2, 3), np.uint8)
    padded[::2, ::2] = bgr
    yield "strided", padded[::2, ::2]
    flipped = np.ascontiguousarray(bgr[::-1, ::-1])
    yield "negative strides", flipped[::-1, ::-1]
    readonly = bgr.copy()
    readonly.setflags(write=False)
    yield "read-only", readonly


def test_every_dtype_and_layout_of_one_picture_reads_the_same(rec):
    page = np.concatenate([cv2.imread(str(_photo(n))) for n in (1, 5, 9)], axis=1)
    want = [d.label for d in sorted(rec.read(page), key=lambda d: d.box[0])]
    assert want == [1, 5, 9]
    for name, variant in _variants(page):
        assert [d.label for d in sorted(rec.read(variant), key=lambda d: d.box[0])] == want, name


def _photo(n: int) -> Path:
    return Path(__file__).resolve().parents[1] / "edgedigits" / "assets" / "digits" / f"photo_{n}.png"
