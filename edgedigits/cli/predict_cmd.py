"""`edgedigits predict IMAGE...`: read the digits and numbers in image files (crops, photos, pages)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .._io import atomic_path
from ..errors import UsageError
from . import backend_name, probability

NAME = "predict"
HELP = "read the digits and numbers in image files: single-digit crops, photos, whole scanned or photographed pages"
DESCRIPTION = """\
Reads every number in each image with the same reader as the camera loop and the SDK's
Recognizer.read: a 28x28 MNIST-like crop, a photo of one digit, or a whole page (a scan at
150-300 dpi or a phone photo of a page on a desk). There is no separate page mode: printed
lines, boxes, comb fields, table cells, grids and checkboxes are always set aside, and the
digits of one comb field, box, cell or underline are one number. Images over 2.6 million pixels
are read at that size (boxes are still in the input's pixels); images over 100 million pixels
are refused.

Text output, one line per file: the numbers with their digits' lowest confidence and box
(x,y wxh), e.g. `page.png: 4071 (97.2%) at 120,88 160x40; 12 (99.0%) at ...`."""


def add_arguments(p) -> None:
    p.description = DESCRIPTION
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument("--backend", type=backend_name, default="auto", help="inference backend (default auto)")
    p.add_argument("--precision", default="auto", help="fp32, int8 or auto")
    p.add_argument(
        "--min-confidence",
        type=probability,
        default=None,
        help="below this confidence a mark is reported as not a digit (default: the bundle's calibrated threshold)",
    )
    p.add_argument(
        "--json", action="store_true", help="one JSON object per file on stdout: file, digits, numbers, rejected, size"
    )
    p.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="ANNOTATED.png",
        help="write a copy of the (single) image with what was read drawn on it",
    )


def _expand(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
        else:
            out.append(p)
    return out


def _check_save(path: Path | None, files: list[Path]) -> None:
    if path is None:
        return
    if len(files) != 1:
        raise UsageError(f"--save draws on one image, but {len(files)} were given; pass a single image file.")
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
        raise UsageError(f"--save {path}: the name must end in .png, .jpg, .bmp, .tif or .webp.")
    if not path.parent.is_dir():
        raise UsageError(f"--save {path}: the folder {path.parent} does not exist; create it first.")


def run(args) -> int:
    from ..images import read_image  # imports cv2
    from ..recognizer import Recognizer  # imports cv2

    files = _expand(args.images)
    if not files:
        raise UsageError("no image files were found in the given folders; pass image files or folders with images.")
    _check_save(args.save, files)
    rec = Recognizer(args.model, backend=args.backend, precision=args.precision, min_confidence=args.min_confidence)
    failures = 0
    for path in files:
        try:
            image = read_image(path)
            reading = rec.read(image)
        except ValueError as exc:  # one bad file never stops the others (InputError is a ValueError)
            failures += 1
            message = str(exc).rstrip(".")
            if args.json:
                print(json.dumps({"file": str(path), "error": message}))
            else:
                print(f"{path}: error: {message}", file=sys.stderr)
            continue
        print(json.dumps({"file": str(path), **reading.to_dict()}) if args.json else f"{path}: {describe(reading)}")
        if args.save is not None:
            save_annotated(args.save, image, reading)
    return 1 if failures else 0


def describe(reading) -> str:
    """One line for a reading: its numbers with confidence and box, or why there is none."""
    if reading.numbers:
        parts = []
        for n in reading.numbers:
            conf = min(reading.digits[i].confidence for i in n.digits)
            x, y, w, h = n.box
            parts.append(f"{n.value} ({conf:.1%}) at {x},{y} {w}x{h}")
        return "; ".join(parts)
    if reading.digits:
        best = max(reading.digits, key=lambda d: d.confidence)
        return f"no digit (best guess {best.label} at {best.confidence:.1%}: {best.rejected})"
    return "no digit (no ink that could be one)"


def save_annotated(path: Path, image, reading) -> None:
    """Write ``image`` with the numbers (blue) and digits (green, label and confidence) drawn, atomically."""
    import cv2

    from ..preprocess import to_gray  # imports cv2

    gray = to_gray(image)
    out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    thick = max(1, round(max(out.shape[:2]) / 800))
    for n in reading.numbers:
        x, y, w, h = n.box
        cv2.rectangle(out, (x - 3, y - 3), (x + w + 3, y + h + 3), (255, 120, 0), thick)
        cv2.putText(
            out,
            n.value,
            (x, y + h + 8 + 12 * thick),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thick,
            (255, 120, 0),
            thick,
            cv2.LINE_AA,
        )
    for d in reading.digits:
        x, y, w, h = d.box
        color = (0, 170, 0) if d.rejected is None else (0, 0, 220)
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        text = f"{d.label} {d.confidence:.0%}" if d.rejected is None else "x"
        cv2.putText(out, text, (x, max(10, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, color, thick, cv2.LINE_AA)
    ok, data = cv2.imencode(path.suffix.lower(), out)
    if not ok:
        raise UsageError(f"--save {path}: OpenCV cannot write this format; use .png or .jpg.")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
