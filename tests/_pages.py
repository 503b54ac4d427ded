"""Deterministic pages drawn with OpenCV for the reader's tests: printed structure + real handwriting.

The handwriting is the shipped calibration sample (MNIST *training* digits), never MNIST test.
"""

from __future__ import annotations

import cv2
import numpy as np

INK = 40  # pen darkness on paper
PRINT = 60  # printed lines


def handwriting():
    from edgedigits.samples import load_sample

    return load_sample("calibration")


def blank(width=1240, height=1754, level=235) -> np.ndarray:
    return np.full((height, width), level, np.uint8)


def stamp(page: np.ndarray, tile: np.ndarray, x: int, y: int, height: int) -> tuple[int, int, int, int]:
    """Write an MNIST tile (white on black) as dark ink, its ink ``height`` px tall, top-left at (x, y).

    Returns the ink's box on the page.
    """
    ys, xs = np.nonzero(tile > 40)
    crop = tile[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0
    scale = height / crop.shape[0]
    big = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), height), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0, 1)
    h, w = big.shape
    region = page[y : y + h, x : x + w].astype(np.float32)
    page[y : y + h, x : x + w] = np.minimum(region, 255 - big * (255 - INK)).astype(np.uint8)
    return (x, y, w, h)


def pick(images, labels, digit: int, k: int = 0) -> np.ndarray:
    return images[np.flatnonzero(labels == digit)[k]]


def box(page, x, y, w, h, thick=2):
    cv2.rectangle(page, (x, y), (x + w, y + h), PRINT, thick)


def comb(page, x, y, cell, n, thick=2):
    """A comb field: ``n`` adjacent square boxes of side ``cell``; returns the cells' boxes."""
    cv2.rectangle(page, (x, y), (x + n * cell, y + cell), PRINT, thick)
    for i in range(1, n):
        cv2.line(page, (x + i * cell, y), (x + i * cell, y + cell), PRINT, thick)
    return [(x + i * cell, y, cell, cell) for i in range(n)]


def ruled(page, x, y, col_w, row_h, cols, rows, thick=2):
    """A table of ``rows`` x ``cols`` cells ruled with printed lines, top-left corner at (x, y)."""
    x1, y1 = x + cols * col_w, y + rows * row_h
    for r in range(rows + 1):
        cv2.line(page, (x, y + r * row_h), (x1, y + r * row_h), PRINT, thick)
    for c in range(cols + 1):
        cv2.line(page, (x + c * col_w, y), (x + c * col_w, y1), PRINT, thick)


def write_number(page, images, labels, value: str, x, y, height, gap=6, k=0):
    """Handwrite ``value`` starting at (x, y); returns the digits' boxes."""
    boxes = []
    for ch in value:
        b = stamp(page, pick(images, labels, int(ch), k), x, y, height)
        boxes.append(b)
        x += b[2] + gap
    return boxes


def write_in_cells(page, images, labels, value: str, cells, fill=0.7, k=0):
    """One digit centred in each cell, ``fill`` of its height."""
    out = []
    for ch, (cx, cy, cw, chh) in zip(value, cells):
        height = int(chh * fill)
        tile = pick(images, labels, int(ch), k)
        ys, xs = np.nonzero(tile > 40)
        width = int(round((np.ptp(xs) + 1) * height / (np.ptp(ys) + 1)))
        out.append(stamp(page, tile, cx + (cw - width) // 2, cy + (chh - height) // 2, height))
    return out
