"""`edgedigits export`: turn a trained model into every deployable artifact, calibrated and accuracy-gated."""

from __future__ import annotations

NAME = "export"
HELP = ("export a model to ONNX, OpenVINO IR and TensorRT (FP32, --fp16, --int8), measure every artifact on "
        "MNIST test and write them into one bundle")


def add_arguments(parser) -> None:
    from . import positive_int
    parser.add_argument("--model", metavar="PATH", default=None,
                        help="a bundle folder or a training checkpoint (runs/NAME/checkpoint.pt); "
                             "default: the model shipped with edgedigits")
    parser.add_argument("--out", metavar="DIR", default="edgedigits-export",
                        help="output bundle folder (default: ./edgedigits-export)")
    parser.add_argument("--formats", metavar="LIST", default=None,
                        help="comma-separated: onnx, openvino, tensorrt (default: all; those this machine "
                             "cannot build are skipped with the reason)")
    parser.add_argument("--int8", action="store_true",
                        help="add INT8 artifacts (static quantization, calibrated on MNIST training images)")
    parser.add_argument("--fp16", action="store_true", help="add FP16 artifacts where the format supports them")
    parser.add_argument("--calib-size", metavar="N", type=positive_int, default=500,
                        help="calibration images for INT8 (default 500; from MNIST train, else the shipped sample)")
    parser.add_argument("--max-drop", metavar="PP", type=float, default=0.3,
                        help="reject an artifact whose MNIST test accuracy is more than PP percentage points "
                             "below FP32 (default 0.3)")
    parser.add_argument("--max-batch", metavar="N", type=positive_int, default=64,
                        help="largest batch of the TensorRT optimization profile (default 64)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="MNIST folder (default: $EDGEDIGITS_DATA or the cache; without MNIST the shipped "
                             "samples are used)")


def run(args) -> int:
    import sys

    from ..export.pipeline import ExportOptions, export_bundle, parse_formats

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    options = ExportOptions(model=args.model, out=args.out, formats=parse_formats(args.formats), int8=args.int8,
                            fp16=args.fp16, calib_size=args.calib_size, max_drop=args.max_drop,
                            max_batch=args.max_batch, force=args.force, data=args.data)
    report = export_bundle(options, log=log)
    print(report.table())
    print(f"\nFP32 accuracy {report.baseline:.2%} on {report.evaluation['images']:,} images "
          f"({report.evaluation['source']}); drop = FP32 minus the artifact's accuracy. "
          f"Wrote {report.out} in {report.seconds:.1f} s.")
    report.raise_for_problems()
    return 0
