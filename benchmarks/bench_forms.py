"""Form-page benchmark: edgedigits against two general OCRs on generated A4 forms and their photos.

    python benchmarks/bench_forms.py                 # the full run (15-25 min on 2 busy shared cores)
    python benchmarks/bench_forms.py --scans 4 --photos 4 --scans300 0 --name forms_smoke   # a quick look
    python benchmarks/bench_forms.py --name forms_before                                     # the "before" file

Flags: --scans N (A4 scans at 150 dpi, default 10), --photos N (phone photos of pages 0..N-1 of
the same series, i.e. of the first N scans, default 10), --scans300 N (A4 scans at 300 dpi, default 4), --seed S (page series,
default 12), --ocr LIST (comma-separated from rapidocr,tesseract or 'none'; default both),
--name STEM (results file stem, default 'forms'), --out DIR (results folder, default
benchmarks/results).

Pages come from benchmarks/formgen.py, split 'test' (MNIST **test** digits only). Each page is
read by edgedigits, by RapidOCR (rapidocr-onnxruntime 1.4.4 with its bundled PP-OCRv4 models)
and by Tesseract 5 (--psm 11, digits whitelist), each on one thread, one page after another in
the same run; each is scored by formgen.score_page: handwritten digits read right, numbers read
completely right, false digits per page by what they lie on (printed structure = a box, line,
comb divider, table cell, grid or checkbox that is not a handwritten digit), time per page.

The OCRs are optional: ``pip install rapidocr-onnxruntime==1.4.4`` and ``apt-get install
tesseract-ocr``; a missing one is skipped with a note in the results. When
benchmarks/results/forms_before.json exists, the report adds edgedigits' "before" figures next
to the new ones. Results: benchmarks/results/<name>.json and <name>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from formgen import make_page, score_page  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OCRS = ("rapidocr", "tesseract")
THREAD_VARS = ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread() -> None:
    """One thread for every reader: OpenCV here, OpenMP in the libraries loaded after this and in
    subprocesses (Tesseract). ONNX Runtime and OpenVINO get threads=1 when their sessions open."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    cv2.setNumThreads(1)


TESSERACT_ARGS = ["--psm", "11", "-c", "tessedit_char_whitelist=0123456789"]


# ----------------------------------------------------------------------------------------------
# Readers: image -> (digits as (box, label), numbers as (box, value))


def edgedigits_reader(model=None):
    """edgedigits on one thread, through the one reader when it exists, else the camera Pipeline."""
    from edgedigits.recognizer import Recognizer

    rec = Recognizer(model, threads=1)
    read, path = _read_with(rec)
    info = rec.info
    return read, f"edgedigits ({path}; {info.backend}/{info.device}/{info.precision}, {info.artifact})"


def _read_with(rec):
    """The one reader as the benchmark scores it: (box, label) per digit, (box, value) per number."""

    def read(image):
        r = rec.read(image)
        return [(d.box, d.label) for d in r.accepted], [(n.box, n.value) for n in r.numbers]

    return read, "Recognizer.read"


def text_boxes_to_reading(boxes):
    """Digits and numbers from OCR text boxes.

    Args:
        boxes: (x, y, w, h, text, chars) per text box; ``chars`` = one (x, y, w, h) per character
            when the OCR gives them, else None: the box is then split into characters of equal width.

    Returns:
        (digits, numbers): every digit character is a digit, every run of digits a number.
    """
    digits, numbers = [], []
    for x, y, w, h, text, chars in boxes:
        if not text:
            continue
        if chars is None or len(chars) != len(text):
            cw = w / len(text)
            chars = [(x + i * cw, y, cw, h) for i in range(len(text))]
        chars = [tuple(int(round(v)) for v in c) for c in chars]
        for ch, box in zip(text, chars):
            if ch.isdigit():
                digits.append((box, int(ch)))
        for m in re.finditer(r"\d+", text):
            a, b = m.span()
            numbers.append((_union(chars[a:b]), m.group()))
    return digits, numbers


def _union(boxes):
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def _quad_box(quad):
    q = np.asarray(quad, np.float32)
    (x0, y0), (x1, y1) = q.min(0), q.max(0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def rapidocr_reader():
    """RapidOCR with its bundled models on one thread, or (None, why) when it is not installed."""
    try:
        from importlib.metadata import version

        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None, "RapidOCR not installed (pip install rapidocr-onnxruntime==1.4.4)"
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(image):
        result, _ = engine(image, return_word_box=True)
        boxes = []
        for item in result or []:
            quad, text = item[0], item[1].replace(" ", "")
            chars = [_quad_box(c) for c in item[3]] if len(item) > 3 and item[3] else None
            boxes.append((*_quad_box(quad), text, chars))
        return text_boxes_to_reading(boxes)

    return read, (
        f"RapidOCR {version('rapidocr-onnxruntime')} (bundled PP-OCRv4 det + rec models, 1 thread, "
        "default settings, character boxes from return_word_box)"
    )


def tesseract_reader():
    """Tesseract's command line on one thread (TSV words), or (None, why) when it is not installed."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None, "Tesseract not installed (apt-get install tesseract-ocr)"
    ver = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def read(image):
        ok, png = cv2.imencode(".png", image)
        out = subprocess.run(
            [exe, "stdin", "stdout", *TESSERACT_ARGS, "tsv"],
            input=png.tobytes(),
            capture_output=True,
            env=env,
            check=True,
        ).stdout.decode()
        boxes = []
        for line in out.splitlines()[1:]:
            f = line.split("\t")
            if len(f) == 12 and f[0] == "5" and f[11].strip():
                boxes.append((int(f[6]), int(f[7]), int(f[8]), int(f[9]), f[11].strip(), None))
        return text_boxes_to_reading(boxes)

    return read, f"{ver} ({' '.join(TESSERACT_ARGS)}, OMP_THREAD_LIMIT=1)"


# ----------------------------------------------------------------------------------------------
# The run


def page_sets(args) -> list[dict]:
    return [
        s
        for s in (
            {"name": "scans 150 dpi", "dpi": 150, "photo": False, "pages": args.scans},
            {"name": "photos of the 150 dpi scans", "dpi": 150, "photo": True, "pages": args.photos},
            {"name": "scans 300 dpi", "dpi": 300, "photo": False, "pages": args.scans300},
        )
        if s["pages"] > 0
    ]


class Tally:
    """One reader's totals over one page set."""

    def __init__(self):
        self.pages, self.ms, self.empty, self.structure_pages = 0, [], 0, 0
        self.sums = {"digits": 0, "digits_right": 0, "digits_wrong": 0, "numbers": 0, "numbers_right": 0}
        self.false, self.by_kind, self.numbers_by_kind = {}, {}, {}

    def add(self, score, ms: float, reported: int) -> None:
        self.pages += 1
        self.ms.append(ms)
        self.empty += reported == 0
        self.structure_pages += score.false_structure > 0
        for k in self.sums:
            self.sums[k] += getattr(score, k)
        for k, v in score.false.items():
            self.false[k] = self.false.get(k, 0) + v
        for mine, theirs in ((self.by_kind, score.digits_by_kind), (self.numbers_by_kind, score.numbers_by_kind)):
            for k, (r, t) in theirs.items():
                a, b = mine.get(k, [0, 0])
                mine[k] = [a + r, b + t]

    def result(self) -> dict:
        s = self.sums
        false = sum(self.false.values())
        structure = sum(v for k, v in self.false.items() if k.startswith("structure"))
        return {
            "pages": self.pages,
            **s,
            "digits_read_right": round(s["digits_right"] / max(1, s["digits"]), 4),
            "numbers_read_right": round(s["numbers_right"] / max(1, s["numbers"]), 4),
            "false_per_page": round(false / max(1, self.pages), 2),
            "structure_as_digit": structure,
            "pages_with_structure_as_digit": self.structure_pages,
            "pages_with_no_output": self.empty,
            "false_by_kind": dict(sorted(self.false.items())),
            "digits_by_field": {k: round(r / t, 4) for k, (r, t) in sorted(self.by_kind.items())},
            "numbers_by_field": {k: round(r / t, 4) for k, (r, t) in sorted(self.numbers_by_kind.items())},
            "ms_per_page_median": round(statistics.median(self.ms), 1),
            "ms_per_page_p90": round(float(np.percentile(self.ms, 90)), 1),
        }


def run(args, readers: dict) -> dict:
    """Every page set through every reader, page by page (readers interleaved on each page)."""
    out = {}
    for spec in page_sets(args):
        tallies = {name: Tally() for name in readers}
        for i in range(spec["pages"]):
            page = make_page("test", args.seed, i, dpi=spec["dpi"], photo=spec["photo"])
            for name, read in readers.items():
                t = time.perf_counter()
                digits, numbers = read(page.image)
                ms = (time.perf_counter() - t) * 1000
                tallies[name].add(score_page(page, digits, numbers), ms, len(digits))
            print(f"{spec['name']}: page {i + 1}/{spec['pages']}", file=sys.stderr, flush=True)
        results = {name: t.result() for name, t in tallies.items()}
        ed = results["edgedigits"]["ms_per_page_median"]
        for r in results.values():
            r["time_vs_edgedigits"] = round(r["ms_per_page_median"] / ed, 1) if ed > 0 else None
        out[spec["name"]] = {**spec, "readers": results}
    return out


def _pct(v) -> str:
    return f"{100 * v:.1f} %"


def markdown(res: dict) -> str:
    lines = [
        "# Form-page benchmark",
        "",
        f"Pages: benchmarks/formgen.py, split 'test' (handwriting = MNIST test digits only), seed "
        f"{res['seed']}; photos are phone-photo variants of the first scans (desk, perspective, shadow, "
        f"uneven light, blur, JPEG). Machine: {res['machine']}, every reader on one thread, pages read "
        f"one after another in one run (load average at start {res['load_average']}, end "
        f"{res['load_average_end']}: the 2 cores are shared, so times vary between runs). "
        f"Command: `{res['command']}`.",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in res["readers"].items()]
    lines += [f"- not run: {why}" for why in res["skipped"]]
    lines += [
        "",
        "'Structure as digit' = a reported digit lying on a printed box, line, comb divider, table "
        "cell, grid or checkbox and not on a handwritten digit ('digit' = a split or merged read of "
        "handwritten digits, 'mark' = a hand-printed letter, tick, cross or signature, 'text' = printed "
        "text). OCR: RapidOCR's own character boxes, Tesseract's word boxes split into characters of "
        "equal width; a number = a run of digits in one text box. A number is completely right when "
        "its box matches and every digit is right: a date comb (DD MM YYYY) is three numbers, and "
        "numbers on squared paper are separated by a blank square.",
        "",
    ]
    before = res.get("before")
    for name, s in res["sets"].items():
        lines += [
            f"## {name} ({s['pages']} pages)",
            "",
            "| reader | digits read right | wrong label | numbers completely right | false digits / page "
            "| structure as digit (pages) | pages with no output | ms / page (median) | time vs edgedigits |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        rows = list(s["readers"].items())
        same_pages = (
            before
            and name in before["sets"]
            and before["seed"] == res["seed"]
            and before["sets"][name]["pages"] == s["pages"]
        )
        if same_pages:
            old = before["sets"][name]["readers"]
            rows.insert(1, ("edgedigits BEFORE (forms_before.json)", old["edgedigits"]))
            rows += [
                (f"{reader} (not run now: from forms_before.json, same pages, times from that run)", r)
                for reader, r in old.items()
                if reader != "edgedigits" and reader not in s["readers"]
            ]
        for reader, r in rows:
            ratio = r.get("time_vs_edgedigits")
            lines.append(
                f"| {reader} | {_pct(r['digits_read_right'])} ({r['digits_right']}/{r['digits']}) | "
                f"{r['digits_wrong']} | {_pct(r['numbers_read_right'])} ({r['numbers_right']}/{r['numbers']}) | "
                f"{r['false_per_page']} | {r['structure_as_digit']} ({r['pages_with_structure_as_digit']}) | "
                f"{r['pages_with_no_output']} | {r['ms_per_page_median']} | "
                f"{'-' if ratio is None or reader.startswith('edgedigits') else f'{ratio}x'} |"
            )
        kinds = sorted({k for _, r in rows for k in r["digits_by_field"]})
        lines += [
            "",
            "Digits read right / numbers completely right, by the field they were written in:",
            "",
            "| reader | " + " | ".join(kinds) + " |",
            "|---|" + "---|" * len(kinds),
        ]
        for reader, r in rows:
            lines.append(
                f"| {reader} | "
                + " | ".join(
                    f"{_pct(r['digits_by_field'].get(k, 0))} / {_pct(r['numbers_by_field'].get(k, 0))}" for k in kinds
                )
                + " |"
            )
        lines += [
            "",
            "False digits by what they lie on: "
            + "; ".join(
                f"{reader}: " + (", ".join(f"{k} {v}" for k, v in r["false_by_kind"].items()) or "none")
                for reader, r in rows
            ),
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=10)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--scans300", type=int, default=4)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--ocr", default=",".join(OCRS), help="comma-separated from rapidocr,tesseract, or none")
    ap.add_argument("--model", default=None, help="an edgedigits bundle (default: the shipped model)")
    ap.add_argument("--name", default="forms", help="results file stem")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = ap.parse_args(argv)
    if min(args.scans, args.photos, args.scans300) < 0:
        ap.error("--scans, --photos and --scans300 must be 0 or more")
    wanted = [] if args.ocr == "none" else [o.strip() for o in args.ocr.split(",") if o.strip()]
    unknown = sorted(set(wanted) - set(OCRS))
    if unknown:
        ap.error(f"--ocr: unknown {', '.join(unknown)}; choose from {', '.join(OCRS)} or none")
    one_thread()
    load = [round(v, 2) for v in os.getloadavg()]
    read, label = edgedigits_reader(args.model)
    readers, labels, skipped = {"edgedigits": read}, {"edgedigits": label}, []
    for name in wanted:
        fn, text = {"rapidocr": rapidocr_reader, "tesseract": tesseract_reader}[name]()
        if fn is None:
            skipped.append(text)
            print(f"skipping {name}: {text}", file=sys.stderr)
        else:
            readers[name], labels[name] = fn, text
    res = {
        "seed": args.seed,
        "readers": labels,
        "skipped": skipped,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"OpenCV {cv2.__version__}",
        "load_average": load,
        "command": "python benchmarks/bench_forms.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    res["sets"] = run(args, readers)
    res["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    return report(res, args.out, args.name, "forms_before", markdown)


def report(res: dict, out: Path, name: str, before_stem: str, markdown) -> int:
    """Write ``res`` as <name>.json and .md (the markdown beside ``before_stem``.json when that exists,
    unless this run is the before run itself), print the markdown; returns the exit code 0."""
    before = out / f"{before_stem}.json"
    if name != before_stem and before.exists():
        res["before"] = json.loads(before.read_text())
    from edgedigits._io import write_report

    text = markdown(res)
    write_report(out, name, {k: v for k, v in res.items() if k != "before"}, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
