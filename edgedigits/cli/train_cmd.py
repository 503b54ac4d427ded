"""`edgedigits train`: train a model on MNIST and write its bundle."""

from __future__ import annotations

from .._deps import need
from ..errors import UsageError
from ..train import FINE_TUNES, RECIPES, train
from . import nonneg_int, positive_float, positive_int

NAME = "train"
HELP = "train a model on MNIST (needs PyTorch) and write a checkpoint and a bundle"


def add_arguments(p) -> None:
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="base",
        help="training recipe: 'base' (default; from scratch), then 'shipped' (a robust "
        "fine-tune of it, --init-from the base bundle), then a third stage --init-from the "
        "'shipped' bundle: 'refuse' (non-digits of many scripts pushed to a flat softmax, "
        "stretched digits), 'reject' (the same with a reject class, an 11th output) or 'gate' "
        "(the 'shipped' network frozen, plus a trained not-a-digit check); these "
        "need Pillow and fonts (README: which stages the shipped model took). 'robust': the "
        "second without clean replay; 'basic': the first recipe ever. "
        "The options below override the recipe's values",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="BUNDLE",
        help="start from this bundle's weights (a bundle folder, its weights.pt, or 'default'); "
        "needed by the fine-tuning recipes",
    )
    p.add_argument("--model", default=None, help="architecture name (default: the recipe's)")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs")
    p.add_argument("--batch-size", type=positive_int, default=None, help="batch size")
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate")
    p.add_argument("--seed", type=nonneg_int, default=None, help="random seed")
    p.add_argument(
        "--threads",
        type=nonneg_int,
        default=0,
        help="CPU threads (default: all cores; results are bit-identical only for the same count)",
    )
    p.add_argument(
        "--subset", type=nonneg_int, default=None, help="train on only the first N training images (default: all)"
    )
    p.add_argument("--val-size", type=positive_int, default=None, help="training images held out for validation")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA, then the cache)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    need("torch", "'edgedigits train'")
    from ..models import list_models  # imports torch

    if args.model is not None and args.model not in list_models():
        raise UsageError(f"unknown --model {args.model!r}; choose one of: {', '.join(list_models())}.")
    overrides = {
        key: getattr(args, key)
        for key in ("model", "epochs", "batch_size", "lr", "seed", "subset", "val_size", "init_from")
        if getattr(args, key) is not None
    }
    cfg = RECIPES[args.recipe](**overrides)
    if args.recipe in FINE_TUNES and not cfg.init_from and not args.resume:
        raise UsageError(
            f"--recipe {args.recipe} fine-tunes a trained model: pass --init-from with its bundle "
            "(train one with --recipe base first)."
        )
    train(
        cfg, args.out, data_dir=args.data, threads=args.threads, resume=args.resume, progress=not args.no_progress
    )  # announces the bundle it wrote
    return 0
