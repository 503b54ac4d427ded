"""``edgedigits bench``: every artifact of a model on every backend of this machine, in one table.

For the shipped model (or ``--model``), the formats this machine can build but the bundle lacks
are exported once into a cache folder (with :func:`edgedigits.export.pipeline.export_bundle`,
atomically). Then every backend x device x precision x format that can run here gets one row:

- artifact size (main file + companions) and load time (``Recognizer(...)`` construction in a
  fresh process: library import, checksum verification and model load);
- MNIST test accuracy (the full 10,000 when MNIST is on the machine, else the shipped
  1,000-image held-out sample of it);
- batch-1 latency p50 / p99 through the SDK (``Recognizer.classify`` on one uint8 crop);
- throughput at a large batch through the SDK (``Recognizer.logits``);
- frames per second of the real camera loop (``edgedigits camera --json`` on a rendered
  640x480 video, decoding included);

and a status: ``ok``, ``failed: why`` or ``skipped: why`` (an unavailable backend is a row with
its reason). A failing row never stops the others. A robustness table (accuracy of the FP32 and
INT8 ONNX models on camera-like corruptions of MNIST test, from :mod:`edgedigits.synth`) follows.

Results carry the machine (CPU model, cores, load, library versions); ``--out DIR`` writes
``bench.json``, ``bench.md`` and ``bench.png`` (accuracy vs latency, drawn with OpenCV).
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .errors import EdgeDigitsError, UsageError, parse_choices

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
OUTPUTS = ("bench.json", "bench.md", "bench.png")


@dataclass(frozen=True)
class Settings:
    """How much to measure: the full run, or ``--quick``.

    Attributes:
        latency_calls: batch-1 calls timed per row (p99 needs about 1,000 or more).
        throughput_batch: images per call for the throughput figure.
        throughput_windows: timed windows of about ``throughput_seconds`` each (median reported).
        frames: frames of the reference video the camera loop reads per row.
        robustness_images: MNIST test images per corruption and severity.
        full_mnist: use the full MNIST test set when it is on the machine.
    """
    latency_calls: int = 2000
    throughput_batch: int = 256
    throughput_windows: int = 5
    throughput_seconds: float = 0.5
    frames: int = 300
    robustness_images: int = 2000
    full_mnist: bool = True


FULL = Settings()
QUICK = Settings(latency_calls=200, throughput_windows=2, throughput_seconds=0.2, frames=60,
                 robustness_images=200, full_mnist=False)


@dataclass
class BenchOptions:
    """What ``edgedigits bench`` was asked to do (see its ``--help``).

    Attributes:
        limit_images: at most this many evaluation images (for tests; None = all).
        frames: override of the reference video's length (for tests).
    """
    model: str | None = None
    out: Path | None = None
    quick: bool = False
    backends: tuple[str, ...] | None = None
    data: str | None = None
    cache: Path | None = None
    limit_images: int | None = None
    frames: int | None = None
    robustness: bool = True
    progress: bool = True
    command: str = "edgedigits bench"

    @property
    def settings(self) -> Settings:
        s = QUICK if self.quick else FULL
        changes = {}
        if self.frames is not None:
            changes["frames"] = self.frames
        if self.limit_images is not None:
            changes["robustness_images"] = min(s.robustness_images, self.limit_images)
            changes["latency_calls"] = min(s.latency_calls, max(20, self.limit_images))
        return Settings(**{**asdict(s), **changes}) if changes else s


@dataclass
class Row:
    """One line of the table: one way to run the model here, and what it measured."""
    backend: str
    device: str = "-"
    precision: str = "-"
    format: str = "-"
    artifact: str = "-"
    bundle: str = "-"
    status: str = OK
    reason: str = ""
    size_bytes: int | None = None
    load_ms: float | None = None
    accuracy: float | None = None
    accuracy_images: int | None = None
    latency_us_p50: float | None = None
    latency_us_p99: float | None = None
    throughput_ips: float | None = None
    camera_fps: float | None = None

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.device}/{self.format}/{self.precision}"

    @property
    def state(self) -> str:
        return self.status + (f": {self.reason}" if self.reason else "")


@dataclass
class BenchResult:
    rows: list[Row]
    machine: dict
    setup: dict
    robustness: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"edgedigits": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "machine": self.machine, "setup": self.setup, "notes": self.notes,
                "rows": [{**asdict(r), "state": r.state} for r in self.rows], "robustness": self.robustness}


# -- checks before any work ---------------------------------------------------------------------
def parse_backends(text: str | None) -> tuple[str, ...] | None:
    """``'onnxruntime,openvino'`` -> a tuple of backend names; unknown names are one UsageError."""
    from .runtimes import NAMES
    return parse_choices(text, NAMES, "--backends", "backend")


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that is a file or cannot be written, before anything is measured."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder for the results.")
    folder = out
    while not folder.exists() and folder != folder.parent:      # the nearest folder that exists
        folder = folder.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bench-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write the results to {out} ({exc.strerror or exc}); "
                         "choose a writable --out folder.") from exc


# -- data -----------------------------------------------------------------------------------------
def evaluation_images(opts: BenchOptions) -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 N x 28 x 28, labels, description): MNIST test, or the shipped held-out sample."""
    from .data import load_mnist, mnist_available
    if opts.settings.full_mnist and (opts.data is not None or mnist_available(None)):
        x, y = load_mnist("test", opts.data)
        source = "MNIST test set"
    else:
        from .samples import load_sample
        x, y = load_sample("heldout")
        source = "shipped held-out sample of the MNIST test set"
    if opts.limit_images is not None:
        x, y = x[:opts.limit_images], y[:opts.limit_images]
    return x, y, f"{source} ({len(x):,} images)"


def reference_video(folder: Path, frames: int, images: np.ndarray, labels: np.ndarray) -> Path:
    """Render the reference 640x480 video (3-6 MNIST test digits per sheet, camera noise, marks)."""
    from .camera.render import render_video
    path = folder / "reference.mp4"
    render_video(path, images, labels, frames=frames, seed=2026, size=(640, 480), frames_per_sheet=10)
    return path


# -- what to export -------------------------------------------------------------------------------
def missing_formats(bundle, backends) -> tuple[str, ...]:
    """Formats the selected backends load that this machine can build and ``bundle`` lacks."""
    from .export.targets import select
    wanted = {f for b in backends if b.available for f in b.formats}
    return tuple(dict.fromkeys(t.format for t in select(wanted, int8=True, fp16=False)
                               if bundle.find(t.format, t.precision) is None and not t.unavailable()))


def cache_folder(bundle, opts: BenchOptions, formats: tuple[str, ...]) -> Path:
    from ._io import sha256_file
    from .bundle import MANIFEST
    from .runtimes import get_backend
    from .runtimes._cache import cache_dir, digest
    key = digest({"manifest": sha256_file(bundle.path / MANIFEST), "formats": formats,
                  "edgedigits": __version__, "data": str(opts.data) if opts.settings.full_mnist else "sample",
                  "libs": {f: get_backend("openvino").version() for f in formats if f == "openvino"}})
    return (opts.cache or cache_dir("bench")) / key


def export_missing(bundle, opts: BenchOptions, backends, log) -> tuple[list, list[str]]:
    """Bundles to benchmark (the model's own, then one with what it lacked) and notes on the export."""
    from .bundle import load_bundle
    formats = missing_formats(bundle, backends)
    if not formats:
        return [bundle], []
    folder = cache_folder(bundle, opts, formats)
    if (folder / "manifest.json").is_file():
        try:
            return [bundle, load_bundle(folder)], [f"{', '.join(formats)} artifacts reused from the cache {folder}"]
        except EdgeDigitsError:
            pass                                               # damaged cache: export again
    from .export.pipeline import ExportOptions, export_bundle
    log(f"exporting the missing {', '.join(formats)} artifacts into {folder} (once; cached)")
    try:
        report = export_bundle(ExportOptions(model=str(bundle.path), out=folder, formats=formats, int8=True,
                                             force=True, partial=True,
                                             data=opts.data if opts.settings.full_mnist else None),
                               log=log)
    except EdgeDigitsError as exc:
        return [bundle], [f"exporting {', '.join(formats)} failed: {str(exc).rstrip('.')}"]
    notes = [f"{r.id}: {r.state}" for r in report.rows if r.status != OK]
    return [bundle, load_bundle(folder)], [f"{', '.join(formats)} artifacts exported into {folder} in "
                                           f"{report.seconds:.0f} s"] + notes


# -- the rows ------------------------------------------------------------------------------------
def plan_rows(bundles: list, backends, export_notes: list[str]) -> list[tuple[Row, object]]:
    """Every (row, bundle to run it from) this machine offers; unavailable ones as skipped rows."""
    out = []
    for b in backends:
        ok, why = b.availability()
        if not ok:
            out.append((Row(b.name, status=SKIPPED, reason=f"backend not available here: {why}"), None))
            continue
        for device in b.devices():
            for precision in b.precisions(device):
                for fmt in b.formats:
                    row = Row(b.name, device, precision, fmt)
                    found = _artifact(bundles, b, fmt, precision, device)
                    if found is None:
                        why = f"no {fmt} {precision} artifact in the bundle"
                        failed = [n for n in export_notes
                                  if n.startswith(f"{fmt}-{precision}:") or (n.startswith("exporting") and fmt in n)]
                        row.status, row.reason = SKIPPED, why + (f" ({failed[0]})" if failed else "")
                        out.append((row, None))
                        continue
                    bundle, artifact = found
                    row.artifact, row.bundle, row.size_bytes = artifact.id, str(bundle.path), artifact.total_size
                    out.append((row, bundle))
    return out


def _artifact(bundles, backend, fmt, precision, device):
    """The first bundle whose artifact for this backend/precision/device is of format ``fmt``."""
    for bundle in bundles:
        artifact = backend.artifact_for(bundle, precision, device)
        if artifact is not None and artifact.format == fmt:
            return bundle, artifact
    return None


class _Null(io.TextIOBase):
    def write(self, s):
        return len(s)


ROW_TIMEOUT_S = 900
MEASURED = ("load_ms", "accuracy", "accuracy_images", "latency_us_p50", "latency_us_p99", "throughput_ips",
            "camera_fps", "status", "reason")


def run_row(row: Row, work: Path, s: Settings, video: Path | None) -> None:
    """Measure ``row`` in a fresh Python process and copy the figures into it.

    Each row gets its own process, as a device app has: libraries' thread pools then never
    compete (PyTorch run after OpenVINO in one process was measured about 70x slower at batch 1
    on a 2-core machine), and the load time is a cold start (library import included).
    """
    import json
    import subprocess
    spec = work / f"row-{row.key.replace('/', '_')}.json"
    result = spec.with_suffix(".out.json")
    spec.write_text(json.dumps({"row": asdict(row), "settings": asdict(s), "data": str(work / "images.npz"),
                                "video": str(video) if video else None, "result": str(result)}))
    try:
        proc = subprocess.run([sys.executable, "-m", __name__, str(spec)], capture_output=True, text=True,
                              timeout=ROW_TIMEOUT_S)
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
    """Entry point of the measuring process: ``python -m edgedigits.bench SPEC.json``."""
    import json
    spec = json.loads(Path(argv[0]).read_text())
    row = Row(**spec["row"])
    data = np.load(spec["data"])
    measure(row, row.bundle, data["images"], data["labels"], Path(spec["video"]) if spec["video"] else None,
            Settings(**spec["settings"]))
    from ._io import write_json_atomic
    write_json_atomic(spec["result"], {k: getattr(row, k) for k in MEASURED})
    return 0


def measure(row: Row, bundle, images: np.ndarray, labels: np.ndarray, video: Path | None, s: Settings) -> None:
    """Fill ``row``'s measurements through the SDK; any failure becomes the row's status."""
    from .recognizer import Recognizer
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
            row.throughput_ips = throughput(rec, images, s.throughput_batch, s.throughput_windows,
                                            s.throughput_seconds)
            if video is not None:
                row.camera_fps = camera_fps(rec, video)
    except Exception as exc:         # noqa: BLE001 - one row's failure must not stop the benchmark
        row.status = FAILED
        row.reason = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, EdgeDigitsError):
            row.reason = f"{type(exc).__name__}: {row.reason}"


def accuracy(rec, images: np.ndarray, labels: np.ndarray) -> float:
    preds = np.concatenate([rec.logits(images[i:i + 1000]).argmax(axis=1) for i in range(0, len(images), 1000)])
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
    from .camera.loop import Options, run_camera
    with contextlib.redirect_stderr(io.StringIO()):             # the loop's summary line
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
    from . import synth
    from .recognizer import Recognizer
    x, y = images[:n], labels[:n]
    sets = {("clean", 0): x}
    sets.update({(k, sev): synth.corrupt(x, k, sev) for k in synth.CORRUPTIONS for sev in synth.SEVERITIES})
    out = {"images": int(len(x)), "severities": list(synth.SEVERITIES),
           "levels": {k: list(v) for k, v in synth.CORRUPTIONS.items()}, "accuracy": {}}
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
def machine_facts() -> dict:
    from .runtimes import backends
    from .runtimes._cache import cpu_name
    from .runtimes.base import cpu_count
    import cv2
    libs = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__}
    libs.update({b.name: b.version() for b in backends() if b.version()})
    return {"cpu": cpu_name(), "cores": cpu_count(), "arch": platform.machine(), "os": platform.platform(),
            "load_average_start": [round(v, 2) for v in os.getloadavg()], "libraries": libs}


def run_bench(opts: BenchOptions, log=None) -> BenchResult:
    """Run the whole benchmark (see the module docstring).

    Raises:
        EdgeDigitsError: bad options, a missing or damaged bundle, or MNIST asked for with
            ``--data`` and not found. A row that fails does not raise: its status says why.
    """
    from ._progress import Progress
    from .bundle import load_bundle
    from .runtimes import backends as all_backends, get_backend
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if opts.out is not None:
        check_out(Path(opts.out))
    s = opts.settings
    start = time.perf_counter()
    machine = machine_facts()
    bundle = load_bundle(opts.model)
    chosen = [get_backend(n) for n in opts.backends] if opts.backends else all_backends()
    images, labels, source = evaluation_images(opts)
    with contextlib.redirect_stdout(sys.stderr):                 # export's own chatter is not the table
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
    setup = {"model": str(bundle.path), "mode": "quick" if opts.quick else "full", "settings": asdict(s),
             "evaluation": source, "video": f"{s.frames} frames, 640x480, rendered by edgedigits.camera.render "
                                            "(seed 2026, a new sheet every 10 frames)",
             "threads": "each library's default (all cores); each row in a fresh process", "seconds": round(time.perf_counter() - start, 1),
             "command": opts.command}
    return BenchResult([r for r, _ in planned], machine, setup, rob, notes)


# -- reporting ------------------------------------------------------------------------------------
COLUMNS = ("backend", "device", "format", "precision", "size", "load", "accuracy", "p50", "p99", "throughput",
           "camera FPS", "status")


def _size(n):
    return "-" if n is None else (f"{n / 1024:.0f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB")


def _fmt(v, spec, unit=""):
    return "-" if v is None else f"{v:{spec}}{unit}"


def _cells(r: Row) -> tuple[str, ...]:
    return (r.backend, r.device, r.format, r.precision, _size(r.size_bytes), _fmt(r.load_ms, ".0f", " ms"),
            _fmt(None if r.accuracy is None else r.accuracy * 100, ".2f", " %"), _fmt(r.latency_us_p50, ".0f", " us"),
            _fmt(r.latency_us_p99, ".0f", " us"), _fmt(r.throughput_ips, ",.0f", "/s"), _fmt(r.camera_fps, ".0f"),
            r.state)


def table(result: BenchResult) -> str:
    """The plain-text table printed by ``edgedigits bench``."""
    lines = [COLUMNS] + [_cells(r) for r in result.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines)
    m = result.machine
    return (text + f"\n\nAccuracy on the {result.setup['evaluation']}; latency = batch 1 through Recognizer.classify; "
            f"throughput at batch {result.setup['settings']['throughput_batch']}; camera FPS = the camera loop "
            f"on a {result.setup['video'].split(',')[0]} 640x480 video.\nMachine: {m['cpu']}, {m['cores']} cores, "
            f"load average {m['load_average_start'][0]} at start.")


def robustness_table(rob: dict) -> list[str]:
    """Markdown lines: one row per corruption, severities 1/2/3 for each precision."""
    precisions = list(rob["accuracy"])
    head = "| corruption | levels (1/2/3) | " + " | ".join(f"{p.upper()} 1 / 2 / 3 (%)" for p in precisions) + " |"
    lines = [head, "|" + "---|" * (2 + len(precisions))]
    first = rob["accuracy"][precisions[0]]
    for kind in first:
        levels = "-" if kind == "clean" else " / ".join(str(v) for v in rob["levels"][kind])
        cells = [" / ".join(f"{100 * a:.1f}" for a in rob["accuracy"][p][kind].values()) for p in precisions]
        lines.append(f"| {kind} | {levels} | " + " | ".join(cells) + " |")
    return lines


def weakest(rob: dict, below: float = 0.95) -> list[tuple[str, int, float]]:
    """(corruption, severity, FP32 accuracy) under ``below``, worst first."""
    acc = rob["accuracy"].get("fp32") or next(iter(rob["accuracy"].values()))
    found = [(k, int(s), a) for k, v in acc.items() if k != "clean" for s, a in v.items() if a < below]
    return sorted(found, key=lambda t: t[2])


def markdown(result: BenchResult, chart: str | None = "bench.png") -> str:
    m, st = result.machine, result.setup
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    lines = ["# edgedigits bench", "",
             f"Model: `{st['model']}`. Command: `{st['command']}` ({st['seconds']:.0f} s). "
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; load average {m['load_average_start'][0]} at "
             f"start, {m.get('load_average_end', ['?'])[0]} at the end. Libraries: {libs}.", "",
             f"Accuracy on the {st['evaluation']}. Load: `Recognizer(...)` for that backend, device and precision "
             "in a fresh process (library import, checksum check, model load). Latency: batch 1 through `Recognizer.classify` (uint8 crop in, "
             f"labels out), {st['settings']['latency_calls']} calls. Throughput: `Recognizer.logits` at batch "
             f"{st['settings']['throughput_batch']}, median of {st['settings']['throughput_windows']} windows. "
             f"Camera FPS: the `edgedigits camera --json` loop (decoding, finding digits, one batched inference, "
             f"grouping) on a {st['video']}. Threads: {st['threads']}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in result.rows]
    if chart:
        lines += ["", f"![accuracy vs latency]({chart})"]
    if result.notes:
        lines += ["", "Notes: " + "; ".join(result.notes) + "."]
    rob = result.robustness
    if rob and rob.get("accuracy"):
        lines += ["", "## Robustness", "",
                  f"Accuracy (%) of the ONNX models (ONNX Runtime) on the first {rob['images']:,} evaluation images "
                  "under each camera-like corruption of `edgedigits.synth` at severity 1 / 2 / 3 (the same "
                  "corruptions, severities and seed `edgedigits eval` uses, so on the same images the figures match its corruption "
                  "rows; its wider suite - non-digits, other handwriting, rejection - is in "
                  "`benchmarks/eval_robustness.py`).", ""]
        lines += robustness_table(rob)
        weak = weakest(rob)
        lines += ["", "Below 95 % (FP32): " + (", ".join(f"{k} {s} ({100 * a:.1f} %)" for k, s, a in weak)
                                             if weak else "none") + "."]
    lines.append("")
    return "\n".join(lines)


def chart_png(rows: list[Row], path: Path, size=(900, 600)) -> None:
    """Accuracy (%) against batch-1 latency p50 (log scale), one labelled point per measured row."""
    import cv2
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 80, 30, 50, 70
    pts = [r for r in rows if r.status == OK and r.latency_us_p50 and r.accuracy is not None]
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "accuracy vs batch-1 latency (p50)", (left, 30), font, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    cv2.putText(img, "latency p50 (us, log scale)", (w // 2 - 110, h - 20), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "accuracy %", (5, top - 10), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if not pts:
        cv2.putText(img, "no row measured", (w // 2 - 80, h // 2), font, 0.7, (0, 0, 200), 2, cv2.LINE_AA)
        _write_png(img, path)
        return
    lx = np.log10([r.latency_us_p50 for r in pts])
    acc = np.array([r.accuracy * 100 for r in pts])
    x0, x1 = np.floor(lx.min() * 4) / 4 - 0.1, np.ceil(lx.max() * 4) / 4 + 0.1
    pad = max(0.05, (acc.max() - acc.min()) * 0.15)
    y0, y1 = acc.min() - pad, acc.max() + pad

    def px(lat_log, a):
        return (int(left + (lat_log - x0) / (x1 - x0) * (w - left - right)),
                int(h - bottom - (a - y0) / (y1 - y0) * (h - top - bottom)))

    for decade in range(int(np.floor(x0)), int(np.ceil(x1)) + 1):
        for m in (1, 2, 5):
            v = np.log10(m) + decade
            if x0 <= v <= x1:
                x, _ = px(v, y0)
                cv2.line(img, (x, h - bottom), (x, h - bottom + 5), (0, 0, 0), 1)
                cv2.putText(img, f"{m * 10 ** decade:g}", (x - 12, h - bottom + 22), font, 0.45, (0, 0, 0), 1,
                            cv2.LINE_AA)
    for v in _nice_ticks(y0, y1):
        _, y = px(x0, v)
        if y < top + 12:                                            # keep clear of the axis title
            continue
        cv2.line(img, (left - 5, y), (left, y), (0, 0, 0), 1)
        cv2.putText(img, f"{v:g}", (10, y + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    colors = [(200, 80, 0), (0, 140, 0), (0, 0, 200), (150, 0, 150), (0, 150, 200), (100, 100, 100)]
    by_backend = {b: colors[i % len(colors)] for i, b in enumerate(dict.fromkeys(r.backend for r in pts))}
    order = sorted(pts, key=lambda r: (r.latency_us_p50, -r.accuracy))
    where = [px(np.log10(r.latency_us_p50), r.accuracy * 100) for r in order]
    placed = [(x - 7, y - 7, 14, 14) for x, y in where]          # labels avoid every point
    for r, (x, y) in zip(order, where):
        cv2.circle(img, (x, y), 6, by_backend[r.backend], -1, cv2.LINE_AA)
    for r, (x, y) in zip(order, where):
        label = f"{r.backend} {r.format} {r.precision}"
        (tw, th), _ = cv2.getTextSize(label, font, 0.42, 1)
        box = _free_spot(x, y, tw, th, placed, (left, top, w - right, h - bottom))
        placed.append(box)
        cv2.putText(img, label, (box[0], box[1] + th), font, 0.42, by_backend[r.backend], 1, cv2.LINE_AA)
    _write_png(img, path)


def _free_spot(x, y, tw, th, placed, frame) -> tuple[int, int, int, int]:
    """A label box (x, y, w, h) near the point (x, y), inside ``frame``, overlapping no placed box."""
    fx0, fy0, fx1, fy1 = frame
    candidates = [(x + 9 if side > 0 else x - 9 - tw, y - th // 2 + dy)
                  for dy in (0, -16, 16, -32, 32, -48, 48, -64, 64) for side in (1, -1)]
    for cx, cy in candidates:
        box = (cx, cy, tw, th + 4)
        inside = fx0 < cx and cx + tw < fx1 and fy0 < cy and cy + th < fy1
        if inside and not any(cx < px + pw and px < cx + tw and cy < py + ph and py < cy + th + 4
                              for px, py, pw, ph in placed):
            return box
    return (candidates[0][0], candidates[0][1], tw, th + 4)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values (steps of 1, 2 or 5 x 10^k) inside [lo, hi]."""
    raw = (hi - lo) / n
    step = min((m * 10 ** np.floor(np.log10(raw)) for m in (1, 2, 5, 10)), key=lambda v: abs(v - raw))
    return np.arange(np.ceil(lo / step) * step, hi, step)


def _write_png(img: np.ndarray, path: Path) -> None:
    import cv2
    from ._io import write_bytes_atomic
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise EdgeDigitsError(f"OpenCV could not encode the chart for {path}.")
    write_bytes_atomic(path, buf.tobytes())


def write_outputs(result: BenchResult, out: Path) -> list[Path]:
    """Write bench.json, bench.md and bench.png into ``out`` (each file atomically)."""
    from ._io import write_bytes_atomic, write_json_atomic
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUTPUTS]
    write_json_atomic(paths[0], result.to_dict())
    write_bytes_atomic(paths[1], markdown(result, OUTPUTS[2]).encode("utf-8"))
    chart_png(result.rows, paths[2])
    return paths


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
