"""Finding handwritten digits in a whole frame (pure numpy + OpenCV, usable on its own).

    from edgedigits.vision import find_digits, group_numbers
    candidates = find_digits(frame)           # boxes + 28x28 MNIST-like crops, one per blob
    batch = np.stack([c.crop for c in candidates])

The pipeline, for dark ink on light paper under uneven light (a mostly dark frame, such as
chalk on a board or an MNIST image, is inverted first):

1. grayscale, light blur against sensor noise;
2. the paper's brightness is estimated at low resolution (a max filter removes the ink, a blur
   smooths it) and every pixel is expressed as *darkness relative to the paper around it*, so a
   shadow or a lighting gradient does not turn into ink;
3. pixels clearly darker than their paper are ink; a small closing joins thin or broken strokes;
4. connected components of ink (the hole of a 0, 6, 8 or 9 is paper, not a component) are
   merged when they are pieces of one digit (a detached bar of a 5 or a 7, a broken stroke, a
   stray stroke beside it), and a blob of touching digits is split at its emptiest column;
5. blobs that cannot be digits are rejected by size, aspect, ink density and stroke width (a 1
   is tall and thin and always allowed a dense box; a round filled smudge is not; a straight
   stroke lying flatter than any 1 is a line);
6. each survivor is normalised the MNIST way by :func:`edgedigits.preprocess.mnist_normalize`
   after its stroke width and intensity are brought to MNIST's.

:func:`group_numbers` then joins digits on one text line, close together, into numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import InputError
from .paper import (
    Field,
    Structure,
    is_structure_suspect,
    low_res,
    page_corners,
    page_region,
    refine_corners,
    separate_lines,
)
from .paper import fields as paper_fields
from .preprocess import mnist_normalize, to_gray

# MNIST digits, fitted into 20 px, have strokes about 2-3 px wide: a stroke width of ~12 % of
# the box's longer side. Thinner pen strokes are thickened to this before normalisation.
MNIST_STROKE_FRACTION = 0.12
_LEVELS = np.arange(256, dtype=np.float32)


@dataclass(frozen=True)
class FinderConfig:
    """Tunable limits of :func:`find_digits` (the defaults suit a sheet seen by a webcam).

    Attributes:
        contrast: a pixel is ink when it is this fraction darker than the paper around it.
        min_contrast_levels: ... and at least this many grey levels darker (guards dark frames).
        min_height: smallest digit height in pixels worth reading.
        max_height_fraction: tallest digit as a fraction of the frame height.
        min_aspect / max_aspect: width / height range of a digit's box.
        thin_aspect: boxes narrower than this (width / height) are 1-like strokes: any density.
        max_density: largest fraction of a (non-thin) box covered by ink; filled blobs are smudges.
        max_stroke: widest mean stroke of a (non-thin) blob, as a fraction of its box's longer
            side (MNIST: median 0.11, 99.9th percentile 0.22; a filled smudge: 0.25 and more).
            0.3, not 0.25: digits written with a broad pen or blurred in a photo reach 0.25-0.3
            (dev pages, digits read right: scans 92.7 -> 93.6 %, photos 82.5 -> 85.0 %, 300 dpi
            94.5 -> 96.3 %; a second dev set 92.8 -> 94.1 %, 79.4 -> 81.5 %, 94.6 -> 96.0 %;
            plain dev video 98.03 -> 98.28 %, no false detection more on the dev videos; one or
            two more printed letters read as digits a page set).
        min_density: smallest fraction of the box covered by ink (long diagonal hairlines).
        split_aspect / split_ink: a blob at least ``split_aspect`` times wider than tall is
            split at its emptiest column when that column holds at most ``split_ink`` of the
            fullest one (touching digits; on MNIST this splits 0.06 % of single digits).
        recut_aspect: a blob at least this many times wider than tall that is not split also
            gets a cut in two at its emptiest column between 30 % and 70 % of its width
            (:attr:`InkBlob.parts`); the reader reads the two parts instead when the whole is
            not read as a digit but both parts are (two digits joined by ink). 0 = off.
        line_aspect / line_elongation: a straight stroke (its minimum-area rectangle this many
            times longer than wide) lying flatter than this width / height is a line, not a 1
            (no MNIST training digit is both).
        reject_border: drop 1-like blobs (narrower than ``thin_aspect``) touching the frame edge:
            a stroke running off the frame may be any stroke cut off. Wider blobs there are read
            (a digit whose last pixels are out of the frame; dev camera videos: 0.05-0.17 points
            more digits read right, no false detection more, where every blob there was dropped).
        polarity: 'dark-on-light' (pen on paper), 'light-on-dark' (chalk on a board, MNIST
            images) or 'auto' (light-on-dark when most of the frame is dark, unless it is a page
            on a darker desk).
        join: closing kernel size in pixels that joins broken strokes (0 = off).
        background_cell: the paper is estimated on a grid of cells this many pixels wide.
        paper_window: ... as the brightest cell within this fraction of the frame's shorter side:
            ink blobs narrower than that (strokes, smudges) are seen whole, not as rings.
        structure: set printed lines, boxes, comb fields, tables and grids aside
            (:mod:`edgedigits.paper`) instead of reading them as ink.
        find_page: on a photo of a page on a darker desk, read only the page.
        flatten_page: ... and when the page's outline is a quadrilateral (a page seen in
            perspective), read it warped flat onto a rectangle, so its printed lines are
            straight and level; boxes are mapped back to the input's pixels.
        max_pixels: larger images are shrunk to this many pixels first (an A4 page at 150 dpi,
            2.2 Mpx, is read as it is; at 300 dpi it is halved): speed and memory stay bounded.
    """

    contrast: float = 0.2
    min_contrast_levels: int = 14
    min_height: int = 12
    max_height_fraction: float = 0.95
    min_aspect: float = 0.03
    max_aspect: float = 1.8
    thin_aspect: float = 0.4
    max_density: float = 0.75
    max_stroke: float = 0.3
    min_density: float = 0.06
    split_aspect: float = 1.25
    split_ink: float = 0.12
    recut_aspect: float = 1.1
    line_aspect: float = 1.2
    line_elongation: float = 5.0
    reject_border: bool = True
    join: int = 3
    background_cell: int = 8
    paper_window: float = 0.15
    polarity: str = "auto"
    structure: bool = True
    find_page: bool = True
    flatten_page: bool = True
    max_pixels: int = 2_600_000


DEFAULT_CONFIG = FinderConfig()
#: On a photographed page on a desk (:func:`locate`; flattened or not), the paper is estimated with a closing
#: (:func:`paper_brightness` ``steps``) and a pixel is ink when this much darker than it, instead
#: of ``FinderConfig.contrast`` (0 = as on any frame). A hard shadow's edge across the page had
#: become a band of "ink" as wide as the paper window, joining everything it crossed. The closing's
#: estimate is a few per cent lower than the local maximum's (not the brightest cell around), hence
#: a lower threshold: chosen on two sets of formgen dev photos (seeds 77 and 78, 8 pages each):
#: digits read right 80.5 -> 82.4 % and 65.4 -> 76.5 %, printed structure read as digits 5 -> 4
#: and 15 -> 3 on the flattened pages; 0.18 gave 83.5 % and 74.6 %, 0.2 gave 77.7 % and 74.0 %.
#: On pages found but not flattened too: 82.5 % and 79.4 %, structure 4 and 4.
PHOTO_CONTRAST = 0.19


@dataclass
class InkBlob:
    """One blob of ink that may be a digit.

    Attributes:
        box: (x, y, w, h) in the pixels of the frame given to :func:`find_digits`.
        crop: 28x28 uint8, white digit on black, normalised like MNIST.
        density: fraction of the box covered by ink.
        parts: the blob cut in two (left, right) where it may be two digits joined by ink
            (``FinderConfig.recut_aspect``), else empty; read in its place only when the whole
            blob is not read as a digit but both parts are.
        rectangle: the ink is an empty rectangle (:func:`empty_rectangle`): a box the structure
            steps did not set aside, which the reader does not take for a 0.
    """

    box: tuple[int, int, int, int]
    crop: np.ndarray = field(repr=False)
    density: float = 0.0
    parts: tuple = field(default=(), repr=False)
    rectangle: bool = False


@dataclass
class Number:
    """Digits on one line read left to right. ``members`` index the digits given to :func:`group_numbers`."""

    box: tuple[int, int, int, int]
    value: str
    members: list[int]


def paper_brightness(
    gray: np.ndarray, cell: int = 8, window: float = 0.15, small: np.ndarray | None = None, steps: bool = False
) -> np.ndarray:
    """The brightness of the paper under every pixel (uint8, like ``gray``).

    It is the local maximum (over ``window`` x the shorter side) of a low-resolution copy,
    blurred and scaled back up: it follows lighting gradients and wide shadows but ignores
    the ink. With ``steps``, a closing over the same window (the local maximum, then the local
    minimum of that): it also follows a hard shadow's edge, where the maximum carries the bright
    side's level half a window into the shadow. ``small``: :func:`edgedigits.paper.shrink` (gray, cell) when the caller has it already.
    """
    h, w = gray.shape
    cell, small = low_res(gray, cell, 8, small)  # whole cells: fast
    k = max(3, int(round(window * min(h, w) / cell)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    small = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel) if steps else cv2.dilate(small, kernel)
    small = cv2.blur(small, (3, 3))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def relative_darkness(gray: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """How much darker each pixel is than its paper, as a fraction: 0 (paper) .. 255 (black)."""
    ratio = cv2.divide(gray, cv2.max(paper, gray), scale=255)
    return cv2.bitwise_not(ratio)


def ink_mask(gray: np.ndarray, config: FinderConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(smoothed gray, paper brightness, binary ink mask) of a grayscale frame.

    A pixel is ink when it is darker than its paper by at least ``config.contrast`` (a fraction)
    and by at least ``config.min_contrast_levels`` grey levels.
    """
    smooth, paper, mask, _ = _ink(gray, config)
    return smooth, paper, mask


def _ink(gray: np.ndarray, config: FinderConfig, photo: bool = False):
    """:func:`ink_mask` and the low-resolution copy of the frame it estimated the paper from."""
    smooth = cv2.GaussianBlur(gray, (3, 3), 0)
    _, small = low_res(smooth, config.background_cell, 8)
    paper, mask = _ink_of(smooth, small, config, photo)
    return smooth, paper, mask, small


def _ink_of(smooth: np.ndarray, small: np.ndarray, config: FinderConfig, photo: bool = False):
    """(paper brightness, ink mask) of a smoothed frame and its low-resolution copy
    (:func:`_ink`); with ``photo``, as a photographed page (:data:`PHOTO_CONTRAST`)."""
    steps = photo and PHOTO_CONTRAST > 0
    paper = paper_brightness(smooth, config.background_cell, config.paper_window, small, steps)
    contrast = PHOTO_CONTRAST if steps else config.contrast
    relative = cv2.convertScaleAbs(paper, alpha=1.0 - contrast)
    # an array, not a number: OpenCV takes a frame of 4 or fewer pixels for a scalar itself
    absolute = cv2.subtract(paper, np.full_like(paper, config.min_contrast_levels))
    mask = cv2.compare(smooth, cv2.min(relative, absolute), cv2.CMP_LT)
    if config.join > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (config.join, config.join))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return paper, mask


def _union(a, b):
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _side_fragment(a, b) -> bool:
    """Whether b is a stray stroke of digit a: much shorter, within a's rows, right beside it.

    A dot or comma (under a fifth of the digit's height) is not taken in.
    """
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    if not 0.2 * ah <= bh <= 0.5 * ah:
        return False
    inside_rows = min(ay + ah, by + bh) - max(ay, by) >= 0.8 * bh
    gap = max(ax, bx) - min(ax + aw, bx + bw)
    return inside_rows and gap <= 0.15 * ah and _union(a, b)[2] <= 1.2 * ah


def _pieces_of_one_digit(a, b) -> bool:
    """Whether boxes a and b look like two pieces of one digit (stacked, or a stray stroke beside)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    if _side_fragment(a, b) or _side_fragment(b, a):
        return True
    x_overlap = min(ax + aw, bx + bw) - max(ax, bx)
    if x_overlap < 0.5 * min(aw, bw):
        return False
    gap = max(ay, by) - min(ay + ah, by + bh)  # negative when they overlap vertically
    big = max(ah, bh)
    if gap > 0.15 * big:
        return False
    u = _union(a, b)
    # The union must still look like one digit: not much taller than the bigger piece unless
    # the smaller one is a small fragment.
    return u[3] <= 1.6 * big or min(ah, bh) < 0.35 * big


def _across_rule(a, b, rules) -> bool:
    """Whether a printed horizontal rule runs between boxes a and b (one above the other):
    between their centres, under both (a stroke of a digit in one cell may reach over the rule
    into the next, so the boxes themselves may straddle it)."""
    upper, lower = (a, b) if a[1] + a[3] / 2 <= b[1] + b[3] / 2 else (b, a)
    top, bottom = upper[1] + upper[3] / 2, lower[1] + lower[3] / 2
    x0, x1 = max(a[0], b[0]), min(a[0] + a[2], b[0] + b[2])
    return any(top <= ry + rh / 2 <= bottom and rx <= x1 and x0 <= rx + rw for rx, ry, rw, rh in rules)


def _root(parent: list[int], i: int) -> int:
    """The representative of ``i`` in a union-find forest ``parent`` (paths halved on the way)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _merge_pieces(
    boxes: list[tuple], config: FinderConfig = DEFAULT_CONFIG, rules=(), frame_height: int | None = None
) -> list[list[int]]:
    """Group component indices whose boxes are pieces of one digit.

    Only near neighbours are compared (a sweep along x), a merge is made only while the union
    can still be one digit (at most ``config.max_aspect`` wide for its height, and no taller
    than ``config.max_height_fraction`` of ``frame_height``: a desk around the page, one
    component as tall as the frame, would otherwise take in every digit inside its box), so
    pieces never chain-react across a page, and never across a printed rule (``rules``: digits
    in two rows of squared paper or a table are two digits).
    """
    tallest = config.max_height_fraction * frame_height if frame_height else float("inf")
    parent = list(range(len(boxes)))

    merged = {i: boxes[i] for i in range(len(boxes))}
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][0])
    for _ in range(3):
        changed = False
        for a, i in enumerate(order):
            xi, yi, wi, hi = boxes[i]
            reach = xi + wi + 0.2 * hi
            for j in order[a + 1 :]:
                xj, yj, wj, hj = boxes[j]
                if xj > reach:
                    break
                if yj > yi + 1.2 * hi + 0.2 * hj or yi > yj + 1.2 * hj + 0.2 * hi:
                    continue  # too far apart vertically to be one digit
                ri, rj = _root(parent, i), _root(parent, j)
                if ri == rj or not _pieces_of_one_digit(merged[ri], merged[rj]):
                    continue
                u = _union(merged[ri], merged[rj])
                if u[2] > config.max_aspect * u[3] or u[3] > tallest:
                    continue
                if rules and _across_rule(merged[ri], merged[rj], rules):
                    continue
                parent[rj] = ri
                merged[ri] = u
                changed = True
        if not changed:
            break
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(_root(parent, i), []).append(i)
    return list(groups.values())


def _plausible(
    box, density: float | None, frame_shape, config: FinderConfig, stroke: float = 0.0, split_ok: bool = False
) -> bool:
    """Whether a blob's box (and, when known, its ink density and relative stroke width) can be
    a digit; with ``split_ok`` a blob too wide for one digit may still hold several."""
    x, y, w, h = box
    fh, fw = frame_shape
    if h < config.min_height or h > config.max_height_fraction * fh:
        return False
    aspect = w / h
    if aspect < config.min_aspect or aspect > config.max_aspect and not split_ok:
        return False
    if config.reject_border and aspect < config.thin_aspect and (x <= 0 or y <= 0 or x + w >= fw or y + h >= fh):
        return False  # a stroke running off the frame: it may be any stroke cut off
    if density is None:
        return True
    if density < config.min_density:
        return False
    return aspect < config.thin_aspect or (density <= config.max_density and stroke <= config.max_stroke)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: area / half the boundary length (in pixels)."""
    area = int(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    inner = cv2.erode(mask, None, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = area - int(np.count_nonzero(inner))
    return 2.0 * area / max(1, boundary)


def normalize_candidate(darkness: np.ndarray, mask: np.ndarray, width: float | None = None) -> np.ndarray:
    """A 28x28 MNIST-like crop from the darkness and ink mask of one blob's box.

    The ink keeps its soft edges (the mask is widened by a pixel), its strong strokes are
    stretched to full intensity as in MNIST, and a thin pen stroke is thickened to MNIST's
    stroke width relative to the digit's size. ``width`` is the mask's :func:`stroke_width`
    when already known.
    """
    soft = cv2.dilate(mask, None)
    ink = cv2.bitwise_and(darkness, darkness, mask=soft)
    cumulative = np.cumsum(cv2.calcHist([darkness], [0], mask, [256], [0, 256]).ravel())
    top = float(np.searchsorted(cumulative, 0.9 * cumulative[-1])) if cumulative[-1] > 0 else 255.0
    lo = 0.25 * top
    ink = cv2.LUT(ink, np.clip((_LEVELS - lo) * (255.0 / max(1.0, top - lo)), 0, 255).astype(np.uint8))
    width = stroke_width(mask) if width is None else width
    target = MNIST_STROKE_FRACTION * max(mask.shape)
    grow = int(round(target - width))
    if grow >= 2:
        k = grow + 1
        ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return mnist_normalize(ink)


def _page_on_desk(gray: np.ndarray) -> bool:
    """Whether ``gray`` shows a page on a darker desk (:func:`edgedigits.paper.page_region`) that
    is mostly bright inside its outline (three quarters of it over Otsu's threshold of the
    frame): a page with ink on it, not a large light digit on a dark ground, whose outline
    holds as much ground as stroke."""
    page = page_region(gray)
    if page is None:
        return False
    t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    inside = gray[page > 0]
    return inside.size > 0 and float(np.mean(inside > t)) >= 0.75


def _light_on_dark(gray: np.ndarray, polarity: str) -> bool:
    """Whether to read ``gray`` as light ink on a dark ground. With 'auto': when most of the frame
    is dark (mean under 100), unless it is a page lying on a darker desk
    (:func:`edgedigits.paper.page_region`): a dimly lit photo of a page on dark wood is mostly
    desk, and read inverted the whole page became one blob of "ink"."""
    if polarity == "auto":
        return cv2.mean(gray)[0] < 100 and not _page_on_desk(gray)
    if polarity not in ("dark-on-light", "light-on-dark"):
        raise InputError(f"polarity must be 'auto', 'dark-on-light' or 'light-on-dark', not {polarity!r}.")
    return polarity == "light-on-dark"


def _elongation(points: np.ndarray) -> float:
    """Length / width of the minimum-area rectangle around some points."""
    (_, _), (a, b), _ = cv2.minAreaRect(points)
    return max(a, b) / max(1.0, min(a, b))


def _own_ink(mask: np.ndarray, contours, box) -> np.ndarray:
    """The ink of one blob inside its box: pixels of ``mask`` within the blob's outer contours.

    Ink of a neighbour that reaches into the box is excluded; a hole stays a hole.
    """
    x, y, w, h = box
    inside = np.zeros((h, w), np.uint8)
    cv2.drawContours(inside, contours, -1, 255, cv2.FILLED, offset=(-x, -y))
    return cv2.bitwise_and(inside, mask[y : y + h, x : x + w])


def _split_touching(box, own: np.ndarray, config: FinderConfig) -> list:
    """[(box, own ink)] of the digits in a blob: itself, or its parts when digits touch."""
    x, y, w, h = box
    margin = max(1, int(0.15 * h))  # a part is at least as wide as a thin 1
    if w < config.split_aspect * h or w - 2 * margin < 1:
        return [(box, own)]
    cols = cv2.reduce(own, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[0]
    j = margin + int(np.argmin(cols[margin : w - margin]))
    if cols[j] > config.split_ink * cols.max():
        return [(box, own)]
    parts = []
    for sub_box, piece in _cut_at(box, own, j):
        parts += _split_touching(sub_box, piece, config)
    return parts


def _cut_at(box, own: np.ndarray, j: int) -> list:
    """[(box, own ink)] of the inked sides of a blob cut at column ``j`` (left, right), each
    trimmed to its ink."""
    x, y, w, _ = box
    sides = []
    for x0, x1 in ((0, j), (j + 1, w)):
        piece = own[:, x0:x1]
        if piece.any():
            bx, by, bw, bh = cv2.boundingRect(piece)
            sides.append(((x + x0 + bx, y + by, bw, bh), piece[by : by + bh, bx : bx + bw]))
    return sides


def _box_area(contour) -> float:
    _, _, w, h = cv2.boundingRect(contour)
    return float(w * h)


def _rectangular(contour, least_area: float) -> bool:
    """At least ``least_area`` inside ``contour`` and four corners to its outline."""
    if cv2.contourArea(contour) < least_area:
        return False
    return len(cv2.approxPolyDP(contour, 0.06 * cv2.arcLength(contour, True), True)) == 4


def empty_rectangle(own: np.ndarray, width: float) -> bool:
    """Whether a blob's ink (``own``, its mask; ``width``, its stroke width) is the outline of an
    empty rectangle: its outer contour fills at least 85 % of its box, its largest hole 85 % of
    the hole's own box, both with four corners, and no ink lies deeper inside than twice the
    outline's width (a box, a checkbox; not a 0, nor a 0 written to fill its box)."""
    contours, hierarchy = cv2.findContours(own, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer = [c for c, hi in zip(contours, hierarchy[0]) if hi[3] < 0] if contours else []
    holes = [c for c, hi in zip(contours, hierarchy[0]) if hi[3] >= 0] if contours else []
    if not outer or not holes:
        return False
    c, hole = max(outer, key=cv2.contourArea), max(holes, key=cv2.contourArea)
    h, w = own.shape
    if not all(_rectangular(k, fill) for k, fill in ((c, 0.85 * w * h), (hole, 0.85 * _box_area(hole)))):
        return False
    inside = np.zeros_like(own)
    cv2.drawContours(inside, [c], -1, 255, cv2.FILLED)
    k = max(3, int(round(4 * width)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    inside = cv2.erode(inside, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.countNonZero(cv2.bitwise_and(inside, own)) <= 0.02 * max(1, cv2.countNonZero(inside))


def _recut(box, own: np.ndarray, config: FinderConfig) -> list:
    """[(box, own ink)] of a wide blob's two halves, cut at its emptiest column between 30 %
    and 70 % of its width; [] when the blob is not that wide, or a half holds no ink or is
    less than three quarters of the blob's height (a tick, a stroke beside a digit)."""
    _, _, w, h = box
    if not config.recut_aspect or w < config.recut_aspect * h:
        return []
    lo, hi = int(0.3 * w), int(np.ceil(0.7 * w))
    cols = cv2.reduce(own, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[0]
    halves = _cut_at(box, own, lo + int(np.argmin(cols[lo:hi])))
    # two digits side by side are about as tall as their union
    return halves if len(halves) == 2 and all(b[3] >= 0.75 * h for b, _ in halves) else []


def _candidate(
    box, own: np.ndarray, smooth: np.ndarray, paper: np.ndarray, shape, config: FinderConfig
) -> InkBlob | None:
    """The candidate for one blob (its box and ink mask), or None when it cannot be a digit."""
    x, y, w, h = box
    density = cv2.countNonZero(own) / float(w * h)
    width = stroke_width(own)
    if not _plausible(box, density, shape, config, width / max(w, h)):
        return None
    if w >= config.line_aspect * h and _elongation(cv2.findNonZero(own)) >= config.line_elongation:
        return None
    window = (slice(y, y + h), slice(x, x + w))
    crop = normalize_candidate(relative_darkness(smooth[window], paper[window]), own, width)
    return InkBlob(box=box, crop=crop, density=density, rectangle=0.7 <= w / h <= 1.4 and empty_rectangle(own, width))


@dataclass
class Found:
    """What :func:`locate` found in a frame.

    Attributes:
        blobs: the blobs that may be digits (boxes in the input's pixels), in reading order.
        structure: the printed structure set aside (boxes and fields in the input's pixels).
        scale: input pixels per working pixel (1.0 unless the frame was over ``max_pixels``).
        others: boxes (input pixels) of the ink that is neither structure nor a possible digit,
            is at least half a digit's smallest height and is not a filled smudge: small letters
            beside tall ones, a word whose letters touch. The reader counts them when it looks
            for words.
    """

    blobs: list[InkBlob]
    structure: Structure
    scale: float = 1.0
    others: list = field(default_factory=list)


def _working_copy(gray: np.ndarray, max_pixels: int) -> tuple[np.ndarray, float]:
    """``gray`` shrunk to at most ``max_pixels``, and the input pixels per working pixel.

    Shrinking by about k (k >= 2) takes the darkest pixel of each k x k neighbourhood before
    area-averaging: a 1-2 px printed line of a 300-dpi scan would otherwise be averaged to a
    faint, broken line, and its pieces read as 1s (formgen dev pages at 300 dpi: digits read
    right 71 -> 88 %, grid lines read as digits 31 -> 0 per 4 pages).
    """
    h, w = gray.shape
    if h * w <= max_pixels:
        return gray, 1.0
    f = (max_pixels / float(h * w)) ** 0.5
    size = (max(1, int(w * f)), max(1, int(h * f)))
    k = int(round(1.0 / f))
    if k >= 2:  # the darkest of each k x k first: a thin printed line stays dark, not averaged away
        gray = cv2.erode(gray, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), w / size[0]


def _component(mask: np.ndarray, contours, hierarchy, i: int, box) -> np.ndarray:
    """The pixels (0/255, ``box``-sized) of the component whose outer contour is ``contours[i]``:
    inside it, outside its holes (ink nested in a hole, such as a digit in a box, is not its own)."""
    x, y, w, h = box
    own = np.zeros((h, w), np.uint8)
    cv2.drawContours(own, contours, i, 255, cv2.FILLED, offset=(-x, -y))
    holes = []
    child = hierarchy[i][2]
    while child >= 0:
        holes.append(contours[child])
        child = hierarchy[child][0]
    if holes:
        cv2.drawContours(own, holes, -1, 0, cv2.FILLED, offset=(-x, -y))
        cv2.drawContours(own, holes, -1, 255, 1, offset=(-x, -y))  # the hole's rim is ink
    return cv2.bitwise_and(own, mask[y : y + h, x : x + w])


def _set_structure_aside(
    mask: np.ndarray, contours, hierarchy, boxes, config: FinderConfig, smooth: np.ndarray, paper: np.ndarray
) -> Structure:
    """Remove the printed lines from ``mask`` in place (see :mod:`edgedigits.paper`); their fields.

    ``smooth`` and ``paper`` (:func:`ink_mask`) give each component's relative darkness
    (:func:`relative_darkness`): the faint ink at a line's edge goes with the line.
    """
    structure = Structure()
    for i, box in boxes:
        if not is_structure_suspect(mask, box, mask.shape, config.min_height):
            continue
        component = _component(mask, contours, hierarchy, i, box)
        x, y, w, h = box
        darkness = relative_darkness(smooth[y : y + h, x : x + w], paper[y : y + h, x : x + w])
        lines = separate_lines(component, config.min_height, mask.shape[0], darkness)
        if lines is None:
            continue
        window = mask[y : y + h, x : x + w]
        window &= cv2.bitwise_not(component)
        window |= lines.residual
        structure.boxes.append(box)
        structure.rules += [(x + bx, y + by, bw, bh) for bx, by, bw, bh in lines.horizontal]
        structure.fields += paper_fields(lines, (x, y), mask.shape[1], config.min_height)
    return structure


def _components(mask: np.ndarray, smallest: int):
    """(contours, hierarchy, [(index, box)]) of the outer contours of ink at least ``smallest`` px long.

    Every connected component has one outer contour, also one lying in another's hole (a digit
    in a box): the contours are taken as a two-level hierarchy (outer contours and holes).
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return contours, None, []
    hierarchy = hierarchy[0]
    out = []
    for i, c in enumerate(contours):
        if hierarchy[i][3] < 0:
            b = cv2.boundingRect(c)
            if max(b[2], b[3]) >= smallest:
                out.append((i, b))
    return contours, hierarchy, out


def locate(image: np.ndarray, config: FinderConfig = DEFAULT_CONFIG) -> Found:
    """The blobs of ink that may be digits and the paper structure set aside, in one frame or page.

    Steps: grayscale (light-on-dark inverted), shrunk to ``config.max_pixels``; the page found
    when it lies on a darker desk (:func:`edgedigits.paper.page_region`); ink relative to the
    paper around it (:func:`ink_mask`); connected components; printed lines removed from the
    components that may hold them (:mod:`edgedigits.paper`) and the components found again;
    pieces of one digit merged with their near neighbours; blobs too unlike a digit dropped;
    the rest normalised like MNIST.
    """
    gray = to_gray(image)
    if _light_on_dark(gray, config.polarity):
        gray = cv2.bitwise_not(gray)
    work, scale = _working_copy(gray, config.max_pixels)
    smooth, paper, mask, small = _ink(work, config)
    page = page_region(smooth, small=small) if config.find_page else None
    back = None
    corners = page_corners(page) if page is not None and config.flatten_page else None
    if corners is not None:
        work, back = _flattened(work, refine_corners(smooth, corners))
        smooth, paper, mask, small = _ink(work, config, photo=True)  # the flat page holds only the page
    elif page is not None:  # a page on a desk, not flattened (a corner out of the frame): as a photo
        paper, mask = _ink_of(smooth, small, config, photo=True)
        mask = cv2.bitwise_and(mask, page)
    smallest = max(3, config.min_height // 4)
    contours, hierarchy, outer = _components(mask, smallest)
    structure = Structure()
    if config.structure and outer:
        structure = _set_structure_aside(mask, contours, hierarchy, outer, config, smooth, paper)
        if structure.boxes:
            contours, hierarchy, outer = _components(mask, smallest)
    boxes = [b for _, b in outer]
    out, others = [], []
    for group in _merge_pieces(boxes, config, structure.rules, work.shape[0]):
        box = boxes[group[0]]
        for g in group[1:]:
            box = _union(box, boxes[g])
        if not _plausible(box, None, work.shape, config, split_ok=True):
            if config.min_height // 2 <= box[3] <= 0.1 * work.shape[0]:
                others.append(box)
            continue
        own = _own_ink(mask, [contours[outer[g][0]] for g in group], box)
        for part, part_own in _split_touching(box, own, config):
            found = _candidate(part, part_own, smooth, paper, work.shape, config)
            if found is None:
                if cv2.countNonZero(part_own) <= config.max_density * part[2] * part[3]:
                    others.append(part)  # not a filled smudge: it may be a letter
                continue
            halves = [_candidate(b, o, smooth, paper, work.shape, config) for b, o in _recut(part, part_own, config)]
            if len(halves) == 2 and None not in halves:
                found.parts = tuple(halves)
            out.append(found)
    if scale != 1.0 or back is not None:

        def to_input(box):
            return _clipped(_scaled(_unwarped(box, back) if back is not None else box, scale), gray.shape)

        for blob in out:
            blob.box = to_input(blob.box)
            for half in blob.parts:
                half.box = to_input(half.box)
        others = [to_input(b) for b in others]
        structure.boxes = [to_input(b) for b in structure.boxes]
        structure.rules = [to_input(b) for b in structure.rules]
        structure.fields = [
            Field(to_input(f.box), f.kind, tuple(to_input(c) for c in f.cells)) for f in structure.fields
        ]
    out.sort(key=lambda c: (c.box[1] + c.box[3] // 2, c.box[0]))
    return Found(out, structure, scale, others)


def _flattened(gray: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``gray``'s quadrilateral ``corners`` (tl, tr, br, bl) warped onto an upright rectangle as
    long as its longer opposite sides, and the homography from it back to ``gray``."""
    tl, tr, br, bl = corners
    w = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    rect = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    forward = cv2.getPerspectiveTransform(corners, rect)
    flat = cv2.warpPerspective(gray, forward, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return flat, np.linalg.inv(forward)


def _unwarped(box, back: np.ndarray) -> tuple[int, int, int, int]:
    """The upright box around ``box``'s corners carried back through the homography ``back``."""
    x, y, w, h = box
    pts = np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float64)
    q = cv2.perspectiveTransform(pts, back)[0]
    x0, y0 = np.floor(q.min(axis=0)).astype(int)
    x1, y1 = np.ceil(q.max(axis=0)).astype(int)
    return (int(x0), int(y0), max(1, int(x1 - x0)), max(1, int(y1 - y0)))


def _clipped(box, shape) -> tuple[int, int, int, int]:
    """``box`` cut to the frame of ``shape`` (h, w): a box mapped back from a flattened page or a
    shrunk frame may reach a pixel past its edge."""
    x, y, w, h = box
    x0, y0 = min(max(0, x), shape[1] - 1), min(max(0, y), shape[0] - 1)
    x1, y1 = max(x0 + 1, min(shape[1], x + w)), max(y0 + 1, min(shape[0], y + h))
    return (x0, y0, x1 - x0, y1 - y0)


def _scaled(box, scale: float) -> tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = int(x * scale), int(y * scale)
    return (x0, y0, max(1, int(round((x + w) * scale)) - x0), max(1, int(round((y + h) * scale)) - y0))


def find_digits(image: np.ndarray, config: FinderConfig = DEFAULT_CONFIG) -> list[InkBlob]:
    """Every blob of ink in ``image`` that may be a digit, with its box and MNIST-like 28x28 crop.

    Args:
        image: a frame or page (gray, BGR or BGRA; see :func:`edgedigits.preprocess.to_gray`)
            showing dark handwriting on light paper.
        config: detection limits; see :class:`FinderConfig`.

    Returns:
        Blobs sorted top to bottom, then left to right (by the centre of their row); printed
        lines and boxes are not among them (see :func:`locate`). Classify all their crops in
        one batch; low-confidence results are not digits.
    """
    return locate(image, config).blobs


def _same_line(a, b) -> bool:
    """Whether digit box b continues the line of digit box a (b to the right of a)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    v_overlap = min(ay + ah, by + bh) - max(ay, by)
    if v_overlap < 0.5 * min(ah, bh):
        return False
    if max(ah, bh) > 1.8 * min(ah, bh):
        return False
    gap = bx - (ax + aw)
    return -0.3 * min(aw, bw) <= gap <= 0.8 * max(ah, bh)


def group_numbers(boxes, labels) -> list[Number]:
    """Join digits on one text line, close together, into numbers read left to right.

    Args:
        boxes: (x, y, w, h) of each digit.
        labels: the digit read in each box (ints or one-character strings).

    Returns:
        Every group, single digits included, ordered top to bottom then left to right.
    """
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][0])
    lines: list[list[int]] = []
    for i in order:
        best = None
        for line in lines:
            last = line[-1]
            if _same_line(boxes[last], boxes[i]):
                gap = boxes[i][0] - (boxes[last][0] + boxes[last][2])
                if best is None or gap < best[0]:
                    best = (gap, line)
        if best is None:
            lines.append([i])
        else:
            best[1].append(i)
    numbers = []
    for line in lines:
        box = boxes[line[0]]
        for i in line[1:]:
            box = _union(box, boxes[i])
        numbers.append(
            Number(box=tuple(int(v) for v in box), value="".join(str(int(labels[i])) for i in line), members=line)
        )
    numbers.sort(key=lambda n: (n.box[1] + n.box[3] // 2, n.box[0]))
    return numbers
