"""The real handwriting sets (../shared/data/real/, EVALUATION ONLY) read by edgedigits as a user would.

    python benchmarks/eval_real_pages.py                       # -> benchmarks/results/real_pages.{json,md}
    python benchmarks/eval_real_pages.py --name real_pages_before

For each set (semeion: 1,593 digits by about 80 writers; hwd1000: 1,000 pen-on-canvas digits):
- **alone**: each digit as its own small image (black ink on white paper, a margin around it)
  read by the reader, the way `edgedigits predict digit.png` would see it; the answer is the
  most confident digit reported, none = rejected. Next to it, the classifier alone on the set's
  28x28 images (``Recognizer.classify``, the model's calibrated threshold), to tell the reader's
  losses from the model's. When the reader reports several marks, the largest is the answer.
- **on forms**: every digit of the set pasted once into a field of a generated A4 form
  (benchmarks/formgen.py layouts: comb fields, boxes, underlines, table cells, squared paper),
  as a 150 dpi scan and as a phone photo of it, read page by page and scored like the form
  benchmark (digits read right, not reported, numbers completely right, false digits / page).

Nothing is chosen or tuned on these sets; this script only measures. When
benchmarks/results/real_pages_before.json exists the report puts its figures beside the new ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_forms import Tally, _read_with, one_thread, report  # noqa: E402
from formgen import DigitSource, make_page, score_page  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# beside MNIST when $EDGEDIGITS_DATA names it, else ../shared/data/real beside the repository
REAL = (
    Path(os.environ["EDGEDIGITS_DATA"]).parent / "real"
    if os.environ.get("EDGEDIGITS_DATA")
    else Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
)
SETS = ("semeion", "hwd1000")


def load_set(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, white ink on black; labels) of one real set."""
    path = folder / name / f"{name}.npz"
    if not path.exists():
        raise SystemExit(f"{path} is missing: pass --real with the folder that holds {', '.join(SETS)}.")
    with np.load(path) as d:
        return d["images"], d["labels"].astype(int)


def as_paper(image28: np.ndarray, scale: int = 3) -> np.ndarray:
    """One digit as a small scan: dark ink on white paper, ``scale`` times larger, a margin around it."""
    big = cv2.resize(image28, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    big = cv2.copyMakeBorder(big, 12 * scale, 12 * scale, 12 * scale, 12 * scale, cv2.BORDER_CONSTANT, value=0)
    return cv2.cvtColor(255 - big, cv2.COLOR_GRAY2BGR)


def alone(read, rec, images, labels) -> dict:
    right = wrong = rejected = 0
    for img, label in zip(images, labels.tolist()):
        digits, _ = read(as_paper(img))
        if not digits:
            rejected += 1
            continue
        _, got = max(digits, key=lambda d: d[0][2] * d[0][3])  # the largest mark read is "the" digit
        right += got == label
        wrong += got != label
    c = rec.classify(images)
    n = len(labels)
    return {
        "digits": n,
        "read_right": round(right / n, 4),
        "wrong": wrong,
        "rejected": rejected,
        "rejected_rate": round(rejected / n, 4),
        "classifier_alone": {
            "read_right": round(float(((c.labels == labels) & c.accepted).mean()), 4),
            "rejected_rate": round(float(c.rejected.mean()), 4),
        },
    }


def on_forms(read, images, labels, name: str, seed: int, photo: bool) -> dict:
    """Every image pasted once into generated forms (layouts from the 'test' page series ``seed``)."""
    source = DigitSource(images, labels, name, sequential=True)
    tally, i = Tally(), 0
    while source.drawn < len(images):
        page = make_page("test", seed, i, dpi=150, photo=photo, source=source)
        t = time.perf_counter()
        digits, numbers = read(page.image)
        tally.add(score_page(page, digits, numbers), (time.perf_counter() - t) * 1000, len(digits))
        i += 1
    r = tally.result()
    r["not_reported"] = r["digits"] - r["digits_right"] - r["digits_wrong"]
    return r


def _pct(v) -> str:
    return f"{100 * v:.1f} %"


def markdown(res: dict) -> str:
    before = res.get("before")
    lines = [
        "# Real handwriting through the reader (evaluation only)",
        "",
        f"Sets: {REAL} (see its README; never used to train, tune or choose anything). Reader: "
        f"{res['reader']}. Command: `{res['command']}`.",
        "",
        "## Each digit alone",
        "",
        "Each digit as its own small image (black on white, 3x, a margin), read whole; the classifier "
        "alone = `Recognizer.classify` on the set's 28x28 images with the calibrated threshold.",
        "",
        "| set | run | read right | wrong | rejected | classifier alone: right / rejected |",
        "|---|---|---|---|---|---|",
    ]
    runs = [(res["name"], res)] + ([("real_pages_before", before)] if before else [])
    for name in SETS:
        for tag, r in runs:
            a = r["sets"].get(name, {}).get("alone")
            if a:
                lines.append(
                    f"| {name} | {tag} | {_pct(a['read_right'])} | {a['wrong']} | {_pct(a['rejected_rate'])} | "
                    f"{_pct(a['classifier_alone']['read_right'])} / "
                    f"{_pct(a['classifier_alone']['rejected_rate'])} |"
                )
    lines += [
        "",
        "## Every digit pasted into generated forms (150 dpi)",
        "",
        "| set | variant | run | pages | digits read right | wrong | not reported | numbers completely right "
        "| false digits / page | structure as digit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SETS:
        for variant in ("scan", "photo"):
            for tag, r in runs:
                f = r["sets"].get(name, {}).get(variant)
                if f:
                    lines.append(
                        f"| {name} | {variant} | {tag} | {f['pages']} | {_pct(f['digits_read_right'])} | "
                        f"{f['digits_wrong']} | {f['not_reported']} | {_pct(f['numbers_read_right'])} | "
                        f"{f['false_per_page']} | {f['structure_as_digit']} |"
                    )
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REAL, help="folder with semeion/ and hwd1000/")
    ap.add_argument("--seed", type=int, default=31, help="page layouts (formgen 'test' series)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--name", default="real_pages", help="results file stem")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = ap.parse_args(argv)
    one_thread()
    from edgedigits.recognizer import Recognizer

    rec = Recognizer(args.model, threads=1)
    read, path = _read_with(rec)
    info = rec.info
    res = {
        "name": args.name,
        "reader": f"edgedigits {path} ({info.backend}/{info.device}/{info.precision}, {info.artifact})",
        "command": "python benchmarks/eval_real_pages.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sets": {},
    }
    for name in SETS:
        images, labels = load_set(args.real, name)
        res["sets"][name] = {
            "alone": alone(read, rec, images, labels),
            "scan": on_forms(read, images, labels, name, args.seed, photo=False),
            "photo": on_forms(read, images, labels, name, args.seed, photo=True),
        }
        print(f"{name} done", file=sys.stderr, flush=True)
    return report(res, args.out, args.name, "real_pages_before", markdown)


if __name__ == "__main__":
    sys.exit(main())
