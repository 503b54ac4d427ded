"""The SDK entry point for device apps: ``Recognizer``.

from edgedigits import Recognizer
rec = Recognizer()                     # the shipped model, best backend for this machine
result = rec.classify(crops)           # N x 28 x 28 crops -> labels and probabilities
reading = rec.read(frame)              # a frame, photo or page -> digits and numbers with boxes
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass

import numpy as np

from .bundle import DIGITS, Bundle, load_bundle
from .errors import InputError
from .reader import Digit, Reader, Reading  # noqa: F401  (Digit: re-exported, as before the reader)
from .rejection import check_min_confidence, min_confidence_for, predicted, softmax
from .runtimes.select import choose

EXPECTED = (
    "a 28x28 image (HxW), a batch N x 28 x 28, or N x 1 x 28 x 28; "
    "dtype uint8 (0..255) or float (0..1, or 0..255 when a pixel exceeds 1); white digit on black "
    "as in MNIST"
)


def as_batch(images) -> np.ndarray:
    """Validate ``images`` and return a contiguous float32 N x 1 x 28 x 28 batch.

    uint8 pixels are scaled from 0..255 to 0..1. Float pixels (any float dtype, any memory layout)
    follow the rule :meth:`Recognizer.read` applies to frames (:func:`edgedigits.preprocess.to_gray`):
    an image none of whose pixels exceeds 1 is taken as 0..1, any other as 0..255 and divided by
    255 - decided per image, so an image gets the same answer alone or in a batch. A contiguous
    float32 batch of 0..1 images of a documented shape is returned as is (not copied), after one
    check that every pixel is finite. Lists and tuples of images are stacked.

    Raises:
        InputError: not an array (or a list of equally shaped images), a shape or dtype other
            than :data:`EXPECTED`, no images, or NaN / infinite pixels (or float pixels beyond
            float32's range): a classifier cannot say anything about those, so they are refused
            rather than guessed at. (:meth:`Recognizer.read` instead reads camera frames with
            such pixels as black or white; see :func:`edgedigits.preprocess.to_gray`.)
    """
    arr = images if type(images) is np.ndarray else _as_array(images)
    x = arr
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise InputError(f"got shape {x.shape}; expected {EXPECTED}.")
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 2:
        x = x[None, None]
    else:
        raise InputError(f"got shape {x.shape}; expected {EXPECTED}.")
    if x.shape[2:] != (28, 28):
        raise InputError(
            f"got images of {x.shape[2]}x{x.shape[3]} pixels (shape {arr.shape}); "
            f"expected {EXPECTED}. Use Recognizer.read() for whole frames."
        )
    if x.shape[0] == 0:
        raise InputError(f"got an empty batch (shape {arr.shape}); expected {EXPECTED}.")
    if x.dtype == np.float32 and x.flags.c_contiguous:  # the fast path: no copy
        _check_finite(x)
        return _from_0_255(x, copy=True)
    if x.dtype == np.uint8:
        y = x.astype(np.float32, order="C")  # measured quicker than one casting np.multiply
        y *= np.float32(1 / 255)
        return y
    if x.dtype.kind == "f":
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf: refused below
            y = np.ascontiguousarray(x, dtype=np.float32)
        _check_finite(y)
        return _from_0_255(y, copy=y is x or np.shares_memory(x, y))
    raise InputError(f"got dtype {x.dtype}; expected {EXPECTED}.")


def _from_0_255(y: np.ndarray, copy: bool) -> np.ndarray:
    """``y`` (float32 N x 1 x 28 x 28) with every image that has a pixel above 1 divided by 255.

    Args:
        copy: ``y`` belongs to the caller, so scale a copy rather than ``y`` itself.
    """
    over = y.reshape(len(y), -1).max(axis=1) > 1
    if not over.any():
        return y
    if copy:
        y = y.copy()
    y[over] *= np.float32(1 / 255)
    return y


def _as_array(images) -> np.ndarray:
    """``images`` that is not a plain ndarray (a list, a tuple, an ndarray subclass) as an ndarray."""
    if isinstance(images, np.ndarray):
        return np.asarray(images)  # np.matrix, masked arrays: their plain data
    if not isinstance(images, (list, tuple)):
        raise InputError(f"expected a numpy array, got {type(images).__name__}; expected {EXPECTED}.")
    if not images:
        raise InputError(f"got an empty {type(images).__name__}; expected {EXPECTED}.")
    try:
        return np.stack([np.asarray(i) for i in images])
    except (ValueError, TypeError) as exc:  # ragged shapes; dtypes with no common type
        raise InputError(
            f"the images in the {type(images).__name__} have different shapes or kinds of value; expected {EXPECTED}."
        ) from exc


def _check_finite(x: np.ndarray) -> None:
    """Refuse NaN and infinite pixels (InputError).

    The dot product of the pixels with themselves is NaN or inf exactly when a pixel is, or when
    huge finite pixels overflow float32; only then the exact element-wise check runs. One BLAS
    call is cheaper than ``np.isfinite(x).all()``, which allocates a mask the size of the batch
    (and ``np.vdot``, unlike ``np.dot`` and ``sum``, does not warn when it overflows).
    """
    if math.isfinite(np.vdot(x, x)) or np.isfinite(x).all():
        return
    raise InputError(
        "the images contain NaN or infinite values (or floats beyond float32's range); "
        "pass finite pixel values in 0..1."
    )


def top_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The softmax probability of each row's ``labels`` entry, without the full softmax.

    1 / sum(exp(logit - logit[label])). Small batches (a camera frame's few digits) are done in
    plain Python, which is several times quicker than numpy's machinery on ten numbers.
    """
    if len(logits) <= 8:
        out = np.empty(len(logits), np.float32)
        for i, (row, k) in enumerate(zip(logits.tolist(), labels.tolist())):
            top = row[k]
            out[i] = 1.0 / sum([math.exp(v - top) for v in row])
        return out
    top = np.take_along_axis(logits, labels[:, None], axis=1)
    return (1.0 / np.exp(logits - top).sum(axis=1)).astype(np.float32)


class Classification:
    """Result of :meth:`Recognizer.classify` for a batch of N images.

    Attributes:
        labels: N int64, the most likely digit of each image.
        probabilities: N x 10 float32 softmax probabilities of the digits (a model with a reject
            class leaves the rest of each row's 1 to "not a digit").
        confidences: N float32, the probability of each label.
        rejected: N bool, True where the input is not a digit (confidence below the recognizer's
            ``min_confidence``); ``accepted`` is its negation.

    Probabilities and confidences are computed from the logits on first access, so an app that
    needs only the labels does not pay for them.
    """

    __slots__ = ("labels", "min_confidence", "_logits", "_probabilities", "_confidences")

    def __init__(
        self,
        labels: np.ndarray,
        probabilities: np.ndarray | None = None,
        *,
        logits: np.ndarray | None = None,
        min_confidence: float = 0.0,
    ):
        if probabilities is None and logits is None:
            raise TypeError("Classification needs probabilities or logits")
        self.labels = labels
        self.min_confidence = min_confidence
        self._logits = logits
        self._probabilities = probabilities
        self._confidences = None

    @classmethod
    def from_logits(cls, logits: np.ndarray, min_confidence: float = 0.0) -> "Classification":
        return cls(predicted(logits), logits=logits, min_confidence=min_confidence)

    @property
    def probabilities(self) -> np.ndarray:
        if self._probabilities is None:
            # With a reject class the softmax spans it too; its column is left out (rows then sum to
            # less than 1: the rest is "not a digit").
            self._probabilities = softmax(self._logits, np.float32)[:, :DIGITS]
        return self._probabilities

    @property
    def confidences(self) -> np.ndarray:
        if self._confidences is None:
            if self._probabilities is not None:
                self._confidences = self._probabilities.max(axis=1)
            else:
                self._confidences = top_probability(self._logits, self.labels)
        return self._confidences

    @property
    def rejected(self) -> np.ndarray:
        return self.confidences < self.min_confidence

    @property
    def accepted(self) -> np.ndarray:
        return ~self.rejected

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"Classification(labels={self.labels.tolist()!r}, rejected={self.rejected.tolist()!r})"


@dataclass(frozen=True)
class RuntimeInfo:
    """What a :class:`Recognizer` runs on, and why (``rec.info.why`` or ``rec.info["why"]``)."""

    backend: str
    device: str
    precision: str
    artifact: str
    file: str
    bundle: str
    why: str
    routes: tuple[str, ...] = ()

    def __getitem__(self, key: str):
        return getattr(self, key)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.backend} on {self.device}, {self.precision} ({self.artifact}): {self.why}"


class Recognizer:
    """Reads handwritten digits with a bundle's model on a chosen or automatic backend.

    Args:
        model: a bundle folder or a loaded :class:`Bundle`; None for the model shipped with the package.
        backend: 'auto' or a backend name (see ``edgedigits backends``); with 'auto' the
            ``EDGEDIGITS_BACKEND`` environment variable may name one.
        device: 'auto' or a device of that backend ('cpu', 'cuda', 'gpu', 'npu').
        precision: 'auto', 'fp32', 'fp16' or 'int8'. 'auto' uses INT8 only when the bundle's INT8
            model passed its accuracy gate.
        threads: intra-op threads for the backend (None = the library's default, all cores).
        min_confidence: below this confidence an input is reported as not a digit
            (``Classification.rejected``; :meth:`read` drops it). None = the threshold calibrated
            for this model and recorded in its manifest (see :mod:`edgedigits.rejection`); 0
            rejects nothing. Also settable later as ``rec.min_confidence``.

    Raises:
        BackendError: the requested backend, device or precision is unknown or not available here
            (the message lists what is), or the backend cannot load the artifact.
        BundleError: the bundle is missing, malformed, or a file fails its checksum.

    Thread safety: one Recognizer may be shared by several threads. Validation and pre/post
    processing run in parallel; calls into the backend session are serialised by a lock, because
    a session holds one inference request. For parallel inference, give each thread its own
    Recognizer.
    """

    def __init__(
        self,
        model=None,
        backend: str = "auto",
        device: str = "auto",
        precision: str = "auto",
        *,
        threads: int | None = None,
        min_confidence: float | None = None,
    ):
        self.bundle: Bundle = model if isinstance(model, Bundle) else load_bundle(model)
        self.min_confidence = min_confidence_for(self.bundle) if min_confidence is None else min_confidence
        self._lock = threading.Lock()
        self._reader: Reader | None = None
        choice = choose(self.bundle, backend, device, precision)
        self._session = choice.open(self.bundle, threads)
        self.info = RuntimeInfo(
            choice.backend,
            choice.device,
            choice.precision,
            choice.artifact.id,
            str(self._session.path),
            str(self.bundle.path),
            choice.why,
            tuple(choice.describe_routes()) if choice.routes else (),
        )

    @property
    def min_confidence(self) -> float:
        """Inputs whose confidence is below this are not digits (0..1)."""
        return self._min_confidence

    @min_confidence.setter
    def min_confidence(self, value: float) -> None:
        self._min_confidence = check_min_confidence(value)

    def logits(self, images) -> np.ndarray:
        """Raw float32 N x 10 logits for ``images`` (accepted as by :meth:`classify`)."""
        x = as_batch(images)
        with self._lock:
            if self._session.closed:
                return self._session.run(x)  # raises the session's "closed" error
            return self._session._run_checked(x)  # as_batch already gave what check_input demands

    def classify(self, images) -> Classification:
        """Classify 28x28 MNIST-like crops (see :data:`EXPECTED` for accepted shapes).

        Raises:
            InputError: (a ValueError) ``images`` is not what :data:`EXPECTED` says, or holds NaN
                or infinite pixels (refused, not guessed at; see :func:`as_batch`).
        """
        return Classification.from_logits(self.logits(images), self._min_confidence)

    def read(self, image) -> Reading:
        """The digits and numbers in a whole image: a camera frame, a photo or a scanned page.

        The same :class:`edgedigits.reader.Reader` as the camera loop and ``edgedigits predict``
        (default options: this recognizer's ``min_confidence``, the novelty check on). Iterating
        the result gives the accepted digits (box, label, confidence); ``.numbers`` the numbers.
        Any dtype, channel count and memory layout :func:`edgedigits.preprocess.to_gray` reads
        is accepted; NaN and -inf pixels are read as black and +inf as white.

        Raises:
            InputError: (a ValueError) ``image`` is not an image: not an array, empty, a shape
                other than HxW / HxWx{1,3,4}, or a dtype that is not integer, bool or float.
        """
        reader = self._reader
        if reader is None:
            reader = self._reader = Reader(self)
        return reader.read(image)

    def close(self) -> None:
        """Release the backend's resources."""
        with self._lock:
            self._session.close()

    def __enter__(self) -> "Recognizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Recognizer({self.info.backend}/{self.info.device}/{self.info.precision}, {self.info.artifact})"
