"""Training on MNIST: augmentation that looks like camera crops, per-epoch checkpoints, resume.

Determinism: for a given seed, thread count and library versions, a CPU run gives the same
weights (all randomness flows from one seeded ``torch.Generator`` kept in the checkpoint).
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import data as mnist
from ._deps import need
from ._io import atomic_path
from ._progress import Progress
from .errors import EdgeDigitsError, UsageError

CHECKPOINT = "checkpoint.pt"


@dataclass
class Augment:
    """Random geometric and photometric changes applied to each training batch."""
    rotate_deg: float = 12.0          # uniform in [-r, r]
    scale: tuple = (0.85, 1.15)       # uniform zoom
    shift_px: float = 2.5             # uniform translation in pixels
    shear_deg: float = 8.0
    thickness_p: float = 0.5          # probability of changing stroke width
    contrast: tuple = (0.6, 1.0)      # ink intensity multiplier
    noise_std: float = 0.03
    blur_p: float = 0.2


@dataclass
class TrainConfig:
    model: str = "digitnet_s"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.08                  # peak learning rate of the one-cycle schedule (SGD, Nesterov)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    warmup_frac: float = 0.15
    seed: int = 0
    val_size: int = 5000              # held out from the 60k training images, never trained on
    subset: int = 0                   # train on only the first N training images (0 = all)
    augment: Augment = field(default_factory=Augment)

    def validate(self) -> None:
        if self.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, not {self.epochs}.")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, not {self.batch_size}.")
        if not (0 < self.lr < 10):
            raise UsageError(f"--lr must be between 0 and 10, not {self.lr}.")
        if self.val_size < 100 or self.val_size > 30000:
            raise UsageError(f"--val-size must be between 100 and 30000, not {self.val_size}.")
        if self.subset and self.subset < 2 * self.batch_size:
            raise UsageError(f"--subset {self.subset} is too small for --batch-size {self.batch_size}; "
                             f"use at least {2 * self.batch_size} images.")


def _augment(torch, x, aug: Augment, gen):
    """Apply ``aug`` to a float batch N x 1 x 28 x 28 in [0, 1], drawing from ``gen``."""
    import torch.nn.functional as F

    n = x.shape[0]

    def uniform(lo, hi, size=(n,)):
        return lo + (hi - lo) * torch.rand(size, generator=gen)

    angle = uniform(-aug.rotate_deg, aug.rotate_deg) * math.pi / 180
    shear = uniform(-aug.shear_deg, aug.shear_deg) * math.pi / 180
    scale = uniform(*aug.scale)
    tx, ty = (uniform(-aug.shift_px, aug.shift_px) * 2 / 28 for _ in range(2))
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Inverse map (output -> input coordinates) of rotate * shear * scale.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (-sin + cos * torch.tan(shear)) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (cos + sin * torch.tan(shear)) / scale
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # Stroke width: blend towards a dilated (thicker) or eroded (thinner) copy.
    pick = torch.rand(n, generator=gen) < aug.thickness_p
    if pick.any():
        thick = F.max_pool2d(x, 3, stride=1, padding=1)
        thin = -F.max_pool2d(-x, 3, stride=1, padding=1)
        alpha = uniform(-0.6, 0.8).view(n, 1, 1, 1) * pick.view(n, 1, 1, 1)
        x = torch.where(alpha > 0, x + alpha * (thick - x), x + (-alpha) * (thin - x))

    # Camera-like blur, contrast and noise.
    blur = (torch.rand(n, generator=gen) < aug.blur_p).view(n, 1, 1, 1)
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :] / 16).view(1, 1, 3, 3)
        x = torch.where(blur, F.conv2d(x, k, padding=1), x)
    x = x * uniform(*aug.contrast).view(n, 1, 1, 1)
    x = x + aug.noise_std * torch.randn(x.shape, generator=gen)
    return x.clamp_(0.0, 1.0)


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """One-cycle: linear warm-up to ``lr``, cosine decay to lr/1000."""
    warm = max(1, int(cfg.warmup_frac * total))
    if step < warm:
        return cfg.lr * (0.05 + 0.95 * step / warm)
    t = (step - warm) / max(1, total - warm)
    return cfg.lr * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * t)))


def evaluate(torch, model, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on uint8 ``images``."""
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).float().div_(255).unsqueeze(1)
            correct += int((model(x).argmax(1).numpy() == labels[i:i + batch]).sum())
    return correct / len(images)


def _split(cfg: TrainConfig, images, labels):
    """Deterministic train/validation split of the training set."""
    order = np.random.default_rng(1234).permutation(len(images))
    val_idx, train_idx = order[:cfg.val_size], order[cfg.val_size:]
    if cfg.subset:
        train_idx = train_idx[:cfg.subset]
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def _config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    d["augment"] = Augment(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["augment"].items()})
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def train(cfg: TrainConfig, out: str | os.PathLike, data_dir=None, threads: int = 0,
          resume: bool = False, progress: bool = True, log=print) -> Path:
    """Train ``cfg`` into ``out`` (checkpoint + bundle); returns the bundle folder."""
    torch = need("torch", "Training")
    from .models import count_macs, count_params, create_model

    out = Path(out)
    ckpt_path = out / CHECKPOINT
    state = None
    if resume:
        if not ckpt_path.exists():
            raise UsageError(f"--resume was given but {ckpt_path} does not exist; train without --resume first.")
        state = load_checkpoint(ckpt_path)
        saved = _config_from_dict(state["config"])
        if saved.epochs != cfg.epochs and cfg.epochs > saved.epochs:
            saved.epochs = cfg.epochs   # allow extending a finished run
        cfg = saved
        log(f"resuming {ckpt_path} after epoch {state['epoch']} of {cfg.epochs}")
    elif ckpt_path.exists():
        raise UsageError(f"{ckpt_path} already exists; pass --resume to continue it or choose another --out.")
    cfg.validate()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out} ({exc.strerror}); choose a writable --out.") from exc

    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    images, labels = mnist.load_mnist("train", data_dir)
    (xtr, ytr), (xval, yval) = _split(cfg, images, labels)

    model = create_model(cfg.model)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history, start_epoch = [], 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, start_epoch = list(state["history"]), int(state["epoch"])

    steps_per_epoch = len(xtr) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    xtr_t = torch.from_numpy(xtr)
    ytr_t = torch.from_numpy(ytr.astype(np.int64))
    log(f"training {cfg.model} ({count_params(model):,} parameters, {count_macs(model) / 1e6:.2f}M MACs) "
        f"on {len(xtr):,} images, validating on {len(xval):,}; {cfg.epochs} epochs, "
        f"{torch.get_num_threads()} threads")

    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        bar = Progress(steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", enabled=progress)
        run_loss = run_acc = 0.0
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = _lr_at(cfg, step, total_steps)
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x = _augment(torch, xtr_t[idx].float().div_(255).unsqueeze(1), cfg.augment, gen)
            y = ytr_t[idx]
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss = 0.98 * run_loss + 0.02 * loss.item() if i else loss.item()
            acc = (logits.argmax(1) == y).float().mean().item()
            run_acc = 0.98 * run_acc + 0.02 * acc if i else acc
            bar.update(1, f"loss {run_loss:.4f} acc {run_acc:.4f} lr {opt.param_groups[0]['lr']:.4f}")
        bar.close()
        val_acc = evaluate(torch, model, xval, yval)
        history.append({"epoch": epoch + 1, "train_loss": round(run_loss, 5), "val_accuracy": val_acc})
        log(f"epoch {epoch + 1}: validation accuracy {val_acc:.4%}")
        save_checkpoint(torch, ckpt_path, {
            "config": _jsonable(asdict(cfg)), "epoch": epoch + 1, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            "history": history,
        })
    train_seconds = time.perf_counter() - t_start

    test_images, test_labels = mnist.load_mnist("test", data_dir)
    test_acc = evaluate(torch, model, test_images, test_labels)
    log(f"MNIST test accuracy (10,000 images, never used for any choice): {test_acc:.4%}")

    from .bundle import write_training_bundle
    recipe = _jsonable(asdict(cfg))
    recipe.update({"threads": torch.get_num_threads(), "torch": torch.__version__,
                   "python": platform.python_version(), "train_images": len(xtr),
                   "validation_images": len(xval), "train_seconds_this_run": round(train_seconds, 1),
                   "history": history})
    bundle = write_training_bundle(model, out / "bundle", recipe=recipe, test_accuracy=test_acc,
                                   val_accuracy=history[-1]["val_accuracy"], log=log)
    return bundle


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def save_checkpoint(torch, path: Path, state: dict) -> None:
    """Write the checkpoint atomically: an interrupt leaves the previous one intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a training checkpoint safely (tensors and plain data only; no pickled code)."""
    torch = need("torch", "Loading a checkpoint")
    path = Path(path)
    if not path.is_file():
        raise EdgeDigitsError(f"checkpoint {path} does not exist; check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise EdgeDigitsError(f"{path} is not a readable edgedigits checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:120]}); it may be truncated or corrupted.") from exc
    if not isinstance(state, dict) or not {"config", "model", "epoch"} <= set(state):
        raise EdgeDigitsError(f"{path} is not an edgedigits training checkpoint (missing config/model/epoch).")
    return state
