"""The export targets, registered in one place.

A target is one (format, precision) artifact: where it goes in the bundle, what it needs on this
machine, the device its own backend runs it on, and how it is built. Everything else - the CLI's
``--formats`` choices, the order of the final table, what ``--int8`` and ``--fp16`` add - is
derived from :data:`TARGETS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from . import openvino as ov_export
from . import tensorrt as trt_export
from .datasets import ImageSet
from .source import Source, copy_into


class BuildContext(Protocol):
    """What a target's build may use (the export pipeline's ``Context`` provides it).

    Attributes:
        source: the FP32 ONNX model and its build facts.
        calibration: images for INT8 calibration (None without ``--int8``).
        parity: accuracy difference (fraction) within which an INT8 candidate equals FP32.
        max_batch: the largest batch a TensorRT engine's profile accepts.
        log: prints one progress line.
    """

    source: Source
    calibration: ImageSet | None
    parity: float
    max_batch: int
    log: Callable[[str], None]

    def fp16_onnx(self) -> Path:
        """The FP16 ONNX model (converted once)."""

    def int8_onnx(self) -> tuple[Path, dict]:
        """The calibrated INT8 ONNX model and its build facts (quantized once)."""

    def accuracy(self, path: Path, format: str, precision: str) -> float:
        """The accuracy of the model file ``path`` on the validation images that choose between candidates."""

    def scratch(self, name: str) -> Path:
        """A fresh working folder called ``name``."""


@dataclass(frozen=True)
class Built:
    """What a target's build wrote under the bundle root."""

    file: str
    companions: list[str] = field(default_factory=list)
    build: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """One artifact kind the exporter can produce.

    Attributes:
        format: bundle format ('onnx', 'openvino', 'tensorrt').
        precision: 'fp32', 'fp16' or 'int8'.
        file: bundle-relative main file ('{sm}' is filled in by TensorRT builds).
        build: writes the artifact under the bundle root and says what it wrote.
        unavailable: says why this machine cannot build it, or returns None.
        device: the device its own backend measures it on.
        backend: the backend that measures it, when not its format's natural one (a callable).
        unmeasured: for a target built even where it cannot be run: the note recorded in place
            of an accuracy (a callable), else None (such a target is skipped).
    """

    format: str
    precision: str
    file: str
    build: Callable[[BuildContext, "Target", Path], Built]
    unavailable: Callable[[], str | None] = lambda: None
    device: str = "cpu"
    backend: Callable[[], str] | None = None
    unmeasured: Callable[[], str] | None = None

    @property
    def id(self) -> str:
        return f"{self.format}-{self.precision}"


# -- ONNX ------------------------------------------------------------------------------------------
def _onnx_fp32(ctx: BuildContext, target: Target, root: Path) -> Built:
    copy_into(ctx.source.onnx_path, root, target.file)
    return Built(target.file, [], ctx.source.onnx_build)


def _onnx_fp16(ctx: BuildContext, target: Target, root: Path) -> Built:
    copy_into(ctx.fp16_onnx(), root, target.file)
    return Built(target.file, [], {**ctx.source.onnx_build, "converted": "float16 weights and compute, float32 I/O"})


def _onnx_int8(ctx: BuildContext, target: Target, root: Path) -> Built:
    path, facts = ctx.int8_onnx()
    copy_into(path, root, target.file)
    return Built(target.file, [], facts)


# -- OpenVINO --------------------------------------------------------------------------------------
def _openvino(ctx: BuildContext, target: Target, root: Path) -> Built:
    xml = root / target.file
    if target.precision == "int8":
        facts = ov_export.quantize_best(
            ctx.int8_onnx()[0],
            ctx.source.onnx_path,
            xml,
            ctx.calibration,
            lambda p: ctx.accuracy(p, "openvino", "int8"),
            ctx.parity,
            ctx.scratch("openvino-int8"),
            ctx.log,
        )
    else:
        facts = ov_export.convert(ctx.source.onnx_path, xml, compress_to_fp16=target.precision == "fp16")
    return Built(*ov_export.ir_files(target.file), facts)


# -- TensorRT --------------------------------------------------------------------------------------
def _tensorrt(ctx: BuildContext, target: Target, root: Path) -> Built:
    sources = {"fp32": lambda: ctx.source.onnx_path, "fp16": ctx.fp16_onnx, "int8": lambda: ctx.int8_onnx()[0]}
    onnx_path = sources[target.precision]()
    if target.precision == "int8":
        trt_export.require_explicit_quantization(onnx_path)
    relative, facts = trt_export.build_into(
        onnx_path, root, target.file, target.precision, ctx.max_batch, source=f"onnx-{target.precision}"
    )
    return Built(relative, [], facts)


def _trt(precision: str) -> Target:
    return Target(
        "tensorrt",
        precision,
        f"tensorrt/model.{precision}.{{sm}}.engine",
        _tensorrt,
        trt_export.unavailable_reason,
        "cuda",
        trt_export.engine_backend,
        trt_export.unmeasured_note,
    )


TARGETS: tuple[Target, ...] = (
    Target("onnx", "fp32", "model.onnx", _onnx_fp32),
    Target("onnx", "fp16", "model.fp16.onnx", _onnx_fp16),
    Target("onnx", "int8", "model.int8.onnx", _onnx_int8),
    Target("openvino", "fp32", "openvino/model.fp32.xml", _openvino, ov_export.unavailable_reason),
    Target("openvino", "fp16", "openvino/model.fp16.xml", _openvino, ov_export.unavailable_reason),
    Target("openvino", "int8", "openvino/model.int8.xml", _openvino, ov_export.unavailable_reason),
    _trt("fp32"),
    _trt("fp16"),
    _trt("int8"),
)
FORMATS: tuple[str, ...] = tuple(dict.fromkeys(t.format for t in TARGETS))


def select(formats, int8: bool, fp16: bool) -> list[Target]:
    """The targets for ``formats`` in registry order: FP32 always, INT8/FP16 when asked."""
    precisions = {"fp32"} | ({"int8"} if int8 else set()) | ({"fp16"} if fp16 else set())
    return [t for t in TARGETS if t.format in formats and t.precision in precisions]
