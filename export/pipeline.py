"""``edgedigits export``: every artifact of a model, calibrated, checked and accuracy-gated, in one bundle.

Steps: resolve the source model; measure its FP32 ONNX on the evaluation set (and check it
against PyTorch when PyTorch can load the weights); build each selected target into a temporary
folder; run each artifact with its own backend on the evaluation set; reject any whose outputs
differ from the source (FP32) or whose accuracy drops more than ``max_drop`` points; write the
manifest; and only then put the folder in place (atomically). Nothing is left behind on failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_dir, sha256_file
from .._version import __version__
from ..bundle import make_artifact, write_manifest
from ..errors import EdgeDigitsError, ExportError, UsageError, parse_choices
from ..runtimes import get_backend, natural_backend, open_file
from ..runtimes.tensorrt import DEFAULT_MAX_BATCH
from ..train import bundle_val_size
from .datasets import ImageSet, calibration_set, evaluation_set, validation_set
from .onnx import convert_to_fp16
from .quantize import quantize_best
from .source import Source, copy_into, load_model_source
from .targets import FORMATS, Target, select
from .tensorrt import require_explicit_quantization
from .validate import OutputMismatchError, accuracy, compare, validate_outputs

DEFAULT_OUT = "edgedigits-export"
DEFAULT_CALIB_SIZE = 500
DEFAULT_MAX_DROP = 0.3  # percentage points
PARITY_PP = 0.1  # an INT8 candidate this close to FP32 counts as equal to it


@dataclass
class ExportOptions:
    """What ``edgedigits export`` was asked to do (see its ``--help``)."""

    model: str | None = None
    out: str | os.PathLike = DEFAULT_OUT
    formats: tuple[str, ...] | None = None  # None: every format
    int8: bool = False
    fp16: bool = False
    calib_size: int = DEFAULT_CALIB_SIZE
    max_drop: float = DEFAULT_MAX_DROP
    max_batch: int = DEFAULT_MAX_BATCH
    force: bool = False
    data: str | os.PathLike | None = None
    partial: bool = False  # write what passed even when an artifact failed


@dataclass
class Row:
    """One line of the final table."""

    id: str
    format: str
    precision: str
    status: str  # 'ok', 'rejected', 'failed', 'skipped'
    reason: str = ""
    size: int | None = None
    accuracy: float | None = None
    drop_pp: float | None = None
    note: str = ""  # shown instead of an accuracy that could not be measured here

    @property
    def state(self) -> str:
        return self.status + (f": {self.reason}" if self.reason else "")


@dataclass
class ExportReport:
    out: Path
    rows: list[Row]
    baseline: float
    evaluation: dict
    seconds: float
    written: bool = True

    @property
    def problems(self) -> list[Row]:
        return _problems(self.rows)

    def raise_for_problems(self) -> None:
        """Raise :class:`ExportError` naming every rejected or failed artifact and why."""
        if self.problems:
            raise ExportError(
                _describe(self.problems) + f" (the other artifacts were written to {self.out} as a partial bundle)."
            )

    def table(self) -> str:
        head = ("format", "precision", "size", "accuracy", "drop (pp)", "status")
        lines = [head]
        for r in self.rows:
            lines.append(
                (
                    r.format,
                    r.precision,
                    _size(r.size),
                    (r.note or "-") if r.accuracy is None else f"{r.accuracy:.2%}",
                    "-" if r.drop_pp is None else f"{r.drop_pp:+.2f}",
                    r.state,
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines)


def _problems(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.status in ("rejected", "failed")]


def _describe(rows: list[Row]) -> str:
    return "; ".join(f"{r.id} {r.state}" for r in rows)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB"


def parse_formats(text: str | None) -> tuple[str, ...] | None:
    """``'onnx,openvino'`` -> ('onnx', 'openvino'); unknown names are a UsageError listing the valid ones."""
    return parse_choices(text, FORMATS, "--formats", "format")


def check_output(out: Path, force: bool) -> None:
    """Refuse an existing ``out`` without ``force`` and an output folder that cannot be written."""
    if out.exists() and not force:
        raise UsageError(f"{out} already exists; pass --force to replace it or choose another --out.")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file, not a folder; choose another --out.")
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:  # probe the nearest folder that exists
        parent = parent.parent
    try:
        probe = tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".probe", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise UsageError(
            f"cannot write the output folder {out} ({exc.strerror or exc}); choose a writable --out."
        ) from exc


class Context:
    """What target builds share: the source, the image sets, intermediates and measurements."""

    def __init__(
        self,
        source: Source,
        evaluation: ImageSet,
        calibration: ImageSet | None,
        work: Path,
        max_batch: int,
        log,
        validation: ImageSet | None = None,
    ):
        self.source, self.evaluation, self.calibration = source, evaluation, calibration
        self.validation = evaluation if validation is None else validation  # chooses; evaluation gates
        self.work, self.max_batch, self.log = work, max_batch, log
        self.parity = 0.0
        self.failed: set[str] = set()  # ids of targets rejected or failed so far
        self._logits: dict[tuple, np.ndarray] = {}
        self._int8: tuple[Path, dict] | None = None
        self._fp16: Path | None = None

    def scratch(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def logits(
        self,
        path: Path,
        format: str,
        precision: str,
        device: str = "cpu",
        backend: str | None = None,
        images: ImageSet | None = None,
    ) -> np.ndarray:
        """Logits of ``images`` (default: the evaluation set) from ``path``, run with ``backend``
        (default: its format's own; cached)."""
        images = self.evaluation if images is None else images
        key = (sha256_file(path), format, precision, device, backend, images.source, len(images))
        if key not in self._logits:
            with open_file(path, format, precision, backend, device=device) as session:
                x = images.images
                self._logits[key] = np.concatenate([session.run(x[i : i + 1000]) for i in range(0, len(x), 1000)])
        return self._logits[key]

    def accuracy(self, path: Path, format: str, precision: str, device: str = "cpu") -> float:
        """Accuracy on the validation set: what chooses between candidates (the evaluation set only gates)."""
        return accuracy(self.logits(path, format, precision, device, images=self.validation), self.validation.labels)

    def int8_onnx(self) -> tuple[Path, dict]:
        """The Q/DQ INT8 ONNX model and its build facts (quantized once, on first use)."""
        if self._int8 is None:
            path = self.scratch("int8") / "model.int8.onnx"
            facts = quantize_best(
                self.source.onnx_path,
                path,
                self.calibration,
                lambda p: self.accuracy(p, "onnx", "int8"),
                self.parity,
                log=self.log,
            )
            require_explicit_quantization(path, "the INT8 ONNX model")
            self._int8 = (path, {**facts, "tensorrt_explicit_quantization": "checked"})
        return self._int8

    def fp16_onnx(self) -> Path:
        if self._fp16 is None:
            self._fp16 = convert_to_fp16(self.source.onnx_path, self.scratch("fp16") / "model.fp16.onnx")
        return self._fp16


def export_bundle(opts: ExportOptions, log=print, progress=None) -> ExportReport:
    """Run the whole export (see the module docstring); returns the report behind the final table.

    ``progress(step, total, target_id)``, when given, is called as each artifact starts (step 1..total).

    Raises:
        EdgeDigitsError: bad input (model, data, options, output folder), or a source whose FP32
            ONNX does not match PyTorch. Rejected artifacts do not raise: see ``report.problems``.
    """
    start = time.perf_counter()
    out = Path(opts.out)
    formats = opts.formats or FORMATS
    targets = select(formats, opts.int8, opts.fp16)
    if opts.max_drop < 0:
        raise UsageError(f"--max-drop must be 0 or more percentage points, not {opts.max_drop}.")
    if opts.max_batch < 1:
        raise UsageError(f"--max-batch must be at least 1, not {opts.max_batch}.")
    check_output(out, opts.force)
    calibration = calibration_set(opts.calib_size, opts.data) if opts.int8 else None
    evaluation = evaluation_set(opts.data)
    with tempfile.TemporaryDirectory(prefix="edgedigits-export-") as work:
        source = load_model_source(opts.model, Path(work))
        validation = validation_set(bundle_val_size(source), opts.data) if opts.int8 else None
        log(
            f"exporting {source.description}; measuring on {len(evaluation):,} images ({evaluation.source})"
            + (
                f", calibrating on {len(calibration):,} ({calibration.source}), choosing on "
                f"{len(validation):,} ({validation.source})"
                if calibration
                else ""
            )
        )
        ctx = Context(source, evaluation, calibration, Path(work), opts.max_batch, log, validation)
        reference, reference_name, baseline = _baseline(ctx)
        ctx.parity = ctx.accuracy(ctx.source.onnx_path, "onnx", "fp32") - PARITY_PP / 100
        rows: list[Row] = []
        with atomic_dir(out, force=opts.force) as root:
            artifacts = []
            for step, target in enumerate(targets, 1):
                if progress is not None:
                    progress(step, len(targets), target.id)
                row, artifact = _export_target(ctx, target, root, reference, reference_name, baseline, opts.max_drop)
                rows.append(row)
                if row.status in ("rejected", "failed"):
                    ctx.failed.add(target.id)
                if artifact is not None:
                    artifacts.append(artifact)
                log(f"{target.id}: {row.state}")
            if source.weights is not None:
                artifacts.append(_carry_weights(ctx, root, reference_name, reference))
            if not any(a.format != "torch" for a in artifacts):
                raise ExportError(
                    f"no artifact passed its checks ({'; '.join(f'{r.id}: {r.state}' for r in rows)}), "
                    f"so nothing was written to {out}."
                )
            if _problems(rows) and not opts.partial:  # leaving atomic_dir by an error writes nothing
                raise ExportError(
                    f"{_describe(_problems(rows))}; so nothing was written to {out} "
                    "(fix the cause and export again, or pass --partial to keep what passed)."
                )
            manifest = dict(source.manifest)
            manifest["export"] = _export_facts(ctx, opts, reference_name, baseline)
            if _problems(rows):
                manifest["export"]["partial"] = {r.id: r.state for r in _problems(rows)}
            write_manifest(root, manifest, artifacts)
    return ExportReport(out, rows, baseline, evaluation.facts(), time.perf_counter() - start)


def _baseline(ctx: Context) -> tuple[np.ndarray, str, float]:
    """Reference logits (PyTorch when it can load the weights, else the FP32 ONNX) and FP32 accuracy.

    When PyTorch is the reference, the FP32 ONNX model must match it (max abs logit difference
    within ``validate.FP32_ATOL``, every predicted digit equal) or the export stops here.
    """
    onnx_logits = ctx.logits(ctx.source.onnx_path, "onnx", "fp32")
    baseline = accuracy(onnx_logits, ctx.evaluation.labels)
    if ctx.source.torch_model is None:
        return onnx_logits, "the FP32 ONNX model", baseline
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(ctx.evaluation.images)
        torch_logits = np.concatenate([ctx.source.torch_model(x[i : i + 1000]).numpy() for i in range(0, len(x), 1000)])
    result = validate_outputs("the FP32 ONNX export", "PyTorch", torch_logits, onnx_logits)
    ctx.log(
        f"FP32 ONNX vs PyTorch on {result.images:,} images: max abs logit difference {result.max_abs_diff:.2e}, "
        f"{result.label_mismatches} labels differ"
    )
    return torch_logits, "PyTorch", baseline


def _export_target(
    ctx: Context,
    target: Target,
    root: Path,
    reference: np.ndarray,
    reference_name: str,
    baseline: float,
    max_drop: float,
):
    """Build, measure and gate one target; returns (table row, artifact or None)."""
    row = Row(target.id, target.format, target.precision, "ok")
    reason = target.unavailable()
    if not reason and target.unmeasured is not None and _unmeasurable(target):
        return _export_unmeasured(ctx, target, root, row)
    reason = reason or _unmeasurable(target)
    if reason:
        row.status, row.reason = "skipped", reason
        return row, None
    try:
        built = target.build(ctx, target, root)
        path = root / built.file
        logits = ctx.logits(
            path, target.format, target.precision, target.device, target.backend() if target.backend else None
        )
        # FP32 must match the source; lower precisions are judged by the accuracy gate below.
        check = (
            validate_outputs(target.id, reference_name, reference, logits)
            if target.precision == "fp32"
            else compare(reference, logits)
        )
        checks = {
            "evaluation": ctx.evaluation.facts(),
            "vs_" + ("pytorch" if reference_name == "PyTorch" else "onnx_fp32"): check.facts(),
        }
    except OutputMismatchError as exc:
        _remove(root, target)
        row.status, row.reason = (
            "rejected",
            f"outputs differ from {reference_name} by {exc.comparison.max_abs_diff:.3g}",
        )
        return row, None
    except EdgeDigitsError as exc:
        _remove(root, target)
        row.status, row.reason = "failed", str(exc).rstrip(".")
        return row, None
    row.accuracy = accuracy(logits, ctx.evaluation.labels)
    row.drop_pp = (baseline - row.accuracy) * 100
    artifact = make_artifact(
        root,
        target.id,
        target.format,
        target.precision,
        built.file,
        built.companions,
        round(row.accuracy, 6),
        {**built.build, "checks": checks},
    )
    row.size = artifact.total_size
    if row.drop_pp > max_drop + 1e-9:
        row.status, row.reason = "rejected", f"accuracy drop {row.drop_pp:.2f} pp > --max-drop {max_drop:g} pp"
        _remove(root, target)
        return row, None
    return row, artifact


def _export_unmeasured(ctx: Context, target: Target, root: Path, row: Row):
    """Build a target its backend cannot run here: written with a note in place of an accuracy,
    unless the ONNX model it is built from failed its own checks in this export."""
    source = f"onnx-{target.precision}"
    if source in ctx.failed:
        row.status, row.reason = (
            "skipped",
            f"its source {source} did not pass its checks, and it cannot be measured here",
        )
        return row, None
    try:
        built = target.build(ctx, target, root)
    except EdgeDigitsError as exc:
        _remove(root, target)
        row.status, row.reason = "failed", str(exc).rstrip(".")
        return row, None
    row.note = target.unmeasured()
    artifact = make_artifact(
        root,
        target.id,
        target.format,
        target.precision,
        built.file,
        built.companions,
        None,
        {**built.build, "accuracy": row.note},
    )
    row.size = artifact.total_size
    return row, artifact


def _unmeasurable(target: Target) -> str | None:
    """Why ``target``'s own backend cannot run it here (so its accuracy cannot be gated), or None."""
    backend = get_backend(target.backend()) if target.backend else natural_backend(target.format)
    ok, why = backend.availability()
    if not ok:
        return f"its backend {backend.name} is not available here ({why})"
    if target.device not in backend.devices():
        return f"the {backend.name} backend has no {target.device} device here, so it cannot be measured"
    if target.precision not in backend.precisions(target.device):
        return (
            f"the {backend.name} backend runs no {target.precision} on {target.device} here, so it cannot be measured"
        )
    return None


def _remove(root: Path, target: Target) -> None:
    """Delete whatever a rejected or failed target wrote under ``root`` (main file and companions)."""
    stem = target.file.rsplit(".", 1)[0].replace("{sm}", "*")
    for path in root.glob(stem + ".*"):
        path.unlink()
    for folder in ("openvino", "tensorrt"):
        if (root / folder).is_dir() and not any((root / folder).iterdir()):
            shutil.rmtree(root / folder)


def _carry_weights(ctx: Context, root: Path, reference_name: str, reference: np.ndarray):
    """Carry the PyTorch weights along (for re-export): measured when PyTorch is the reference,
    else with the accuracy the source recorded for these same bytes."""
    copy_into(ctx.source.weights, root, "weights.pt")
    acc = (
        round(accuracy(reference, ctx.evaluation.labels), 6)
        if reference_name == "PyTorch"
        else ctx.source.weights_accuracy
    )
    return make_artifact(
        root, "torch-fp32", "torch", "fp32", "weights.pt", accuracy=acc, build=ctx.source.weights_build
    )


def _export_facts(ctx: Context, opts: ExportOptions, reference_name: str, baseline: float) -> dict:
    facts = {
        "edgedigits": __version__,
        "source_onnx_sha256": sha256_file(ctx.source.onnx_path),
        "evaluation": ctx.evaluation.facts(),
        "reference": reference_name,
        "fp32_accuracy": round(baseline, 6),
        "max_drop_pp": opts.max_drop,
    }
    if ctx.calibration is not None:
        facts["calibration"] = ctx.calibration.facts()
        facts["int8_method_chosen_on"] = ctx.validation.facts()
    return facts
