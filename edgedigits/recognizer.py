"""The SDK entry point for device apps: ``Recognizer``.

    from edgedigits import Recognizer
    rec = Recognizer()                     # the shipped model, best backend for this machine
    result = rec.classify(crops)           # N x 28 x 28 crops -> labels and probabilities
    digits = rec.read(frame)               # a whole camera frame -> digits with boxes
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from .bundle import Bundle, load_bundle
from .errors import InputError

EXPECTED = ("a 28x28 image (HxW), a batch N x 28 x 28, or N x 1 x 28 x 28; "
            "dtype uint8 (0..255) or float (0..1); white digit on black as in MNIST")


def as_batch(images) -> np.ndarray:
    """Validate ``images`` and return a contiguous float32 N x 1 x 28 x 28 batch in [0, 1]."""
    if isinstance(images, (list, tuple)):
        try:
            images = np.stack([np.asarray(i) for i in images])
        except ValueError as exc:
            raise InputError(f"the images in the list have different shapes; expected {EXPECTED}.") from exc
    if not isinstance(images, np.ndarray):
        raise InputError(f"expected a numpy array, got {type(images).__name__}; expected {EXPECTED}.")
    x = images
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4 or x.shape[1] != 1:
        raise InputError(f"got shape {images.shape}; expected {EXPECTED}.")
    if x.shape[2:] != (28, 28):
        raise InputError(f"got images of {x.shape[2]}x{x.shape[3]} pixels (shape {images.shape}); "
                         f"expected {EXPECTED}. Use Recognizer.read() for whole frames.")
    if x.shape[0] == 0:
        raise InputError(f"got an empty batch (shape {images.shape}); expected {EXPECTED}.")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x, dtype=np.float32) * np.float32(1 / 255)
    if np.issubdtype(x.dtype, np.floating):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise InputError("the images contain NaN or infinite values; pass finite pixel values in 0..1.")
        return x
    raise InputError(f"got dtype {images.dtype}; expected {EXPECTED}.")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Classification:
    """Result of :meth:`Recognizer.classify` for a batch of N images."""
    labels: np.ndarray          # N int64, the most likely digit
    probabilities: np.ndarray   # N x 10 float32
    confidences: np.ndarray = field(init=False)

    def __post_init__(self):
        self.confidences = self.probabilities.max(axis=1)

    def __len__(self) -> int:
        return len(self.labels)


class Recognizer:
    """Reads handwritten digits with a bundle's model on a chosen or automatic backend.

    Args:
        model: a bundle folder; None for the model shipped with the package.
        backend: 'auto' or a backend name (see ``edgedigits backends``).
        device: 'auto' or a device of that backend (e.g. 'cpu').
        precision: 'auto', 'fp32', 'fp16' or 'int8'.

    Thread safety: ``classify`` and ``read`` may be called from several threads; calls into the
    backend session are serialised by a lock.
    """

    def __init__(self, model=None, backend: str = "auto", device: str = "auto", precision: str = "auto"):
        self.bundle: Bundle = model if isinstance(model, Bundle) else load_bundle(model)
        self._lock = threading.Lock()
        self._session, self.info = _open_session(self.bundle, backend, device, precision)

    def logits(self, images) -> np.ndarray:
        x = as_batch(images)
        with self._lock:
            return self._session.run(x)

    def classify(self, images) -> Classification:
        """Classify 28x28 MNIST-like crops (see :data:`EXPECTED` for accepted shapes)."""
        probs = softmax(self.logits(images).astype(np.float32))
        return Classification(probs.argmax(axis=1), probs)


class _OrtSession:
    """Minimal ONNX Runtime session, used until the runtime layer picks one."""

    def __init__(self, path):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.log_severity_level = 3
        self._sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self._input = self._sess.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run(None, {self._input: x})[0]


def _open_session(bundle: Bundle, backend: str, device: str, precision: str):
    artifact = bundle.find("onnx", "fp32" if precision == "auto" else precision)
    if artifact is None:
        from .errors import BundleError
        raise BundleError(f"bundle {bundle.path} has no ONNX {precision} artifact.")
    path = bundle.artifact_path(artifact)
    return _OrtSession(path), {"backend": "onnxruntime", "device": "cpu", "precision": artifact.precision,
                               "artifact": artifact.id, "reason": "only backend wired so far"}
