"""What ``edgedigits bench`` measures: its settings, its rows, and the artifacts it needs.

For the shipped model (or ``--model``), the formats this machine can build but the bundle lacks
are exported once into a cache folder (with :func:`edgedigits.export.pipeline.export_bundle`,
atomically); then every backend x device x precision x format that can run here is one
:class:`Measurement` (an unavailable backend is a skipped row with its reason).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._deps import has
from .._io import cache_dir, sha256_file
from .._version import __version__
from ..bundle import MANIFEST, load_bundle
from ..camera.render import render_video
from ..data import load_mnist, mnist_available
from ..errors import EdgeDigitsError, MissingDependencyError, UsageError, parse_choices
from ..export.pipeline import ExportOptions, export_bundle
from ..export.targets import select
from ..runtimes import NAMES, get_backend
from ..runtimes._cache import digest
from ..samples import load_sample

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
QUICK = Settings(
    latency_calls=200, throughput_windows=2, throughput_seconds=0.2, frames=60, robustness_images=200, full_mnist=False
)


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
class Measurement:
    """One row of the table: one way to run the model here, and what it measured."""

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
    rows: list[Measurement]
    machine: dict
    setup: dict
    robustness: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "edgedigits": __version__,
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "machine": self.machine,
            "setup": self.setup,
            "notes": self.notes,
            "rows": [{**asdict(r), "state": r.state} for r in self.rows],
            "robustness": self.robustness,
        }


# -- checks before any work ---------------------------------------------------------------------
def parse_backends(text: str | None) -> tuple[str, ...] | None:
    """``'onnxruntime,openvino'`` -> a tuple of backend names; unknown names are one UsageError."""
    return parse_choices(text, NAMES, "--backends", "backend")


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that is a file or cannot be written, before anything is measured."""
    if not has("matplotlib"):
        raise MissingDependencyError("matplotlib", "--out (its chart bench.png)", "pip install matplotlib")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder for the results.")
    folder = out
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists
        folder = folder.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bench-probe-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot write the results to {out} ({exc.strerror or exc}); choose a writable --out folder."
        ) from exc


# -- data -----------------------------------------------------------------------------------------
def evaluation_images(opts: BenchOptions) -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 N x 28 x 28, labels, description): MNIST test, or the shipped held-out sample."""
    if opts.settings.full_mnist and (opts.data is not None or mnist_available(None)):
        x, y = load_mnist("test", opts.data)
        source = "MNIST test set"
    else:
        x, y = load_sample("heldout")
        source = "shipped held-out sample of the MNIST test set"
    if opts.limit_images is not None:
        x, y = x[: opts.limit_images], y[: opts.limit_images]
    return x, y, f"{source} ({len(x):,} images)"


def reference_video(folder: Path, frames: int, images: np.ndarray, labels: np.ndarray) -> Path:
    """Render the reference 640x480 video (3-6 MNIST test digits per sheet, camera noise, marks)."""
    path = folder / "reference.mp4"
    render_video(path, images, labels, frames=frames, seed=2026, size=(640, 480), frames_per_sheet=10)
    return path


# -- what to export -------------------------------------------------------------------------------
def missing_formats(bundle, backends) -> tuple[str, ...]:
    """Formats the selected backends load that this machine can build and ``bundle`` lacks."""
    wanted = {f for b in backends if b.available for f in b.formats}
    return tuple(
        dict.fromkeys(
            t.format
            for t in select(wanted, int8=True, fp16=False)
            if bundle.find(t.format, t.precision) is None and not t.unavailable()
        )
    )


def cache_folder(bundle, opts: BenchOptions, formats: tuple[str, ...]) -> Path:
    key = digest(
        {
            "manifest": sha256_file(bundle.path / MANIFEST),
            "formats": formats,
            "edgedigits": __version__,
            "data": str(opts.data) if opts.settings.full_mnist else "sample",
            "libs": {f: get_backend("openvino").version() for f in formats if f == "openvino"},
        }
    )
    return (opts.cache or cache_dir("bench")) / key


def export_missing(bundle, opts: BenchOptions, backends, log) -> tuple[list, list[str]]:
    """Bundles to benchmark (the model's own, then one with what it lacked) and notes on the export."""
    formats = missing_formats(bundle, backends)
    if not formats:
        return [bundle], []
    folder = cache_folder(bundle, opts, formats)
    if (folder / "manifest.json").is_file():
        try:
            return [bundle, load_bundle(folder)], [f"{', '.join(formats)} artifacts reused from the cache {folder}"]
        except EdgeDigitsError:
            pass  # damaged cache: export again
    log(f"exporting the missing {', '.join(formats)} artifacts into {folder} (once; cached)")
    try:
        report = export_bundle(
            ExportOptions(
                model=str(bundle.path),
                out=folder,
                formats=formats,
                int8=True,
                force=True,
                partial=True,
                data=opts.data if opts.settings.full_mnist else None,
            ),
            log=log,
        )
    except EdgeDigitsError as exc:
        return [bundle], [f"exporting {', '.join(formats)} failed: {str(exc).rstrip('.')}"]
    notes = [f"{r.id}: {r.state}" for r in report.rows if r.status != OK]
    return [bundle, load_bundle(folder)], [
        f"{', '.join(formats)} artifacts exported into {folder} in {report.seconds:.0f} s"
    ] + notes


# -- the rows ------------------------------------------------------------------------------------
def plan_rows(bundles: list, backends, export_notes: list[str]) -> list[tuple[Measurement, object]]:
    """Every (row, bundle to run it from) this machine offers; unavailable ones as skipped rows."""
    out = []
    for b in backends:
        ok, why = b.availability()
        if not ok:
            out.append((Measurement(b.name, status=SKIPPED, reason=f"backend not available here: {why}"), None))
            continue
        for device in b.devices():
            for precision in b.precisions(device):
                for fmt in b.formats:
                    row = Measurement(b.name, device, precision, fmt)
                    found = _artifact(bundles, b, fmt, precision, device)
                    if found is None:
                        why = f"no {fmt} {precision} artifact in the bundle"
                        failed = [
                            n
                            for n in export_notes
                            if n.startswith(f"{fmt}-{precision}:") or (n.startswith("exporting") and fmt in n)
                        ]
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
