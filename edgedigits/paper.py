"""Paper structure: where the page is, and the printed lines and boxes that are not ink to read.

Works on the binary ink mask of :func:`edgedigits.vision.ink_mask` (pure numpy + OpenCV):

- :func:`page_region`: on a photo of a page lying on a darker desk, the page (the largest bright
  region, its convex hull) is found at low resolution so that the desk is not taken as ink;
- :func:`is_structure_suspect`: a cheap test on one connected component of ink (its box and the
  ink along its four sides) that says whether it may hold printed lines: a closed box, a long
  line, a wide comb field or table. Only those components are analysed further, so a camera
  frame of plain handwriting costs almost nothing extra;
- :func:`separate_lines`: inside one such component, horizontal and vertical line pieces are
  found by opening with short line kernels (short, so that a line tilted by perspective still
  holds runs that long), chained, and kept as lines only when they span the component (a
  horizontal line >= 70 % of its width; a vertical one running from one horizontal line to
  another, like a box edge or a comb divider, or very long). A digit's bar or stem spans
  its own box, never the structure around it. The line pixels are removed; where a stroke
  crosses a line (ink right above and below it, or left and right) the line pixels between
  are put back, so a digit written across a box edge stays whole;
- the holes of the line network are the cells: :func:`fields` turns them into the fields digits
  are grouped by (a comb field = one row of adjacent boxes, a table cell or single box, an
  underline); squared paper (many equal cells) is one grid field, whose numbers are the runs of
  neighbouring squares written in, one digit per square.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

Box = tuple[int, int, int, int]

# A horizontal line spans this much of its component's width.
H_SPAN = 0.7
# A vertical line not ending on horizontal ones is printed only when this long (of the frame's height).
LONE_LINE = 0.6
# Horizontal lines of a wide structure are traced where a row is inked across half of a block
# this many pixels long (chosen on formgen dev pages: 32, 48, 64, 96 tried).
STRAIGHT_BLOCK = 48
# A line's own thickness, against which a stroke lying along it is told, is taken this many px
# at a time, where it is at least LOCAL_MORE px over that of the whole lines (dev pages: 0, 2, 3 tried).
THICK_BLOCK = 96
LOCAL_MORE = 2.0
# A structure with at least this many cells of one size is squared (grid) paper.
GRID_CELLS = 24
# The sides of a drawn box found by :func:`_frame` are at most this share of its size thick.
FRAME_SIDE = 0.2
# ... and enclose at least this share of their component's height, and this share of its width
# (a neighbouring digit may touch a box from the side; a 9's tail hangs below its loop).
FRAME_COVER = 0.65
FRAME_WIDTH = 0.45
# Ink beside a line lighter than this share of the line's median darkness is its blurred edge
# (chosen on the formgen dev pages: 0.45, 0.6, 0.75, 0.9 and 1.1 tried).
FAINT = 0.9
# A wide component's horizontal "line" thicker than 6 px and this share of the component's height
# is a printed word whose bold letters ran together (chosen on the formgen dev pages: 0.2-0.5
# tried; printed text read as digits on eight 300-dpi pages 38 -> 2 at 0.3, no digit lost).
TEXT_T = 0.3
COMB = True  # a comb's dividers from one lattice (:func:`_comb_dividers`)
# A rule's remnant on a cell edge is at most this share of a cell wide (:func:`_no_rule_remnants`).
REMNANT_W = 0.3
# Boxes side by side in one component are looked for in components this many times as wide as
# tall (:func:`_side_by_side`; 0 turns the step off).
SIDE_BY_SIDE = 1.3
# Pieces of a grid or table wider than this many cells are cut along the vertical rules'
# columns (:func:`_no_side_joins`; False turns the step off).
VBANDS = True
# On a grid or table (GRID_MIN cells or more, three or more rules across) whose lines are
# clearly lighter than the writing (the darkest tenth of the line pixels under DARKER of that of
# the ink more than AWAY from any line), line pixels over INK_SHARE times the lines' median
# darkness, in runs of DARK_RUN px along the line, are pen lying on it and stay
# (:func:`_line_pixels`; 0 turns it off).
DARKER = 0.9
INK_SHARE = 2.0
DARK_RUN = 8
GRID_MIN = 4
AWAY = np.ones((5, 5), np.uint8)
SIDE_WIDE = 1.4
FRAMES = True  # find drawn boxes by their outer edges (:func:`_frame`) too


@dataclass
class Lines:
    """What :func:`separate_lines` found in one component (boxes in the component's own pixels).

    Attributes:
        residual: the component's ink with the line pixels removed (crossing strokes kept).
        horizontal: boxes of the horizontal lines; vertical: of the vertical lines.
        cells: boxes of the paper areas enclosed by lines.
    """

    residual: np.ndarray
    horizontal: list[Box]
    vertical: list[Box]
    cells: list[Box]


@dataclass
class Field:
    """Where the digits of one number are written.

    Attributes:
        box: the area (frame pixels) a digit's centre must fall in (an underline: the band above it).
        kind: 'comb' (a row of adjacent boxes), 'cell' (a single box or a table cell), 'underline'
            or 'grid' (squared paper: one digit per square, a blank square between numbers).
        cells: the boxes of a comb field, left to right; of a grid, row by row.
    """

    box: Box
    kind: str
    cells: tuple[Box, ...] = ()


@dataclass
class Structure:
    """The printed structure of a frame: the boxes of what was set aside, the fields, and the
    horizontal rules (frame pixels) that pieces of ink above and below are not joined across."""

    boxes: list[Box] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    rules: list[Box] = field(default_factory=list)


def shrink(gray: np.ndarray, cell: int) -> np.ndarray:
    """``gray`` averaged over ``cell`` x ``cell`` squares (whole squares only: the ragged edge is left out)."""
    h, w = gray.shape
    sw, sh = max(1, w // cell), max(1, h // cell)
    return cv2.resize(gray[: sh * cell, : sw * cell], (sw, sh), interpolation=cv2.INTER_AREA)


def low_res(gray: np.ndarray, cell: int, per_side: int, small: np.ndarray | None = None) -> tuple[int, np.ndarray]:
    """(cell size, :func:`shrink` (gray, cell size)): ``cell`` capped at the shorter side / ``per_side``.

    ``small``: a copy the caller shrank already; it is used when its shape is that cell size's.
    The paper estimate and the page finder share one copy this way.
    """
    h, w = gray.shape
    cell = max(1, min(cell, min(h, w) // per_side))
    if small is None or small.shape != (max(1, h // cell), max(1, w // cell)):
        small = shrink(gray, cell)
    return cell, small


#: Opposite sides of a page's outline further from parallel than this (degrees) are not a page in perspective.
MAX_SKEW = 10.0


def page_corners(page: np.ndarray) -> np.ndarray | None:
    """The four corners of a :func:`page_region` mask (float32 4 x 2: top-left, top-right,
    bottom-right, bottom-left), or None when its outline is not a quadrilateral.

    The outline is simplified (Douglas-Peucker, 1-5 % of its length) until four corners are
    left, whose opposite sides must be within :data:`MAX_SKEW` degrees of parallel: a page seen
    in slight perspective is such a quadrilateral; four corners of a page with one corner out of
    the frame or cut off by a shadow are not, and that page is read without flattening.
    """
    contours, _ = cv2.findContours(page, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    length = cv2.arcLength(outline, True)
    for eps in (0.01, 0.02, 0.03, 0.05):
        quad = cv2.approxPolyDP(outline, eps * length, True)
        if len(quad) <= 4:
            break
    if len(quad) != 4 or not cv2.isContourConvex(quad):
        return None
    pts = quad.reshape(4, 2).astype(np.float32)
    s, d = pts.sum(axis=1), pts[:, 1] - pts[:, 0]
    ordered = np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])
    if len({tuple(p) for p in ordered.tolist()}) != 4:
        return None
    sides = np.roll(ordered, -1, axis=0) - ordered  # top, right, bottom, left
    angle = np.degrees(np.arctan2(sides[:, 1], sides[:, 0]))

    def apart(a, b):
        return abs((a - b + 90.0) % 180.0 - 90.0)

    if apart(angle[0], angle[2]) > MAX_SKEW or apart(angle[1], angle[3]) > MAX_SKEW:
        return None  # opposite sides far from parallel: a corner cut off, not perspective
    return ordered


def refine_corners(gray: np.ndarray, corners: np.ndarray, reach: int = 32, inset: float = 16.0) -> np.ndarray:
    """:func:`page_corners` (found at 1/8 resolution, a few pixels off: enough to tilt a long
    printed line by a degree) moved onto the page's edges in full-resolution ``gray``.

    Along each side, 48 profiles across it (``reach`` px either way) find where the page meets
    the darker desk (the steepest fall of brightness going outwards); a robust line fit through
    those points is the side, moved ``inset`` px into the page (as far as the coarse corners lay
    inside it: what is printed at the very edge stays out; on the dev photos an inset of 4 px
    read 0.7 points more digits and 12 more false ones). A side with too few clear edge points
    keeps its coarse position. The corners are where the sides meet.
    """
    h, w = gray.shape
    centre = corners.mean(axis=0)
    lines = []
    for k in range(4):
        a, b = corners[k].astype(np.float64), corners[(k + 1) % 4].astype(np.float64)
        d = (b - a) / max(1e-6, np.linalg.norm(b - a))
        n = np.array([-d[1], d[0]])
        if np.dot(n, (a + b) / 2 - centre) < 0:
            n = -n  # outwards
        t = np.linspace(0.1, 0.9, 48)[:, None]
        s = np.arange(-reach, reach + 1, dtype=np.float64)
        pts = a + t * (b - a)  # 48 x 2
        xs = pts[:, None, 0] + s[None, :] * n[0]
        ys = pts[:, None, 1] + s[None, :] * n[1]
        inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
        profile = _blurred_samples(gray, xs, ys)
        fall = profile[:, :-4] - profile[:, 4:]  # brightness lost 4 px further out
        fall[~(inside[:, :-4] & inside[:, 4:])] = 0
        j = fall.argmax(axis=1)
        strong = fall[np.arange(len(j)), j] >= 0.15 * np.percentile(profile, 90)
        edge = pts[strong] + (s[j[strong]] + 2 - inset)[:, None] * n
        if len(edge) >= 12:
            vx, vy, x0, y0 = cv2.fitLine(edge.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
        else:
            lines.append((a - inset * n, d))
    out = []
    for k in range(4):
        (p, u), (q, v) = lines[k - 1], lines[k]  # the side ending at corner k and the one starting there
        m = np.array([u, -v]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return corners
        ta = np.linalg.solve(m, q - p)[0]
        out.append(p + ta * u)
    out = np.array(out, np.float32)
    if np.abs(out - corners).max() > 2 * reach:
        return corners  # the fit went astray: keep the coarse corners
    return out


def _blurred_samples(gray: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``gray`` blurred (5 x 5 Gaussian) and sampled bilinearly at ``xs``, ``ys`` (float32), blurring
    only the strip the samples lie in (with the blur's margin, so the values are those of the
    whole frame blurred) instead of the whole frame."""
    h, w = gray.shape
    pad = 4  # the blur's radius (2) and the bilinear neighbour, with room to spare
    x0 = int(np.clip(np.floor(xs.min()) - pad, 0, w))
    x1 = int(np.clip(np.ceil(xs.max()) + pad + 1, 0, w))
    y0 = int(np.clip(np.floor(ys.min()) - pad, 0, h))
    y1 = int(np.clip(np.ceil(ys.max()) + pad + 1, 0, h))
    if x1 <= x0 or y1 <= y0:
        return np.zeros(xs.shape, np.float32)
    bx0, by0 = max(0, x0 - pad), max(0, y0 - pad)  # the blur's own margin around the strip
    bx1, by1 = min(w, x1 + pad), min(h, y1 + pad)
    blurred = cv2.GaussianBlur(gray[by0:by1, bx0:bx1], (5, 5), 0).astype(np.float32)
    return cv2.remap(blurred, (xs - bx0).astype(np.float32), (ys - by0).astype(np.float32), cv2.INTER_LINEAR)


def _percentile(values: np.ndarray, mask: np.ndarray, q: float) -> float:
    """The ``q`` percentile (0..100) of the uint8 ``values`` where ``mask`` is set (a histogram, not a sort)."""
    hist = cv2.calcHist([values], [0], mask, [256], [0, 256]).ravel()
    cumulative = np.cumsum(hist)
    return float(np.searchsorted(cumulative, q / 100.0 * cumulative[-1]))


def page_region(
    gray: np.ndarray, cell: int = 8, min_step: float = 0.25, small: np.ndarray | None = None
) -> np.ndarray | None:
    """A mask (uint8, 255 = page) of the page in a photo of a page on a darker desk, else None.

    At 1/``cell`` resolution the frame is split into bright and dark by Otsu's threshold; it is a
    page on a desk only when the dark part touches the frame's edge, covers at least 4 % of it,
    the bright part's largest region covers at least 15 %, and the border between them is a
    sharp step where it meets the dark part touching the edge (at least ``min_step`` of the
    paper's brightness across three cells), which a lighting gradient or a soft shadow is not
    (ink on the page, also sharp, is not where page meets desk). The page is the convex hull of the bright region
    (shadows and ink inside it included), shrunk by two cells. ``small``: :func:`shrink` (gray, cell)
    when the caller has it already.
    """
    h, w = gray.shape
    if max(1, min(cell, min(h, w) // 16)) < 2:
        return None
    cell, small = low_res(gray, cell, 16, small)
    sh, sw = small.shape
    small = cv2.medianBlur(small, 3)
    t, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark_share = 1.0 - cv2.countNonZero(bright) / bright.size
    if dark_share < 0.04:
        return None
    border = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
    if border.min() > 0:
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if n < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[biggest, cv2.CC_STAT_AREA] < 0.15 * bright.size:
        return None
    region = np.where(labels == biggest, 255, 0).astype(np.uint8)
    paper_level = _percentile(small, region, 90)
    desk = _desk(cv2.bitwise_not(bright), 0.04)
    if desk is None:
        return None
    step = cv2.subtract(cv2.dilate(small, None, iterations=1), cv2.erode(small, None, iterations=1))
    edge = cv2.bitwise_and(cv2.dilate(desk, None), region)  # where the page meets the desk
    if not edge.any() or _percentile(step, edge, 50) < min_step * paper_level:
        return None
    hull = cv2.convexHull(cv2.findNonZero(region))
    page = np.zeros_like(region)
    cv2.fillConvexPoly(page, hull, 255)
    page = cv2.erode(page, None, iterations=2)  # the page's edge is not ink
    full = np.zeros((h, w), np.uint8)
    full[: sh * cell, : sw * cell] = cv2.resize(page, (sw * cell, sh * cell), interpolation=cv2.INTER_NEAREST)
    return full


def _desk(dark: np.ndarray, min_share: float) -> np.ndarray | None:
    """The dark regions touching the frame's edge, if together they cover ``min_share`` of it."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
    h, w = dark.shape
    keep = [
        i
        for i in range(1, n)
        if stats[i, 0] == 0 or stats[i, 1] == 0 or stats[i, 0] + stats[i, 2] == w or stats[i, 1] + stats[i, 3] == h
    ]
    if not keep or stats[keep, cv2.CC_STAT_AREA].sum() < min_share * dark.size:
        return None
    lut = np.zeros(n, np.uint8)
    lut[keep] = 255
    return lut[labels]


def is_structure_suspect(mask: np.ndarray, box: Box, frame_shape, min_height: int) -> bool:
    """Whether a component of ink (``box`` in ``mask``) may hold printed lines.

    Yes when it is much wider than tall (a line, an underline, a comb field), very tall for its
    width and for the frame (a ruled margin), closed on all four sides (a box, a table, a
    grid: ink in the top and bottom bands across >= 85 % of its width and in the left and right
    bands across >= 85 % of its height), holding two thin straight rows and columns (a box a
    stroke reaches out of), a drawn box's outer edges (:func:`_frame`) or boxes side by side
    (:func:`_side_by_side`).
    """
    x, y, w, h = box
    if w < min_height and h < min_height:
        return False
    if w > 2.2 * h and w >= 2 * min_height:
        return True
    if h > 4 * w and h > LONE_LINE * frame_shape[0]:
        return True
    if w < min_height or h < min_height:
        return False
    roi = mask[y : y + h, x : x + w]
    return (
        _closed(roi)
        or _two_long_runs(roi, min_height)
        or (FRAMES and _frame(roi, min_height) is not None)
        or bool(_side_by_side(roi, min_height))
    )


def _closed(roi: np.ndarray) -> bool:
    """Ink along all four sides of ``roi`` (each side's band inked across >= 85 % of its length)."""
    h, w = roi.shape
    b = max(2, min(w, h) // 12)
    for band, axis in ((roi[:b], 0), (roi[h - b :], 0), (roi[:, :b], 1), (roi[:, w - b :], 1)):
        line = cv2.reduce(band, axis, cv2.REDUCE_MAX)
        if cv2.countNonZero(line) < 0.85 * line.size:
            return False
    return True


def _two_long_runs(roi: np.ndarray, min_height: int) -> bool:
    """Two thin straight rows of ink each unbroken across >= 60 % of the width and two thin straight
    columns across >= 50 % of the height, each pair at least half a digit apart: a box with a
    stroke reaching out of it. A digit's strokes are curved, short or thick: a thick pen's arc
    holds long runs in a row, but where it does the ink is as thick as the pen (measured on the
    camera benchmark video, a test without thinness sent nearly every thick 0, 6, 8 and 9 to
    line detection)."""
    h, w = roi.shape
    thick = max(4, int(0.1 * min(w, h))) + 1
    for axis, length in ((1, int(0.6 * w)), (0, int(0.5 * h))):
        if length < 3:
            return False
        across = _open(roi, (1, thick) if axis == 1 else (thick, 1))  # ink thicker than a printed line
        thin = cv2.bitwise_and(roi, cv2.bitwise_not(across))
        bridge = (3 * thick, 1) if axis == 1 else (1, 3 * thick)  # across a stroke crossing the line
        thin = cv2.morphologyEx(thin, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, bridge))
        runs = _open(thin, (length, 1) if axis == 1 else (1, length))
        full = np.flatnonzero(cv2.reduce(runs, axis, cv2.REDUCE_MAX).ravel())
        if len(full) < 2 or full[-1] - full[0] < min_height // 2:
            return False
    return True


def _open(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Morphological opening with a ``size`` (width, height) rectangle; outside the crop is paper."""
    return cv2.morphologyEx(
        mask,
        cv2.MORPH_OPEN,
        cv2.getStructuringElement(cv2.MORPH_RECT, size),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _straight(pieces: np.ndarray, along: int, block: int) -> np.ndarray:
    """The pixels of ``pieces`` on rows (``along`` = 1; columns for 0) inked across at least half
    of their block of ``block`` columns: the straight, thin part of line pieces, without the
    blobs of pen strokes that touch a line (which, touching two lines, would join them)."""
    m = pieces if along == 1 else pieces.T
    h, w = m.shape
    out = np.zeros_like(m)
    for x0 in range(0, w, block):
        x1 = min(w, x0 + block)
        if x1 - x0 < block // 2 and x0 > 0:
            x0 = max(0, x1 - block)
        rows = cv2.reduce(m[:, x0:x1], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() >= 0.5 * 255 * (x1 - x0)
        if rows.any():
            out[rows, x0:x1] = m[rows, x0:x1]
    return out if along == 1 else np.ascontiguousarray(out.T)


def _spanning(pieces: np.ndarray, along: int, need: float, run: int) -> tuple[np.ndarray, list[Box]]:
    """The line pieces (binary) whose chained extent along axis ``along`` (1 = x) reaches ``need``.

    Pieces a few pixels apart along the line (a broken line; a tilted one is a staircase of
    pieces) are chained first. A chain must hold one straight run of ``run`` pixels: a curved
    stroke, such as an 8's arc, has short runs only.
    """
    gap = 7
    k = (gap, 1) if along == 1 else (1, gap)
    chained = cv2.dilate(pieces, cv2.getStructuringElement(cv2.MORPH_RECT, k))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(chained, connectivity=8)
    extent = stats[:, cv2.CC_STAT_WIDTH if along == 1 else cv2.CC_STAT_HEIGHT]
    long_run = _open(pieces, (run, 1) if along == 1 else (1, run))
    has_run = np.zeros(n, bool)
    has_run[np.unique(labels[long_run > 0])] = True
    keep = np.flatnonzero((extent[1:] >= need) & has_run[1:]) + 1
    if len(keep) == 0:
        return np.zeros_like(pieces), []
    lut = np.zeros(n, np.uint8)
    lut[keep] = 255
    lines = cv2.bitwise_and(lut[labels], pieces)
    return lines, [tuple(int(v) for v in stats[i, :4]) for i in keep]


def _ends_on_lines(box: Box, horizontal: np.ndarray, reach: int = 4) -> bool:
    """Whether a vertical line piece meets a horizontal line near its top and near its bottom
    (touching or crossing it: a digit written across a comb divider may lengthen the piece)."""
    x, y, w, h = box
    x0, x1 = max(0, x - reach), x + w + reach
    top = horizontal[max(0, y - reach) : y + max(reach, int(0.3 * h)) + 1, x0:x1]
    bottom = horizontal[max(0, y + h - max(reach, int(0.3 * h))) : y + h + reach, x0:x1]
    return top.any() and bottom.any()


def _spanning_rows(keep: list[int], stats: np.ndarray, hboxes: list[Box]) -> list[int]:
    """The vertical lines of a table or grid (three horizontal lines or more): those running
    through more than one row of cells, and the pieces standing in line with one of those (a
    rule broken where a digit crosses it). A digit as tall as its row reaches from one rule to
    the next, like a rule, but only across its own row."""
    if len(hboxes) < 3 or not keep:
        return keep
    ys = np.sort([b[1] + b[3] / 2.0 for b in hboxes])
    pitch = float(np.median(np.diff(ys)))
    long = [i for i in keep if stats[i, cv2.CC_STAT_HEIGHT] >= 1.5 * pitch]
    if not long:
        return keep
    xs = np.array([stats[i, 0] + stats[i, 2] / 2.0 for i in long])
    is_long = set(long)
    return long + [
        i
        for i in keep
        if i not in is_long and np.abs(xs - (stats[i, 0] + stats[i, 2] / 2.0)).min() <= max(3.0, 0.5 * stats[i, 2])
    ]


def _on_pitch(keep: list[int], stats: np.ndarray, hboxes: list[Box]) -> list[int]:
    """The vertical lines of a comb (two horizontal lines) that stand on its dividers' even spacing,
    where :func:`_comb_dividers` finds no lattice.

    A digit's stem reaching from the top line to the bottom one (a 1, a 4, a 7 written to the
    size of its box) looks like a divider on its own. The spacing and offset are those that put
    the most full-height lines (>= 0.8 of the comb's height) on one lattice
    (:func:`_best_lattice`); lines off it by more than 8 % of the spacing are dropped. Nothing is dropped unless three lines, or two at least two boxes
    apart, are on the lattice.
    """
    if len(hboxes) != 2 or len(keep) < 3:
        return keep
    height = max(b[1] + b[3] for b in hboxes) - min(b[1] for b in hboxes)
    xs = {i: stats[i, 0] + stats[i, 2] / 2.0 for i in keep}
    full = sorted(xs[i] for i in keep if stats[i, cv2.CC_STAT_HEIGHT] >= 0.8 * height)
    if len(full) < 3:
        return keep
    count, p, ref = _best_lattice(np.array(full), float(height), 0.08)
    if count < 2 or count < 3 and full[-1] - full[0] < 1.5 * p:
        return keep
    return [i for i in keep if bool(_on_lattice(xs[i], ref, p, 0.08))]


def _on_lattice(x, ref: float, p: float, share: float):
    """Whether positions ``x`` stand on the lattice ``ref + k * p``, within ``share`` of ``p``
    (2 px at least)."""
    k = (x - ref) / p
    return np.abs(k - np.round(k)) * p <= np.maximum(2.0, share * p)


def _best_lattice(xs: np.ndarray, height: float, share: float) -> tuple[int, float, float]:
    """(count, spacing, offset) of the lattice that puts the most of the positions ``xs`` on it
    (:func:`_on_lattice`), the spacing nearest ``height`` (square boxes) among equals.

    Spacings tried: ``height`` and the gaps between the positions split in 1-6, those at least
    0.55 of ``height``; offsets: the positions themselves. All are tried at once.
    """
    gaps = np.abs(xs[None, :] - xs[:, None])[np.triu_indices(len(xs), 1)]
    cand = (gaps[:, None] / np.arange(1, 7)[None, :]).ravel()
    cand = np.unique(np.round(np.concatenate([[height], cand[cand >= 0.55 * height]]), 1))
    counts = _on_lattice(xs[None, None, :], xs[None, :, None], cand[:, None, None], share).sum(axis=2)
    best = counts.max()
    rows, cols = np.nonzero(counts == best)
    k = int(np.argmin(np.abs(cand[rows] - height)))
    return int(best), float(cand[rows[k]]), float(xs[cols[k]])


def _regular_dividers(keep: list[int], stats: np.ndarray, hlines: np.ndarray, hboxes: list[Box], k0: int) -> list[int]:
    """Vertical pieces standing where a comb's evenly spaced dividers are and touching one of its
    horizontal lines: dividers with a gap in them (a light printed line, a digit written over
    it) and half-height dividers rising from the bottom line, which are not read as 1s.

    Used where :func:`_comb_dividers` finds no lattice, and in tables. The spacing is the
    smallest gap between the whole dividers found (when there are two, at least 0.55 of the
    comb's height apart), else the comb's height (square boxes); a piece is a
    divider when it stands within 6 % of it (2 px at least) of a multiple of it from a whole
    divider and is at least 0.3 of the comb's height tall. (Taking :func:`_on_pitch`'s lattice
    spacing instead, where it found one, was measured on the dev pages: comb dividers read as
    digits went from 6 to 9 on eight scans, so the two estimates stay apart.)
    """
    if len(hboxes) < 2:
        return []
    top = min(b[1] for b in hboxes)
    bottom = max(b[1] + b[3] for b in hboxes)
    height = bottom - top
    xs = np.sort([stats[i, 0] + stats[i, 2] / 2.0 for i in keep])
    pieces = [(stats[i, 0] + stats[i, 2] / 2.0, i) for i in _ticks(keep, stats, hlines, height, k0)]
    if not pieces or not len(xs):
        return []
    gaps = np.diff(xs)
    gaps = gaps[gaps >= 0.55 * height]
    if gaps.size:
        pitch = float(gaps.min())
    else:  # one whole divider: the spacing of the pieces around it, when they keep one
        steps = np.diff(np.sort(np.concatenate([xs, [c for c, _ in pieces]])))
        steps = steps[steps >= 0.6 * height]
        pitch = float(steps.min()) if steps.size >= 2 and steps.max() <= 2.1 * steps.min() else float(height)
    if pitch < k0:
        return []
    near = max(2.0, 0.06 * pitch)
    return [i for c, i in pieces if any(abs((c - r) / pitch - round((c - r) / pitch)) * pitch <= near for r in xs)]


def _ticks(keep: list[int], stats: np.ndarray, hlines: np.ndarray, height: int, k0: int) -> list[int]:
    """Thin vertical pieces, not in ``keep``, at least 0.3 of a field's ``height`` tall, that touch
    one of its horizontal lines at an end: dividers with a gap in them (a light printed line, a
    digit written over it) and half-height dividers rising from the bottom line."""
    pieces, kept = [], set(keep)
    for i in range(1, len(stats)):
        if i in kept or stats[i, cv2.CC_STAT_HEIGHT] < max(k0 // 2, 0.3 * height):
            continue
        x, y, w, h = (int(v) for v in stats[i, :4])
        if w > max(6, 0.3 * h):
            continue
        near_top = hlines[max(0, y - 3) : y + 4, max(0, x - 3) : x + w + 3].any()
        near_bottom = hlines[max(0, y + h - 4) : y + h + 3, max(0, x - 3) : x + w + 3].any()
        if near_top or near_bottom:
            pieces.append(i)
    return pieces


def _comb_dividers(
    keep: list[int], stats: np.ndarray, hlines: np.ndarray, hboxes: list[Box], k0: int
) -> tuple[list[int], list[tuple[int, int, int]]] | None:
    """A comb's dividers (two horizontal lines) from the one even spacing of its thin dividers.

    A comb's dividers, whole or half-height or broken, stand on one lattice; the digits in its
    boxes stand between them, so a 1 written to the size of its box is no divider. The lattice
    is the spacing (at least 0.55 of the comb's height: boxes are not much narrower than tall,
    so a lattice at half the spacing, which would take in the 1s in the boxes' middles, is not
    tried) and offset that put the most thin full-height lines and :func:`_ticks` on it, the
    spacing nearest the comb's height among equals, then fitted to them by least squares.

    A divider that a digit touches is one piece with the digit's own vertical strokes; only its
    columns on the lattice go (returned as (piece, first column, end column)).

    Returns (whole pieces that are dividers, column bands of touched dividers), or None where no
    lattice holds three pieces, or two at least 1.5 spacings apart.
    """
    top = min(b[1] for b in hboxes)
    height = max(b[1] + b[3] for b in hboxes) - top
    thin = [i for i in keep if stats[i, cv2.CC_STAT_WIDTH] <= max(6, 0.3 * stats[i, cv2.CC_STAT_HEIGHT])]
    full = [i for i in thin if stats[i, cv2.CC_STAT_HEIGHT] >= 0.8 * height]
    ticks = _ticks(keep, stats, hlines, height, k0)
    ids = full + ticks
    if len(ids) < 2:
        return None
    c = np.array([stats[i, 0] + stats[i, 2] / 2.0 for i in ids])
    best, p, ref = _best_lattice(c, float(height), 0.07)
    on = _on_lattice(c, ref, p, 0.07)
    steps = np.round((c[on] - ref) / p)
    if best < 2 or best < 3 and np.ptp(steps) < 1.5:
        return None
    if np.ptp(steps) >= 1:  # the spacing and offset fitted to every piece on the lattice
        p, ref = (float(v) for v in np.polyfit(steps, c[on], 1))
    tol = max(2.0, 0.07 * p)
    dividers = [i for i, o in zip(ids, _on_lattice(c, ref, p, 0.07)) if o]
    half = max(1, int(round(np.median([stats[i, cv2.CC_STAT_WIDTH] for i in dividers]) / 2.0)))
    bands = []
    for i in keep:
        if i in thin:
            continue
        x, w = int(stats[i, 0]), int(stats[i, 2])
        for m in range(int(np.ceil((x - ref - tol) / p)), int(np.floor((x + w - ref + tol) / p)) + 1):
            at = int(round(ref + m * p))
            bands.append((i, max(x, at - half), min(x + w, at + half + 1)))
    return dividers, bands


def separate_lines(
    component: np.ndarray, min_height: int, frame_height: int, darkness: np.ndarray | None = None
) -> Lines | None:
    """Split one component of ink (a binary crop holding only it) into lines and the rest.

    A vertical line must run from one horizontal line to another (a box edge, a comb divider, a
    table rule), or be :data:`LONE_LINE` of the frame's height: a 1 standing on an underline is
    not a line.

    ``darkness``: the component's relative darkness (:func:`edgedigits.vision.relative_darkness`),
    when known: the faint ink next to a line (its blurred, ragged edge in a photo) goes with it,
    the dark ink of a stroke touching it stays.

    Returns None when it holds no line (it is left to be read as ink).
    """
    h, w = component.shape
    k0 = max(8, min_height)
    horiz = _open(component, (k0, 1))
    vert = _open(component, (1, k0))
    wide = w > 1.6 * h
    if not wide:  # a box: its edges are straight along most of their length, and thin
        hlines, hboxes = _spanning(horiz, 1, H_SPAN * w, max(2 * k0, int(0.5 * w)))
        vlines, vboxes = _spanning(vert, 0, H_SPAN * h, max(2 * k0, int(0.5 * h)))
        if len(hboxes) >= 2 and len(vboxes) >= 2:
            t = _thickness(hlines, hboxes, 1)
            if t <= max(4.0, 0.1 * min(w, h)) or _empty_box(component, t):  # a 0 or a 4 is no box
                return _lines(component, hlines, hboxes, vlines, vboxes, min_height, darkness)
        frame = _frame(component, min_height) if FRAMES else None
        if frame is None:
            return _each_box(component, min_height, frame_height, darkness)
        # only the pen's width goes (see _frame): the faint edge of a blurred side is mostly the
        # ink of the strokes it joins (dev boxed videos: 36 and 62 false detections with it, 13 and 25 without)
        lines = _lines(component, *frame, min_height)
        if not lines.cells:  # a stroke lying along a side left a gap in it: the box is still one cell
            (_, top, _, th), (_, bottom, _, _) = frame[1]
            (left, _, lw, _), (right, _, _, _) = frame[3]
            cell = (left + lw, top + th, right - left - lw, bottom - top - th)
            if cell[2] > 0 and cell[3] > 0:
                lines.cells = [cell]
        if len(lines.cells) == 1:
            lines.residual = _frame_leftovers(lines.residual, lines.cells[0])
        return lines
    hlines, hboxes = _spanning(_straight(horiz, 1, STRAIGHT_BLOCK), 1, max(2 * k0, H_SPAN * w), 2 * k0)
    if hboxes and h >= min_height and _thickness(hlines, hboxes, 1) > max(6.0, TEXT_T * h):
        return None  # a printed word whose bold letters ran together, no line
    n, labels, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
    tall = stats[:, cv2.CC_STAT_HEIGHT]
    keep = [
        i
        for i in range(1, n)
        if tall[i] >= LONE_LINE * frame_height
        or (tall[i] >= k0 and hboxes and _ends_on_lines(tuple(stats[i, :4]), hlines))
    ]
    keep = _spanning_rows(keep, stats, hboxes)
    comb = _comb_dividers(keep, stats, hlines, hboxes, k0) if COMB and len(hboxes) == 2 else None
    bands = []
    if comb is not None:
        keep, bands = comb
    else:
        keep = _on_pitch(keep, stats, hboxes)
        keep += _regular_dividers(keep, stats, hlines, hboxes, k0)
    vlines = np.zeros_like(component)
    if keep:
        lut = np.zeros(n, np.uint8)
        lut[keep] = 255
        vlines = cv2.bitwise_and(lut[labels], vert)
    vboxes = [tuple(int(v) for v in stats[i, :4]) for i in keep]
    for i, x0, x1 in bands:  # a touched divider: its columns of the piece it shares with a digit
        y, h = int(stats[i, cv2.CC_STAT_TOP]), int(stats[i, cv2.CC_STAT_HEIGHT])
        strip = labels[y : y + h, x0:x1] == i
        vlines[y : y + h, x0:x1][strip] = 255
        vboxes.append((x0, y, x1 - x0, h))
    lines = _lines(component, hlines, hboxes, vlines, vboxes, min_height, darkness) if hboxes or vboxes else None
    if lines is None or not lines.cells:  # no field: maybe boxes side by side, each with lines of its own
        return _each_box(component, min_height, frame_height, darkness) or lines
    return lines


def _side_by_side(component: np.ndarray, min_height: int) -> list[tuple[int, int]]:
    """The column ranges [start, end) of boxes drawn side by side that ran into one component (on a
    camera frame two neighbours' boxes touch): between two consecutive uprights, columns holding
    a straight vertical run of half the component's height, at least a digit's height apart, with
    a straight row across 0.6 of the range between them. Only for a component at least
    :data:`SIDE_BY_SIDE` times as wide as tall (a digit is seldom so wide)."""
    h, w = component.shape
    if SIDE_BY_SIDE <= 0 or w < SIDE_BY_SIDE * h or h < min_height:
        return []
    runs = _open(component, (1, max(2 * max(8, min_height), int(0.5 * h))))  # straight uprights only
    sides = _bands(cv2.reduce(runs, 0, cv2.REDUCE_MAX).ravel())
    ranges = [(a0, b1) for (a0, a1), (b0, b1) in zip(sides, sides[1:]) if b0 - a1 >= min_height]
    # a box also has a straight top or bottom across most of it (a printed word's uprights do not)
    return [(x0, x1) for x0, x1 in ranges if _open(component[:, x0:x1], (max(2, int(0.6 * (x1 - x0))), 1)).any()]


def _each_box(component: np.ndarray, min_height: int, frame_height: int, darkness=None) -> Lines | None:
    """The lines of boxes standing side by side in one component (:func:`_side_by_side`), each
    found on its own columns as a single box is; None where there are none."""
    ranges = _side_by_side(component, min_height)
    w = component.shape[1]
    removed = np.zeros_like(component)
    horizontal, vertical, cells = [], [], []
    for x0, x1 in ranges:
        if x1 - x0 >= w:
            continue
        window = np.ascontiguousarray(component[:, x0:x1])
        part = separate_lines(window, min_height, frame_height, None if darkness is None else darkness[:, x0:x1])
        if part is None or not part.cells:
            continue
        removed[:, x0:x1] |= cv2.bitwise_and(window, cv2.bitwise_not(part.residual))
        horizontal += [(x + x0, y, bw, bh) for x, y, bw, bh in part.horizontal]
        vertical += [(x + x0, y, bw, bh) for x, y, bw, bh in part.vertical]
        cells += [(x + x0, y, bw, bh) for x, y, bw, bh in part.cells]
    if not cells:
        return None
    return Lines(cv2.bitwise_and(component, cv2.bitwise_not(removed)), horizontal, vertical, cells)


def _bands(profile: np.ndarray) -> list[tuple[int, int]]:
    """The runs [start, end) of nonzero entries of a 1-D profile."""
    on = np.flatnonzero(profile)
    if not on.size:
        return []
    breaks = np.flatnonzero(np.diff(on) > 1)
    starts = np.concatenate([[on[0]], on[breaks + 1]])
    ends = np.concatenate([on[breaks], [on[-1]]]) + 1
    return list(zip(starts.tolist(), ends.tolist()))


def _straight_edge(side: np.ndarray, outer_first: bool) -> bool:
    """Whether the outer edge of one side of a box (``side``: its band of ink, running along x)
    is straight: the edge's row in each column, fitted by a line (the box may be tilted), is off
    it by at most 1.5 px in 80 % of the columns (a stroke crossing the side may move the rest; a
    digit's loop is curved)."""
    cols = np.flatnonzero(side.any(axis=0))
    if cols.size < 4:
        return False
    ink = side[:, cols] > 0
    rows = ink.argmax(axis=0) if outer_first else side.shape[0] - 1 - ink[::-1].argmax(axis=0)
    x = cols - cols.mean()
    y = rows - rows.mean()
    slope = float(x @ y) / float(x @ x)  # least squares
    return _quantile(np.abs(y - slope * x), 0.8) <= 1.5


def _outer_part(side: np.ndarray, thickness: float, outer_first: bool) -> np.ndarray:
    """The line in one side's band (running along x): in each column, the ink within
    ``thickness`` + 1 px of the band's outer edge, not a stroke running along the line's inner
    side; nothing where the ink from the outer edge runs on for more than ``thickness`` + 2 px
    (a stroke lying on the line hides it there, and is kept whole)."""
    ink = (side if outer_first else side[::-1]) > 0
    edge = ink.argmax(axis=0)
    rows = np.arange(ink.shape[0])[:, None]
    below = rows >= edge[None, :]
    run = np.cumprod(ink | ~below, axis=0).sum(axis=0) - edge  # inked rows from the edge on
    keep = below & (rows < edge[None, :] + int(np.ceil(thickness)) + 1) & ink & (run <= thickness + 2)[None, :]
    keep = keep if outer_first else keep[::-1]
    return np.where(keep, side, 0).astype(side.dtype)


def _frame(component: np.ndarray, min_height: int):
    """A single drawn box in ``component``, found by its four sides when a digit touches or crosses
    them (the strokes joined to its edges hide the thin straight lines that :func:`separate_lines`
    traces): (hlines, hboxes, vlines, vboxes) of its sides, or None.

    Its top and bottom sides are the outermost rows of ink runs at least half the component
    wide; its left and right sides are columns of runs at least half the distance between them,
    the ones nearest the ends of the top and bottom sides (a neighbouring digit touching the box
    has uprights of its own). It is a box when the four meet at square corners (ink over at
    least half of where two sides overlap), hold a digit's height between them each way and
    enclose at least ``FRAME_COVER`` of the component's height (ink may reach out of a box, not
    hang below it, as a 9's tail does below its loop) and ``FRAME_WIDTH`` of its width, and when
    each side is unbroken and straight on its outer edge. Where no stroke joins it, the thinnest
    side is at most ``FRAME_SIDE`` of the box thick and the others twice that (a stroke lying
    along a side thickens it; a 0 is round, a digit's strokes are thick).
    """
    h, w = component.shape
    if w < min_height + 2 or h < min_height + 2:
        return None  # a digit's height between two sides each way
    # a quick test first (most ink is no box): two rows inked across half the width, as far apart
    # as the box's sides must be (less their thickness), and two columns inked over 0.55 of the
    # height, at least a digit's height apart
    for axis, need, apart in ((1, w // 2, 0.5 * h), (0, int(0.55 * h), min_height)):
        full = np.flatnonzero(cv2.reduce(component, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() >= 255 * need)
        if full.size < 2 or full[-1] - full[0] < max(min_height, apart):
            return None
    k0 = max(8, min_height)
    thin = max(8.0, FRAME_SIDE * min(w, h))
    tol = max(3, int(0.08 * w))
    horiz = _open(component, (max(k0, w // 2), 1))
    rows = _bands(cv2.reduce(horiz, 1, cv2.REDUCE_MAX).ravel())
    if len(rows) < 2:
        return None
    (t0, t1), (b0, b1) = rows[0], rows[-1]
    if b0 - t1 < min_height or b1 - t0 < FRAME_COVER * h:
        return None
    spans, sides = [], []
    for (y0, y1), top in (((t0, t1), True), ((b0, b1), False)):
        counts = cv2.reduce(horiz[y0:y1], 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
        cols = np.flatnonzero(counts)
        t = _quantile(counts[cols], 0.35)
        if cols[-1] - cols[0] + 1 - cols.size > tol or t > 2 * thin:
            return None
        spans.append((int(cols[0]), int(cols[-1]) + 1))
        sides.append((horiz[y0:y1], t, top))
    (l0, r0), (l1, r1) = spans
    # a stroke crossing a side near a corner runs on along it: the box ends where the shorter side does
    left, right = max(l0, l1), min(r0, r1)
    if abs(l0 - l1) > max(tol, 0.25 * w) or abs(r0 - r1) > max(tol, 0.25 * w) or right - left < FRAME_WIDTH * w:
        return None
    vert = _open(component[t0:b1], (1, max(k0, (b1 - t0) // 2)))
    cols = _bands(cv2.reduce(vert, 0, cv2.REDUCE_MAX).ravel())
    if len(cols) < 2:
        return None
    # the uprights standing where the top and bottom sides end (ink beside the box, such as a
    # neighbouring digit touching it, has uprights of its own)
    a0, a1 = min(cols, key=lambda c: abs(c[0] - left))
    c0, c1 = min(cols, key=lambda c: abs(c[1] - right))
    if abs(a0 - left) > tol or abs(c1 - right) > tol or c0 - a1 < min_height:
        return None
    for (x0, x1), first in (((a0, a1), True), ((c0, c1), False)):
        counts = cv2.reduce(vert[:, x0:x1], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
        on = counts[counts > 0]
        t = _quantile(on, 0.35) if on.size else 0.0
        if on.size < 0.85 * (b1 - t0) or t > 2 * thin:
            return None
        sides.append((np.ascontiguousarray(vert[:, x0:x1].T), t, first))
    for y0, y1 in ((t0, t1), (b0, b1)):
        for x0, x1 in ((a0, a1), (c0, c1)):
            if cv2.countNonZero(component[y0:y1, x0:x1]) < 0.5 * (y1 - y0) * (x1 - x0):
                return None  # a rounded corner
    if not all(_straight_edge(side, outer) for side, _, outer in sides):
        return None
    # a box is drawn with one pen: its sides are as thick as the thinnest (a stroke lying along a
    # side, inside it, thickens that side's band and is not taken with the line)
    line = min(t for _, t, _ in sides)
    if line > thin:
        return None
    sides = [_outer_part(side, line, outer) for side, _, outer in sides]
    hlines = np.zeros_like(component)
    vlines = np.zeros_like(component)
    hboxes, vboxes = [], []
    for (y0, y1), side in zip(((t0, t1), (b0, b1)), sides):
        hlines[y0:y1, a0:c1] = side[:, a0:c1]
        hboxes.append((a0, y0, c1 - a0, y1 - y0))
    for (x0, x1), side in zip(((a0, a1), (c0, c1)), sides[2:]):
        vlines[t0:b1, x0:x1] = side.T
        vboxes.append((x0, t0, x1 - x0, b1 - t0))
    return hlines, hboxes, vlines, vboxes


def _empty_box(component: np.ndarray, thickness: float) -> bool:
    """Whether a component is an empty box drawn with lines ``thickness`` thick: ink within a few
    pixels of each corner of its box along the diagonal (square corners; a 0 is written round)
    and nothing inside, away from its lines."""
    h, w = component.shape
    reach = int(max(4, 0.1 * min(w, h)))  # a printed corner is rounded by a few pixels at most
    k = np.arange(reach)
    for ys, xs in ((k, k), (k, w - 1 - k), (h - 1 - k, k), (h - 1 - k, w - 1 - k)):
        if not component[ys, xs].any():
            return False
    m = int(thickness) + 2
    inside = component[m : h - m, m : w - m]
    return inside.size > 0 and cv2.countNonZero(inside) <= 0.03 * inside.size


def _quantile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, 100 * q)`` (linear interpolation) for a short 1-D array, without
    its overhead (called for every line of every page)."""
    v = np.sort(values, kind="stable").astype(np.float64)
    pos = q * (len(v) - 1)
    lo = int(pos)
    return float(v[lo] + (pos - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo]))


def _thickness(lines: np.ndarray, boxes: list[Box], along: int) -> float:
    """Typical thickness of some lines running along axis ``along`` (1 = x): per line, a low (35th)
    percentile of the count of its pixels across it (a digit lying on the line over part of its
    length does not count; a lower one takes the faint anti-aliased rows of a thin line for its
    width); the median over the lines at least half as long as the longest (short pieces, such
    as a divider broken by a digit, do not count). The percentile was chosen on formgen dev pages
    and a camera video of MNIST training digits with boxes drawn around them."""
    if not boxes:
        return 0.0
    length = [b[2] if along == 1 else b[3] for b in boxes]
    values = []
    for (x, y, w, h), n in zip(boxes, length):
        if n < 0.5 * max(length):
            continue
        counts = (
            cv2.reduce(lines[y : y + h, x : x + w], 0 if along == 1 else 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
            // 255
        )
        counts = counts[counts > 0]
        if counts.size:
            values.append(_quantile(counts, 0.35))
    return float(np.median(values)) if values else 0.0


def _lines(component, hlines, hboxes, vlines, vboxes, min_height: int, darkness=None) -> Lines:
    """The :class:`Lines` of a component once its lines are known: line pixels out, crossings back.

    Crossings of vertical lines are not put back in a comb field (two horizontal lines, three or
    more vertical ones): ink on both sides of a divider is two digits touching it.
    The cells of a comb, table or grid are the holes of its whole lines (also where a stroke lying
    on a line was kept).
    """
    comb = len(hboxes) == 2 and len(vboxes) >= 3
    several = len(hboxes) >= 3 or len(vboxes) >= 3  # a comb, a table or a grid, not one box
    both = cv2.bitwise_or(hlines, vlines)
    if several:
        whole = cv2.dilate(both, None)
        if comb:  # a divider with a gap still closes its box
            top, bottom = min(b[1] for b in hboxes), max(b[1] + b[3] for b in hboxes)
            for x, _, w, _ in vboxes:
                cv2.rectangle(whole, (x, top), (x + w - 1, bottom - 1), 255, cv2.FILLED)
        cells = _cells(whole, min_height)
    writing = None  # how dark the writing on a grid or table is (its darkest tenth)
    if DARKER and darkness is not None and several and len(hboxes) >= 3 and len(cells) >= GRID_MIN:
        away = cv2.bitwise_and(component, cv2.bitwise_not(cv2.dilate(both, AWAY)))
        if away.any():
            writing = float(np.percentile(darkness[away > 0], 90))
    grown_h = _line_pixels(hlines, hboxes, component, 1, darkness, writing)
    grown_v = _line_pixels(vlines, vboxes, component, 0, darkness, writing)
    lines = cv2.bitwise_or(grown_h, grown_v)
    residual = cv2.bitwise_and(component, cv2.bitwise_not(lines))
    if not several:
        cells = _cells(lines, min_height)
    if residual.any():
        kept = _restore_crossings(residual, grown_h, np.zeros_like(grown_v) if comb else grown_v)
        bands = _rule_bands(hlines, hboxes) if several and len(cells) >= 4 else None
        residual = _no_stacked_joins(residual, kept, cells, bands) if several and cells else kept
        if bands is not None and VBANDS and not comb:  # a comb's dividers are cut by their lattice
            residual = _no_side_joins(residual, cells, _rule_bands(vlines, vboxes, along=0))
        if several and len(cells) >= 2:
            residual = _no_rule_remnants(residual, cells)
    return Lines(residual, hboxes, vboxes, cells)


def _no_rule_remnants(residual: np.ndarray, cells: list[Box]) -> np.ndarray:
    """``residual`` without the thin upright pieces standing on a cell edge: what is left of a
    vertical rule that broke up (a light line in a photo's shadow) and was not found as a line.

    A piece is a remnant when it is at most :data:`REMNANT_W` of a cell wide (3 px at least:
    a photo's blurred line is wider than a scan's; a fifth had been taken, dev photos: grid
    pieces read as digits 5 -> 1 with three tenths, 300-dpi scans one digit fewer), at least a
    third of a cell tall, and its centre lies within a tenth of a cell (2 px at least) of the
    left or right edge of a cell (for a table's wide cells, a fifth and a tenth of their height).
    A 1 written inside its cell stands away from the edges."""
    ch = float(np.median([c[3] for c in cells]))
    cw = min(ch, float(np.median([c[2] for c in cells])))  # a table's wide cells: their height sets the scale
    edges = np.array(sorted({c[0] for c in cells} | {c[0] + c[2] for c in cells}), np.float64)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(residual, connectivity=8)
    if n < 2:
        return residual
    x, w, h = stats[1:, 0], stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    centre = x + w / 2.0
    near = np.abs(centre[:, None] - edges[None, :]).min(axis=1) <= max(2.0, 0.1 * cw)
    drop = (w <= max(3.0, REMNANT_W * cw)) & (h >= ch / 3.0) & near
    return _without(residual, labels, drop)


def _without(residual: np.ndarray, labels: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``residual`` without the components (``labels`` of its 8-connected components) marked in
    ``drop`` (one flag per component, the background not included)."""
    if not drop.any():
        return residual
    lut = np.full(len(drop) + 1, 255, np.uint8)
    lut[0] = 0
    lut[1:][drop] = 0
    return cv2.bitwise_and(residual, lut[labels])


def _frame_leftovers(residual: np.ndarray, cell: Box) -> np.ndarray:
    """``residual`` of one drawn box without what is left of a digit's strokes where they ran
    along a side or crossed it, which is no 1: thin upright slivers away from the box's middle
    (at most a fifth of the box wide, 3 px at least, a third of it tall or more, the centre at
    least 0.3 of its width off the box's centre: a 1 written in a box stands near its middle),
    and small pieces outside it (less than half the box tall and wide, the centre outside)."""
    x, y, w, h = cell
    n, labels, stats, _ = cv2.connectedComponentsWithStats(residual, connectivity=8)
    if n < 2:
        return residual
    sx, sy = stats[1:, 0], stats[1:, 1]
    sw, sh = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    cx, cy = sx + sw / 2.0, sy + sh / 2.0
    sliver = (sw <= max(3.0, 0.2 * w)) & (sh >= h / 3.0) & (np.abs(cx - (x + w / 2.0)) >= 0.3 * w)
    outside = (cx < x) | (cx > x + w) | (cy < y) | (cy > y + h)
    drop = sliver | (outside & (sh < 0.5 * h) & (sw < 0.5 * w))
    return _without(residual, labels, drop)


def _rule_bands(lines: np.ndarray, boxes: list[Box], along: int = 1) -> np.ndarray:
    """The rows each straight horizontal line piece fills across at least half its width (with
    ``along`` = 0, the columns each vertical piece fills down half its height): where the printed
    line itself runs, without a pen stroke lying along part of it. A tilted line fills no row that
    far and gets no band."""
    out = np.zeros_like(lines)
    for x, y, w, h in boxes:
        if along == 1:
            counts = cv2.reduce(lines[y : y + h, x : x + w], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
            out[y + np.nonzero(counts >= 0.5 * w)[0], x : x + w] = 255
        else:
            counts = cv2.reduce(lines[y : y + h, x : x + w], 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
            out[y : y + h, x + np.nonzero(counts >= 0.5 * h)[0]] = 255
    return out


def _no_stacked_joins(
    residual: np.ndarray, restored: np.ndarray, cells: list[Box], bands: np.ndarray | None = None
) -> np.ndarray:
    """``restored`` (``residual`` with line crossings put back), except where putting them back
    joined ink into a piece taller or wider than 1.4 cells of the grid or table: there two digits
    in neighbouring cells touch the line between them, one stroke does not cross it. Such a
    piece is also cut along the printed lines' own rows (``bands``, :func:`_rule_bands`), where
    a stroke lying on a line had kept the line's pixels and joined the two digits."""
    ch = float(np.median([c[3] for c in cells]))
    cw = float(np.median([c[2] for c in cells]))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(restored, connectivity=8)
    big = (stats[:, cv2.CC_STAT_HEIGHT] > 1.4 * ch) | (stats[:, cv2.CC_STAT_WIDTH] > 1.4 * cw)
    big[0] = False
    if not big.any():
        return restored
    lut = np.where(big, 255, 0).astype(np.uint8)
    undo = cv2.bitwise_and(lut[labels], cv2.bitwise_and(restored, cv2.bitwise_not(residual)))
    out = cv2.bitwise_and(restored, cv2.bitwise_not(undo))
    if bands is None or not bands.any():
        return out
    for i in np.nonzero(big)[0]:
        x, y, w, h = (int(v) for v in stats[i, :4])
        piece = cv2.bitwise_and(
            out[y : y + h, x : x + w], np.where(labels[y : y + h, x : x + w] == i, 255, 0).astype(np.uint8)
        )
        _cut_apart(out[y : y + h, x : x + w], piece, bands[y : y + h, x : x + w], 0.6 * ch, tall_only=False)
    return out


def _cut_apart(window: np.ndarray, piece: np.ndarray, band: np.ndarray, size: float, tall_only: bool) -> None:
    """In ``window`` (in place), ``piece`` (its pixels in the window) without the pixels of
    ``band``, when that leaves two parts or more at least ``size`` tall (or, unless ``tall_only``,
    that wide)."""
    cut = cv2.bitwise_and(piece, cv2.bitwise_not(band))
    _, _, parts, _ = cv2.connectedComponentsWithStats(cut, connectivity=8)
    extent = parts[1:, cv2.CC_STAT_HEIGHT]
    if not tall_only:
        extent = np.maximum(extent, parts[1:, cv2.CC_STAT_WIDTH])
    if int((extent >= size).sum()) >= 2:
        window[:] = cv2.bitwise_or(cv2.bitwise_and(window, cv2.bitwise_not(piece)), cut)


def _no_side_joins(residual: np.ndarray, cells: list[Box], bands: np.ndarray) -> np.ndarray:
    """``residual`` with each piece wider than :data:`SIDE_WIDE` cells of the grid or table cut
    along the vertical rules' own columns (``bands``, :func:`_rule_bands` of the vertical lines),
    when that leaves two parts at least 0.6 of a cell tall: two digits in neighbouring squares
    whose ink met on the rule between them (one written across it). After the rule's removal and
    :func:`_no_stacked_joins` such pairs were still one piece, joined through ink left in the
    rule's own columns, and were read as one wide low-confidence digit or not at all. Dev pages,
    digits read right: scans 90.8 -> 92.0 %, photos 78.1 -> 80.5 %, 300 dpi 93.1 -> 94.5 %, no
    more false digits; the dev videos read the same. Cut at 1.0 or 1.2 cells instead, each dev
    page set reads within two digits of this."""
    ch = float(np.median([c[3] for c in cells]))
    cw = float(np.median([c[2] for c in cells]))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(residual, connectivity=8)
    wide = np.nonzero(stats[1:, cv2.CC_STAT_WIDTH] > SIDE_WIDE * cw)[0] + 1
    out = residual
    for i in wide:
        x, y, w, h = (int(v) for v in stats[i, :4])
        piece = np.where(labels[y : y + h, x : x + w] == i, 255, 0).astype(np.uint8)
        band = bands[y : y + h, x : x + w]
        if not cv2.bitwise_and(piece, band).any():
            continue
        if out is residual:
            out = residual.copy()
        _cut_apart(out[y : y + h, x : x + w], piece, band, 0.6 * ch, tall_only=True)
    return out


def _line_pixels(
    lines: np.ndarray,
    boxes: list[Box],
    component: np.ndarray,
    along: int,
    darkness: np.ndarray | None = None,
    writing: float | None = None,
) -> np.ndarray:
    """The pixels to remove for ``lines`` (running along axis ``along``; 1 = x), except where the
    line is much thicker than it is elsewhere - a pen stroke lying along it, which is kept. With
    ``darkness``, also the faint ink just beside the line (under ``FAINT`` of the line's median
    darkness: its blurred, ragged edge in a photo); a stroke touching the line is as dark as the
    line and stays.

    With ``writing`` (how dark the writing on a grid or table is, the darkest tenth of its ink
    away from the lines) and ``darkness``, where the lines are clearly lighter than the writing
    (:data:`DARKER`), pen strokes lying on a line as thin as it are told from it by their
    darkness and stay: light squared paper under a dark pen, a 7 whose bar is written on a rule.
    Dev pages: scans 92.0 -> 92.7 % of digits read right (7 digits more, four of them 7s whose
    bars lay on a rule and had been read as 1s or rejected), photos and 300-dpi scans as
    before, dev videos as before. Without the lighter-lines condition the photos lost digits in
    a table whose rules' dark core passed the darkness test; with it on any ruled component of
    three or more rows, a boxed dev video gained 7 false detections, hence :data:`GRID_MIN`."""
    if not boxes:
        return lines
    stroke = _thicker_than_the_line(lines, boxes, along, _thickness(lines, boxes, along))
    grown = cv2.bitwise_and(lines, component)
    if darkness is not None and grown.any():
        ring = cv2.bitwise_and(cv2.dilate(lines, None), component)
        level = FAINT * float(np.median(darkness[grown > 0]))
        faint = cv2.compare(darkness, level, cv2.CMP_LT)
        grown = cv2.bitwise_or(grown, cv2.bitwise_and(ring, faint))
    if stroke.any():
        grown = cv2.bitwise_and(grown, cv2.bitwise_not(cv2.dilate(stroke, None)))
    if writing is not None and darkness is not None and grown.any():
        line = darkness[grown > 0]
        if np.percentile(line, 90) < DARKER * writing:  # printed lines clearly lighter than the writing
            level = min(254.0, INK_SHARE * float(np.median(line)))
            dark = cv2.bitwise_and(grown, cv2.compare(darkness, level, cv2.CMP_GT))
            dark = _open(dark, (DARK_RUN, 1) if along == 1 else (1, DARK_RUN))
            if dark.any():
                grown = cv2.bitwise_and(grown, cv2.bitwise_not(dark))
    return grown


def _thicker_than_the_line(lines: np.ndarray, boxes: list[Box], along: int, thickness: float) -> np.ndarray:
    """The parts of ``lines`` (running along axis ``along``) at least 2 px thicker than the line is
    around them: a pen stroke lying along it.

    A horizontal line's thickness is taken block by block of :data:`THICK_BLOCK` px along it
    (:func:`_thickness` of the block) where that is :data:`LOCAL_MORE` px or more over
    ``thickness``, that of the whole lines: across a photographed page a line is thicker where
    the page is nearer the lens or more blurred, and there all of it had been taken for a stroke
    and kept. Vertical lines (a grid's or a table's, as tall as it) take ``thickness``: block by
    block there too, a dev camera video gave 5 more false detections."""
    k = int(max(1.0, thickness)) + 2
    out = _open(lines, (1, k) if along == 1 else (k, 1))
    width = lines.shape[1]
    if along != 1 or THICK_BLOCK <= 0 or width <= THICK_BLOCK:
        return out
    # each line's count of pixels across it, column by column, once; then _thickness block by block
    counts = [
        (x, cv2.reduce(lines[y : y + h, x : x + w], 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255)
        for x, y, w, h in boxes
    ]
    for x0 in range(0, width, THICK_BLOCK):
        x1 = min(width, x0 + THICK_BLOCK)
        parts = [c[max(0, x0 - x) : max(0, x1 - x)] for x, c in counts if x < x1 and x + len(c) > x0]
        longest = max((len(c) for c in parts), default=0)
        values = [_quantile(c[c > 0], 0.35) for c in parts if len(c) >= 0.5 * longest and (c > 0).any()]
        if not values:
            continue
        local = float(np.median(values))
        if local >= thickness + LOCAL_MORE:
            out[:, x0:x1] = _open(np.ascontiguousarray(lines[:, x0:x1]), (1, int(local) + 2))
    return out


def _restore_crossings(residual: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray) -> np.ndarray:
    """Put back the line pixels between ink right above and below them (or left and right)."""
    thick = 11
    out = residual.copy()
    if horizontal.any():
        across = cv2.morphologyEx(residual, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, thick)))
        out |= cv2.bitwise_and(across, horizontal)
    if vertical.any():
        across = cv2.morphologyEx(residual, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (thick, 1)))
        out |= cv2.bitwise_and(across, vertical)
    return out


def _cells(lines: np.ndarray, min_height: int) -> list[Box]:
    """Boxes of the paper areas fully enclosed by ``lines``."""
    h, w = lines.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(cv2.bitwise_not(lines), connectivity=4)
    out = []
    for x, y, cw, ch, area in stats[1:]:
        if x == 0 or y == 0 or x + cw >= w or y + ch >= h:
            continue
        if cw >= min_height // 2 and ch >= min_height // 2 and area >= 0.6 * cw * ch:
            out.append((int(x), int(y), int(cw), int(ch)))
    return out


def _is_grid(cells: list[Box]) -> bool:
    """Squared paper: many cells, nearly all of one size, and square (a table's cells are wide)."""
    if len(cells) < GRID_CELLS:
        return False
    sizes = np.array([(c[2], c[3]) for c in cells], np.float32)
    med = np.median(sizes, axis=0)
    if not 0.6 <= med[0] / max(1.0, med[1]) <= 1.6:
        return False
    return float(np.mean(np.all(np.abs(sizes - med) <= 0.2 * med, axis=1))) >= 0.8


def _one_row(cells: list[Box]) -> bool:
    """Whether cells lie in one row, each beside the next, most no wider than tall (a comb field;
    a divider hidden under a digit may join two of its boxes)."""
    if len(cells) < 2:
        return False
    cells = sorted(cells)
    h = np.median([c[3] for c in cells])
    for a, b in zip(cells, cells[1:]):
        if abs((a[1] + a[3] / 2) - (b[1] + b[3] / 2)) > 0.3 * h or b[0] - (a[0] + a[2]) > 0.5 * h:
            return False
    return np.median([c[2] / c[3] for c in cells]) <= 1.5


def fields(lines: Lines, offset: tuple[int, int], frame_width: int, min_height: int = 12) -> list[Field]:
    """The fields of one component's lines, in frame pixels (``offset`` = the component's corner).

    A row of adjacent boxes is one comb field; other cells are fields of their own; squared paper
    is one 'grid' field (its numbers are the runs of written squares in a row). A horizontal line enclosing no cell, at least six digit heights long and shorter
    than half the frame is an underline (a longer one is a ruled line: its digits are grouped as
    free writing).
    """
    ox, oy = offset

    def moved(b):
        return (b[0] + ox, b[1] + oy, b[2], b[3])

    cells = [moved(c) for c in lines.cells]
    if _is_grid(cells):
        x0, y0 = min(c[0] for c in cells), min(c[1] for c in cells)
        x1, y1 = max(c[0] + c[2] for c in cells), max(c[1] + c[3] for c in cells)
        return [Field((x0, y0, x1 - x0, y1 - y0), "grid", tuple(sorted(cells, key=lambda c: (c[1], c[0]))))]
    if _one_row(cells):
        cells.sort()
        x0, y0 = cells[0][0], min(c[1] for c in cells)
        x1, y1 = cells[-1][0] + cells[-1][2], max(c[1] + c[3] for c in cells)
        return [Field((x0, y0, x1 - x0, y1 - y0), "comb", tuple(cells))]
    out = [Field(c, "cell") for c in cells]
    if not cells and not lines.vertical:
        for b in lines.horizontal:
            x, y, w, h = moved(b)
            if 6 * min_height <= w < 0.5 * frame_width:
                out.append(Field((x, y, w, h), "underline"))
    return out
