"""`edgedigits predict IMAGE...`: read the digit in each image file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "predict"
HELP = "classify image files that each hold one digit (28x28 crops or photos)"

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}


def add_arguments(p) -> None:
    from . import backend_name, probability
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument("--backend", type=backend_name, default="auto", help="inference backend (default auto)")
    p.add_argument("--precision", default="auto", help="fp32, int8 or auto")
    p.add_argument("--min-confidence", type=probability, default=None,
                   help="below this confidence an image is reported as not a digit "
                        "(default: the bundle's calibrated threshold)")
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")


def _expand(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
        else:
            out.append(p)
    return out


def read_image(path: Path):
    """The image at ``path`` as an array, or raise ValueError with one readable reason."""
    import cv2
    import numpy as np
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
    from ..camera.sources import quiet_opencv
    with quiet_opencv():   # a truncated file makes OpenCV log a warning; the sentence below says it
        image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("is not an image OpenCV can decode (PNG, JPEG, BMP, TIFF, WebP, PNM)")
    return image


def run(args) -> int:
    import numpy as np

    from ..preprocess import prepare_single
    from ..recognizer import Recognizer
    rec = Recognizer(args.model, backend=args.backend, precision=args.precision,
                     min_confidence=args.min_confidence)
    failures = 0
    files = _expand(args.images)
    if not files:
        from ..errors import UsageError
        raise UsageError("no image files were found in the given folders; pass image files or folders with images.")
    for path in files:
        try:
            image = read_image(path)
            crop = prepare_single(image)
        except ValueError as exc:  # one bad file never stops the others (InputError is a ValueError)
            failures += 1
            message = str(exc).rstrip(".")
            if args.json:
                print(json.dumps({"file": str(path), "error": message}))
            else:
                print(f"{path}: error: {message}", file=sys.stderr)
            continue
        print(_verdict(path, crop, rec, args.json))
    return 1 if failures else 0


def _verdict(path: Path, crop, rec, as_json: bool) -> str:
    """One output line for a readable image: its digit, or why it is not taken as one."""
    if not crop.any():
        label, conf, why = None, 0.0, "no digit (the image has no ink)"
    else:
        result = rec.classify(crop[None])
        label, conf = int(result.labels[0]), float(result.confidences[0])
        why = (f"not a digit (best guess {label} at {conf:.1%}, below min_confidence {rec.min_confidence:.1%})"
               if result.rejected[0] else None)
    if as_json:
        return json.dumps({"file": str(path), "label": label, "confidence": round(conf, 4),
                           "rejected": why is not None})
    return f"{path}: {why}" if why else f"{path}: {label} ({conf:.1%})"
