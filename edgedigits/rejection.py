"""Saying "not a digit": a confidence score, its threshold, and how that threshold is calibrated.

The score is the model's top softmax probability (its *confidence*). The robust recipe trains
with outlier exposure (:mod:`edgedigits.train`), which pushes the softmax of generated non-digits
towards uniform, so letters, scribbles, blobs, noise and blank crops come out with low confidence.
An input is *rejected* when its confidence is below ``min_confidence``.

The threshold belongs to the model, so it is stored in the bundle's manifest under
``"rejection"`` by :func:`write_calibration` and read back by :func:`min_confidence_for`. It is
calibrated on real digits only (MNIST's validation split, never trained on), as the highest
threshold that rejects at most a given share of them; the share of held-out non-digits that it
still accepts is then *measured*, not tuned (``edgedigits eval``).

Wiring into a recognizer::

    from edgedigits.rejection import min_confidence_for, rejected
    min_confidence = min_confidence_for(bundle)
    mask = rejected(probabilities, min_confidence)     # True = not a digit
"""

from __future__ import annotations

import numpy as np

from . import runtimes
from ._io import write_json_atomic
from .bundle import DEFAULT_MIN_CONFIDENCE, DIGITS, MANIFEST, load_bundle
from .data import bundle_val_size, validation_split
from .errors import BundleError, InputError

SCORE = "max_softmax"
# Calibration: the share of held-out real digits the threshold may reject.
TARGET_FALSE_REJECT = 0.005


def softmax(logits: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Row-wise softmax of N x C logits, computed stably (row maximum subtracted) in ``dtype``."""
    z = np.asarray(logits, dtype=dtype)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def confidence(logits: np.ndarray) -> np.ndarray:
    """The top digit probability of each row of N x 10 logits (the rejection score).

    With a reject class (N x 11 logits, "not a digit" last) the softmax runs over all eleven and
    the score is the top of the ten digits, so an input the model calls "not a digit" scores low.
    """
    return softmax(logits)[:, :DIGITS].max(axis=1)


def predicted(logits: np.ndarray) -> np.ndarray:
    """The most likely digit of each row of N x 10 (or N x 11, reject class last) logits."""
    return np.asarray(logits)[:, :DIGITS].argmax(axis=1)


def energy(logits: np.ndarray) -> np.ndarray:
    """The negative free energy, logsumexp of the logits: an alternative score (higher = more digit-like)."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def check_min_confidence(value) -> float:
    """``value`` as a float in [0, 1], or an :class:`InputError` saying what is wrong."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"min_confidence must be a number between 0 and 1, not {value!r}.") from None
    if not 0.0 <= v <= 1.0:
        raise InputError(f"min_confidence must be between 0 and 1 (0 rejects nothing), not {v}.")
    return v


def rejected(confidences: np.ndarray, min_confidence: float) -> np.ndarray:
    """Boolean mask of the inputs that are not digits: confidence below ``min_confidence``.

    Args:
        confidences: N top softmax probabilities (``Classification.confidences``), or N x 10
            probabilities, whose row maximum is used.
        min_confidence: the threshold in [0, 1]; 0 rejects nothing.
    """
    c = np.asarray(confidences, dtype=np.float64)
    if c.ndim == 2:
        c = c.max(axis=1)
    return c < check_min_confidence(min_confidence)


def calibrate(digit_confidences: np.ndarray, max_false_reject: float = TARGET_FALSE_REJECT) -> float:
    """The highest threshold that rejects at most ``max_false_reject`` of ``digit_confidences``.

    Args:
        digit_confidences: confidences of held-out real digits (not used in training).
        max_false_reject: the share of them that may be rejected, in [0, 0.5].
    """
    c = np.sort(np.asarray(digit_confidences, dtype=np.float64).ravel())
    if c.size == 0:
        raise InputError("cannot calibrate a threshold on no digits; pass held-out digit confidences.")
    if not 0.0 <= max_false_reject <= 0.5:
        raise InputError(f"max_false_reject must be between 0 and 0.5, not {max_false_reject}.")
    k = int(np.floor(max_false_reject * c.size))  # this many may fall below the threshold
    return float(c[k]) if k < c.size else 1.0


def auroc(digit_scores: np.ndarray, other_scores: np.ndarray) -> float:
    """Area under the ROC curve of separating digits (positive) from non-digits by a score (ties count half)."""
    pos = np.asarray(digit_scores, dtype=np.float64).ravel()
    neg = np.asarray(other_scores, dtype=np.float64).ravel()
    both = np.concatenate([pos, neg])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def min_confidence_for(bundle) -> float:
    """The calibrated threshold recorded in ``bundle``'s manifest, else :data:`DEFAULT_MIN_CONFIDENCE`."""
    entry = (getattr(bundle, "manifest", None) or {}).get("rejection") or {}
    value = entry.get("min_confidence")
    if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
        return float(value)
    return DEFAULT_MIN_CONFIDENCE


def write_calibration(bundle_path, min_confidence: float, facts: dict) -> dict:
    """Record the threshold and how it was found under ``"rejection"`` in a bundle's manifest.

    The manifest is rewritten atomically; artifact files and their checksums are untouched.
    """
    import json
    from pathlib import Path

    bundle = load_bundle(bundle_path)
    manifest = json.loads((Path(bundle.path) / MANIFEST).read_text(encoding="utf-8"))
    manifest["rejection"] = {"score": SCORE, "min_confidence": round(check_min_confidence(min_confidence), 6), **facts}
    write_json_atomic(Path(bundle.path) / MANIFEST, manifest)
    return manifest["rejection"]


def calibrate_bundle(
    bundle_path, data_dir=None, val_size: int | None = None, max_false_reject: float = TARGET_FALSE_REJECT
) -> dict:
    """Calibrate a bundle's threshold on MNIST's validation split and write it into its manifest.

    The validation split is the one :mod:`edgedigits.train` held out when it trained the bundle
    (:func:`edgedigits.data.validation_split`; ``val_size`` None = the bundle's recipe's), so
    these digits were never trained on. Runs the bundle's FP32 ONNX model with onnxruntime.
    """
    bundle = load_bundle(bundle_path)
    xval, _ = validation_split(bundle_val_size(bundle) if val_size is None else val_size, data_dir)
    conf = confidence(onnx_logits(bundle, xval))
    threshold = calibrate(conf, max_false_reject)
    return write_calibration(
        bundle.path,
        threshold,
        {
            "calibrated_on": f"MNIST validation split ({len(xval)} training-set images held out from training)",
            "max_false_reject": max_false_reject,
        },
    )


def onnx_logits(bundle, images: np.ndarray, precision: str = "fp32", threads: int = 2, batch: int = 1000) -> np.ndarray:
    """N x 10 (N x 11 with a reject class) logits of uint8 N x 28 x 28 ``images`` from the bundle's ONNX artifact, on ONNX Runtime.

    The session is opened through :mod:`edgedigits.runtimes` (backend ``onnxruntime``, CPU).
    """
    artifact = bundle.find("onnx", precision)
    if artifact is None:
        raise BundleError(f"bundle {bundle.path} has no ONNX {precision} model; export one with 'edgedigits export'.")
    with runtimes.open_file(
        bundle.artifact_path(artifact), "onnx", precision, backend="onnxruntime", threads=threads
    ) as session:
        out = [session.run(images[i : i + batch, None].astype(np.float32) / 255) for i in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)
