"""A second 'is this a digit at all?' check, beside the classifier's confidence.

A 10-class classifier has no 'none of these' answer: shown a W, an M or an H it may say "4"
with 95 % confidence. So each result is also compared with real handwriting: the Euclidean
distance (28x28 crops scaled to 0..1) from the crop to the nearest of the 100 MNIST *training*
images of the class it was read as (the shipped calibration sample). Real digits lie close to
some example of their class; letters and other marks lie far from all of them.

Measured on rendered sheets (benchmarks/bench_camera.py): real digits 95th percentile 7.0,
99th 7.8; block letters 7.5 and above, most above 8.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MAX_NOVELTY = 8.0


class NoveltyGate:
    """Distance of crops to the nearest training example of their predicted class."""

    def __init__(self):
        from ..export.samples import load_sample
        images, labels = load_sample("calibration")
        flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
        self._refs = [flat[labels == c] for c in range(10)]
        self._norms = [(r * r).sum(axis=1) for r in self._refs]

    def distances(self, crops: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Distance of each N x 28 x 28 uint8 crop to the nearest example of its label."""
        x = crops.reshape(len(crops), -1).astype(np.float32) / 255.0
        out = np.empty(len(x), np.float32)
        for i, (v, c) in enumerate(zip(x, labels)):
            d2 = self._norms[c] - 2.0 * (self._refs[c] @ v) + float(v @ v)
            out[i] = np.sqrt(max(0.0, float(d2.min())))
        return out
