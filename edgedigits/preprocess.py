"""Turning images into what the model expects (pure numpy + OpenCV, usable on its own).

The model was trained on MNIST: a white digit on black, fitted into a 20x20 box keeping its
aspect ratio, then placed in 28x28 so that its centre of mass is at the centre. Everything here
reproduces that from arbitrary crops and photos.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InputError


#: What :func:`to_gray` (and everything built on it) reads, for error messages.
EXPECTED_IMAGE = (
    "an HxW (gray), HxWx1, HxWx3 (BGR) or HxWx4 (BGRA) numpy array of uint8, uint16, "
    "other integer, bool or float (0..1 or 0..255) pixels"
)


def check_image(image) -> np.ndarray:
    """``image`` as an HxW, HxWx3 or HxWx4 array after checking it is an image :func:`to_gray` reads.

    Raises:
        InputError: not a numpy array, a shape other than HxW / HxWx{1,3,4}, an unsupported dtype
            (complex, strings, objects, ...) or no pixels.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy array image, got {type(image).__name__}; pass {EXPECTED_IMAGE}.")
    img = image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if img.ndim != 2 and not (img.ndim == 3 and img.shape[2] in (3, 4)):
        raise InputError(f"got an image of shape {image.shape}; expected {EXPECTED_IMAGE}.")
    if img.dtype.kind not in "buif":
        raise InputError(f"got an image of dtype {image.dtype}; expected {EXPECTED_IMAGE}.")
    if img.size == 0:
        raise InputError(f"the image is empty (shape {image.shape}); pass an image with pixels.")
    return img


def _float_to_uint8(img: np.ndarray) -> np.ndarray:
    """Float pixels to uint8: 0..1 (when no finite pixel exceeds 1) or 0..255, clipped.

    Non-finite pixels are sanitised, not refused (a camera frame with a few bad pixels is still
    worth reading): NaN and -inf become black (0), +inf white (255).
    """
    finite = np.isfinite(img)
    all_finite = bool(finite.all())
    top = img.max(initial=0.0) if all_finite else img.max(where=finite, initial=0.0)
    scale = 255.0 if top <= 1.0 else 1.0
    out = np.clip(img, 0.0, 255.0 / scale).astype(np.float32)  # clipped first: no float32 overflow
    if not all_finite:
        np.nan_to_num(out, copy=False, nan=0.0)
    out *= np.float32(scale)
    return out.astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """A uint8, C-contiguous, single-channel version of an image (see :data:`EXPECTED_IMAGE`).

    uint16 keeps its high byte; other integers are clipped to 0..255; bool becomes 0/255; float
    pixels are read as 0..1 when none exceeds 1, else as 0..255 (see :func:`_float_to_uint8`:
    NaN and -inf pixels count as black, +inf as white). Any memory layout is accepted. A uint8
    gray image that is already C-contiguous is returned as is (not copied).

    Raises:
        InputError: the image cannot be read (see :func:`check_image`).
    """
    img = check_image(image)
    if img.dtype == np.uint8:
        pass
    elif img.dtype.kind == "u" and img.dtype.itemsize == 2:  # uint16, either byte order
        img = (img >> 8).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif img.dtype.kind == "f":
        img = _float_to_uint8(img)
    else:
        img = np.clip(img, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    return img


def _check_ink(ink) -> np.ndarray:
    """``ink`` as uint8 or float32 intensities 0..255, after the checks :func:`mnist_normalize` documents."""
    if not isinstance(ink, np.ndarray) or ink.ndim != 2 or ink.dtype.kind not in "buif":
        what = f"shape {ink.shape}, dtype {ink.dtype}" if isinstance(ink, np.ndarray) else type(ink).__name__
        raise InputError(
            f"got ink of {what}; expected a 2-D HxW array of uint8, integer, bool or float intensities 0..255."
        )
    if ink.dtype == np.uint8:
        return ink
    if ink.dtype == np.bool_:
        return ink.astype(np.uint8) * 255
    if ink.dtype.kind == "f" and not np.isfinite(ink).all():
        raise InputError("the ink holds NaN or infinite values; expected finite intensities 0..255.")
    return np.clip(ink, 0, 255).astype(np.float32)


def mnist_normalize(ink: np.ndarray) -> np.ndarray:
    """Place a crop of ink (white on black, any size) into 28x28 the way MNIST did.

    The ink's bounding box is scaled to fit 20x20 keeping the aspect ratio (anti-aliased), then
    shifted so that the intensity centre of mass lands on the centre of the 28x28 image.

    Args:
        ink: HxW ink intensities 0..255 (uint8, other integers or float, clipped to 0..255;
            bool ink is 0/255). An empty (0-pixel) crop gives all zeros.

    Returns:
        A uint8 28x28 array (all zero if there is no ink).

    Raises:
        InputError: ``ink`` is not a 2-D numeric array, or holds NaN or infinite values.
    """
    ink = _check_ink(ink)
    out = np.zeros((28, 28), np.uint8)
    if ink.size == 0:
        return out
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        return out
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp)
    total = small.sum()
    if total <= 0:
        return out
    cy = (small.sum(axis=1) * np.arange(nh)).sum() / total
    cx = (small.sum(axis=0) * np.arange(nw)).sum() / total
    # Translate so that the centre of mass sits at (13.5, 13.5) of the 28x28 canvas.
    m = np.float32([[1, 0, 13.5 - cx], [0, 1, 13.5 - cy]])
    placed = cv2.warpAffine(small, m, (28, 28), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(placed, 0, 255).astype(np.uint8)


def ink_from_gray(gray: np.ndarray) -> np.ndarray:
    """White-on-black ink intensity of a grayscale crop of one digit, background removed.

    Works for dark ink on light paper and for light ink on dark backgrounds (decided from the
    border), with Otsu's threshold to suppress the background.

    Args:
        gray: the crop; any image :func:`to_gray` reads (it is converted the same way).

    Returns:
        uint8 ink of the crop's height and width.

    Raises:
        InputError: the crop cannot be read (see :func:`check_image`).
    """
    g = to_gray(gray)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 127:  # dark ink on light paper: invert
        g = 255 - g
    if g.shape[0] < 2 or g.shape[1] < 2:
        return g
    blurred = cv2.GaussianBlur(g, (3, 3), 0) if min(g.shape) >= 3 else g
    thresh, _ = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if g.max() - g.min() < 30:  # no contrast: no ink
        return np.zeros_like(g)
    ink = np.where(g >= thresh, g, 0).astype(np.float32)
    # Stretch the ink so its strong strokes reach full intensity, as in MNIST.
    top = np.percentile(ink[ink > 0], 95) if (ink > 0).any() else 255.0
    lo = float(thresh)
    ink = np.clip((ink - lo) / max(1.0, top - lo) * 255.0, 0, 255)
    ink[g < thresh] = 0
    return ink.astype(np.uint8)


def prepare_single(image: np.ndarray) -> np.ndarray:
    """A 28x28 uint8 MNIST-like image from a photo or crop holding one digit.

    A 28x28 image that already looks like MNIST (dark background) is passed through unchanged.
    """
    gray = to_gray(image)
    if gray.shape == (28, 28) and np.median(gray) < 64:
        return gray
    return mnist_normalize(ink_from_gray(gray))
