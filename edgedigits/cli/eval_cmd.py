"""`edgedigits eval`: how well a bundle holds up outside clean MNIST, and how well it says "not a digit".

The suite and its scoring live in :mod:`edgedigits.evaluation`; this is the command line around them.
"""

from __future__ import annotations

import json

from ..bundle import load_bundle
from ..errors import UsageError
from ..rejection import check_min_confidence
from . import nonneg_int, positive_int

NAME = "eval"
HELP = "evaluate a bundle on corrupted, non-MNIST and non-digit inputs (robustness and rejection)"


def add_arguments(p) -> None:
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument(
        "--precision",
        choices=("all", "fp32", "int8"),
        default="all",
        help="which ONNX models to run (default: every one the bundle has)",
    )
    p.add_argument(
        "--min-confidence", type=float, default=None, help="rejection threshold (default: the bundle's calibrated one)"
    )
    p.add_argument(
        "--corruption-images",
        type=positive_int,
        default=2000,
        help="MNIST test images per corruption and severity (default 2000)",
    )
    p.add_argument("--negatives", type=positive_int, default=4000, help="non-digit images (default 4000)")
    p.add_argument("--rendered", type=positive_int, default=2000, help="font-rendered digits (default 2000)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the generated sets (default 0)")
    p.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA, then the cache)")
    p.add_argument("--threads", type=positive_int, default=2, help="onnxruntime threads (default 2)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args) -> int:
    from ..evaluation import TARGETS, build_suite, evaluate_bundle, format_table  # kept out of --help start-up

    if args.min_confidence is not None:
        try:
            check_min_confidence(args.min_confidence)
        except ValueError as exc:
            raise UsageError(f"--min-confidence: {exc}") from None
    bundle = load_bundle(args.model)
    precisions = ("fp32", "int8") if args.precision == "all" else (args.precision,)
    if args.precision != "all" and bundle.find("onnx", args.precision) is None:
        raise UsageError(
            f"bundle {bundle.path} has no ONNX {args.precision} model; "
            f"choose --precision all or export one with 'edgedigits export'."
        )
    suite = build_suite(args.data, args.corruption_images, args.negatives, args.rendered, args.seed)
    results = evaluate_bundle(bundle, suite, precisions, args.min_confidence, args.threads)
    if args.json:
        print(
            json.dumps(
                {
                    "bundle": str(bundle.path),
                    "mnist_source": suite.mnist_source,
                    "notes": suite.notes,
                    "targets": TARGETS,
                    "results": results,
                },
                indent=1,
            )
        )
    else:
        print(f"bundle {bundle.path}; {suite.mnist_source}")
        for note in suite.notes:
            print(f"note: {note}")
        print(format_table(results))
    return 0
