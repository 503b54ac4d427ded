"""`edgedigits bench`: every artifact of the model on every backend here, with size, accuracy and speed."""

from __future__ import annotations

import argparse

from . import nonneg_int, positive_int

NAME = "bench"
HELP = (
    "benchmark every artifact of a model on every backend of this machine (size, load time, MNIST "
    "accuracy, latency, throughput, camera FPS) and its robustness to camera-like corruptions"
)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model", metavar="PATH", default=None, help="a bundle folder (default: the model shipped with edgedigits)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="also write bench.json, bench.md and bench.png (accuracy vs latency) into DIR",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run: the shipped 1,000-image MNIST sample, fewer repetitions, a short video",
    )
    parser.add_argument(
        "--backends",
        metavar="LIST",
        default=None,
        help="comma-separated backend names to include (default: all; unavailable ones are listed with the reason)",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="MNIST folder (default: $EDGEDIGITS_DATA or the cache; without MNIST the shipped held-out sample is used)",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="where artifacts the bundle lacks are exported to once (default: the edgedigits cache folder)",
    )
    parser.add_argument("--no-robustness", action="store_true", help="leave out the robustness table")
    # For tests and very slow machines: smaller workloads than --quick.
    parser.add_argument("--limit-images", type=positive_int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=nonneg_int, default=None, help=argparse.SUPPRESS)


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from ..bench import BenchOptions, parse_backends, run_bench, table, write_outputs  # imports cv2

    opts = BenchOptions(
        model=args.model,
        out=Path(args.out) if args.out else None,
        quick=args.quick,
        backends=parse_backends(args.backends),
        data=args.data,
        cache=Path(args.cache) if args.cache else None,
        limit_images=args.limit_images,
        frames=args.frames,
        robustness=not args.no_robustness,
        command=shlex.join(["edgedigits", *sys.argv[1:]]),
    )
    result = run_bench(opts)
    print(table(result))
    if result.notes:
        print("\nNotes: " + "; ".join(result.notes) + ".")
    if opts.out is not None:
        paths = write_outputs(result, opts.out)
        print(f"\nWrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0
