"""What every frame source shares: the :class:`Frame`, :class:`SourceError`, frame checks and defaults.

The sources (:mod:`.files`, :mod:`.capture`), the factory that picks one (:mod:`.sources`) and the
loop all import from here, and this module imports none of them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import EdgeDigitsError, InputError
from ..images import quiet_opencv  # noqa: F401  (re-exported for the camera modules)
from ..preprocess import to_gray

# A frame smaller than this on either side cannot hold a readable digit: it is a device fault.
MIN_FRAME_SIDE = 16
#: Seconds without a new frame before a live source is reconnected.
STALL_TIMEOUT_S = 3.0
#: Failed reconnection attempts in a row before a live source gives up.
MAX_RECONNECTS = 10


class SourceError(EdgeDigitsError):
    """A frame source cannot be opened, or a live source stopped and could not be reopened."""


@dataclass
class Frame:
    """One frame: its 0-based index in the source, its time in seconds, and when it was captured.

    ``time`` is the position in the source (a video: index / fps; live: seconds since the start;
    images: their position in the folder, one second apart);
    ``captured`` is the ``time.perf_counter()`` at which the frame was read.
    """

    index: int
    time: float
    image: np.ndarray
    captured: float


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` as the 8-bit BGR frame the loop, the overlay and the video writer expect.

    Gray, BGRA, 16-bit and float images are converted as :func:`edgedigits.preprocess.to_gray`
    reads them; anything it cannot read raises its :class:`~edgedigits.errors.InputError`.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size:
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(to_gray(image), cv2.COLOR_GRAY2BGR)


def camera_frame(image) -> np.ndarray:
    """A frame from a capture device as 8-bit BGR, or :class:`InputError` saying why it is unusable.

    Unusable: no image, not an array, empty, smaller than ``MIN_FRAME_SIDE`` pixels on a side,
    NaN or infinite values, or a shape, channel count or dtype that :func:`as_bgr` cannot read.
    """
    if image is None:
        raise InputError("the device reported a frame but gave no image")
    if isinstance(image, np.ndarray) and image.ndim in (2, 3) and min(image.shape[:2]) < MIN_FRAME_SIDE:
        raise InputError(f"a {image.shape[1]}x{image.shape[0]} frame is smaller than {MIN_FRAME_SIDE} pixels on a side")
    if isinstance(image, np.ndarray) and np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise InputError("the frame holds NaN or infinite values")
    return as_bgr(image)


def now() -> float:
    """The clock every source stamps frames with (``time.perf_counter``)."""
    return time.perf_counter()


def log(message: str) -> None:
    """Report a camera event on stderr (one line, prefixed)."""
    print(f"edgedigits camera: {message}", file=sys.stderr, flush=True)
