"""Benchmark of the whole camera loop on a rendered 640x480 video with 3-6 digits per frame.

    python benchmarks/bench_camera.py [--frames 600] [--repeats 3]

Measures, on 1 thread and on all cores:
- processing FPS: frames already decoded in memory -> find digits -> one batch through the
  model -> numbers (what the loop does per frame, without decoding or drawing);
- FPS including decoding: the real `edgedigits camera --source video.mp4 --json` loop
  (VideoFileSource + pipeline + JSON lines to a null sink);
- per-frame latency p50 / p95 of processing;
and, against the rendered ground truth, the fraction of digit instances read with the right
label and the false detections per frame (by kind of mark), over a sweep of --min-confidence.

Digits come from the full MNIST test set when it is on this machine, else from the shipped
held-out sample of it. Results: benchmarks/results/camera.json and camera.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from edgedigits.camera.loop import DEFAULT_MIN_CONFIDENCE, Options, Pipeline, run_camera
from edgedigits.camera.render import Score, _iou, render_video, score
from edgedigits.recognizer import Recognizer

RESULTS = Path(__file__).resolve().parent / "results"
SWEEP = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)


def digits_source():
    from edgedigits.data import load_mnist
    from edgedigits.errors import DataError
    for folder in (os.environ.get("EDGEDIGITS_DATA"), Path(__file__).resolve().parents[2] / "shared/data/mnist"):
        try:
            if folder:
                return load_mnist("test", folder), "MNIST test set (10,000 digits)"
        except DataError:
            pass
    from edgedigits.export.samples import load_sample
    return load_sample("heldout"), "shipped held-out sample of the MNIST test set (1,000 digits)"


def decode_all(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def time_processing(pipeline, frames) -> tuple[float, list[float], list]:
    """(seconds, per-frame latencies in ms, per-frame results) of the pipeline over ``frames``."""
    for f in frames[:20]:                      # warm-up
        pipeline(f)
    lat, results = [], []
    t0 = time.perf_counter()
    for f in frames:
        a = time.perf_counter()
        results.append(pipeline(f))
        lat.append((time.perf_counter() - a) * 1000)
    return time.perf_counter() - t0, lat, results


def time_with_decoding(recognizer, path, min_confidence) -> float:
    class Null(io.TextIOBase):
        def write(self, s):
            return len(s)
    stderr, sys.stderr = sys.stderr, io.StringIO()       # the loop's summary line
    try:
        summary = run_camera(Options(source=str(path), headless=True, json=True, min_confidence=min_confidence),
                             recognizer, out=Null())
    finally:
        sys.stderr = stderr
    return summary.fps


def accuracy(recognizer, frames, truth) -> dict:
    """Read rate and false detections per frame for each --min-confidence of the sweep."""
    pipeline = Pipeline(recognizer, min_confidence=0.0)
    results = [pipeline(f) for f in frames]
    sweep = {}
    for t in SWEEP:
        total, kinds = Score(), Counter()
        for res, tr in zip(results, truth):
            kept = [d for d in res.digits if d.confidence >= t]
            s = score(tr.digits, [d.box for d in kept], [d.label for d in kept])
            total.add(s)
            for d in kept:                    # attribute each false detection to what it hit
                if max((_iou(g.box, d.box) for g in tr.digits), default=0) >= 0.3:
                    continue
                hit = max(((_iou(b, d.box), kind.split()[0]) for b, kind in tr.marks), default=(0, ""))
                kinds[hit[1] if hit[0] > 0.2 else "other"] += 1
        sweep[t] = {"read_rate": round(total.read_rate, 4), "wrong": total.wrong,
                    "missed": total.digits - total.correct - total.wrong,
                    "false_per_frame": round(total.false_per_frame, 4), "false_by_kind": dict(kinds),
                    "digits": total.digits, "frames": total.frames}
    letters = Counter()
    for res, tr in zip(results, truth):       # which letters are confidently read as digits
        for d in res.digits:
            for b, kind in tr.marks:
                if kind.startswith("letter") and _iou(b, d.box) > 0.2 and d.confidence >= DEFAULT_MIN_CONFIDENCE:
                    letters[kind.split()[1]] += 1
    return {"sweep": sweep, "letters_kept_at_default": dict(letters)}


def measure(path, frames, repeats, threads, model) -> dict:
    cv2.setNumThreads(threads)
    rec = Recognizer(model, backend="onnxruntime", threads=threads)
    pipeline = Pipeline(rec)
    proc, p50, p95, dec = [], [], [], []
    for _ in range(repeats):
        seconds, lat, _ = time_processing(pipeline, frames)
        proc.append(len(frames) / seconds)
        p50.append(float(np.percentile(lat, 50)))
        p95.append(float(np.percentile(lat, 95)))
        dec.append(time_with_decoding(rec, path, DEFAULT_MIN_CONFIDENCE))
    rec.close()
    return {"threads": threads, "processing_fps": round(statistics.median(proc), 1),
            "fps_with_decoding": round(statistics.median(dec), 1),
            "latency_ms_p50": round(statistics.median(p50), 3), "latency_ms_p95": round(statistics.median(p95), 3),
            "runs": {"processing_fps": [round(v, 1) for v in proc], "fps_with_decoding": [round(v, 1) for v in dec]}}


def markdown(res: dict) -> str:
    lines = ["# Camera loop benchmark", "",
             f"Video: {res['video']}. Digits: {res['digits_from']}. Machine: {res['machine']} "
             f"(load average at start {res['load_average']}). Backend: onnxruntime FP32. Medians of "
             f"{res['repeats']} runs. Command: `{res['command']}`.", "",
             "| threads | processing FPS | FPS incl. decoding | latency p50 (ms) | latency p95 (ms) |",
             "|---|---|---|---|---|"]
    for r in res["speed"]:
        lines.append(f"| {r['threads']} | {r['processing_fps']} | {r['fps_with_decoding']} | "
                     f"{r['latency_ms_p50']} | {r['latency_ms_p95']} |")
    lines += ["", f"Targets: >= 300 FPS processing; >= 97 % of digits read right; <= 0.05 false detections "
                  f"per frame. Default --min-confidence: {DEFAULT_MIN_CONFIDENCE}.", "",
              "| min confidence | digits read right | wrong label | missed | false / frame | false by kind |",
              "|---|---|---|---|---|---|"]
    for t, s in res["accuracy"]["sweep"].items():
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["false_by_kind"].items())) or "-"
        lines.append(f"| {t} | {100 * s['read_rate']:.2f} % | {s['wrong']} | {s['missed']} | "
                     f"{s['false_per_frame']} | {kinds} |")
    lines += ["", f"Letters kept at the default threshold (detections over {res['frames']} frames): "
                  f"{res['accuracy']['letters_kept_at_default'] or 'none'}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    load = [round(v, 2) for v in os.getloadavg()]
    (images, labels), source = digits_source()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sheets.mp4"
        truth = render_video(path, images, labels, frames=args.frames, seed=args.seed)
        frames = decode_all(path)
        speed = [measure(path, frames, args.repeats, t, args.model) for t in (1, os.cpu_count() or 1)]
        cv2.setNumThreads(1)
        rec = Recognizer(args.model, backend="onnxruntime", threads=1)
        acc = accuracy(rec, frames, truth)
    res = {"video": f"{args.frames} frames 640x480 MP4 (mp4v), a new sheet every 10 frames, 3-6 digits and 0-2 "
                    f"marks (lines, smudges, letters) per sheet, seed {args.seed}",
           "digits_from": source, "frames": args.frames, "repeats": args.repeats,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
                      f"OpenCV {cv2.__version__}",
           "load_average": load,
           "command": "python benchmarks/bench_camera.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "speed": speed, "accuracy": acc}
    RESULTS.mkdir(parents=True, exist_ok=True)
    from edgedigits._io import write_json_atomic
    write_json_atomic(RESULTS / "camera.json", res)
    (RESULTS / "camera.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
