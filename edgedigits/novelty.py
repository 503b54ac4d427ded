"""A second 'is this a digit at all?' check, beside the classifier's confidence.

A 10-class classifier has no 'none of these' answer: shown a W, an M or an H it may say "4"
with 95 % confidence. So each result is also compared with real handwriting: the mean
Euclidean distance (28x28 crops scaled to 0..1) from the crop to its ``NEIGHBOURS`` nearest
MNIST *training* images of the class it was read as (100 per class: the shipped calibration
sample). Real digits lie close to several examples of their class; letters and other marks
lie far from all of them.

The threshold was chosen on 150 rendered sheets of MNIST test digits with lines, smudges and
block letters: at 8.25 it kept 98.7 % of the digits read right and let 0.03 letters per sheet
through (8.0: 98.3 % / 0.01; 8.5: 99.0 % / 0.09). ``benchmarks/bench_camera.py`` sweeps it on
other sheets (``--seed``); see benchmarks/results/camera.md. It is an option of
:class:`edgedigits.reader.Reader` (``max_novelty``), on by default.
"""

from __future__ import annotations

import numpy as np

from .samples import load_sample

DEFAULT_MAX_NOVELTY = 8.25
NEIGHBOURS = 3


class NoveltyGate:
    """Mean distance of crops to the nearest training examples of their predicted class."""

    def __init__(self):
        images, labels = load_sample("calibration")
        flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
        self._refs = [flat[labels == c] for c in range(10)]
        self._norms = [(r * r).sum(axis=1) for r in self._refs]

    def distances(self, crops: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Mean distance of each N x 28 x 28 uint8 crop to its NEIGHBOURS nearest examples of its label."""
        x = crops.reshape(len(crops), -1).astype(np.float32) / 255.0
        out = np.empty(len(x), np.float32)
        for i, (v, c) in enumerate(zip(x, labels)):
            d2 = self._norms[c] - 2.0 * (self._refs[c] @ v) + float(v @ v)
            nearest = np.partition(d2, NEIGHBOURS - 1)[:NEIGHBOURS]
            out[i] = float(np.sqrt(np.maximum(nearest, 0.0)).mean())
        return out
