"""Turning images into what the model expects (pure numpy + OpenCV, usable on its own).

The model was trained on MNIST: a white digit on black, fitted into a 20x20 box keeping its
aspect ratio, then placed in 28x28 so that its centre of mass is at the centre. Everything here
reproduces that from arbitrary crops and photos.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InputError


def to_gray(image: np.ndarray) -> np.ndarray:
    """A uint8 single-channel copy of ``image`` (gray, BGR or BGRA; uint8, uint16 or float)."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy array image, got {type(image).__name__}.")
    if image.size == 0:
        raise InputError(f"the image is empty (shape {image.shape}); pass an image with pixels.")
    img = image
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        if img.shape[2] not in (3, 4):
            raise InputError(f"an image with {img.shape[2]} channels cannot be read; pass gray, BGR or BGRA.")
    elif img.ndim != 2:
        raise InputError(f"an image must be HxW or HxWxC, not shape {image.shape}.")
    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif np.issubdtype(img.dtype, np.floating):
        img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        img = np.clip(img * (255.0 if img.max(initial=0.0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.integer):
        img = np.clip(img, 0, 255).astype(np.uint8)
    else:
        raise InputError(f"images of dtype {image.dtype} are not supported; pass uint8, uint16 or float.")
    img = np.ascontiguousarray(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    return img


def mnist_normalize(ink: np.ndarray) -> np.ndarray:
    """Place a crop of ink (white on black, any size, uint8) into 28x28 the way MNIST did.

    The ink's bounding box is scaled to fit 20x20 keeping the aspect ratio (anti-aliased), then
    shifted so that the intensity centre of mass lands on the centre of the 28x28 image.
    Returns a uint8 28x28 array (all zero if there is no ink).
    """
    out = np.zeros((28, 28), np.uint8)
    if ink.size == 0:
        return out
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        return out
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32)
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
    """
    g = gray.astype(np.uint8)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 127:     # dark ink on light paper: invert
        g = 255 - g
    if g.shape[0] < 2 or g.shape[1] < 2:
        return g
    blurred = cv2.GaussianBlur(g, (3, 3), 0) if min(g.shape) >= 3 else g
    thresh, _ = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if g.max() - g.min() < 30:      # no contrast: no ink
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
