"""Measuring one row in a fresh process, the robustness table, and the whole run.

Each row runs in its own Python process (``python -m edgedigits.bench.measure SPEC.json``), as a
device app would: library thread pools never compete and the load time is a cold start.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from .. import synth
from .._io import write_json_atomic
from .._progress import Progress
from ..bundle import load_bundle
from ..camera.loop import Options, run_camera
from ..rejection import predicted
from ..errors import EdgeDigitsError
from ..recognizer import Recognizer
from ..runtimes import backends as all_backends
from ..runtimes import get_backend
from ..runtimes._cache import cpu_name
from ..runtimes.base import cpu_count
from .plan import (
    FAILED,
    BenchOptions,
    BenchResult,
    Measurement,
    Settings,
    check_out,
    evaluation_images,
    export_missing,
    plan_rows,
    reference_video,
)


class _Null(io.TextIOBase):
    def write(self, s):
        return len(s)


ROW_TIMEOUT_S = 900
MEASURED = (
    "load_ms",
    "accuracy",
    "accuracy_images",
    "latency_us_p50",
    "latency_us_p99",
    "throughput_ips",
    "camera_fps",
    "status",
    "reason",
)


def run_row(row: Measurement, work: Path, s: Settings, video: Path | None) -> None:
    """Measure ``row`` in a fresh Python process and copy the figures into it.

    Each row gets its own process, as a device app has: libraries' thread pools then never
    compete (PyTorch run after OpenVINO in one process was measured about 70x slower at batch 1
    on a 2-core machine), and the load time is a cold start (library import included).
    """
    spec = work / f"row-{row.key.replace('/', '_')}.json"
    result = spec.with_suffix(".out.json")
    spec.write_text(
        json.dumps(
            {
                "row": asdict(row),
                "settings": asdict(s),
                "data": str(work / "images.npz"),
                "video": str(video) if video else None,
                "result": str(result),
            }
        )
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edgedigits.bench.measure", str(spec)],
            capture_output=True,
            text=True,
            timeout=ROW_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        row.status, row.reason = FAILED, f"no result within {ROW_TIMEOUT_S} s"
        return
    if proc.returncode != 0 or not result.is_file():
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        row.status, row.reason = FAILED, f"the measuring process failed ({last[:200]})"
        return
    for k, v in json.loads(result.read_text()).items():
        setattr(row, k, v)


def _worker(argv: list[str]) -> int:
    """Entry point of the measuring process: ``python -m edgedigits.bench.measure SPEC.json``."""
    spec = json.loads(Path(argv[0]).read_text())
    row = Measurement(**spec["row"])
    data = np.load(spec["data"])
    measure(
        row,
        row.bundle,
        data["images"],
        data["labels"],
        Path(spec["video"]) if spec["video"] else None,
        Settings(**spec["settings"]),
    )
    write_json_atomic(spec["result"], {k: getattr(row, k) for k in MEASURED})
    return 0


def measure(row: Measurement, bundle, images: np.ndarray, labels: np.ndarray, video: Path | None, s: Settings) -> None:
    """Fill ``row``'s measurements through the SDK; any failure becomes the row's status."""
    try:
        t = time.perf_counter()
        rec = Recognizer(bundle, backend=row.backend, device=row.device, precision=row.precision)
        row.load_ms = (time.perf_counter() - t) * 1e3
        with rec:
            if rec.info.artifact != row.artifact:
                raise EdgeDigitsError(f"the SDK loaded {rec.info.artifact} instead of {row.artifact}")
            row.accuracy = accuracy(rec, images, labels)
            row.accuracy_images = len(images)
            row.latency_us_p50, row.latency_us_p99 = latency(rec, images, s.latency_calls)
            row.throughput_ips = throughput(rec, images, s.throughput_batch, s.throughput_windows, s.throughput_seconds)
            if video is not None:
                row.camera_fps = camera_fps(rec, video)
    except Exception as exc:  # noqa: BLE001 - one row's failure must not stop the benchmark
        row.status = FAILED
        row.reason = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, EdgeDigitsError):
            row.reason = f"{type(exc).__name__}: {row.reason}"


def accuracy(rec, images: np.ndarray, labels: np.ndarray) -> float:
    preds = np.concatenate([predicted(rec.logits(images[i : i + 1000])) for i in range(0, len(images), 1000)])
    return float((preds == labels).mean())


def latency(rec, images: np.ndarray, calls: int) -> tuple[float, float]:
    """p50 and p99 microseconds of ``rec.classify`` on one uint8 crop (a different one each call)."""
    for i in range(min(50, calls)):
        rec.classify(images[i % len(images)])
    clock, times = time.perf_counter, np.empty(calls)
    for i in range(calls):
        crop = images[i % len(images)]
        t = clock()
        rec.classify(crop).labels
        times[i] = clock() - t
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 99) * 1e6)


def throughput(rec, images: np.ndarray, batch: int, windows: int, seconds: float) -> float:
    """Median images per second of ``rec.logits`` on uint8 batches of ``batch`` images."""
    x = images[np.arange(batch) % len(images)]
    rec.logits(x)
    t = time.perf_counter()
    rec.logits(x)
    calls = max(1, int(seconds / max(time.perf_counter() - t, 1e-6)))
    rates = []
    for _ in range(windows):
        t = time.perf_counter()
        for _ in range(calls):
            rec.logits(x)
        rates.append(batch * calls / (time.perf_counter() - t))
    return float(np.median(rates))


def camera_fps(rec, video: Path) -> float:
    """Frames per second of the camera loop (``edgedigits camera --source VIDEO --json --headless``)."""
    with contextlib.redirect_stderr(io.StringIO()):  # the loop's summary line
        summary = run_camera(Options(source=str(video), headless=True, json=True), rec, out=_Null())
    if summary.frames == 0:
        raise EdgeDigitsError(f"the camera loop read no frame of {video}")
    return float(summary.fps)


# -- robustness -----------------------------------------------------------------------------------
def robustness(bundle, images: np.ndarray, labels: np.ndarray, n: int) -> dict:
    """Accuracy of the bundle's ONNX FP32 and INT8 models (ONNX Runtime) on camera-like corruptions.

    The corruptions and severities are :data:`edgedigits.synth.CORRUPTIONS` (the evaluation
    suite's own, applied to the first ``n`` evaluation images).
    """
    x, y = images[:n], labels[:n]
    sets = {("clean", 0): x}
    sets.update({(k, sev): synth.corrupt(x, k, sev) for k in synth.CORRUPTIONS for sev in synth.SEVERITIES})
    out = {
        "images": int(len(x)),
        "severities": list(synth.SEVERITIES),
        "levels": {k: list(v) for k, v in synth.CORRUPTIONS.items()},
        "accuracy": {},
    }
    for precision in ("fp32", "int8"):
        if bundle.find("onnx", precision) is None:
            continue
        with Recognizer(bundle, backend="onnxruntime", device="cpu", precision=precision) as rec:
            acc = {}
            for (kind, sev), imgs in sets.items():
                acc.setdefault(kind, {})[str(sev)] = round(accuracy(rec, imgs, y), 5)
            out["accuracy"][precision] = acc
    return out


# -- the run --------------------------------------------------------------------------------------
def describe_machine() -> dict:
    """The machine a benchmark ran on: CPU model, cores, OS, load, and every library's version."""
    libs = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__}
    libs.update({b.name: b.version() for b in all_backends() if b.version()})
    return {
        "cpu": cpu_name(),
        "cores": cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "libraries": libs,
    }


def run_bench(opts: BenchOptions, log=None) -> BenchResult:
    """Run the whole benchmark (see the module docstring).

    Raises:
        EdgeDigitsError: bad options, a missing or damaged bundle, or MNIST asked for with
            ``--data`` and not found. A row that fails does not raise: its status says why.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if opts.out is not None:
        check_out(Path(opts.out))
    s = opts.settings
    start = time.perf_counter()
    machine = describe_machine()
    bundle = load_bundle(opts.model)
    chosen = [get_backend(n) for n in opts.backends] if opts.backends else all_backends()
    images, labels, source = evaluation_images(opts)
    with contextlib.redirect_stdout(sys.stderr):  # export's own chatter is not the table
        bundles, notes = export_missing(bundle, opts, chosen, log)
    planned = plan_rows(bundles, chosen, notes)
    todo = [(r, b) for r, b in planned if b is not None]
    with tempfile.TemporaryDirectory(prefix="edgedigits-bench-") as tmp:
        work = Path(tmp)
        np.savez(work / "images.npz", images=images, labels=labels)
        video = reference_video(work, s.frames, images, labels) if s.frames > 0 and todo else None
        bar = Progress(len(todo) + int(opts.robustness), "bench", enabled=opts.progress)
        for row, _ in todo:
            bar.update(0, row.key)
            run_row(row, work, s, video)
            bar.update(1, f"{row.key}: {row.status}")
        rob = None
        if opts.robustness:
            bar.update(0, "robustness")
            try:
                rob = robustness(bundle, images, labels, s.robustness_images)
            except EdgeDigitsError as exc:
                notes.append(f"robustness table not measured: {exc}")
            bar.update(1, "robustness")
        bar.close()
    machine["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    setup = {
        "model": str(bundle.path),
        "mode": "quick" if opts.quick else "full",
        "settings": asdict(s),
        "evaluation": source,
        "video": f"{s.frames} frames, 640x480, rendered by edgedigits.camera.render "
        "(seed 2026, a new sheet every 10 frames)",
        "threads": "each library's default (all cores); each row in a fresh process",
        "seconds": round(time.perf_counter() - start, 1),
        "command": opts.command,
    }
    return BenchResult([r for r, _ in planned], machine, setup, rob, notes)


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
