"""Page reading time and a quick count on generated *dev* pages (the reader's tuning set).

    python benchmarks/bench_pages.py [--pages 8] [--repeats 5]

Pages come from benchmarks/formgen.py, split 'dev' (MNIST **training** digits: this is what the
reader was tuned on, so the counts are development figures, not a measurement; the benchmark on
MNIST test digits is benchmarks/bench_forms.py). For each kind of page (A4 scan at 150 dpi,
A4 scan at 300 dpi, phone photo of the 150-dpi scan) it reports the median time of
``Recognizer.read`` on one core (ONNX Runtime FP32, one thread; every page read ``--repeats``
times, the median per page, then the median over pages), the handwritten digits and numbers read
right, and the false digits by what they lie on (printed structure, text, marks).

The machine's cores are shared, so a time alone says little: every page read is followed by
reads of a fixed set of 640x480 camera frames (the camera benchmark's kind), and the report gives
each page's time as a ratio to a camera frame's, measured side by side with the same reader.
Results: benchmarks/results/pages.json and pages.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from formgen import make_page, score_page  # noqa: E402

from edgedigits.recognizer import Recognizer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = (("A4 scan, 150 dpi", 150, False), ("A4 scan, 300 dpi", 300, False), ("phone photo (150-dpi page)", 150, True))


def camera_frames(n: int = 10) -> list:
    """Rendered 640x480 sheets of MNIST training digits (the shipped calibration sample)."""
    import numpy as np

    from edgedigits.camera.render import FrameJitter, render_scene
    from edgedigits.samples import load_sample

    images, labels = load_sample("calibration")
    rng = np.random.default_rng(5)
    return [FrameJitter(rng, (640, 480)).apply(render_scene(rng, images, labels))[0] for _ in range(n)]


def frame_ms(rec, frames) -> float:
    t = time.perf_counter()
    for f in frames:
        rec.read(f)
    return (time.perf_counter() - t) * 1000 / len(frames)


def run_kind(rec, name: str, dpi: int, photo: bool, pages: int, repeats: int, seed: int, frames) -> dict:
    times, ratios, total, false = [], [], Counter(), Counter()
    size = None
    for i in range(pages):
        page = make_page("dev", seed=seed, index=i, dpi=dpi, photo=photo)
        size = page.image.shape[1], page.image.shape[0]
        per, ratio = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            reading = rec.read(page.image)
            per.append((time.perf_counter() - t) * 1000)
            ratio.append(per[-1] / frame_ms(rec, frames))
        times.append(statistics.median(per))
        ratios.append(statistics.median(ratio))
        s = score_page(page, [(d.box, d.label) for d in reading], [(n.box, n.value) for n in reading.numbers])
        total.update(
            digits=s.digits,
            right=s.digits_right,
            numbers=s.numbers,
            numbers_right=s.numbers_right,
            structure=s.false_structure,
            false=s.false_total,
        )
        false.update(s.false)
    return {
        "kind": name,
        "size": list(size),
        "pages": pages,
        "ms_median": round(statistics.median(times), 1),
        "camera_frames_per_page": round(statistics.median(ratios), 1),
        "ms_per_page": [round(t, 1) for t in times],
        "digits": total["digits"],
        "digits_right": total["right"],
        "numbers": total["numbers"],
        "numbers_right": total["numbers_right"],
        "structure_as_digits": total["structure"],
        "false_digits": total["false"],
        "false_by_kind": dict(false),
    }


def markdown(res: dict) -> str:
    lines = [
        "# Page reading: time and dev-page counts",
        "",
        f"Machine: {res['machine']} (load average at start {res['load_average']}, end "
        f"{res['load_average_end']}: the cores are shared, so times vary between runs). One core, "
        f"ONNX Runtime FP32 with one thread, OpenCV one thread. Command: `{res['command']}`.",
        "",
        "Pages: benchmarks/formgen.py split 'dev' (MNIST training digits; the reader was tuned on these, "
        "so the counts are development figures; the measurement is benchmarks/bench_forms.py on the "
        "'test' split).",
        "",
        "'= camera frames': the page's time over a 640x480 camera frame's, read side by side with the "
        "same reader (the frame's own time in the next column), so a change in the machine's speed "
        "shows in both.",
        "",
        "| pages | size | median ms / page (1 core, as measured) | = camera frames | camera frame ms "
        "| digits read right | numbers read right | structure read as digits | false digits | false by kind |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["kinds"]:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["false_by_kind"].items())) or "-"
        frame = round(r["ms_median"] / r["camera_frames_per_page"], 2) if r["camera_frames_per_page"] else "-"
        lines.append(
            f"| {r['kind']} ({r['pages']}) | {r['size'][0]}x{r['size'][1]} | {r['ms_median']} | "
            f"{r['camera_frames_per_page']} | {frame} | "
            f"{r['digits_right']}/{r['digits']} ({100 * r['digits_right'] / max(1, r['digits']):.1f} %) | "
            f"{r['numbers_right']}/{r['numbers']} ({100 * r['numbers_right'] / max(1, r['numbers']):.1f} %) | "
            f"{r['structure_as_digits']} | {r['false_digits']} | {kinds} |"
        )
    lines += ["", "Target: an A4 page at 150 dpi in <= 60 ms on one core.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=8, help="pages of each kind (default 8)")
    ap.add_argument("--repeats", type=int, default=5, help="reads of each page for its time (default 5)")
    ap.add_argument("--seed", type=int, default=7, help="dev page series (default 7)")
    ap.add_argument("--name", default="pages", help="results file stem (default pages)")
    args = ap.parse_args(argv)
    if args.pages < 1 or args.repeats < 1:
        ap.error("--pages and --repeats must be at least 1")
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    cv2.setNumThreads(1)
    load = [round(v, 2) for v in os.getloadavg()]
    frames = camera_frames()
    with Recognizer(backend="onnxruntime", precision="fp32", threads=1) as rec:
        kinds = [
            run_kind(rec, name, dpi, photo, args.pages, args.repeats, args.seed, frames) for name, dpi, photo in KINDS
        ]
    res = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
        f"OpenCV {cv2.__version__}",
        "load_average": load,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "command": "python benchmarks/bench_pages.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "kinds": kinds,
    }
    from edgedigits._io import write_report

    text = markdown(res)
    write_report(RESULTS, args.name, res, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
