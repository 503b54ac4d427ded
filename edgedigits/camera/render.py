"""Synthetic sheets of handwritten digits seen by a camera, with known ground truth.

Real MNIST digits (by default the shipped held-out sample of the MNIST *test* set) are inked
onto textured paper under uneven light, with optional perspective, blur, sensor noise, slight
motion between frames and non-digit marks (lines, smudges, letters). Used by the ``demo``
source, the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Letters drawn as non-digit marks: shapes no digit resembles (an O, l, S, Z, b or g would be).
LETTERS = "AKMWXHNR"
MARK_KINDS = ("line", "smudge", "letter")


@dataclass
class Truth:
    """A digit drawn on a sheet: its box in frame pixels, its label and the number it belongs to."""

    box: tuple[int, int, int, int]
    label: int
    number: int


@dataclass
class Scene:
    """A rendered sheet before per-frame motion and noise.

    Attributes:
        image: BGR uint8 frame with paper, light, ink and marks.
        digits: ground truth of every digit.
        numbers: (box, value) of every group of digits written as one number.
        marks: (box, kind) of every non-digit mark.
    """

    image: np.ndarray
    digits: list[Truth]
    numbers: list[tuple[tuple[int, int, int, int], str]]
    marks: list[tuple[tuple[int, int, int, int], str]] = field(default_factory=list)


@dataclass(frozen=True)
class Style:
    """How hard the rendered conditions are (ranges are sampled uniformly per scene)."""

    digit_height: tuple[int, int] = (34, 90)
    digits: tuple[int, int] = (3, 6)
    max_number_length: int = 4
    marks: tuple[int, int] = (0, 2)
    light_min: tuple[float, float] = (0.5, 0.85)  # darkest corner relative to the brightest
    blur_sigma: tuple[float, float] = (0.0, 1.0)
    noise_sigma: tuple[float, float] = (1.0, 5.0)
    perspective: float = 0.04  # corner displacement, fraction of the frame
    ink_strength: tuple[float, float] = (0.7, 0.95)


def paper(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A textured, slightly tinted paper background (BGR float32 in 0..255)."""
    w, h = size
    base = rng.uniform(205, 240)
    coarse = cv2.resize(
        rng.normal(0, 1, (h // 40 + 2, w // 40 + 2)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    gray = base + 4.0 * coarse + 3.0 * grain
    tint = np.float32([rng.uniform(0.9, 0.97), rng.uniform(0.96, 1.0), 1.0])  # warm white (BGR)
    return gray[:, :, None] * tint


def lighting(rng: np.random.Generator, size: tuple[int, int], darkest: float) -> np.ndarray:
    """A smooth multiplicative light field: a linear gradient plus a soft off-centre spot."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
    ramp = (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    spot = np.exp(-(((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2) / 0.3)
    field = 0.6 * ramp + 0.4 * spot
    field = (field - field.min()) / max(1e-6, np.ptp(field))
    return (darkest + (1.0 - darkest) * field).astype(np.float32)


def _ink_box(tile: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(tile > 40)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _free(box, taken, margin) -> bool:
    x, y, w, h = box
    for tx, ty, tw, th in taken:
        if x < tx + tw + margin and tx < x + w + margin and y < ty + th + margin and ty < y + h + margin:
            return False
    return True


def _stamp(canvas: np.ndarray, alpha: np.ndarray, x: int, y: int, color) -> None:
    """Blend ``color`` into ``canvas`` at (x, y) with per-pixel opacity ``alpha`` (0..1)."""
    h, w = alpha.shape
    region = canvas[y : y + h, x : x + w]
    a = alpha[:, :, None]
    region[:] = region * (1 - a) + np.float32(color) * a


def _digit_alpha(image28: np.ndarray, height: int) -> np.ndarray:
    """The 28x28 MNIST image scaled so its ink is ``height`` pixels tall, cropped to the ink (0..1)."""
    x, y, w, h = _ink_box(image28)
    scale = height / h
    big = cv2.resize(image28.astype(np.float32) / 255.0, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    bx, by, bw, bh = (int(round(v * scale)) for v in (x, y, w, h))
    pad = max(1, int(scale))
    crop = big[max(0, by - pad) : by + bh + pad, max(0, bx - pad) : bx + bw + pad]
    return np.clip(crop, 0, 1)


def _mark_alpha(rng: np.random.Generator, kind: str, height: int, letter: str = "A") -> np.ndarray:
    """Opacity (0..1) of a non-digit mark about ``height`` pixels tall (``letter`` for kind 'letter')."""
    if kind == "line":
        length = int(height * rng.uniform(1.5, 3.5))
        angle = rng.uniform(-40, 40)  # steeper straight strokes are fair 1s
        t = max(2, int(height * rng.uniform(0.05, 0.1)))
        dx, dy = np.cos(np.radians(angle)) * length, np.sin(np.radians(angle)) * length
        w, h = int(abs(dx)) + 2 * t + 2, int(abs(dy)) + 2 * t + 2
        img = np.zeros((h, w), np.float32)
        x0, y0 = (t + 1, t + 1) if dx * dy >= 0 else (t + 1, h - t - 2)
        x0 = x0 if dx >= 0 else w - t - 2
        cv2.line(img, (x0, y0), (int(x0 + dx), int(y0 + dy)), 1.0, t, cv2.LINE_AA)
        return img
    if kind == "smudge":
        w, h = int(height * rng.uniform(0.6, 1.3)), int(height * rng.uniform(0.5, 1.0))
        img = np.zeros((h + 8, w + 8), np.float32)
        cv2.ellipse(img, ((w + 8) // 2, (h + 8) // 2), (w // 2, h // 2), rng.uniform(0, 180), 0, 360, 1.0, -1)
        img = cv2.GaussianBlur(img, (0, 0), max(1.0, height / 15))
        return img * rng.uniform(0.45, 0.8)
    scale = height / 22.0
    t = max(2, int(height / 10))
    (tw, th), base = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, scale, t)
    img = np.zeros((th + base + 2 * t, tw + 2 * t), np.uint8)
    cv2.putText(img, letter, (t, th + t), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, t, cv2.LINE_AA)
    img = img.astype(np.float32) / 255.0
    ys, xs = np.nonzero(img > 0.1)
    return img[max(0, ys.min() - 1) : ys.max() + 2, max(0, xs.min() - 1) : xs.max() + 2]


def _layout_numbers(rng, size, alphas, lengths, margin):
    """Place numbers (runs of digit alphas) without overlap; returns per-digit (x, y) or None."""
    w, h = size
    taken, positions, k = [], [], 0
    for n in lengths:
        group = alphas[k : k + n]
        k += n
        gaps = [int(rng.uniform(0.12, 0.35) * a.shape[0]) for a in group[1:]]
        gw = sum(a.shape[1] for a in group) + sum(gaps)
        gh = max(a.shape[0] for a in group)
        for _ in range(200):
            x = int(rng.integers(margin, max(margin + 1, w - gw - margin)))
            y = int(rng.integers(margin, max(margin + 1, h - gh - margin)))
            if x + gw <= w - margin and y + gh <= h - margin and _free((x, y, gw, gh), taken, int(0.9 * gh)):
                break
        else:
            return None, taken
        taken.append((x, y, gw, gh))
        cx = x
        for i, a in enumerate(group):
            positions.append((cx, y + (gh - a.shape[0]) // 2 + int(rng.integers(-2, 3))))
            cx += a.shape[1] + (gaps[i] if i < len(gaps) else 0)
    return positions, taken


def _split_lengths(rng, total, longest):
    lengths = []
    while total > 0:
        n = int(rng.integers(1, min(longest, total) + 1))
        lengths.append(n)
        total -= n
    return lengths


def _warp_box(m: np.ndarray, box) -> tuple[int, int, int, int]:
    x, y, w, h = box
    pts = cv2.perspectiveTransform(np.float32([[[x, y], [x + w, y], [x, y + h], [x + w, y + h]]]), m)[0]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def render_scene(
    rng: np.random.Generator,
    images: np.ndarray,
    labels: np.ndarray,
    size: tuple[int, int] = (640, 480),
    style: Style = Style(),
    n_digits: int | None = None,
    n_marks: int | None = None,
) -> Scene:
    """Render one sheet with digits drawn from (images, labels) and known ground truth.

    Args:
        rng: the random source (a seeded generator gives the same sheet every time).
        images, labels: MNIST-like 28x28 uint8 digits (white on black) and their labels.
        size: (width, height) of the frame.
        style: ranges of the conditions; see :class:`Style`.
        n_digits, n_marks: exact counts instead of the style's ranges (0 digits = an empty sheet).
    """
    w, h = size
    canvas = paper(rng, size)
    n = int(rng.integers(style.digits[0], style.digits[1] + 1)) if n_digits is None else n_digits
    picks = rng.integers(len(images), size=n)
    height = int(rng.integers(style.digit_height[0], style.digit_height[1] + 1))
    alphas = [_digit_alpha(images[i], max(12, int(height * rng.uniform(0.9, 1.1)))) for i in picks]
    lengths = _split_lengths(rng, n, style.max_number_length)
    positions, taken = _layout_numbers(rng, size, alphas, lengths, margin=12)
    while positions is None:  # too crowded for this size: shrink and retry
        height = max(style.digit_height[0], int(height * 0.8))
        alphas = [_digit_alpha(images[i], max(12, int(height * rng.uniform(0.9, 1.1)))) for i in picks]
        positions, taken = _layout_numbers(rng, size, alphas, lengths, margin=12)
    ink = np.float32([rng.uniform(20, 70), rng.uniform(10, 40), rng.uniform(0, 35)])
    strength = rng.uniform(*style.ink_strength)
    boxes = []
    for a, (x, y) in zip(alphas, positions):
        _stamp(canvas, a * strength, x, y, ink)
        bx, by, bw, bh = _ink_box((a * 255).astype(np.uint8))
        boxes.append((x + bx, y + by, bw, bh))
    marks = []
    m = int(rng.integers(style.marks[0], style.marks[1] + 1)) if n_marks is None else n_marks
    for _ in range(m):
        kind = MARK_KINDS[int(rng.integers(len(MARK_KINDS)))]
        letter = LETTERS[int(rng.integers(len(LETTERS)))]
        a = _mark_alpha(rng, kind, height, letter)
        mh, mw = a.shape
        for _ in range(100):
            x, y = int(rng.integers(12, max(13, w - mw - 12))), int(rng.integers(12, max(13, h - mh - 12)))
            if x + mw <= w - 12 and y + mh <= h - 12 and _free((x, y, mw, mh), taken, int(0.6 * height)):
                _stamp(canvas, a * strength, x, y, ink)
                taken.append((x, y, mw, mh))
                marks.append(((x, y, mw, mh), kind if kind != "letter" else f"letter {letter}"))
                break
    canvas *= lighting(rng, size, rng.uniform(*style.light_min))[:, :, None]
    j = style.perspective * min(w, h)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-j, j, (4, 2)).astype(np.float32)
    pm = cv2.getPerspectiveTransform(src, dst)
    canvas = cv2.warpPerspective(canvas, pm, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sigma = rng.uniform(*style.blur_sigma)
    if sigma > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    digits, numbers, k = [], [], 0
    for g, length in enumerate(lengths):
        member_boxes = [_warp_box(pm, b) for b in boxes[k : k + length]]
        digits += [Truth(b, int(labels[i]), g) for b, i in zip(member_boxes, picks[k : k + length])]
        x0 = min(b[0] for b in member_boxes)
        y0 = min(b[1] for b in member_boxes)
        x1 = max(b[0] + b[2] for b in member_boxes)
        y1 = max(b[1] + b[3] for b in member_boxes)
        numbers.append(((x0, y0, x1 - x0, y1 - y0), "".join(str(int(labels[i])) for i in picks[k : k + length])))
        k += length
    return Scene(image, digits, numbers, [(_warp_box(pm, b), kind) for b, kind in marks])


class FrameJitter:
    """Per-frame camera effects on a scene: slight motion (a small shift) and sensor noise.

    Noise fields are drawn once and reused, so a frame costs a shift and an addition.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        size: tuple[int, int],
        noise_sigma: float = 3.0,
        max_shift: float = 3.0,
        bank: int = 4,
    ):
        w, h = size
        self.rng = rng
        self.max_shift = max_shift
        self._noise = [rng.normal(0, noise_sigma, (h, w, 1)).astype(np.int16) for _ in range(bank)]
        self._i = 0

    def apply(self, scene: Scene) -> tuple[np.ndarray, tuple[int, int]]:
        """(frame, (dx, dy)): the scene shifted by a few whole pixels, plus fresh-looking noise."""
        dx, dy = (int(v) for v in self.rng.integers(-int(self.max_shift), int(self.max_shift) + 1, 2))
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        h, w = scene.image.shape[:2]
        moved = cv2.warpAffine(scene.image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noise = self._noise[self._i % len(self._noise)]
        self._i += 1
        frame = moved.astype(np.int16)
        frame += noise
        return np.clip(frame, 0, 255).astype(np.uint8), (dx, dy)


def shifted(truths: list[Truth], shift: tuple[int, int]) -> list[Truth]:
    """Ground truth moved by the frame's shift."""
    dx, dy = shift
    return [Truth((t.box[0] + dx, t.box[1] + dy, t.box[2], t.box[3]), t.label, t.number) for t in truths]


def _iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


@dataclass
class Score:
    """Detections of one or more frames compared with the ground truth."""

    digits: int = 0  # digits drawn
    correct: int = 0  # found with the right label
    wrong: int = 0  # found with a wrong label
    false: int = 0  # detections matching no digit (marks, noise, pieces)
    frames: int = 0

    def add(self, other: "Score") -> None:
        for k in ("digits", "correct", "wrong", "false", "frames"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def read_rate(self) -> float:
        return self.correct / self.digits if self.digits else 1.0

    @property
    def false_per_frame(self) -> float:
        return self.false / self.frames if self.frames else 0.0


def score(truths: list[Truth], boxes, labels, min_iou: float = 0.3) -> Score:
    """Match detections (boxes, labels) one-to-one to the truth by overlap (IoU >= ``min_iou``)."""
    pairs = sorted(
        ((_iou(t.box, b), ti, di) for ti, t in enumerate(truths) for di, b in enumerate(boxes)), reverse=True
    )
    used_t, used_d, s = set(), set(), Score(digits=len(truths), frames=1)
    for iou, ti, di in pairs:
        if iou < min_iou:
            break
        if ti in used_t or di in used_d:
            continue
        used_t.add(ti)
        used_d.add(di)
        if int(labels[di]) == truths[ti].label:
            s.correct += 1
        else:
            s.wrong += 1
    s.false = len(boxes) - len(used_d)
    return s


@dataclass
class FrameTruth:
    """Ground truth of one video frame: its digits and its non-digit marks ((box, kind))."""

    digits: list[Truth]
    marks: list[tuple[tuple[int, int, int, int], str]]


def render_video(
    path,
    images: np.ndarray,
    labels: np.ndarray,
    frames: int,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    fps: float = 30.0,
    frames_per_sheet: int = 10,
    style: Style = Style(),
    fourcc: str = "mp4v",
) -> list["FrameTruth"]:
    """Write a video of sheets (a new one every ``frames_per_sheet``) with camera shake and noise.

    Returns the ground truth of every frame (digits and marks in frame pixels).
    """
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with {fourcc}")
    jitter = FrameJitter(rng, size, noise_sigma=float(rng.uniform(*style.noise_sigma)), max_shift=2.0)
    truth, scene = [], None
    try:
        for i in range(frames):
            if i % frames_per_sheet == 0:
                scene = render_scene(rng, images, labels, size, style)
            frame, shift = jitter.apply(scene)
            writer.write(frame)
            dx, dy = shift
            marks = [((b[0] + dx, b[1] + dy, b[2], b[3]), kind) for b, kind in scene.marks]
            truth.append(FrameTruth(shifted(scene.digits, shift), marks))
    finally:
        writer.release()
    return truth
