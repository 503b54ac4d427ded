"""The images export uses: calibration images (MNIST train), the validation split that chooses
between candidates (MNIST train, held out by training) and the evaluation set that gates (MNIST test).

All come from the full MNIST files when they are present and otherwise from the samples shipped
in the package (:mod:`edgedigits.samples`), and say which in ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import load_mnist, mnist_available
from ..errors import UsageError
from ..samples import load_sample
from ..train import validation_split

# Fewer calibration images than this give unstable activation ranges (10 per digit on average).
MIN_CALIBRATION = 100
CALIBRATION_SEED = 0


@dataclass(frozen=True)
class ImageSet:
    """Model-ready images (float32 N x 1 x 28 x 28 in [0, 1]), their labels and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def facts(self) -> dict:
        return {"images": len(self), "source": self.source}


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 N x 28 x 28 -> float32 N x 1 x 28 x 28, pixel / 255."""
    return np.ascontiguousarray(images[:, None], dtype=np.float32) * np.float32(1 / 255)


def _split(split: str, sample: str, data_dir) -> tuple[np.ndarray, np.ndarray, str]:
    if data_dir is not None or mnist_available():
        images, labels = load_mnist(split, data_dir)
        return images, labels, f"mnist-{split}"
    images, labels = load_sample(sample)
    return images, labels, f"shipped-{sample}-sample"


def evaluation_set(data_dir=None) -> ImageSet:
    """The full MNIST test set (10,000) when present, else the shipped held-out sample (1,000)."""
    images, labels, source = _split("test", "heldout", data_dir)
    return ImageSet(to_input(images), labels.astype(np.int64), source)


def validation_set(val_size: int, data_dir=None) -> ImageSet:
    """The validation split training held out (:func:`edgedigits.train.validation_split`): it chooses.

    Without the MNIST files, the shipped calibration sample (MNIST training images) stands in, so
    that a choice is still never made on the evaluation set; ``source`` says so.
    """
    if data_dir is not None or mnist_available():
        images, labels = validation_split(val_size, data_dir)
        return ImageSet(to_input(images), labels.astype(np.int64), f"mnist-train-validation-split-{val_size}")
    images, labels = load_sample("calibration")
    return ImageSet(to_input(images), labels.astype(np.int64), "shipped-calibration-sample")


def calibration_set(size: int, data_dir=None, seed: int = CALIBRATION_SEED) -> ImageSet:
    """``size`` training images drawn with a fixed seed, from MNIST train or the shipped sample.

    Raises:
        UsageError: ``size`` is below :data:`MIN_CALIBRATION` or above what the source holds.
    """
    if size < MIN_CALIBRATION:
        raise UsageError(
            f"--calib-size {size} is too little calibration data for reliable INT8 ranges; "
            f"use at least {MIN_CALIBRATION} images."
        )
    images, labels, source = _split("train", "calibration", data_dir)
    if size > len(images):
        raise UsageError(
            f"--calib-size {size} asks for more images than the {source} holds ({len(images)}); "
            f"use at most {len(images)}"
            + ("" if source.startswith("mnist") else " or pass --data DIR with the full MNIST")
            + "."
        )
    pick = np.sort(np.random.default_rng(seed).choice(len(images), size, replace=False))
    return ImageSet(to_input(images[pick]), labels[pick].astype(np.int64), source)
