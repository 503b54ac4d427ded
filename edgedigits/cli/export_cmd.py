"""`edgedigits export`: turn a trained model into every deployable artifact, calibrated and accuracy-gated."""

from __future__ import annotations

from ..export import pipeline as p  # light: numpy and edgedigits only; the libraries load in run()
from ..export.pipeline import ExportOptions, export_bundle, parse_formats
from ..export.targets import FORMATS
from . import positive_int

NAME = "export"
HELP = (
    "export a model to ONNX, OpenVINO IR and TensorRT (FP32, --fp16, --int8), measure every artifact on "
    "MNIST test and write them into one bundle"
)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model",
        metavar="PATH",
        default=None,
        help="a bundle folder or a training checkpoint (runs/NAME/checkpoint.pt); "
        "default: the model shipped with edgedigits",
    )
    parser.add_argument(
        "--out", metavar="DIR", default=p.DEFAULT_OUT, help=f"output bundle folder (default: ./{p.DEFAULT_OUT})"
    )
    parser.add_argument(
        "--formats",
        metavar="LIST",
        default=None,
        help=f"comma-separated: {', '.join(FORMATS)} (default: all; those this machine "
        "cannot build are skipped with the reason)",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="add INT8 artifacts (static quantization, calibrated on MNIST training images)",
    )
    parser.add_argument("--fp16", action="store_true", help="add FP16 artifacts where the format supports them")
    parser.add_argument(
        "--calib-size",
        metavar="N",
        type=positive_int,
        default=p.DEFAULT_CALIB_SIZE,
        help=f"calibration images for INT8 (default {p.DEFAULT_CALIB_SIZE}; from MNIST train, else the shipped sample)",
    )
    parser.add_argument(
        "--max-drop",
        metavar="PP",
        type=float,
        default=p.DEFAULT_MAX_DROP,
        help="reject an artifact whose MNIST test accuracy is more than PP percentage points "
        f"below FP32 (default {p.DEFAULT_MAX_DROP})",
    )
    parser.add_argument(
        "--max-batch",
        metavar="N",
        type=positive_int,
        default=p.DEFAULT_MAX_BATCH,
        help=f"largest batch of the TensorRT optimization profile (default {p.DEFAULT_MAX_BATCH})",
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="when an artifact fails or is rejected, still write the ones that passed (the "
        "manifest lists what is missing and why); default: write nothing",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="MNIST folder (default: $EDGEDIGITS_DATA or the cache; without MNIST the shipped samples are used)",
    )


def run(args) -> int:
    import sys
    import time

    start = time.perf_counter()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def progress(step: int, total: int, target: str) -> None:
        log(f"[{step}/{total}] {target} ... ({time.perf_counter() - start:.0f} s so far)")

    options = ExportOptions(
        model=args.model,
        out=args.out,
        formats=parse_formats(args.formats),
        int8=args.int8,
        fp16=args.fp16,
        calib_size=args.calib_size,
        max_drop=args.max_drop,
        max_batch=args.max_batch,
        force=args.force,
        data=args.data,
        partial=args.partial,
    )
    report = export_bundle(options, log=log, progress=progress)
    print(report.table())
    print(
        f"\nFP32 accuracy {report.baseline:.2%} on {report.evaluation['images']:,} images "
        f"({report.evaluation['source']}); drop = FP32 minus the artifact's accuracy. "
        f"Wrote {report.out} in {report.seconds:.1f} s."
    )
    report.raise_for_problems()
    return 0
