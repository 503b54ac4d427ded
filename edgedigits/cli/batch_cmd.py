"""`edgedigits batch INPUT... --out DIR`: read folders, file lists and archives of images into JSON Lines or Parquet."""

from __future__ import annotations

import sys

from . import positive_int

NAME = "batch"
HELP = "read every image of folders, file lists (.txt) and archives (.zip, .tar) into JSON Lines or Parquet"


def add_arguments(p) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders (searched recursively), file lists (.txt, one path a line) or "
        "archives (.zip, .tar, .tar.gz)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output folder: part-NNNNN.jsonl (or .parquet) files; rerunning into it skips files done",
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "parquet"),
        default="jsonl",
        help="jsonl (default, no extra dependency) or parquet (pip install 'edgedigits[parquet]')",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: processes on this machine (default); ray: a Ray Data actor pool",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="processes (local) or actors (ray); default: the CPU count",
    )
    p.add_argument("--address", default=None, help="an existing Ray cluster (--engine ray; default: start a local one)")
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument("--backend", default="auto", help="inference backend (default auto)")
    p.add_argument("--precision", default="auto", help="fp32, fp16, int8 or auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..batch import Model, run_batch  # kept out of --help start-up

    summary = run_batch(
        args.inputs,
        args.out,
        fmt=args.format,
        engine=args.engine,
        workers=args.workers,
        model=Model(args.model, args.backend, args.precision),
        address=args.address,
        progress=not args.no_progress,
    )
    print(f"edgedigits batch: {summary.text()}; results in {args.out}", file=sys.stderr)
    return 0
