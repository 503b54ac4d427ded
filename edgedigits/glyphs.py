"""Letters of many scripts rendered from system fonts, for "not a digit" training and evaluation.

Glyphs are rasterised with Pillow's FreeType binding from font files that Debian packages ship
(``fonts-noto-core``, ``fonts-noto-cjk``, ``fonts-freefont-ttf``, ``fonts-dejavu-core``,
``fonts-liberation`` and a few handwriting fonts; see :data:`FONTS`). Training and evaluation
never share a font file: each script lists its ``train`` and ``eval`` files separately, and the
printed and handwriting styles separately too.

A "handwriting-looking" glyph is drawn in a handwriting font where the script has one, and in
every case bent by a smooth random displacement field and given a random stroke width, so that
the printed fonts of scripts without a handwriting font also come out uneven, as written by hand.

Characters that could pass for a digit (an alif, a vav, a Cyrillic Ze, a kanji one ...) are left
out of :data:`SCRIPTS`, so that a real digit is never taught as "not a digit".
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import numpy as np

from .errors import MissingDependencyError

#: Letters of each script that cannot pass for a digit (lookalikes left out, see the module doc).
SCRIPTS = {
    "latin": "ACEFHKLMNPRUVWXYcdefhkmnpruvwx",
    "greek": "ΓΔΘΛΞΠΣΦΨΩαγεζηκλμνξπφχψω",
    "cyrillic": "ГДЖИЙКЛМНПФХЦШЩЫЮЯджийклмнпфхцшщыюя",
    "arabic": "بتثجحخسشصضطظعغفقكمنهي",
    "devanagari": "कखगघचछजझटठडढणतथदधनपफबभमयलवशषसह",
    "cjk": "字文水火木金土山川田中大天雨電車馬魚鳥東西南北春夏秋冬花草語話読書愛心手足耳"
    "あうえおかきけさすせそたちなにぬねはひふほまみむめもやゆよらるれろわを"
    "アイウエオカキケコサシスセソタチツテトナニヌネハヒフヘホマミムメモヤユヨラリルレロワヲン"
    "가나다라마바사아자차카타파하한국어글",
    "hebrew": "אבגהחטכלמעפצקשת",
    "thai": "กขคฅฆจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยลศษสหฬฮ",
}
STYLES = ("printed", "handwriting")

_LATIN_LIKE_TRAIN = (
    "NotoSans-Regular.ttf",
    "NotoSans-Bold.ttf",
    "NotoSerif-Italic.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSans-Bold.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationMono-Bold.ttf",
)
_LATIN_LIKE_EVAL = (
    "FreeSans.ttf",
    "FreeSerif.ttf",
    "FreeSerifBoldItalic.ttf",
    "FreeMono.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationSerif-BoldItalic.ttf",
)
_HAND_TRAIN = ("dkg.ttf", "dkgIt.ttf", "Breip.ttf", "Rufscript010.ttf", "KaushanScript-Regular.otf")
_HAND_EVAL = ("femkeklaver.ttf", "KleeOne-Regular.ttf", "Havana-Regular.otf", "SteveHand.ttf", "Delphine.ttf")

#: Font files per script, split ("train" / "eval") and style. Files missing on this machine, and
#: fonts without a glyph for a character, are skipped.
FONTS = {
    "latin": {
        "train": {"printed": _LATIN_LIKE_TRAIN, "handwriting": _HAND_TRAIN},
        "eval": {"printed": _LATIN_LIKE_EVAL, "handwriting": _HAND_EVAL},
    },
    "greek": {
        "train": {"printed": _LATIN_LIKE_TRAIN, "handwriting": _HAND_TRAIN},
        "eval": {"printed": _LATIN_LIKE_EVAL, "handwriting": _HAND_EVAL},
    },
    "cyrillic": {
        "train": {"printed": _LATIN_LIKE_TRAIN, "handwriting": _HAND_TRAIN},
        "eval": {"printed": _LATIN_LIKE_EVAL, "handwriting": _HAND_EVAL},
    },
    "arabic": {
        "train": {"printed": ("NotoSansArabic-Regular.ttf", "NotoKufiArabic-Bold.ttf", "DejaVuSans.ttf")},
        "eval": {"printed": ("NotoNaskhArabic-Regular.ttf", "NotoNastaliqUrdu-Regular.ttf", "FreeSerif.ttf")},
    },
    "devanagari": {
        "train": {"printed": ("NotoSansDevanagari-Regular.ttf", "NotoSansDevanagari-Bold.ttf")},
        "eval": {"printed": ("NotoSerifDevanagari-Regular.ttf", "FreeSans.ttf", "FreeSerif.ttf")},
    },
    "cjk": {
        "train": {"printed": ("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc"), "handwriting": ("setofont.ttf",)},
        "eval": {
            "printed": ("NotoSerifCJK-Regular.ttc", "NotoSerifCJK-Bold.ttc"),
            "handwriting": ("KleeOne-Regular.ttf",),
        },
    },
    "hebrew": {
        "train": {"printed": ("NotoSansHebrew-Regular.ttf", "NotoSansHebrew-Bold.ttf", "DejaVuSans.ttf")},
        "eval": {"printed": ("NotoSerifHebrew-Regular.ttf", "NotoRashiHebrew-Regular.ttf", "FreeSerif.ttf")},
    },
    "thai": {
        "train": {"printed": ("NotoSansThai-Regular.ttf", "NotoSansThai-Bold.ttf", "NotoLoopedThai-Regular.ttf")},
        "eval": {"printed": ("NotoSerifThai-Regular.ttf", "NotoSerifThai-Bold.ttf", "FreeSerif.ttf")},
    },
}

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
INSTALL_HINT = (
    "apt-get install fonts-noto-core fonts-noto-cjk fonts-freefont-ttf fonts-dejavu-core "
    "fonts-liberation (and for handwriting: fonts-dkg-handwriting fonts-breip fonts-rufscript "
    "fonts-kaushanscript fonts-seto fonts-femkeklaver fonts-klee fonts-havana fonts-sjfonts)"
)
_SIZE = 64  # em size in pixels on the drawing canvas


def _pil():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:
        raise MissingDependencyError("PIL", "Rendering letters from fonts", "pip install pillow") from exc
    return Image, ImageDraw, ImageFont


@functools.lru_cache(maxsize=1)
def _font_index() -> dict:
    """File name -> path of every font file under :data:`FONT_DIRS` (and ``$EDGEDIGITS_FONT_DIRS``)."""
    dirs = [*os.environ.get("EDGEDIGITS_FONT_DIRS", "").split(os.pathsep), *FONT_DIRS]
    index = {}
    for d in dirs:
        root = Path(d).expanduser() if d else None
        if root is None or not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in (".ttf", ".otf", ".ttc"):
                index.setdefault(path.name, path)
    return index


@functools.lru_cache(maxsize=None)
def _font(name: str):
    path = _font_index().get(name)
    return None if path is None else _pil()[2].truetype(str(path), _SIZE)


@functools.lru_cache(maxsize=None)
def _raster(name: str, char: str) -> np.ndarray | None:
    """``char`` in font ``name`` as white-on-black uint8 ink, or None if the font has no glyph for it."""
    font = _font(name)
    if font is None:
        return None
    ink = _draw(font, char)
    if ink is None or not ink.any():
        return None
    missing = _draw(font, "\U0010fffd")  # a private-use code point: the font's "no glyph" box
    if missing is not None and missing.shape == ink.shape and np.array_equal(missing, ink):
        return None
    return ink


def _draw(font, char: str) -> np.ndarray | None:
    Image, ImageDraw, _ = _pil()
    left, top, right, bottom = font.getbbox(char)
    if right <= left or bottom <= top:
        return None
    pad = 8
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad - left, pad - top), char, font=font, fill=255)
    arr = np.asarray(img)
    ys, xs = np.nonzero(arr)
    if len(ys) == 0:
        return None
    return arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].copy()


def available(split: str, script: str, style: str) -> tuple[str, ...]:
    """The font files of ``script`` in ``style`` for ``split`` found on this machine with its letters."""
    names = FONTS[script][split].get(style, ())
    return tuple(n for n in names if n in _font_index() and _covers(n, script))


@functools.lru_cache(maxsize=None)
def _covers(name: str, script: str) -> bool:
    """Whether font ``name`` has glyphs for most of a sample of ``script``'s letters."""
    chars = SCRIPTS[script]
    sample = chars[:: max(1, len(chars) // 6)]
    return sum(_raster(name, c) is not None for c in sample) > len(sample) / 2


def coverage(split: str) -> dict:
    """``{script: {style: number of font files found}}`` for ``split`` (what :func:`letter` can draw)."""
    return {s: {st: len(available(split, s, st)) for st in STYLES} for s in SCRIPTS}


def letter(rng: np.random.Generator, split: str, script: str, style: str, canvas: int = 96) -> np.ndarray:
    """One letter of ``script`` (random character and font of ``split``) on a black ``canvas`` square.

    A handwriting-looking letter uses the script's handwriting fonts if it has any found, else its
    printed fonts, and is then bent and re-stroked (see the module doc).

    Raises:
        MissingDependencyError: Pillow is missing, or no font of ``script`` for ``split`` is installed.
    """
    fonts = available(split, script, style) or (available(split, script, "printed") if style == "handwriting" else ())
    if not fonts:
        raise MissingDependencyError(f"fonts for {script}", f"Drawing {script} letters ({split} fonts)", INSTALL_HINT)
    chars = SCRIPTS[script]
    for _ in range(50):
        ink = _raster(str(rng.choice(fonts)), str(rng.choice(list(chars))))
        if ink is not None:
            break
    else:
        raise MissingDependencyError(f"fonts for {script}", f"Drawing {script} letters ({split} fonts)", INSTALL_HINT)
    return _place(ink, rng, canvas, handwriting=style == "handwriting", split=split)


def _place(ink: np.ndarray, rng: np.random.Generator, canvas: int, handwriting: bool, split: str) -> np.ndarray:
    """Scale ``ink`` to about 60 % of the canvas, centre it, and for handwriting bend and re-stroke it."""
    h, w = ink.shape
    s = 0.6 * canvas / max(h, w)
    small = cv2.resize(ink, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((canvas, canvas), np.uint8)
    y0, x0 = (canvas - small.shape[0]) // 2, (canvas - small.shape[1]) // 2
    out[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    if handwriting:
        out = _bend(out, rng, strength=3.0 if split == "train" else 2.5, cells=4 if split == "train" else 3)
        k = int(rng.integers(-1, 3))  # thinner (-1), as drawn, or thicker pen
        if k < 0:
            out = cv2.erode(out, np.ones((3, 3), np.uint8))
        elif k > 0:
            out = cv2.dilate(out, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    return out


def _bend(img: np.ndarray, rng: np.random.Generator, strength: float, cells: int) -> np.ndarray:
    """A smooth random displacement (up to about ``strength`` pixels) from a ``cells`` x ``cells`` grid."""
    n = img.shape[0]
    dx, dy = (
        cv2.resize(rng.normal(0, strength, (cells, cells)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
        for _ in range(2)
    )
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    return cv2.remap(img, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0)


def digit(rng: np.random.Generator, split: str, d: int, canvas: int = 96) -> np.ndarray | None:
    """Digit ``d`` in a random Latin font of ``split`` (printed or handwriting), or None without fonts."""
    fonts = available(split, "latin", "printed") + available(split, "latin", "handwriting")
    if not fonts:
        return None
    ink = _raster(str(rng.choice(fonts)), str(d))
    return None if ink is None else _place(ink, rng, canvas, handwriting=rng.random() < 0.5, split=split)
