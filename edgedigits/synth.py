"""Synthetic data for robustness work: camera-like corruptions, non-digits and rendered digits.

Everything here is numpy + OpenCV and deterministic for a given ``seed``. Every generated image
is a uint8 28x28 white-on-black crop placed the way the camera places ink, through
:func:`edgedigits.preprocess.mnist_normalize` (and, for crops of paper, through
:func:`edgedigits.preprocess.ink_from_gray` first).

Training and evaluation never share a source. ``split="train"`` and ``split="eval"`` differ in
fonts, in random streams, and for scribbles also in the generator itself:

=================  ==========================================  ==========================================
source             training (``split="train"``)                evaluation (``split="eval"``)
=================  ==========================================  ==========================================
corruptions        not used (training has its own torch        :func:`corrupt` on MNIST *test* images
                   augmentations in :mod:`edgedigits.train`)
rendered digits    Hershey SIMPLEX, DUPLEX, TRIPLEX,           Hershey PLAIN, COMPLEX, COMPLEX_SMALL,
                   SCRIPT_SIMPLEX                              SCRIPT_COMPLEX
letters, symbols   the same glyph lists, TRAIN fonts           the same glyph lists, EVAL fonts
scribbles          splines, zigzags and chains of arcs         random walks with a drifting heading
lines, blobs,      same generators, independent random         same generators, independent random
noise, paper       streams                                     streams
8x8 handwriting    never (scikit-learn's digits are the        :func:`sklearn_digits`
                   bench issue's test set)
=================  ==========================================  ==========================================
"""

from __future__ import annotations

import cv2
import numpy as np

from . import glyphs
from .errors import InputError, MissingDependencyError
from .preprocess import ink_from_gray, mnist_normalize

SPLITS = ("train", "eval")
_SALT = {"train": 7919, "eval": 104729}  # keeps the two splits' random streams apart
CANVAS = 96  # glyphs and shapes are drawn at this size, then normalised

FONTS = {
    "train": (
        cv2.FONT_HERSHEY_SIMPLEX,
        cv2.FONT_HERSHEY_DUPLEX,
        cv2.FONT_HERSHEY_TRIPLEX,
        cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    ),
    "eval": (
        cv2.FONT_HERSHEY_PLAIN,
        cv2.FONT_HERSHEY_COMPLEX,
        cv2.FONT_HERSHEY_COMPLEX_SMALL,
        cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
    ),
}

# Letters that cannot pass for a digit. Left out on purpose: O o Q D (0), I i l j J T t (1, 7),
# Z z (2), S s (5), B (8), G b (6), g q a y (9, 4), so a real digit is never taught as "not a digit".
LETTERS = "ACEFHKLMNPRUVWXYcdefhkmnpruvwx"
# Symbols, without the tall thin ones ( ) [ ] { } | / \ ! that normalise into a '1', and $ (an S).
SYMBOLS = "+=#*%&@?<>~^:;-"

# Camera-like corruptions and their three severities (1 = mild .. 3 = strong).
CORRUPTIONS = {
    "blur": (0.7, 1.0, 1.3),  # Gaussian sigma, pixels of the 28x28 crop
    "noise": (0.08, 0.16, 0.24),  # Gaussian noise std, fraction of full scale
    "low_contrast": (0.6, 0.4, 0.25),  # ink intensity multiplier
    "uneven_light": (0.3, 0.5, 0.7),  # depth of a light gradient across the crop
    "thick": (2, 3, 4),  # square dilation kernel size
    "thin": (0.35, 0.6, 0.85),  # blend towards a 3x3 erosion
    "rotate": (10.0, 20.0, 30.0),  # degrees, random sign
    "shift": (2.0, 3.0, 4.0),  # pixels, random direction
    "scale": (0.15, 0.25, 0.35),  # zoom by 1 +- this
    "jpeg": (40, 20, 10),  # JPEG quality
}
SEVERITIES = (1, 2, 3)

# Lines steeper than this (degrees from horizontal) are not negatives: a slanted stroke is a '1'.
LINE_MAX_DEG = 35.0

# Scribbles narrower than this (width / height) are redrawn: they would read as a '1'.
MIN_SCRIBBLE_ASPECT = 0.5

NEGATIVE_KINDS = ("letter", "symbol", "scribble", "line", "blob", "noise", "paper", "blank")
# Kinds drawn as strokes like those on a form: box fragments, check marks, crosses, arrows, and
# digits cut by a box edge. Numpy + OpenCV only, like NEGATIVE_KINDS.
FORM_KINDS = ("box", "tick", "cross", "arrow", "partial_digit")
# Letters of many scripts from system fonts (edgedigits.glyphs; needs Pillow and the fonts). Their
# names in :func:`negatives` carry the script: "printed_letter:greek", "handwritten_letter:cjk".
FONT_KINDS = ("printed_letter", "handwritten_letter")
ALL_KINDS = NEGATIVE_KINDS + FORM_KINDS + FONT_KINDS

# Arrows and box-edge strokes steeper than this from horizontal are not drawn: a steep arrow is a '1'.
ARROW_MAX_DEG = 40.0
# Digits that are cut by a box edge for "partial_digit" (see :func:`_partial_digit`).
PARTIAL_DIGITS = (0, 2, 3, 4, 5, 6, 8, 9)


def _rng(seed: int, split: str, *stream: int) -> np.random.Generator:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of: {', '.join(SPLITS)}.")
    return np.random.default_rng([int(seed), _SALT[split], *stream])


def _as_images(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise InputError(f"expected uint8 images N x 28 x 28, got {x.dtype} {x.shape}.")
    return x


# -- corruptions -------------------------------------------------------------------------------


def _affine(img: np.ndarray, angle: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
    m = cv2.getRotationMatrix2D((13.5, 13.5), angle, scale)
    m[:, 2] += shift
    return cv2.warpAffine(img, m, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)


def _corrupt_one(img: np.ndarray, kind: str, level, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32) / 255
    if kind == "blur":
        f = cv2.GaussianBlur(f, (0, 0), level)
        f = f / max(f.max(), 1e-6) * img.max() / 255  # a blurred stroke keeps its peak brightness
    elif kind == "noise":
        f = f + rng.normal(0, level, f.shape)
    elif kind == "low_contrast":
        f = f * level
    elif kind == "uneven_light":
        theta = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:28, 0:28] / 27.0 - 0.5
        ramp = np.clip((np.cos(theta) * xx + np.sin(theta) * yy) / 0.7 + 0.5, 0, 1)
        f = f * (1 - level * ramp) + 0.4 * level * (1 - ramp) * rng.uniform(0.5, 1.0)
    elif kind == "thick":
        f = cv2.dilate(f, np.ones((level, level), np.uint8))
    elif kind == "thin":
        f = f + level * (cv2.erode(f, np.ones((3, 3), np.uint8)) - f)
    elif kind == "rotate":
        f = _affine(f, angle=level * rng.choice([-1, 1]))
    elif kind == "shift":
        a = rng.uniform(0, 2 * np.pi)
        f = _affine(f, shift=(level * np.cos(a), level * np.sin(a)))
    elif kind == "scale":
        f = _affine(f, scale=1 + level * rng.choice([-1, 1]))
    elif kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(level)])
        return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return np.clip(np.rint(f * 255), 0, 255).astype(np.uint8)


def corrupt(images, kind: str, severity: int, seed: int = 0) -> np.ndarray:
    """A copy of MNIST-like ``images`` (uint8 N x 28 x 28) with one camera-like corruption.

    Evaluation source: used on MNIST test images only, never in training.

    Args:
        images: uint8 N x 28 x 28 (or one 28 x 28), white on black.
        kind: a key of :data:`CORRUPTIONS`.
        severity: 1, 2 or 3.
        seed: random seed (directions, signs and noise).
    """
    if kind not in CORRUPTIONS:
        raise InputError(f"unknown corruption {kind!r}; use one of: {', '.join(CORRUPTIONS)}.")
    if severity not in SEVERITIES:
        raise InputError(f"severity must be 1, 2 or 3, not {severity!r}.")
    x = _as_images(images)
    level = CORRUPTIONS[kind][severity - 1]
    rng = np.random.default_rng([int(seed), list(CORRUPTIONS).index(kind), severity])
    return np.stack([_corrupt_one(img, kind, level, rng) for img in x])


# -- drawing helpers ---------------------------------------------------------------------------


def _glyph(text: str, font: int, thickness: int, rng: np.random.Generator) -> np.ndarray:
    """``text`` drawn white on a black CANVAS x CANVAS, centred, with a random slant and rotation."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    if rng.random() < 0.3:
        font |= cv2.FONT_ITALIC
    scale = 1.0
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    scale = 0.55 * CANVAS / max(w, h + base, 1)
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    org = ((CANVAS - w) // 2, (CANVAS + h) // 2)
    cv2.putText(canvas, text, org, font, scale, 255, thickness, cv2.LINE_AA)
    return _warp(canvas, rng)


def _warp(canvas: np.ndarray, rng: np.random.Generator, rotate: float = 12.0, shear: float = 0.25) -> np.ndarray:
    c = CANVAS / 2
    m = cv2.getRotationMatrix2D((c, c), rng.uniform(-rotate, rotate), 1.0)
    sh = np.float64([[1, rng.uniform(-shear, shear), 0], [0, 1, 0]])
    sh[0, 2] = -sh[0, 1] * c
    m = np.vstack([m, [0, 0, 1]]) @ np.vstack([sh, [0, 0, 1]])
    sx = rng.uniform(0.8, 1.2)
    m[0, :] *= sx
    m[0, 2] += c * (1 - sx)
    return cv2.warpAffine(canvas, m[:2], (CANVAS, CANVAS), flags=cv2.INTER_LINEAR, borderValue=0)


def _stroke_thickness(rng: np.random.Generator) -> int:
    return int(rng.integers(2, 9))


def _finish(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soften drawn ink a little (a camera never gives hard edges) and place it like MNIST."""
    if rng.random() < 0.5:
        ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.5, 1.5))
    return mnist_normalize(ink)


# -- non-digit negatives -----------------------------------------------------------------------


def _letter(rng, split):
    return _glyph(str(rng.choice(list(LETTERS))), int(rng.choice(FONTS[split])), _stroke_thickness(rng), rng)


def _symbol(rng, split):
    return _glyph(str(rng.choice(list(SYMBOLS))), int(rng.choice(FONTS[split])), _stroke_thickness(rng), rng)


def _scribble(rng, split):
    """A free stroke; one whose box is tall and narrow reads as a '1', so it is drawn again."""
    while True:
        canvas = _scribble_once(rng, split)
        ys, xs = np.nonzero(canvas)
        if np.ptp(xs) >= MIN_SCRIBBLE_ASPECT * np.ptp(ys):
            return canvas


def _scribble_once(rng, split):
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    k = int(rng.integers(5, 9))
    if split == "train" and rng.random() < 0.4:  # arcs bending left and right in turn (few closed loops)
        heading, p, pts = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.7, 2) * CANVAS, []
        sign = rng.choice([-1, 1])
        for _ in range(k):
            sign = -sign
            turn, steps = sign * rng.uniform(0.05, 0.3), int(rng.integers(3, 11))
            for _ in range(steps):
                heading += turn
                p = np.clip(p + 4 * np.array([np.cos(heading), np.sin(heading)]), 8, CANVAS - 8)
                pts.append(p.copy())
        curve = np.array(pts)
    elif split == "train":  # a smooth curve, or a zigzag, through random points
        pts = rng.uniform(0.15, 0.85, (k, 2)) * CANVAS
        t = np.linspace(0, k - 1, 12 * k)
        curve = np.stack([np.interp(t, np.arange(k), pts[:, i]) for i in range(2)], 1)
        if rng.random() < 0.6:
            curve = cv2.blur(curve.reshape(-1, 1, 2).astype(np.float32), (1, 9)).reshape(-1, 2)
    else:  # a random walk whose heading drifts
        heading, p, pts = rng.uniform(0, 2 * np.pi), np.array([CANVAS / 2, CANVAS / 2]), []
        for _ in range(10 * k):
            heading += rng.normal(0, 0.6)
            p = np.clip(p + 4 * np.array([np.cos(heading), np.sin(heading)]), 8, CANVAS - 8)
            pts.append(p.copy())
        curve = np.array(pts)
    cv2.polylines(canvas, [np.int32(curve)], False, 255, _stroke_thickness(rng), cv2.LINE_AA)
    return canvas


def _line(rng, split):
    """One to three straight strokes, each at most LINE_MAX_DEG from horizontal (steeper is a '1')."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    for _ in range(int(rng.choice([1, 1, 2, 3]))):
        angle = np.deg2rad(rng.uniform(-LINE_MAX_DEG, LINE_MAX_DEG))
        length = rng.uniform(0.4, 0.8) * CANVAS
        c = rng.uniform(0.3, 0.7, 2) * CANVAS
        d = 0.5 * length * np.array([np.cos(angle), np.sin(angle)])
        cv2.line(canvas, tuple(np.int32(c - d)), tuple(np.int32(c + d)), 255, _stroke_thickness(rng), cv2.LINE_AA)
    return canvas


def _blob(rng, split):
    """A filled ellipse or a smudge of blurred ink."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    if rng.random() < 0.5:
        axes = tuple(int(a) for a in rng.uniform(8, 30, 2))
        cv2.ellipse(
            canvas,
            (CANVAS // 2, CANVAS // 2),
            axes,
            rng.uniform(0, 180),
            0,
            360,
            int(rng.integers(150, 256)),
            -1,
            cv2.LINE_AA,
        )
        return canvas
    field = cv2.GaussianBlur(rng.random((CANVAS, CANVAS)).astype(np.float32), (0, 0), rng.uniform(6, 14))
    field = (field - field.min()) / max(np.ptp(field), 1e-6)
    return np.clip((field - rng.uniform(0.5, 0.75)) * 4 * 255, 0, 255).astype(np.uint8)


def _noise(rng, split):
    """Sensor-like noise: dense Gaussian noise or a sprinkle of dots."""
    if rng.random() < 0.5:
        return np.clip(rng.normal(rng.uniform(0, 120), rng.uniform(30, 90), (CANVAS, CANVAS)), 0, 255).astype(np.uint8)
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    for x, y in rng.integers(4, CANVAS - 4, (int(rng.integers(5, 40)), 2)):
        cv2.circle(canvas, (int(x), int(y)), int(rng.integers(1, 4)), 255, -1, cv2.LINE_AA)
    return canvas


def _paper(rng, split, texture: bool = True) -> np.ndarray:
    """A gray camera crop of paper (light gradient, grain, sometimes texture), as ink after thresholding."""
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS] / CANVAS
    a, b = rng.uniform(-60, 60, 2)
    gray = rng.uniform(130, 230) + a * (xx - 0.5) + b * (yy - 0.5)
    if texture:
        grain = cv2.GaussianBlur(rng.normal(0, 1, (CANVAS, CANVAS)).astype(np.float32), (0, 0), rng.uniform(1, 6))
        gray = gray + grain / max(grain.std(), 1e-6) * rng.uniform(5, 25)
    gray = gray + rng.normal(0, rng.uniform(1, 6), gray.shape)
    return ink_from_gray(np.clip(gray, 0, 255).astype(np.uint8))


def _blank(rng, split):
    return _paper(rng, split, texture=False)


def _jitter(pts: np.ndarray, rng, amount: float) -> np.ndarray:
    """Points of a stroke moved by a smooth random wobble of up to about ``amount`` pixels (a hand, not a ruler)."""
    n = len(pts)
    knots = rng.normal(0, amount, (4, 2))
    t = np.linspace(0, 3, n)
    wobble = np.stack([np.interp(t, np.arange(4), knots[:, i]) for i in range(2)], 1)
    return pts + wobble


def _stroke_line(canvas, a, b, rng, thickness, split, wobble=True):
    pts = np.linspace(np.float64(a), np.float64(b), 24)
    if wobble and rng.random() < 0.6:
        pts = _jitter(pts, rng, 2.5 if split == "train" else 2.0)
    cv2.polylines(canvas, [np.int32(np.rint(pts))], False, 255, thickness, cv2.LINE_AA)


def _box(rng, split):
    """A fragment of a form's box: a corner, two sides, a wide empty box, or grid lines crossing.

    Left out: the top-right corner (a '7'), a square box (a '0' stretched to fill its box) and
    single steep lines (a '1').
    """
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    t = int(rng.integers(2, 7))
    lo, hi = rng.uniform(8, 24), rng.uniform(72, 88)
    shapes = ("corner", "sides", "wide", "grid") if split == "train" else ("corner", "sides", "wide", "grid", "u")
    shape = str(rng.choice(shapes))
    if shape == "corner":  # top-left, bottom-left or bottom-right
        corner = int(rng.integers(0, 3))
        x, y = (lo, lo) if corner == 0 else (lo, hi) if corner == 1 else (hi, hi)
        _stroke_line(canvas, (x, y), (hi if x == lo else lo, y), rng, t, split, wobble=False)
        _stroke_line(canvas, (x, y), (x, hi if y == lo else lo), rng, t, split, wobble=False)
    elif shape == "sides":  # two parallel horizontal edges (a box seen through its middle)
        for y in (lo, hi):
            _stroke_line(canvas, (lo, y), (hi, y + rng.uniform(-3, 3)), rng, t, split, wobble=False)
    elif shape == "wide":  # an empty box at least 1.6 times as wide as tall
        h = (hi - lo) / rng.uniform(1.6, 3.0)
        y0 = CANVAS / 2 - h / 2
        cv2.rectangle(canvas, (int(lo), int(y0)), (int(hi), int(y0 + h)), 255, t, cv2.LINE_AA)
    elif shape == "u":  # bottom and both sides, short sides
        h = (hi - lo) / rng.uniform(2.0, 3.5)
        for a, b in (((lo, hi - h), (lo, hi)), ((lo, hi), (hi, hi)), ((hi, hi), (hi, hi - h))):
            _stroke_line(canvas, a, b, rng, t, split, wobble=False)
    else:  # grid: one long horizontal and one vertical line crossing off-centre
        yc, xc = rng.uniform(0.3, 0.7, 2) * CANVAS
        _stroke_line(canvas, (4, yc), (CANVAS - 4, yc), rng, t, split, wobble=False)
        _stroke_line(canvas, (xc, 4), (xc, CANVAS - 4), rng, t, split, wobble=False)
    return canvas


def _tick(rng, split):
    """A check mark: a short stroke down to the right, then a long one up to the right."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    low = np.array([rng.uniform(35, 50), rng.uniform(65, 80)])
    start = low + rng.uniform(10, 25) * np.array([-np.cos(0.8), -np.sin(0.8)]) * rng.uniform(0.8, 1.2)
    angle = np.deg2rad(rng.uniform(35, 70) if split == "train" else rng.uniform(40, 65))
    end = low + rng.uniform(45, 65) * np.array([np.cos(angle), -np.sin(angle)])
    pts = np.concatenate([np.linspace(start, low, 10), np.linspace(low, end, 20)[1:]])
    pts = _jitter(pts, rng, 2.0)
    cv2.polylines(canvas, [np.int32(np.rint(pts))], False, 255, _stroke_thickness(rng), cv2.LINE_AA)
    return canvas


def _cross(rng, split):
    """A cross as made on a form: two strokes crossing near their middles (x-like, at most 35 deg off diagonal)."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    c = rng.uniform(0.4, 0.6, 2) * CANVAS
    t = _stroke_thickness(rng)
    for base in (45.0, 135.0):
        a = np.deg2rad(base + rng.uniform(-20, 20))
        d = rng.uniform(25, 40) * np.array([np.cos(a), np.sin(a)])
        _stroke_line(canvas, c - d, c + d * rng.uniform(0.8, 1.2), rng, t, split)
    return canvas


def _arrow(rng, split):
    """A stroke with an arrow head, at most ARROW_MAX_DEG from horizontal (either way)."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    a = np.deg2rad(rng.uniform(-ARROW_MAX_DEG, ARROW_MAX_DEG) + rng.choice([0.0, 180.0]))
    c = np.array([CANVAS / 2, CANVAS / 2])
    d = rng.uniform(28, 40) * np.array([np.cos(a), np.sin(a)])
    t = _stroke_thickness(rng)
    tip = c + d
    _stroke_line(canvas, c - d, tip, rng, t, split)
    head, spread = rng.uniform(12, 22), np.deg2rad(rng.uniform(25, 45))
    for s in (-1, 1):
        back = a + np.pi + s * spread
        _stroke_line(canvas, tip, tip + head * np.array([np.cos(back), np.sin(back)]), rng, t, split, wobble=False)
    return canvas


def _digit_canvas(rng, split, d: int) -> np.ndarray:
    """Digit ``d`` in ``split``'s fonts (Hershey, or a Latin font file when Pillow and fonts are there)."""
    if rng.random() < 0.5:
        try:
            canvas = glyphs.digit(rng, split, d, CANVAS)
        except MissingDependencyError:
            canvas = None
        if canvas is not None:
            return canvas
    return _glyph(str(d), int(rng.choice(FONTS[split])), _stroke_thickness(rng), rng)


def _partial_digit(rng, split):
    """A digit cut by the top or bottom edge of a box: 40-60 % of it hidden beyond the edge, which is drawn.

    The edge is a straight line a little wider than the digit (a box side). Vertical edges are
    left out: a vertical line beside a digit's remains reads as a '1'; so are 1 and 7 (cut, with
    an edge below or above, they still read as 1, 2 or 7), and the top of a 2 above its edge (a 2).
    """
    d = int(rng.choice(PARTIAL_DIGITS))
    canvas = _digit_canvas(rng, split, d)
    ys, xs = np.nonzero(canvas > 40)
    if len(ys) == 0:
        return canvas
    keep = rng.uniform(0.4, 0.6)
    top, bottom = ys.min(), ys.max()
    from_top = d != 2 and rng.random() < 0.5  # the box edge lies below the kept top part, or above
    cut = int(top + keep * (bottom - top)) if from_top else int(bottom - keep * (bottom - top))
    if from_top:
        canvas[cut:, :] = 0
    else:
        canvas[:cut, :] = 0
    span = (xs.max() - xs.min()) * rng.uniform(0.65, 0.9)
    cx = (xs.max() + xs.min()) / 2 + rng.uniform(-0.2, 0.2) * span
    _stroke_line(
        canvas,
        (cx - span, cut),
        (cx + span, cut + rng.uniform(-3, 3)),
        rng,
        int(rng.integers(2, 6)),
        split,
        wobble=False,
    )
    return canvas


def _font_letter(style: str):
    def make(rng, split):
        scripts = [
            s for s in glyphs.SCRIPTS if glyphs.available(split, s, "printed") or glyphs.available(split, s, style)
        ]
        if not scripts:
            raise MissingDependencyError("fonts", "Drawing letters of many scripts", glyphs.INSTALL_HINT)
        script = str(rng.choice(scripts))
        return glyphs.letter(rng, split, script, style, CANVAS), script

    return make


_NEGATIVE_MAKERS = {
    "letter": _letter,
    "symbol": _symbol,
    "scribble": _scribble,
    "line": _line,
    "blob": _blob,
    "noise": _noise,
    "paper": _paper,
    "blank": _blank,
    "box": _box,
    "tick": _tick,
    "cross": _cross,
    "arrow": _arrow,
    "partial_digit": _partial_digit,
    "printed_letter": _font_letter("printed"),
    "handwritten_letter": _font_letter("handwriting"),
}


def negatives(n: int, split: str = "eval", seed: int = 0, kinds=NEGATIVE_KINDS) -> tuple[np.ndarray, np.ndarray]:
    """``n`` non-digit crops, an equal share of each kind.

    Args:
        n: how many images.
        split: "train" (outlier exposure during training) or "eval" (held out; see the module table).
        seed: random seed.
        kinds: which of :data:`ALL_KINDS` to draw (:data:`FONT_KINDS` need Pillow and fonts).

    Returns:
        (uint8 n x 28 x 28 images, object array of each image's kind name; letters of
        :data:`FONT_KINDS` are named ``kind:script``).

    Raises:
        MissingDependencyError: a font kind was asked for without Pillow or without fonts.
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _NEGATIVE_MAKERS]
    if unknown or not kinds:
        raise InputError(f"unknown negative kinds {unknown}; use some of: {', '.join(ALL_KINDS)}.")
    rng = _rng(seed, split, 1)
    names = np.array([kinds[i % len(kinds)] for i in range(n)], dtype=object)
    out = np.zeros((n, 28, 28), np.uint8)
    for i, kind in enumerate(names):
        drawn = _NEGATIVE_MAKERS[kind](rng, split)
        if isinstance(drawn, tuple):
            drawn, detail = drawn
            names[i] = f"{kind}:{detail}"
        out[i] = mnist_normalize(drawn) if kind in ("paper", "blank") else _finish(drawn, rng)
    return out, names


# -- digits that are not MNIST -----------------------------------------------------------------


def rendered_digits(n: int, split: str = "eval", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits drawn with OpenCV's Hershey fonts, with random slant, rotation, width and stroke.

    ``split="train"`` and ``split="eval"`` use disjoint font sets (see the module table).

    Returns:
        (uint8 n x 28 x 28 images, int64 labels, balanced over 0-9).
    """
    rng = _rng(seed, split, 2)
    labels = np.arange(n, dtype=np.int64) % 10
    out = np.zeros((n, 28, 28), np.uint8)
    for i, d in enumerate(labels):
        font = int(rng.choice(FONTS[split]))
        out[i] = _finish(_glyph(str(d), font, _stroke_thickness(rng), rng), rng)
    return out, labels


def font_digits(n: int, split: str = "eval", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits in ``split``'s Latin font files (printed and handwriting; :mod:`edgedigits.glyphs`).

    Returns:
        (uint8 n x 28 x 28 images, int64 labels, balanced over 0-9).

    Raises:
        MissingDependencyError: Pillow or the fonts are missing.
    """
    rng = _rng(seed, split, 3)
    labels = np.arange(n, dtype=np.int64) % 10
    out = np.zeros((n, 28, 28), np.uint8)
    for i, d in enumerate(labels):
        canvas = glyphs.digit(rng, split, int(d), CANVAS)
        if canvas is None:
            raise MissingDependencyError("fonts", "Drawing digits from font files", glyphs.INSTALL_HINT)
        out[i] = _finish(_warp(canvas, rng), rng)
    return out, labels


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten 8x8 digits (UCI), as MNIST-like 28x28 crops. Evaluation only.

    Each 8x8 value counts the inked pixels of a 4x4 block of the original 32x32 bitmap, so the
    bitmap's strokes are recovered by smooth (bicubic) upsampling to 32x32 and a soft ramp from
    20 % coverage (paper) to 80 % (full ink), giving anti-aliased strokes like MNIST's, then placed
    like MNIST. These digits are the bench issue's test set: never train on them.

    Raises:
        MissingDependencyError: scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingDependencyError(
            "sklearn", "The 8x8 handwritten digits evaluation", "pip install scikit-learn"
        ) from exc
    data = load_digits()
    out = np.zeros((len(data.images), 28, 28), np.uint8)
    for i, img in enumerate(data.images):
        up = cv2.resize(img.astype(np.float32) / 16, (32, 32), interpolation=cv2.INTER_CUBIC)
        out[i] = mnist_normalize(np.clip((up - 0.2) / 0.6 * 255, 0, 255).astype(np.uint8))
    return out, data.target.astype(np.int64)
