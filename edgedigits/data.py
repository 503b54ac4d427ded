"""MNIST: locate, download, read and validate the four standard IDX files.

Nothing is trusted: each file's magic number, dimensions and payload length are checked, and the
SHA-256 of the uncompressed bytes must equal the official checksum, so a truncated, corrupted or
swapped file is refused with a sentence naming the file and the problem.
"""

from __future__ import annotations

import gzip
import http.client
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import _io
from .errors import DataError, DownloadError


@dataclass(frozen=True)
class IdxSpec:
    name: str  # file name without .gz
    sha256: str  # SHA-256 of the uncompressed file
    magic: int  # 2051 for images, 2049 for labels
    dims: tuple  # expected dimensions


# SHA-256 of the uncompressed original release files.
MNIST_FILES = {
    ("train", "images"): IdxSpec(
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        2051,
        (60000, 28, 28),
    ),
    ("train", "labels"): IdxSpec(
        "train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 2049, (60000,)
    ),
    ("test", "images"): IdxSpec(
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        2051,
        (10000, 28, 28),
    ),
    ("test", "labels"): IdxSpec(
        "t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 2049, (10000,)
    ),
}

# Public mirrors of the original files, tried in order. EDGEDIGITS_MNIST_MIRRORS (comma separated
# base URLs) replaces the list.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

ENV_DATA = "EDGEDIGITS_DATA"
ENV_MIRRORS = "EDGEDIGITS_MNIST_MIRRORS"


def cache_dir() -> Path:
    """Where ``edgedigits data fetch`` puts MNIST: ``mnist/`` in :func:`edgedigits._io.cache_dir`."""
    return _io.cache_dir("mnist")


def _has_files(folder: Path) -> bool:
    return all((folder / s.name).exists() or (folder / (s.name + ".gz")).exists() for s in MNIST_FILES.values())


def find_data_dir(data_dir: str | os.PathLike | None = None, required: bool = True) -> Path | None:
    """Where the MNIST files are: ``data_dir`` if given, else $EDGEDIGITS_DATA, else the cache.

    An explicitly given folder (argument or environment) is used even if files are missing, so
    the error names that folder rather than silently looking elsewhere.
    """
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA])
    cached = cache_dir()
    if _has_files(cached) or not required:
        return cached if _has_files(cached) else None
    raise DataError(
        f"MNIST was not found: pass --data DIR, set {ENV_DATA}, "
        f"or run 'edgedigits data fetch' to download it into {cached}."
    )


def mnist_available(data_dir: str | os.PathLike | None = None) -> bool:
    """Whether all four MNIST files are present (not validated) where :func:`find_data_dir` looks."""
    folder = find_data_dir(data_dir, required=False)
    return folder is not None and _has_files(folder)


def _read_payload(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        # Decide by content, not by name: a download in progress is named *.part.
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and permissions.") from exc
        raise DataError(
            f"{path}: the gzip stream is truncated or corrupted ({exc}); "
            "delete it and download it again with 'edgedigits data fetch'."
        ) from exc


FIX_HINT = "delete it and download it again with 'edgedigits data fetch'"


def parse_idx(payload: bytes, spec: IdxSpec, source: str, hint: str = FIX_HINT) -> np.ndarray:
    """Validate and decode an uncompressed IDX payload against ``spec``."""
    ndim = len(spec.dims)
    header_len = 4 + 4 * ndim
    if len(payload) < header_len:
        raise DataError(
            f"{source}: only {len(payload)} bytes, shorter than an IDX header; the file is truncated: {hint}."
        )
    magic = int.from_bytes(payload[:4], "big")
    if magic != spec.magic:
        raise DataError(
            f"{source}: magic number {magic} where an IDX {'image' if spec.magic == 2051 else 'label'} "
            f"file has {spec.magic}; this is not {spec.name}: {hint}."
        )
    dims = tuple(int.from_bytes(payload[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims != spec.dims:
        raise DataError(f"{source}: dimensions {dims} where {spec.name} has {spec.dims}: {hint}.")
    expected = header_len + int(np.prod(dims))
    if len(payload) != expected:
        what = "truncated" if len(payload) < expected else "longer than expected"
        raise DataError(f"{source}: {len(payload)} bytes where {expected} are expected; the file is {what}: {hint}.")
    digest = hashlib.sha256(payload).hexdigest()
    if digest != spec.sha256:
        raise DataError(
            f"{source}: SHA-256 {digest[:12]}... does not match the official {spec.sha256[:12]}...; "
            f"the file is corrupted or not the original: {hint}."
        )
    return np.frombuffer(payload, dtype=np.uint8, offset=header_len).reshape(dims)


def read_idx(path: str | os.PathLike, spec: IdxSpec) -> np.ndarray:
    path = Path(path)
    return parse_idx(_read_payload(path), spec, str(path))


def _locate(folder: Path, spec: IdxSpec) -> Path:
    for candidate in (folder / spec.name, folder / (spec.name + ".gz")):
        if candidate.exists():
            return candidate
    raise DataError(
        f"{folder / (spec.name + '.gz')} is missing: put the MNIST files in {folder} "
        f"or run 'edgedigits data fetch --dest {folder}'."
    )


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The validated MNIST ``split`` ('train' or 'test') as (images N x 28 x 28 uint8, labels N uint8)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = find_data_dir(data_dir)
    if not folder.is_dir():
        raise DataError(
            f"MNIST folder {folder} does not exist: check --data / ${ENV_DATA}, or run 'edgedigits data fetch'."
        )
    images = read_idx(_locate(folder, MNIST_FILES[(split, "images")]), MNIST_FILES[(split, "images")])
    labels = read_idx(_locate(folder, MNIST_FILES[(split, "labels")]), MNIST_FILES[(split, "labels")])
    if labels.max() > 9:
        raise DataError(f"{folder}: labels outside 0..9 in the {split} set; the label file is corrupted.")
    return images, labels


def checksums() -> dict[str, str]:
    """The official SHA-256 of each uncompressed MNIST file, by file name."""
    return {s.name: s.sha256 for s in MNIST_FILES.values()}


# ---------------------------------------------------------------------------------------------
# Download


def mirrors() -> list[str]:
    env = os.environ.get(ENV_MIRRORS)
    if env:
        return [m.strip() for m in env.split(",") if m.strip()]
    return list(DEFAULT_MIRRORS)


def _download(url: str, part: Path, timeout: float, chunk: int = 1 << 16) -> None:
    """Download ``url`` into ``part``, resuming from its current length when the server allows."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "edgedigits"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked past the end: the part is complete (or wrong)
            return
        raise
    with response:  # a body cut short raises IncompleteRead or ends early: both keep the part for a resume
        status = getattr(response, "status", 200)
        mode = "ab" if (have and status == 206) else "wb"
        expected = response.headers.get("Content-Length")
        written = 0
        with open(part, mode) as f:
            while True:
                try:
                    block = response.read(chunk)
                except http.client.IncompleteRead as exc:
                    f.write(exc.partial)
                    written += len(exc.partial)
                    break
                if not block:
                    break
                f.write(block)
                written += len(block)
        if expected is not None and written != int(expected):
            raise DownloadError(f"{url}: the connection closed after {written} of {expected} bytes")


def fetch(
    dest: str | os.PathLike | None = None, mirror_list: Sequence[str] | None = None, timeout: float = 30.0, log=print
) -> Path:
    """Download the four MNIST files into ``dest`` (default: the cache), verified and atomic.

    Each file is downloaded to ``<name>.gz.part`` (resumed when a previous attempt stopped), its
    uncompressed SHA-256 is checked, and only then is it renamed to its final name. A file that
    is already present and valid is not downloaded again. Mirrors are tried in order.
    """
    folder = Path(dest) if dest is not None else cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {folder} ({exc.strerror}); choose a writable folder with --dest.") from exc
    bases = list(mirror_list) if mirror_list else mirrors()
    for spec in MNIST_FILES.values():
        final = folder / (spec.name + ".gz")
        existing = [p for p in (folder / spec.name, final) if p.exists()]
        if existing:
            try:
                read_idx(existing[0], spec)
                log(f"{existing[0].name}: present and verified")
                continue
            except DataError:
                log(f"{existing[0].name}: present but invalid, downloading it again")
        part = folder / (spec.name + ".gz.part")
        failures = []
        for base in bases:
            url = base.rstrip("/") + "/" + spec.name + ".gz"
            for attempt in range(2):  # a second try resumes an interrupted transfer
                try:
                    _download(url, part, timeout)
                    parse_idx(_read_payload(part), spec, url, hint="the mirror served a bad file")
                except (urllib.error.URLError, OSError, http.client.HTTPException, DataError) as exc:
                    reason = getattr(exc, "reason", None) or exc
                    if isinstance(exc, DataError) and not isinstance(exc, DownloadError) and part.exists():
                        part.unlink()  # a complete but wrong file: start over rather than resume
                    failures.append(str(reason) if isinstance(exc, DataError) else f"{url}: {reason}")
                    if isinstance(exc, urllib.error.HTTPError):
                        break
                    continue
                os.replace(part, final)
                log(f"{final.name}: downloaded from {base} and verified")
                break
            else:
                continue
            break
        else:
            if part.exists() and part.stat().st_size == 0:
                part.unlink()
            raise DownloadError(
                f"could not download a valid {spec.name}.gz from any mirror "
                f"({'; '.join(failures)}); check the network or set {ENV_MIRRORS}."
            )
    return folder


# ----------------------------------------------------------------------------------------------
# The one split of MNIST's training images into training and validation (every recipe's; the
# validation part chooses thresholds, export methods and models, never MNIST test).

DEFAULT_VAL_SIZE = 5000


def split_indices(n: int, val_size: int, subset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices into MNIST's ``n`` training images, as every recipe splits them.

    The order is fixed (seed 1234), so a smaller ``val_size`` gives a prefix of a larger one's
    validation images, and the validation images are never trained on.
    """
    order = np.random.default_rng(1234).permutation(n)
    val_idx, train_idx = order[:val_size], order[val_size:]
    return (train_idx[:subset] if subset else train_idx), val_idx


def validation_split(val_size: int, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels) of the validation split that training with ``val_size`` holds out.

    Calibration, export choices and model choices use these, never MNIST test.
    """
    images, labels = load_mnist("train", data_dir)
    _, val_idx = split_indices(len(images), val_size)
    return images[val_idx], labels[val_idx]


def bundle_val_size(bundle) -> int:
    """The validation size of the recipe that trained ``bundle`` (:data:`DEFAULT_VAL_SIZE`, the
    training recipe's default, if none is recorded)."""
    recipe = ((getattr(bundle, "manifest", None) or {}).get("training") or {}).get("recipe") or {}
    size = recipe.get("val_size")
    return int(size) if isinstance(size, int) and size > 0 else DEFAULT_VAL_SIZE
