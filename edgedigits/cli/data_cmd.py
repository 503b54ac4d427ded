"""`edgedigits data`: download and check MNIST."""

from __future__ import annotations

from .. import data

NAME = "data"
HELP = "download (fetch) or check (verify) the MNIST files"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = sub.add_parser("fetch", help="download MNIST into the cache (or --dest), verified")
    f.add_argument("--dest", default=None, help="target folder (default: the user cache)")
    f.add_argument(
        "--mirror",
        action="append",
        default=None,
        help="base URL of a mirror to use instead of the defaults (repeatable)",
    )
    f.add_argument("--timeout", type=float, default=30.0, help="seconds per network operation")
    v = sub.add_parser("verify", help="check the MNIST files where edgedigits finds them")
    v.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA, then the cache)")


def run(args) -> int:
    if args.action == "fetch":
        folder = data.fetch(args.dest, args.mirror, timeout=args.timeout)
        print(f"MNIST is ready in {folder}")
        return 0
    folder = data.find_data_dir(args.data)
    for split in ("train", "test"):
        images, labels = data.load_mnist(split, folder)
        print(f"{split}: {len(images):,} images and labels, checksums match the official release")
    print(f"MNIST in {folder} is valid")
    return 0
