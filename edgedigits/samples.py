"""The small MNIST samples shipped in the package, for use when MNIST itself is absent.

- ``calibration.npz``: 1,000 images of the *training* set (100 per digit), for INT8 calibration.
- ``heldout.npz``: 1,000 images of the *test* set (100 per digit), for accuracy checks.

Each file holds ``images`` (N x 28 x 28 uint8), ``labels``, the ``indices`` into the source split
and the source file's SHA-256, so anyone can check where every image came from.

Rebuild with: ``python -m edgedigits.samples --data DIR``.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np

from . import data
from ._io import atomic_path
from .errors import DataError

PER_CLASS = 100


def samples_dir() -> Path:
    return Path(str(resources.files("edgedigits") / "assets" / "samples"))


def _balanced_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(picks))


def build(data_dir=None, out: Path | None = None) -> list[Path]:
    out = out or samples_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, split, seed in (("calibration.npz", "train", 7), ("heldout.npz", "test", 11)):
        images, labels = data.load_mnist(split, data_dir)
        idx = _balanced_indices(labels, PER_CLASS, seed)
        with atomic_path(out / name, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f,
                    images=images[idx],
                    labels=labels[idx],
                    indices=idx,
                    source=np.array(data.MNIST_FILES[(split, "images")].name),
                    source_sha256=np.array(data.MNIST_FILES[(split, "images")].sha256),
                )
        written.append(out / name)
    written += write_digit_images(out.parent / "digits")
    return written


def write_digit_images(folder: Path) -> list[Path]:
    """Example image files for ``edgedigits predict``: one held-out test digit per class, half as
    MNIST-style 28x28 crops, half as 'photos' (dark ink on light paper, larger, with noise)."""
    import cv2

    images, labels = load_sample("heldout")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    written = []
    for digit in range(10):
        img = images[np.flatnonzero(labels == digit)[0]]
        if digit % 2 == 0:
            path = folder / f"mnist_{digit}.png"
        else:
            big = cv2.resize(img, (120, 120), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            paper = 225 + 20 * np.linspace(0, 1, 120)[None, :] + rng.normal(0, 4, (120, 120))
            photo = np.clip(paper - big * 0.75, 0, 255).astype(np.uint8)
            img = cv2.copyMakeBorder(photo, 20, 20, 30, 30, cv2.BORDER_REPLICATE)
            path = folder / f"photo_{digit}.png"
        cv2.imwrite(str(path), img)
        written.append(path)
    return written


def load_sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the shipped sample ``'calibration'`` or ``'heldout'``."""
    path = samples_dir() / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"the shipped sample {path} is missing or damaged ({exc}); reinstall edgedigits.") from exc
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8 or len(images) != len(labels):
        raise DataError(f"the shipped sample {path} has an unexpected layout; reinstall edgedigits.")
    return images, labels


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="rebuild the shipped MNIST samples")
    parser.add_argument("--data", default=None)
    for p in build(parser.parse_args().data):
        print(p, p.stat().st_size, "bytes")
