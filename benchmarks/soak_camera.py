"""Soak run of the camera loop: memory over time and latency percentiles over 20,000+ frames.

    python benchmarks/soak_camera.py [--frames 20000] [--warmup 2000] [--sample-every 500]

Runs the real `edgedigits camera --source LOOP --headless --json --max-frames N` (the CLI's own
code: the shipped model through edgedigits.Recognizer, backend auto, --threads 1) on a looping
source: a rendered 640x480 MP4 of sheets of MNIST test digits, played again and again through an
FFmpeg concat list. The JSON lines go to an in-process sink that records, per frame, the latency
the loop reports (frame read -> result) and the time since the previous result, and every
``--sample-every`` frames the resident memory (VmRSS in /proc/self/status).

Memory verdict: after the warm-up, a least-squares line is fitted to RSS against frames; the run
is "flat" when that line rises less than ``--threshold-mib`` (default 4 MiB) across the measured
frames, else "growing". 4 MiB over 18,000 frames is about 0.2 KiB per frame, so a leak of one
28x28 crop per frame (0.8 KiB, 14 MiB over 18,000 frames) is flagged, while allocator noise
(a few hundred KiB up and down) is not. Results: benchmarks/results/soak.json and soak.md.
Not part of the test suite (it takes minutes); Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def rss_kib() -> int:
    """Resident memory of this process in KiB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sink:
    """Stands in for stdout: takes the loop's JSON lines and records what the soak measures.

    All arrays are allocated and written once up front, so the sink itself does not grow.
    """

    def __init__(self, frames: int, sample_every: int):
        self.n = 0
        self.sample_every = sample_every
        self.latency_ms = np.full(frames, np.nan)
        self.done_at = np.full(frames, np.nan)
        samples = frames // sample_every + 1
        self.sample_frames = np.full(samples, -1, np.int64)
        self.sample_rss = np.full(samples, -1, np.int64)
        self.sample_time = np.full(samples, np.nan)
        self.samples = 0
        self.digits = 0
        self.start = None

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("{"):
                self._record(json.loads(line))
        return len(text)

    def _record(self, rec: dict) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start = now
        if self.n < len(self.latency_ms):
            self.latency_ms[self.n] = rec["latency_ms"]
            self.done_at[self.n] = now
        self.digits += len(rec["digits"])
        self.n += 1
        if self.n % self.sample_every == 0 and self.samples < len(self.sample_rss):
            self.sample_frames[self.samples] = self.n
            self.sample_rss[self.samples] = rss_kib()
            self.sample_time[self.samples] = now - self.start
            self.samples += 1

    def flush(self) -> None:
        pass


class Tee:
    """Copies stderr through while keeping what was written (the loop's summary line)."""

    def __init__(self, stream):
        self.stream, self.text = stream, []

    def write(self, text: str) -> int:
        self.text.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def looping_source(folder: Path, frames: int, clip_frames: int, seed: int) -> tuple[Path, str]:
    """A concat list that plays one rendered clip often enough for ``frames`` frames."""
    from edgedigits.camera.render import render_video
    from edgedigits.samples import load_sample

    clip = folder / "clip.mp4"
    render_video(clip, *load_sample("heldout"), frames=clip_frames, seed=seed, frames_per_sheet=10)
    plays = math.ceil(frames / clip_frames) + 1
    concat = folder / "loop.ffconcat"
    concat.write_text("ffconcat version 1.0\n" + f"file {clip.name}\n" * plays)
    return concat, (
        f"a {clip_frames}-frame 640x480 MP4 (mp4v, 30 FPS) of rendered sheets of digits from the "
        f"shipped MNIST test sample (a new sheet every 10 frames, seed {seed}), played {plays} "
        f"times in a row through an FFmpeg concat list"
    )


def percentiles(values: np.ndarray) -> dict:
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 95, 99)}


def memory(sink: Sink, warmup: int, threshold_mib: float) -> dict:
    """RSS samples after the warm-up, the fitted growth and the verdict."""
    n = sink.samples
    frames, rss = sink.sample_frames[:n], sink.sample_rss[:n]
    after = frames >= warmup
    f, r = frames[after], rss[after]
    if len(f) < 3:
        raise SystemExit(f"only {len(f)} memory samples after the warm-up; run more --frames")
    slope = float(np.polyfit(f, r, 1)[0])  # KiB per frame
    fitted_mib = slope * float(f[-1] - f[0]) / 1024
    return {
        "samples": [[int(a), int(b)] for a, b in zip(frames, rss)],
        "warmup_frames": warmup,
        "rss_mib_at_warmup": round(r[0] / 1024, 2),
        "rss_mib_end": round(r[-1] / 1024, 2),
        "rss_mib_min": round(r.min() / 1024, 2),
        "rss_mib_max": round(r.max() / 1024, 2),
        "rss_mib_max_minus_min": round((r.max() - r.min()) / 1024, 2),
        "slope_kib_per_1000_frames": round(slope * 1000, 2),
        "fitted_growth_mib": round(fitted_mib, 3),
        "measured_frames": int(f[-1] - f[0]),
        "threshold_mib": threshold_mib,
        "verdict": "flat" if fitted_mib < threshold_mib else "growing",
    }


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from edgedigits import __version__

    found = {
        "edgedigits": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    for package in ("onnxruntime", "openvino"):  # the backends auto may pick on a CPU
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def markdown(res: dict) -> str:
    m, lat, gap = res["memory"], res["latency_ms"], res["frame_interval_ms"]
    lines = [
        "# Camera loop soak run",
        "",
        f"{res['date']}. Command: `{res['command']}`. Machine: {res['machine']}; load average at start "
        f"{res['load_average_start']}, at end {res['load_average_end']} (the cores are shared with other "
        f"work). Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()) + ".",
        "",
        f"Source: {res['source']}. Backend: {res['backend']}.",
        "",
        "| frames | seconds | FPS | digits read | latency p50 / p95 / p99 (ms) | frame interval p50 / p95 / p99 (ms) |",
        "|---|---|---|---|---|---|",
        f"| {res['frames']} | {res['seconds']} | {res['fps']} | {res['digits']} | "
        f"{lat['p50']} / {lat['p95']} / {lat['p99']} | {gap['p50']} / {gap['p95']} / {gap['p99']} |",
        "",
        "Latency = from the moment the decoder thread read the frame to its result (what `--json` reports; "
        "it includes the wait in the 8-frame read-ahead queue). Frame interval = time between consecutive "
        "results (the loop's cost per frame).",
        "",
        "| memory after warm-up | value |",
        "|---|---|",
        f"| RSS at frame {m['warmup_frames']} / at the end | {m['rss_mib_at_warmup']} / {m['rss_mib_end']} MiB |",
        f"| RSS min / max (max - min) | {m['rss_mib_min']} / {m['rss_mib_max']} MiB "
        f"({m['rss_mib_max_minus_min']} MiB) |",
        f"| least-squares slope | {m['slope_kib_per_1000_frames']} KiB per 1,000 frames |",
        f"| fitted growth over {m['measured_frames']} frames | {m['fitted_growth_mib']} MiB |",
        f"| verdict (flat if the fitted growth < {m['threshold_mib']} MiB) | **{m['verdict']}** |",
        "",
        "RSS samples (frame: MiB; every sample is in soak.json): "
        + ", ".join(f"{f}: {r / 1024:.1f}" for f, r in m["samples"][:: max(1, len(m["samples"]) // 20)])
        + ".",
        "",
        f"Loop summary: {res['summary']}",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20_000, help="frames to process (default 20,000)")
    ap.add_argument("--warmup", type=int, default=2_000, help="frames before memory is judged (default 2,000)")
    ap.add_argument("--sample-every", type=int, default=500, help="frames between RSS samples (default 500)")
    ap.add_argument("--clip-frames", type=int, default=300, help="length of the looped clip (default 300)")
    ap.add_argument("--threshold-mib", type=float, default=4.0, help="memory verdict threshold (default 4)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    if args.warmup + 3 * args.sample_every > args.frames:
        ap.error("--frames must leave at least three memory samples after --warmup")
    from edgedigits.cli import main as edgedigits_main

    load_start = [round(v, 2) for v in os.getloadavg()]
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp:
        source, described = looping_source(Path(tmp), args.frames, args.clip_frames, args.seed)
        sink, tee = Sink(args.frames, args.sample_every), Tee(sys.stderr)
        cli = ["camera", "--source", str(source), "--headless", "--json", "--max-frames", str(args.frames)]
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(tee):
            code = edgedigits_main(cli)
    if code != 0 or sink.n != args.frames:
        raise SystemExit(f"the camera loop exited with code {code} after {sink.n} of {args.frames} frames")
    summary = next((t.strip() for t in tee.text if " frames in " in t), "")
    backend = re.search(r"backend (\S+);", summary)
    seconds = float(sink.done_at[-1] - sink.done_at[0])
    res = {
        "date": date,
        "command": "python benchmarks/soak_camera.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cli": "edgedigits " + " ".join(cli[:2]) + " LOOP " + " ".join(cli[3:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "load_average_start": load_start,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "versions": versions(),
        "source": described,
        "backend": backend.group(1) if backend else "unknown",
        "frames": sink.n,
        "seconds": round(seconds, 1),
        "fps": round((sink.n - 1) / seconds, 1),
        "digits": sink.digits,
        "latency_ms": percentiles(sink.latency_ms),
        "frame_interval_ms": percentiles(np.diff(sink.done_at) * 1000),
        "memory": memory(sink, args.warmup, args.threshold_mib),
        "summary": summary,
    }
    from edgedigits._io import write_report

    text = markdown(res)
    write_report(args.out, "soak", res, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
