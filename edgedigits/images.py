"""Reading image files safely: one readable reason for each bad file, and no huge decode.

from edgedigits.images import read_image
image = read_image(Path("page.png"))       # ValueError("is empty") etc. for bad files
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from pathlib import Path

import cv2
import numpy as np

from .errors import RequestError

#: File name suffixes taken as images (folders are searched for these).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}

#: Images with more pixels than this are refused before decoding (a 20,000 x 20,000 image would
#: need 1.2 GB decoded). An A4 page at 600 dpi is 35 Mpx.
MAX_PIXELS = 100_000_000


@contextlib.contextmanager
def quiet_opencv():
    """Silence OpenCV's own log (a truncated file, a stream that cannot connect): our sentence says
    what matters.

    FFmpeg inside OpenCV writes to the process's stderr directly (e.g. "[tcp @ 0x...] Connection
    refused"), past OpenCV's log level, so file descriptor 2 is pointed at the null device too.
    """
    logging = cv2.utils.logging
    old = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        with _stderr_to_devnull():
            yield
    finally:
        logging.setLogLevel(old)


@contextlib.contextmanager
def _stderr_to_devnull():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def header_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, BMP or WebP header without decoding, or None if unknown."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        return struct.unpack(">II", raw[16:24])
    if raw[:2] == b"BM" and len(raw) >= 26:
        w, h = struct.unpack("<ii", raw[18:26])
        return abs(w), abs(h)
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP" and raw[12:16] == b"VP8X" and len(raw) >= 30:
        return 1 + int.from_bytes(raw[24:27], "little"), 1 + int.from_bytes(raw[27:30], "little")
    if raw[:2] == b"\xff\xd8":
        return _jpeg_size(raw)
    return None


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The image at ``path`` as an array (as stored: gray, BGR or BGRA; 8 or 16 bit).

    Raises:
        ValueError: with one readable reason ("no such file", "is empty", "is not an image ...",
            "is W x H pixels, more than ...").
    """
    if not path.exists():
        raise ValueError("no such file")
    if path.is_dir():
        raise ValueError("is a folder")
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    if raw.size == 0:
        raise ValueError("is empty")
    size = header_size(raw[: 1 << 20].tobytes())
    if size is not None and size[0] * size[1] > max_pixels:
        raise ValueError(
            f"is {size[0]} x {size[1]} pixels, more than the {max_pixels // 1_000_000} million "
            f"edgedigits reads; scale it down first"
        )
    with quiet_opencv():
        image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("is not an image OpenCV can decode (PNG, JPEG, BMP, TIFF, WebP, PNM)")
    if image.shape[0] * image.shape[1] > max_pixels:  # a format whose header was not read above
        raise ValueError(
            f"is {image.shape[1]} x {image.shape[0]} pixels, more than the "
            f"{max_pixels // 1_000_000} million edgedigits reads; scale it down first"
        )
    return image


# ----------------------------------------------------------------------------------------------
# Image bytes (an HTTP body, a file in an archive): checked before decoding

DEFAULT_MAX_PIXELS = 40_000_000  # an A4 page at 600 dpi is 35 Mpx


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG or JPEG header, without decoding the pixels.

    Raises:
        RequestError: empty, not PNG/JPEG (415), or a header too short or malformed to say (400).
    """
    if not data:
        raise RequestError("the image data is empty; send a JPEG or PNG image.")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise RequestError("the PNG image is truncated or corrupt (no valid header); send a complete file.")
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        size = _jpeg_size(data)
        if size is None:
            raise RequestError("the JPEG image is truncated or corrupt (no frame header found); send a complete file.")
        return size
    raise RequestError("the data is not a JPEG or PNG image; send image/jpeg or image/png.", 415)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The frame size from a JPEG's first start-of-frame marker, or None when there is none."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and i + 9 <= n:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, gray: bool = False) -> np.ndarray:
    """A JPEG or PNG as a BGR (or gray) uint8 array, refusing decode bombs before decoding.

    Raises:
        RequestError: not JPEG/PNG (415), corrupt (400), or more pixels than ``max_pixels`` (413).
    """
    w, h = image_size(data)
    if w == 0 or h == 0:
        raise RequestError(f"the image header says {w}x{h} pixels; send an image with pixels in it.")
    if w * h > max_pixels:
        raise RequestError(
            f"the image is {w}x{h} = {w * h:,} pixels, above the limit of {max_pixels:,}; send a smaller image.", 413
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise RequestError("the image could not be decoded (corrupt or truncated data); send a valid JPEG or PNG.")
    return image
