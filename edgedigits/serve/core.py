"""What the HTTP server, Ray Serve and the bulk job share, with no web framework in it.

Request bodies are checked here (type, size, pixel budget, .npy without pickles) and turned
into JSON-ready dicts by one reader; every refusal is a :class:`RequestError` carrying the
HTTP status and one sentence.
"""

from __future__ import annotations

import io

import numpy as np

from .. import __version__
from ..errors import InputError, RequestError  # noqa: F401 (RequestError: public here too)
from ..images import DEFAULT_MAX_PIXELS, decode_image, image_size  # noqa: F401 (public here too)

DEFAULT_MAX_BYTES = 16 << 20  # a request body: a large phone photo or a few thousand crops
MAX_CROPS = 65_536

IMAGE_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
NPY_TYPES = ("application/x-npy", "application/octet-stream")


def media_type(content_type: str | None) -> str:
    """``'Image/PNG; charset=x'`` -> ``'image/png'`` ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def load_npy(data: bytes) -> np.ndarray:
    """An .npy body as an array; pickled objects are refused, never loaded.

    Raises:
        RequestError: empty, not .npy, malformed, or holding Python objects.
    """
    if not data:
        raise RequestError("the request body is empty; send a .npy array of 28x28 crops.")
    if data[:6] != b"\x93NUMPY":
        raise RequestError("the body is not a .npy file (no NUMPY magic); save the crops with numpy.save.", 415)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise RequestError(
                "the .npy holds Python objects, which this server never unpickles; "
                "send a numeric array (uint8 or float)."
            ) from None
        raise RequestError("the .npy file is malformed or truncated; save the crops with numpy.save.") from None
    except (OSError, EOFError, TypeError, SyntaxError):
        raise RequestError("the .npy file is malformed or truncated; save the crops with numpy.save.") from None


def crops_from_pngs(parts: list[bytes], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Several PNG/JPEG crops (28x28, white digit on black) as one N x 28 x 28 uint8 batch."""
    if not parts:
        raise RequestError("the form holds no files; send one .npy or several 28x28 PNG crops.")
    if len(parts) > MAX_CROPS:
        raise RequestError(
            f"{len(parts)} crops in one request is above the limit of {MAX_CROPS}; split the request.", 413
        )
    crops = []
    for i, data in enumerate(parts):
        crop = decode_image(data, max_pixels, gray=True)
        if crop.shape != (28, 28):
            raise RequestError(
                f"crop {i} is {crop.shape[1]}x{crop.shape[0]} pixels; every crop must be 28x28 "
                f"(use /v1/read for whole images)."
            )
        crops.append(crop)
    return np.stack(crops)


def read_json(recognizer, image: np.ndarray) -> dict:
    """The one reader's answer for ``image`` as a JSON-ready dict (:meth:`Reading.to_dict`)."""
    return recognizer.read(image).to_dict()


def classify_json(recognizer, crops: np.ndarray) -> dict:
    """Labels, confidences and rejected flags of a batch of crops (InputError for a bad batch)."""
    check_crops(crops)
    result = recognizer.classify(crops)
    return classification_json(result)


def check_crops(crops: np.ndarray) -> None:
    """Refuse (RequestError) anything but N x 28 x 28 or N x 1 x 28 x 28 uint8/float crops, 1..MAX_CROPS of them."""
    shape = tuple(crops.shape)
    if not (len(shape) == 3 or (len(shape) == 4 and shape[1] == 1)) or shape[-2:] != (28, 28):
        raise RequestError(
            f"the array has shape {shape}; send N x 28 x 28 (or N x 1 x 28 x 28) crops, white "
            f"digit on black as in MNIST (use /v1/read for whole images)."
        )
    if crops.dtype != np.uint8 and crops.dtype.kind != "f":
        raise RequestError(f"the array has dtype {crops.dtype}; send uint8 (0..255) or float (0..1) pixels.")
    if not 0 < shape[0] <= MAX_CROPS:
        raise RequestError(
            f"the array holds {shape[0]} crops; send 1 to {MAX_CROPS} per request.", 413 if shape[0] else 400
        )


def classification_json(result) -> dict:
    """A :class:`~edgedigits.recognizer.Classification` as JSON-ready dict."""
    return {
        "labels": result.labels.tolist(),
        "confidences": [round(c, 4) for c in result.confidences.tolist()],
        "rejected": result.rejected.tolist(),
    }


def info_json(recognizer) -> dict:
    """What model and backend answer, and why (``GET /v1/info``)."""
    info = recognizer.info
    return {
        "edgedigits": __version__,
        "model": info.bundle,
        "artifact": info.artifact,
        "backend": info.backend,
        "device": info.device,
        "precision": info.precision,
        "why": info.why,
        "min_confidence": recognizer.min_confidence,
    }
