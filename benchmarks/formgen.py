"""Seeded generator of realistic form pages with handwritten digits, and the scorer against their truth.

    from formgen import make_page, score_page        # with benchmarks/ on sys.path
    page = make_page("dev", seed=1, index=0, dpi=150, photo=True)
    page.image                     # BGR uint8: an A4 scan, or a phone photo of it on a desk
    page.digits, page.numbers      # ground truth: every handwritten digit and every number

A page holds printed labels, comb fields (rows of adjacent boxes: ZIP codes, dates, phone
numbers), single boxes, underlines with a number written on them, squared paper, a ruled table
with numbers in its cells, checkboxes (empty, ticked, crossed), hand-printed names (Hershey
capitals, sheared and jittered letter by letter) and a signature (a random pen curve).
Handwritten digits are real MNIST digits pasted with pen ink of varying darkness, size and
slant, some touching or crossing the printed borders.

Digit source, by ``split``: ``"test"`` takes MNIST **test** digits only (the benchmark);
``"dev"`` takes MNIST **training** digits and a different seed stream (for tuning a reader).
No test digit can reach a dev page and no dev page equals a test page, by construction.
Everything is deterministic from (split, seed, index, dpi, photo).

The photo variant of a page is the same scan photographed: the page on a darker, textured
desk, perspective, a shadow, uneven light, blur, sensor noise and JPEG. Its truth is mapped
through the same warp.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in page pixels
SPLITS = {"test": ("test", 1), "dev": ("train", 2)}  # split -> (MNIST split, seed-stream tag)
A4_MM = (210.0, 297.0)
FIRST = (
    "ANNA",
    "PAUL",
    "MARIE",
    "JONAS",
    "LENA",
    "FELIX",
    "CLARA",
    "HUGO",
    "NORA",
    "EMIL",
    "SARA",
    "KARL",
    "IRIS",
    "TOM",
    "ELSA",
    "MAX",
    "JULIA",
    "OSKAR",
    "RUTH",
    "YVES",
)
LAST = (
    "MEYER",
    "NOVAK",
    "WEBER",
    "ROSSI",
    "DUPONT",
    "KOWALSKI",
    "HANSEN",
    "GARCIA",
    "SMITH",
    "BAUER",
    "FISCHER",
    "LEROY",
    "JENSEN",
    "KRAUS",
    "WAGNER",
    "HUBER",
)
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)


@dataclass(frozen=True)
class DigitTruth:
    """One handwritten digit: ink box, label, its index in the source set, the number it belongs to."""

    box: Box
    label: int
    source_index: int
    number: int


@dataclass(frozen=True)
class NumberTruth:
    """One handwritten number: box (union of its digits), value, the field kind and name it was written in."""

    box: Box
    value: str
    kind: str  # comb, box, underline, cell, grid
    field: str  # the printed label, e.g. "ZIP code"


@dataclass(frozen=True)
class Segment:
    """One printed straight stroke of the page's structure (a box side, a divider, a rule, a grid line)."""

    kind: str  # comb, box, underline, cell, grid, checkbox
    p0: tuple[float, float]
    p1: tuple[float, float]
    width: float


@dataclass
class Page:
    """A generated page and its truth, all in the pixels of ``image``.

    Attributes:
        image: BGR uint8.
        digits: every handwritten digit.
        numbers: every handwritten number (digits of one comb field, box, cell, line or grid run).
        marks: (box, kind) of handwriting that is not a digit: letter, signature, tick, cross.
        texts: boxes of printed text (labels, headings).
        structure: printed strokes (see :class:`Segment`).
        meta: split, seed, index, dpi, variant, digit source.
    """

    image: np.ndarray
    digits: list[DigitTruth]
    numbers: list[NumberTruth]
    marks: list[tuple[Box, str]]
    texts: list[Box]
    structure: list[Segment]
    meta: dict = field(default_factory=dict)


class DigitSource:
    """Handwritten digit images (white ink on black, 28x28 like MNIST) to paste, with their labels.

    Args:
        images: N x H x W uint8.
        labels: N ints.
        name: what they are (goes into the page's meta).
        sequential: hand out the images in order, each once per pass (to put every image of a small
            evaluation set on a page); pages then depend on the order they are made in. Default:
            drawn at random by the page's own generator.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, name: str, sequential: bool = False):
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError("a digit source needs as many labels as images, and at least one")
        self.images, self.labels, self.name = images, np.asarray(labels).astype(int), name
        self.sequential, self.drawn = sequential, 0

    def draw(self, rng: np.random.Generator) -> int:
        if self.sequential:
            self.drawn += 1
            return (self.drawn - 1) % len(self.images)
        return int(rng.integers(len(self.images)))


_SOURCES: dict[str, DigitSource] = {}


def mnist_source(split: str) -> DigitSource:
    """The digits of a page ``split``: 'test' -> MNIST test set, 'dev' -> MNIST training set (cached)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}")
    if split not in _SOURCES:
        from edgedigits.data import load_mnist

        mnist_split = SPLITS[split][0]
        beside = Path(__file__).resolve().parents[2] / "shared/data/mnist"  # /work/shared beside the repo
        folder = os.environ.get("EDGEDIGITS_DATA") or (beside if beside.is_dir() else None)
        images, labels = load_mnist(mnist_split, folder)
        _SOURCES[split] = DigitSource(images, labels, f"MNIST {mnist_split} set")
    return _SOURCES[split]


# ----------------------------------------------------------------------------------------------
# Drawing


class _Canvas:
    """Two ink layers of one page (printed and pen, coverage 0..1) and the truth drawn so far."""

    def __init__(self, rng: np.random.Generator, dpi: int, source: DigitSource):
        self.rng, self.dpi, self.source = rng, dpi, source
        self.w, self.h = round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)
        self.printed = np.zeros((self.h, self.w), np.uint8)
        self.pen = np.zeros((self.h, self.w), np.float32)
        self.digits: list[DigitTruth] = []
        self.numbers: list[NumberTruth] = []
        self.marks: list[tuple[Box, str]] = []
        self.texts: list[Box] = []
        self.structure: list[Segment] = []
        self.line_px = max(1, round(rng.uniform(0.15, 0.3) * self.mm))  # printed rule width
        self.pen_width = rng.uniform(0.35, 0.6)  # mm, letters and curves
        self.font = FONTS[int(rng.integers(len(FONTS)))]

    @property
    def mm(self) -> float:
        return self.dpi / 25.4

    def px(self, mm: float) -> int:
        return int(round(mm * self.mm))

    # printed ---------------------------------------------------------------------------------
    def line(self, kind: str, x0, y0, x1, y1, width: int | None = None) -> None:
        width = width or self.line_px
        cv2.line(self.printed, (int(x0), int(y0)), (int(x1), int(y1)), 255, width, cv2.LINE_AA)
        self.structure.append(Segment(kind, (float(x0), float(y0)), (float(x1), float(y1)), float(width)))

    def rect(self, kind: str, x, y, w, h, width: int | None = None) -> None:
        for a, b in (
            ((x, y), (x + w, y)),
            ((x + w, y), (x + w, y + h)),
            ((x + w, y + h), (x, y + h)),
            ((x, y + h), (x, y)),
        ):
            self.line(kind, *a, *b, width=width)

    def text(self, s: str, x: int, baseline: int, height_mm: float = 2.8, thickness: int | None = None) -> int:
        """Print ``s`` with its left end at x; returns the x after it."""
        scale = self.px(height_mm) / cv2.getTextSize("H", self.font, 1.0, 1)[0][1]
        thickness = thickness or max(1, round(scale * 1.3))
        (tw, th), base = cv2.getTextSize(s, self.font, scale, thickness)
        cv2.putText(self.printed, s, (int(x), int(baseline)), self.font, scale, 255, thickness, cv2.LINE_AA)
        self.texts.append((int(x), int(baseline - th), int(tw), int(th + base)))
        return int(x + tw)

    # pen -------------------------------------------------------------------------------------
    def _paste(self, alpha: np.ndarray, x: int, y: int) -> Box | None:
        """Max-blend ``alpha`` with its top-left at (x, y); returns the ink box on the page."""
        h, w = alpha.shape
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.w, x + w), min(self.h, y + h)
        if x1 <= x0 or y1 <= y0:
            return None
        part = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
        np.maximum(self.pen[y0:y1, x0:x1], part, out=self.pen[y0:y1, x0:x1])
        ys, xs = np.nonzero(part > 0.25)
        if len(xs) == 0:
            return None
        return int(x0 + xs.min()), int(y0 + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)

    def _shaped(self, gray: np.ndarray, height: float, slant: float, angle: float) -> np.ndarray:
        """Ink coverage of a white-on-black glyph scaled to ``height`` px, sheared and turned."""
        ys, xs = np.nonzero(gray > 30)
        gray = gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0
        gh, gw = gray.shape
        s = height / gh
        pad = int(height * 0.6) + 4
        c, si = np.cos(angle), np.sin(angle)
        a = np.float32([[c, -si], [si, c]]) @ np.float32([[1, -slant], [0, 1]]) * s
        out_w, out_h = int(gw * s + 2 * pad), int(height + 2 * pad)
        centre = np.float32([gw / 2, gh / 2])
        t = np.float32([out_w / 2, out_h / 2]) - a @ centre
        m = np.hstack([a, t[:, None]])
        alpha = cv2.warpAffine(gray, m, (out_w, out_h), flags=cv2.INTER_LINEAR)
        return np.clip((alpha - 0.12) / 0.55, 0, 1)  # crisp pen edges, not MNIST's blur

    def glyph(self, height: float) -> tuple[np.ndarray, int, int, tuple[int, int]]:
        """A random digit as pen ink ``height`` px tall: (alpha, label, source index, ink columns)."""
        rng = self.rng
        i = self.source.draw(rng)
        alpha = self._shaped(self.source.images[i], height, rng.normal(0.08, 0.12), rng.normal(0, 0.06))
        alpha *= rng.uniform(0.55, 1.0)  # pen pressure / ink darkness
        cols = np.flatnonzero(alpha.max(0) > 0.25)
        return alpha, int(self.source.labels[i]), i, (int(cols[0]), int(cols[-1])) if len(cols) else (0, 0)

    def number(self, centres, height: float, kind: str, name: str) -> None:
        """Write one digit centred at each of ``centres`` (comb cells, squares) as one number."""
        self._write([(self.glyph(height), cx, cy) for cx, cy in centres], kind, name)

    def flow(
        self,
        x: float,
        cy: float,
        height: float,
        count: int,
        kind: str,
        name: str,
        right: float | None = None,
        limit: float | None = None,
    ) -> None:
        """Write ``count`` digits side by side as one number: from ``x`` on, or ending at ``right``;
        digits that would pass ``limit`` are left out."""
        glyphs = [self.glyph(height) for _ in range(count)]
        gaps = [self.rng.uniform(0.04, 0.3) * height for _ in glyphs]
        widths = [c[1] - c[0] + 1 for _, _, _, c in glyphs]
        if right is not None:
            x = right - sum(widths) - sum(gaps[:-1])
        placed = []
        for g, w, gap in zip(glyphs, widths, gaps):
            if limit is not None and x + w > limit:
                break
            alpha, _, _, (c0, c1) = g
            placed.append((g, x - c0 + alpha.shape[1] / 2, cy + self.rng.normal(0, height * 0.04)))
            x += w + gap
        self._write(placed, kind, name)

    def _write(self, placed, kind: str, name: str) -> None:
        n = len(self.numbers)
        boxes, value = [], ""
        for (alpha, label, i, _), cx, cy in placed:
            h, w = alpha.shape
            box = self._paste(alpha, int(round(cx - w / 2)), int(round(cy - h / 2)))
            if box is not None:
                self.digits.append(DigitTruth(box, label, i, n))
                boxes.append(box)
                value += str(label)
        if boxes:
            self.numbers.append(NumberTruth(_union(boxes), value, kind, name))

    def letter(self, ch: str, cx: float, cy: float, height: float) -> None:
        rng = self.rng
        thick = max(2, round(self.pen_width * self.mm * 40 / height))
        glyph = np.zeros((60, 60), np.uint8)
        cv2.putText(glyph, ch, (8, 50), cv2.FONT_HERSHEY_SIMPLEX, 40 / 22, 255, thick, cv2.LINE_AA)
        alpha = self._shaped(glyph, height, rng.normal(0.1, 0.1), rng.normal(0, 0.08)) * rng.uniform(0.6, 1.0)
        h, w = alpha.shape
        box = self._paste(alpha, int(cx - w / 2), int(cy - h / 2))
        if box:
            self.marks.append((box, f"letter {ch}"))

    def stroke(self, points: np.ndarray, kind: str) -> None:
        """A pen polyline (float points) drawn with anti-aliasing; recorded as a mark of ``kind``."""
        layer = np.zeros((self.h, self.w), np.uint8)
        x0, y0 = np.floor(points.min(0)).astype(int) - 8
        x1, y1 = np.ceil(points.max(0)).astype(int) + 8
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        if x1 <= x0 or y1 <= y0:
            return
        sub = layer[y0:y1, x0:x1]
        pts = np.round((points - [x0, y0]) * 4).astype(np.int32)
        cv2.polylines(sub, [pts], False, 255, max(1, self.px(self.pen_width)), cv2.LINE_AA, shift=2)
        alpha = sub.astype(np.float32) / 255 * self.rng.uniform(0.6, 1.0)
        box = self._paste(alpha, x0, y0)
        if box:
            self.marks.append((box, kind))


def _union(boxes) -> Box:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


# ----------------------------------------------------------------------------------------------
# Form elements: each draws itself at (x, y) within width w and returns the height it used.


def _label(c: _Canvas, name: str, x: int, y: int, height: int) -> int:
    """A printed field label left of a field of ``height`` px; returns the x where the field starts."""
    return c.text(name, x, y + height // 2 + c.px(1.4)) + c.px(3)


def el_comb(c: _Canvas, x: int, y: int, w: int) -> int:
    rng = c.rng
    name, n, gaps = [
        ("ZIP code", 5, ()),
        ("Postcode", 4, ()),
        ("Date", 8, (2, 4)),
        ("Phone", 10, ()),
        ("Account no.", 8, ()),
        ("Customer ID", 6, ()),
        ("Birth date", 8, (2, 4)),
        ("Meter reading", 6, ()),
    ][int(rng.integers(8))]
    cell = c.px(rng.uniform(5.5, 8.5))
    x = _label(c, name, x, y, cell)
    n = min(n, max(2, (x + w - x) // cell))
    filled = n if rng.random() < 0.85 else int(rng.integers(1, n))
    xs = []
    cx = x
    for i in range(n):
        if i in gaps:
            cx += c.px(2.5)
        xs.append(cx)
        cx += cell
    for g0, g1 in _runs(xs, cell):  # one comb per run of adjacent cells
        c.line("comb", g0, y, g1, y)
        c.line("comb", g0, y + cell, g1, y + cell)
        for bx in range(g0, g1 + 1, cell):
            top = y if rng.random() < 0.7 else y + cell // 2  # some combs have half-height dividers
            c.line("comb", bx, top, bx, y + cell)
    height = cell * rng.uniform(0.62, 0.85)
    centres = [
        (bx + cell / 2 + rng.normal(0, cell * 0.06), y + cell / 2 + rng.normal(0, cell * 0.06)) for bx in xs[:filled]
    ]
    if rng.random() < 0.15:  # writes too big: crosses the borders
        height = cell * rng.uniform(0.85, 1.0)
    # one number per run between gaps (a date is three numbers: DD MM YYYY)
    start = 0
    for g in [*gaps, n]:
        part = centres[start : min(g, filled)]
        if part:
            c.number(part, height, "comb", name)
        start = g
    return cell


def _runs(xs, cell):
    runs, start = [], xs[0]
    for a, b in zip(xs, xs[1:] + [None]):
        if b is None or b != a + cell:
            runs.append((start, a + cell))
            start = b
    return runs


def el_boxes(c: _Canvas, x: int, y: int, w: int) -> int:
    rng = c.rng
    names = ["Qty", "Age", "Room", "Floor", "Score", "Size", "Units", "Total", "Pages", "Copies"]
    rng.shuffle(names)
    h = c.px(rng.uniform(8, 12))
    end = x + w
    used = 0
    for name in names[: int(rng.integers(2, 4))]:
        digits = int(rng.integers(1, 4))
        height = h * rng.uniform(0.55, 0.75)
        bw = int(max(h * rng.uniform(0.9, 1.2), digits * height * 0.85 + h * 0.4))
        bx = _label(c, name, x, y, h)
        if bx + bw > end:
            break
        c.rect("box", bx, y, bw, h)
        x0 = bx + (bw - digits * height * 0.7) / 2 + rng.normal(0, h * 0.05)
        if rng.random() < 0.2:  # touches the box: drawn against a side
            x0 = bx - rng.uniform(0, 0.1) * height
        c.flow(x0, y + h / 2 + rng.normal(0, h * 0.05), height, digits, "box", name)
        x = bx + bw + c.px(rng.uniform(8, 15))
        used = h
    return used


def el_underline(c: _Canvas, x: int, y: int, w: int) -> int:
    rng = c.rng
    name = ["Amount", "Invoice no.", "Order no.", "Km", "Weight (kg)", "Price", "Member no.", "Hours"][
        int(rng.integers(8))
    ]
    h = c.px(rng.uniform(7, 10))
    lx = _label(c, name, x, y, h)
    length = min(x + w - lx, c.px(rng.uniform(40, 90)))
    c.line("underline", lx, y + h, lx + length, y + h)
    digits = int(rng.integers(2, 7))
    height = c.px(rng.uniform(4.5, 7.5))
    x0 = lx + rng.uniform(0.05, 0.3) * length
    sink = rng.uniform(-0.1, 0.15) if rng.random() < 0.3 else rng.uniform(-0.6, -0.2)  # on or above the line
    c.flow(x0, y + h - height / 2 + sink * height, height, digits, "underline", name, limit=lx + length)
    return h + c.px(1)


def el_name(c: _Canvas, x: int, y: int, w: int) -> int:
    rng = c.rng
    name = f"{FIRST[int(rng.integers(len(FIRST)))]} {LAST[int(rng.integers(len(LAST)))]}"
    cell = c.px(rng.uniform(5.5, 7.5))
    lx = _label(c, ["Name", "Full name", "Surname, first name", "Signed by"][int(rng.integers(4))], x, y, cell)
    comb = rng.random() < 0.5
    n = min(len(name) + int(rng.integers(0, 6)), (x + w - lx) // cell)
    if comb:
        c.line("comb", lx, y, lx + n * cell, y)
        c.line("comb", lx, y + cell, lx + n * cell, y + cell)
        for k in range(n + 1):
            c.line("comb", lx + k * cell, y, lx + k * cell, y + cell)
    else:
        c.line("underline", lx, y + cell, lx + n * cell, y + cell)
    height = cell * rng.uniform(0.6, 0.8)
    for k, ch in enumerate(name[:n]):
        if ch != " ":
            c.letter(ch, lx + (k + 0.5) * cell + rng.normal(0, cell * 0.05), y + cell / 2, height)
    return cell


def el_checkboxes(c: _Canvas, x: int, y: int, w: int) -> int:
    rng = c.rng
    options = ["Yes", "No", "Paid", "Express", "Gift wrap", "Invoice", "Pick-up", "Member", "New", "Urgent"]
    rng.shuffle(options)
    s = c.px(rng.uniform(3.5, 5))
    end = x + w
    for opt in options[: int(rng.integers(3, 6))]:
        if x + s + c.px(25) > end:
            break
        c.rect("checkbox", x, y, s, s)
        mark = rng.choice(["empty", "tick", "cross"], p=[0.4, 0.35, 0.25])
        j = lambda: rng.normal(0, s * 0.08)  # noqa: E731 - a local jitter
        if mark == "tick":
            pts = np.float32(
                [
                    [x + s * 0.15 + j(), y + s * 0.55 + j()],
                    [x + s * 0.42 + j(), y + s * 0.9 + j()],
                    [x + s * 1.1 + j(), y - s * 0.3 + j()],
                ]
            )
            c.stroke(pts, "tick")
        elif mark == "cross":
            c.stroke(np.float32([[x + j(), y + j()], [x + s + j(), y + s + j()]]), "cross")
            c.stroke(np.float32([[x + s + j(), y + j()], [x + j(), y + s + j()]]), "cross")
        x = c.text(opt, x + s + c.px(2), y + s) + c.px(rng.uniform(6, 12))
    return s


def el_signature(c: _Canvas, x: int, y: int, w: int) -> int:
    rng = c.rng
    h = c.px(rng.uniform(10, 15))
    lx = _label(c, "Signature", x, y, h)
    length = min(x + w - lx, c.px(rng.uniform(50, 80)))
    c.line("underline", lx, y + h, lx + length, y + h)
    k = int(rng.integers(8, 16))
    t = np.linspace(0, 1, k)
    px = lx + length * (0.1 + 0.7 * t) + rng.normal(0, h * 0.15, k)
    py = y + h * 0.55 + rng.normal(0, h * 0.3, k)
    fine = np.linspace(0, 1, 200)
    pts = np.stack([np.interp(fine, t, px), np.interp(fine, t, py)], 1)
    pts += np.stack([np.sin(fine * rng.uniform(15, 40)) * h * 0.12, np.cos(fine * rng.uniform(15, 40)) * h * 0.25], 1)
    c.stroke(pts.astype(np.float32), "signature")
    return h + c.px(1)


def el_table(c: _Canvas, x: int, y: int, w: int, max_h: int) -> int:
    rng = c.rng
    headers = ["Item", "Qty", "Unit price", "Amount"] if rng.random() < 0.5 else ["Day", "Start", "End", "Km", "Litres"]
    cols = len(headers)
    row_h = c.px(rng.uniform(7, 10))
    rows = int(min(rng.integers(3, 9), max_h // row_h - 1))
    if rows < 1:
        return 0
    widths = rng.uniform(0.7, 1.3, cols)
    widths = (widths / widths.sum() * min(w, c.px(rng.uniform(120, 180)))).astype(int)
    edges = np.concatenate([[x], x + np.cumsum(widths)])
    total_h = row_h * (rows + 1)
    for r in range(rows + 2):
        c.line(
            "cell",
            edges[0],
            y + r * row_h,
            edges[-1],
            y + r * row_h,
            width=c.line_px * (2 if r in (0, 1, rows + 1) else 1),
        )
    for e in edges:
        c.line("cell", e, y, e, y + total_h)
    for k, hdr in enumerate(headers):
        c.text(hdr, edges[k] + c.px(1.5), y + row_h // 2 + c.px(1.4), 2.5)
    for r in range(1, rows + 1):
        for k in range(cols):
            if rng.random() < 0.15:
                continue  # empty cell
            cw = widths[k]
            digits = int(rng.integers(1, 5))
            height = row_h * rng.uniform(0.55, 0.8)
            if rng.random() < 0.1:
                height = row_h * rng.uniform(0.9, 1.05)  # touches the rules
            digits = max(1, min(digits, int((cw - c.px(3)) // (height * 0.8))))
            cy = y + r * row_h + row_h / 2 + rng.normal(0, row_h * 0.06)
            if rng.random() < 0.6:  # numbers right-aligned in their cell
                c.flow(0, cy, height, digits, "cell", headers[k], right=edges[k] + cw - c.px(rng.uniform(0.8, 2)))
            else:
                c.flow(
                    edges[k] + c.px(rng.uniform(1, 3)),
                    cy,
                    height,
                    digits,
                    "cell",
                    headers[k],
                    limit=edges[k + 1] + c.px(1),
                )
    return total_h


def el_grid(c: _Canvas, x: int, y: int, w: int, max_h: int) -> int:
    rng = c.rng
    sq = c.px(rng.choice([5.0, 5.0, 4.0, 6.0]))
    nx = min(w, c.px(rng.uniform(80, 180))) // sq
    ny = int(min(rng.integers(4, 10), max_h // sq))
    if ny < 2:
        return 0
    width = max(1, c.line_px // 2)
    for i in range(nx + 1):
        c.line("grid", x + i * sq, y, x + i * sq, y + ny * sq, width)
    for j in range(ny + 1):
        c.line("grid", x, y + j * sq, x + nx * sq, y + j * sq, width)
    # squared paper: numbers one digit per square, in rows, a blank square between numbers
    for j in range(ny):
        if rng.random() < 0.35:
            continue
        i = int(rng.integers(0, 3))
        while True:
            n = int(rng.integers(1, 6))
            if i + n > nx:
                break
            height = sq * rng.uniform(0.65, 0.95)
            c.number(
                [
                    (x + (i + k + 0.5) * sq + rng.normal(0, sq * 0.05), y + (j + 0.5) * sq + rng.normal(0, sq * 0.05))
                    for k in range(n)
                ],
                height,
                "grid",
                "squared paper",
            )
            i += n + int(rng.integers(1, 4))
    return ny * sq


def _render(c: _Canvas) -> None:
    """Lay out a whole form on the canvas: a heading, then a random sequence of elements."""
    rng = c.rng
    m = c.px(rng.uniform(12, 20))
    x, y, w = m, m, c.w - 2 * m
    title = [
        "ORDER FORM",
        "Registration",
        "Delivery note",
        "Meter log",
        "Expense claim",
        "Exam sheet",
        "Survey",
        "Application",
    ][int(rng.integers(8))]
    c.text(title, x, y + c.px(6), 6.0)
    if rng.random() < 0.5:
        c.text(
            f"Form {int(rng.integers(1, 99))}-{int(rng.integers(1, 9))}  please write in capitals", x, y + c.px(12), 2.3
        )
    y += c.px(18)
    bottom = c.h - m
    kinds = ["comb", "comb", "boxes", "underline", "underline", "name", "checkboxes", "table", "grid", "signature"]
    order = list(rng.permutation(kinds))
    for kind in order + list(rng.choice(kinds[:5], 4)):
        room = bottom - y
        if room < c.px(15):
            break
        if kind in ("table", "grid"):
            used = (el_table if kind == "table" else el_grid)(c, x, y + c.px(4), w, room - c.px(8)) + c.px(4)
        elif kind in ("comb", "underline", "boxes") and rng.random() < 0.4:  # two fields side by side
            half = w // 2 - c.px(4)
            used = max(
                {"comb": el_comb, "underline": el_underline, "boxes": el_boxes}[kind](c, x, y, half),
                el_underline(c, x + w // 2 + c.px(4), y, half),
            )
        else:
            used = {
                "comb": el_comb,
                "boxes": el_boxes,
                "underline": el_underline,
                "name": el_name,
                "checkboxes": el_checkboxes,
                "signature": el_signature,
            }[kind](c, x, y, w)
        if rng.random() < 0.3:
            c.line("underline", x, y + used + c.px(4), x + w, y + used + c.px(4))  # section rule
        y += used + c.px(rng.uniform(8, 16))


def _compose(c: _Canvas) -> np.ndarray:
    """Paper, printed ink and pen ink into one BGR scan."""
    rng = c.rng
    paper = np.float32([rng.uniform(235, 252)] * 3) * np.float32([rng.uniform(0.96, 1), rng.uniform(0.98, 1), 1])
    printed_ink = np.float32([rng.uniform(15, 60)] * 3)
    pen_ink = (
        np.float32([rng.uniform(110, 160), rng.uniform(40, 80), rng.uniform(10, 40)])
        if rng.random() < 0.4
        else np.float32([rng.uniform(20, 60)] * 3)
    )  # blue or black pen
    p = c.printed.astype(np.float32) * np.float32(rng.uniform(0.85, 1.0) / 255)
    grain = rng.normal(0, 2.0, (c.h // 4 + 1, c.w // 4 + 1)).astype(np.float32)
    grain = cv2.resize(grain, (c.w, c.h), interpolation=cv2.INTER_NEAREST)
    img = np.empty((c.h, c.w, 3), np.uint8)
    for ch in range(3):  # paper, then printed ink, then pen ink over it
        v = paper[ch] - p * (paper[ch] - printed_ink[ch])
        v -= c.pen * (v - pen_ink[ch])
        v += grain
        img[:, :, ch] = np.clip(v, 0, 255, out=v)
    return cv2.GaussianBlur(img, (0, 0), 0.45 * c.dpi / 150)


def _seed(split: str, seed: int, index: int, dpi: int, variant: int) -> np.random.Generator:
    return np.random.default_rng([SPLITS[split][1], seed, index, dpi, variant])


def make_page(
    split: str, seed: int, index: int, dpi: int = 150, photo: bool = False, source: DigitSource | None = None
) -> Page:
    """Page ``index`` of the series ``seed`` for ``split`` ('test' or 'dev').

    Args:
        dpi: resolution of the A4 scan (150 or 300 are the benchmark's; any positive value works).
        photo: the phone-photo variant of the same scan instead of the scan.
        source: digits to paste instead of the split's MNIST set (e.g. a real evaluation set);
            the layout still follows (split, seed, index).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}")
    source = source or mnist_source(split)
    c = _Canvas(_seed(split, seed, index, dpi, 0), dpi, source)
    _render(c)
    page = Page(
        _compose(c),
        c.digits,
        c.numbers,
        c.marks,
        c.texts,
        c.structure,
        {
            "split": split,
            "seed": seed,
            "index": index,
            "dpi": dpi,
            "variant": "scan",
            "source": source.name,
            "size": [c.w, c.h],
        },
    )
    if photo:
        page = photograph(page, _seed(split, seed, index, dpi, 1))
    return page


# ----------------------------------------------------------------------------------------------
# Photo variant


def _desk(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A darker, textured table top: wood grain or a speckled laminate (BGR uint8)."""
    v = rng.uniform(50, 140)
    wood = rng.random() < 0.6
    base = (
        np.float32([v * rng.uniform(0.45, 0.7), v * rng.uniform(0.7, 0.85), v])
        if wood
        else np.float32([v * rng.uniform(0.85, 1.1)] * 3)
    )
    sw, sh = w // 2 + 1, h // 2 + 1  # drawn at half size: texture is soft anyway
    if wood:  # wood: irregular grain along one axis
        streak = cv2.resize(
            rng.normal(0, 1, (h // 25 + 2, 6)).astype(np.float32), (sw, sh), interpolation=cv2.INTER_CUBIC
        )
        fine = cv2.resize(
            rng.normal(0, 1, (h // 3 + 1, 12)).astype(np.float32), (sw, sh), interpolation=cv2.INTER_LINEAR
        )
        tex = 14 * streak + 4 * fine
    else:
        tex = 10 * cv2.GaussianBlur(rng.normal(0, 1, (h // 4 + 1, w // 4 + 1)).astype(np.float32), (0, 0), 1.0)
        tex = cv2.resize(tex, (sw, sh), interpolation=cv2.INTER_LINEAR)
    small = np.clip(base * (1 + tex[:, :, None] / 100) + tex[:, :, None], 0, 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _light(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Uneven light times a soft-edged shadow (multiplicative, HxW float32)."""
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(a) * xx / w + np.sin(a) * yy / h
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    light = 1 - rng.uniform(0.1, 0.35) * ramp
    b = rng.uniform(0, 2 * np.pi)  # a shadow: a half plane with a soft edge
    d = np.cos(b) * (xx - rng.uniform(0.2, 0.8) * w) + np.sin(b) * (yy - rng.uniform(0.2, 0.8) * h)
    soft = rng.uniform(0.02, 0.08) * max(w, h)
    shadow = 1 - rng.uniform(0.2, 0.5) / (1 + np.exp(-d / soft))
    small = (light * shadow).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _map_box(m: np.ndarray, box: Box) -> Box:
    x, y, w, h = box
    pts = cv2.perspectiveTransform(np.float32([[[x, y]], [[x + w, y]], [[x, y + h]], [[x + w, y + h]]]), m)[:, 0]
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))


def _map_point(m: np.ndarray, p) -> tuple[float, float]:
    q = cv2.perspectiveTransform(np.float32([[p]]), m)[0, 0]
    return float(q[0]), float(q[1])


def photograph(page: Page, rng: np.random.Generator) -> Page:
    """The phone photo of a scanned ``page``: on a desk, in perspective, shadowed, blurred, JPEG."""
    ph, pw = page.image.shape[:2]
    margin = rng.uniform(0.08, 0.18)
    out_w, out_h = int(pw * (1 + 2 * margin)), int(ph * (1 + 2 * margin))
    mx, my = pw * margin, ph * margin
    j = rng.uniform(0.01, 0.05) * pw
    dst = np.float32([[mx, my], [mx + pw, my], [mx + pw, my + ph], [mx, my + ph]]) + rng.uniform(-j, j, (4, 2))
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    img = _desk(rng, out_w, out_h)
    cv2.warpPerspective(
        page.image, m, (out_w, out_h), dst=img, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT
    )  # the page laid on the desk
    img = img.astype(np.float32)
    img *= _light(rng, out_w, out_h)[:, :, None]
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.6) * pw / 1240)
    noise = rng.normal(0, rng.uniform(1.5, 4.0), (out_h // 2 + 1, out_w // 2 + 1)).astype(np.float32)
    img += cv2.resize(noise, (out_w, out_h), interpolation=cv2.INTER_NEAREST)[:, :, None]
    img = np.clip(img, 0, 255, out=img).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 92))])
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return Page(
        img,
        [replace(d, box=_map_box(m, d.box)) for d in page.digits],
        [replace(n, box=_map_box(m, n.box)) for n in page.numbers],
        [(_map_box(m, b), k) for b, k in page.marks],
        [_map_box(m, b) for b in page.texts],
        [replace(s, p0=_map_point(m, s.p0), p1=_map_point(m, s.p1)) for s in page.structure],
        {**page.meta, "variant": "photo", "size": [out_w, out_h], "homography": m.tolist()},
    )


# ----------------------------------------------------------------------------------------------
# Scoring a reading against the truth


def iou(a: Box, b: Box) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _centre_in(a: Box, b: Box) -> bool:
    """Whether the centre of ``a`` lies inside ``b``."""
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(a: Box, b: Box) -> float:
    """The share of ``a``'s area that lies inside ``b``."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / float(a[2] * a[3]) if a[2] * a[3] > 0 else 0.0


def _hits_segment(box: Box, s: Segment) -> bool:
    """Whether the printed stroke ``s`` passes through ``box`` (the stroke's width included)."""
    x, y, w, h = box
    r = s.width / 2 + 0.5
    x0, y0, x1, y1 = x - r, y - r, x + w + r, y + h + r
    (ax, ay), (bx, by) = s.p0, s.p1
    t0, t1 = 0.0, 1.0  # Liang-Barsky clipping
    dx, dy = bx - ax, by - ay
    for p, q in ((-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)):
        if p == 0:
            if q < 0:
                return False
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


def _near(pred: Box, truth: Box) -> bool:
    """A loose match: the prediction's centre lies in the truth box and the prediction is at most
    twice as tall, and twice as wide as the larger side of the truth (an OCR character box, not a
    blob holding the digit and the printing around it)."""
    return _centre_in(pred, truth) and pred[3] <= 2 * truth[3] and pred[2] <= 2 * max(truth[2], truth[3])


def _match(truth_boxes, pred_boxes, ok=lambda t, p: True) -> dict[int, int]:
    """One-to-one matching truth -> prediction: a pair matches when IoU >= 0.3 or :func:`_near`;
    best IoU first."""
    pairs = []
    for t, tb in enumerate(truth_boxes):
        for p, pb in enumerate(pred_boxes):
            v = iou(tb, pb)
            if (v >= 0.3 or _near(pb, tb)) and ok(t, p):
                pairs.append((-v, t, p))
    pairs.sort()
    used_t, used_p, out = set(), set(), {}
    for _, t, p in pairs:
        if t not in used_t and p not in used_p:
            used_t.add(t)
            used_p.add(p)
            out[t] = p
    return out


def classify_false(page: Page, box: Box) -> str:
    """What an unmatched detection lies on: 'digit' (part of a handwritten digit, e.g. a split or
    merged read), 'mark' (a handwritten letter, tick, cross or signature), 'structure:<kind>'
    (a printed box, line, divider, cell, grid or checkbox, and not a handwritten digit),
    'text' (printed text) or 'background' (blank paper, desk)."""
    if any(_overlaps(box, d.box) and iou(box, d.box) > 0.05 for d in page.digits):
        return "digit"
    if any(iou(box, b) >= 0.3 for b, _ in page.marks):
        return "mark"
    # a piece of a signature (half of it or more inside the signature's box) is the signature's
    # ink, also where it lies on the signature line
    if any(kind == "signature" and _inside(box, b) >= 0.5 for b, kind in page.marks):
        return "mark"
    for s in page.structure:
        if _hits_segment(box, s):
            return f"structure:{s.kind}"
    if any(_overlaps(box, b) for b, _ in page.marks):
        return "mark"
    if any(_overlaps(box, b) for b in page.texts):
        return "text"
    return "background"


@dataclass
class PageScore:
    """How one reading of a page compares with its truth."""

    digits: int = 0
    digits_right: int = 0
    digits_wrong: int = 0
    numbers: int = 0
    numbers_right: int = 0
    false: dict = field(default_factory=dict)  # kind of thing hit -> count
    numbers_by_kind: dict = field(default_factory=dict)  # field kind -> [right, total]
    digits_by_kind: dict = field(default_factory=dict)  # field kind -> [right, total]

    @property
    def false_total(self) -> int:
        return sum(self.false.values())

    @property
    def false_structure(self) -> int:
        return sum(v for k, v in self.false.items() if k.startswith("structure"))

    def to_dict(self) -> dict:
        return {
            "digits": self.digits,
            "digits_right": self.digits_right,
            "digits_wrong": self.digits_wrong,
            "numbers": self.numbers,
            "numbers_right": self.numbers_right,
            "false": dict(self.false),
            "false_structure": self.false_structure,
            "numbers_by_kind": self.numbers_by_kind,
            "digits_by_kind": self.digits_by_kind,
        }


def score_page(page: Page, digits, numbers) -> PageScore:
    """Score a reading of ``page``.

    Args:
        digits: the reported digits as (box, label) pairs.
        numbers: the reported numbers as (box, value) pairs.

    A handwritten digit is read right when a reported digit matches it (IoU >= 0.3, or its centre
    in the digit's box and not much larger: :func:`_near`; one to one) with the right label. A number is read completely right when
    a reported number matches its box the same way and has exactly its value. Every reported digit
    that matches no handwritten digit is false, counted by what it lies on (:func:`classify_false`).
    """
    digits, numbers = list(digits), list(numbers)
    s = PageScore(digits=len(page.digits), numbers=len(page.numbers))
    m = _match([d.box for d in page.digits], [b for b, _ in digits])
    for t, d in enumerate(page.digits):
        right = t in m and int(digits[m[t]][1]) == d.label
        s.digits_right += right
        s.digits_wrong += t in m and not right
        kind = page.numbers[d.number].kind
        r, total = s.digits_by_kind.get(kind, [0, 0])
        s.digits_by_kind[kind] = [r + right, total + 1]
    matched = set(m.values())
    for p, (box, _) in enumerate(digits):
        if p not in matched:
            kind = classify_false(page, tuple(int(v) for v in box))
            s.false[kind] = s.false.get(kind, 0) + 1
    nm = _match(
        [n.box for n in page.numbers],
        [b for b, _ in numbers],
        ok=lambda t, p: str(numbers[p][1]) == page.numbers[t].value,
    )
    for t, n in enumerate(page.numbers):
        right, total = s.numbers_by_kind.get(n.kind, [0, 0])
        s.numbers_by_kind[n.kind] = [right + (t in nm), total + 1]
    s.numbers_right = len(nm)
    return s


def draw_truth(page: Page) -> np.ndarray:
    """The page with its truth drawn on it (green digits, blue numbers, red structure): for looking."""
    img = page.image.copy()
    for s in page.structure:
        cv2.line(img, tuple(int(v) for v in s.p0), tuple(int(v) for v in s.p1), (0, 0, 255), 1)
    for n in page.numbers:
        x, y, w, h = n.box
        cv2.rectangle(img, (x - 3, y - 3), (x + w + 3, y + h + 3), (255, 0, 0), 1)
        cv2.putText(img, n.value, (x, y - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 0, 0), 1)
    for d in page.digits:
        x, y, w, h = d.box
        cv2.rectangle(img, (x, y), (x + w, y + h), (0, 160, 0), 1)
    return img


def main(argv=None) -> int:
    """Write pages and their truth drawn on them as PNGs, to look at: formgen.py dev 0 3 out/ [--photo]."""
    import argparse
    import time

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("split", choices=sorted(SPLITS))
    ap.add_argument("seed", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--photo", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        t = time.perf_counter()
        page = make_page(args.split, args.seed, i, dpi=args.dpi, photo=args.photo)
        print(
            f"page {i}: {page.image.shape[1]}x{page.image.shape[0]}, {len(page.digits)} digits, "
            f"{len(page.numbers)} numbers, {time.perf_counter() - t:.2f} s"
        )
        stem = f"{args.split}_{args.seed}_{i}{'_photo' if args.photo else ''}"
        cv2.imwrite(str(args.out / f"{stem}.png"), page.image)
        cv2.imwrite(str(args.out / f"{stem}_truth.png"), draw_truth(page))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
