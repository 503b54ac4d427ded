"""`edgedigits train`: train a model on MNIST and write its bundle."""

from __future__ import annotations

from . import nonneg_int, positive_float, positive_int

NAME = "train"
HELP = "train a model on MNIST (needs PyTorch) and write a checkpoint and a bundle"


def add_arguments(p) -> None:
    from ..train import TrainConfig
    d = TrainConfig()
    p.add_argument("--model", default=d.model, help=f"architecture name (default {d.model})")
    p.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=positive_float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--seed", type=nonneg_int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--threads", type=nonneg_int, default=0, help="CPU threads (default: all cores)")
    p.add_argument("--subset", type=nonneg_int, default=0,
                   help="train on only the first N training images (default: all)")
    p.add_argument("--val-size", type=positive_int, default=d.val_size,
                   help=f"training images held out for validation (default {d.val_size})")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA, then the cache)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from .._deps import need
    need("torch", "'edgedigits train'")
    from ..models import list_models
    from ..errors import UsageError
    from ..train import TrainConfig, train
    if args.model not in list_models():
        raise UsageError(f"unknown --model {args.model!r}; choose one of: {', '.join(list_models())}.")
    cfg = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed, subset=args.subset, val_size=args.val_size)
    bundle = train(cfg, args.out, data_dir=args.data, threads=args.threads, resume=args.resume,
                   progress=not args.no_progress)
    print(f"bundle written to {bundle}")
    return 0
