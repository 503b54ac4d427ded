"""The contract every backend keeps: a :class:`Backend` that says what it can do here, and a
:class:`Session` that runs one loaded artifact.

A backend module subclasses both and fills in small ``*_impl`` hooks; everything shared (input
checks, batching limits, closing, the context manager, the reason a backend is unavailable) lives
here once, so no backend can drift from the contract. Heavy libraries are imported only inside the
hooks, never at module import.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._deps import INSTALL_HINTS, has
from ..bundle import Artifact, Bundle
from ..errors import BackendError, InputError

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
# Logits per image: the ten digits, or the ten digits and a reject class ("not a digit") after them.
OUTPUT_WIDTHS = (NUM_CLASSES, NUM_CLASSES + 1)
EXPECTED_INPUT = "a C-contiguous float32 array of shape N x 1 x 28 x 28 (N >= 1)"


def check_input(x: Any) -> None:
    """Raise :class:`InputError` unless ``x`` is what every session expects (see EXPECTED_INPUT)."""
    if not isinstance(x, np.ndarray):
        raise InputError(f"a session was given a {type(x).__name__}; expected {EXPECTED_INPUT}.")
    if x.dtype != np.float32:
        raise InputError(
            f"a session was given dtype {x.dtype}; expected {EXPECTED_INPUT} "
            "(Recognizer.classify converts uint8 images for you)."
        )
    if x.ndim != 4 or x.shape[1:] != INPUT_SHAPE or x.shape[0] < 1:
        raise InputError(f"a session was given shape {x.shape}; expected {EXPECTED_INPUT}.")
    if not x.flags.c_contiguous:
        raise InputError(
            f"a session was given a non-contiguous array; expected {EXPECTED_INPUT} (use numpy.ascontiguousarray)."
        )


def describe(exc: BaseException) -> str:
    """The first line of a library's error message, for quoting inside one sentence."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300].rstrip(".") if lines else type(exc).__name__


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Session:
    """One artifact loaded on one device, ready to run batches.

    ``run`` checks the batch once, splits it when the artifact has a fixed largest batch, calls
    :meth:`_run_impl` and checks what came back. Sessions are not thread-safe (one pending
    inference at a time); :class:`edgedigits.Recognizer` serialises calls with a lock.
    Use as a context manager or call :meth:`close`.

    Attributes:
        backend: name of the backend that loaded it.
        device: device it runs on ('cpu', 'cuda', 'gpu', 'npu').
        precision: 'fp32', 'fp16' or 'int8'.
        path: the file it loaded.
        max_batch: the largest batch one call of the library accepts (None = no limit).
    """

    max_batch: int | None = None

    def __init__(self, backend: str, path: Path, device: str, precision: str):
        self.backend = backend
        self.path = Path(path)
        self.device = device
        self.precision = precision
        self.closed = False

    # -- public ------------------------------------------------------------------------------
    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits (float32 N x 10, or N x 11 with a reject class) for a batch ``x`` (float32 N x 1 x 28 x 28 in [0, 1])."""
        if self.closed:
            raise BackendError(f"this {self.backend} session was closed; open a new one to run it again.")
        check_input(x)
        return self._run_checked(x)

    def _run_checked(self, x: np.ndarray) -> np.ndarray:
        """``run`` after the input check (for wrappers that checked already)."""
        limit = self.max_batch
        if limit is None or len(x) <= limit:
            out = self._run_impl(x)
        else:
            out = np.concatenate(
                [self._run_impl(np.ascontiguousarray(x[i : i + limit])) for i in range(0, len(x), limit)]
            )
        if out.ndim != 2 or out.shape[0] != len(x) or out.shape[1] not in OUTPUT_WIDTHS:
            raise BackendError(
                f"{self.backend} returned logits of shape {out.shape} for a batch of {len(x)}; "
                f"expected ({len(x)}, {NUM_CLASSES}) or ({len(x)}, {NUM_CLASSES + 1}): "
                f"{self.path} is not an edgedigits model."
            )
        return out if out.dtype == np.float32 else out.astype(np.float32)

    @property
    def native(self):
        """The library's own inference call on what this session loaded, with no SDK code around it.

        ``native(x)`` takes what :meth:`run` checks for (float32 N x 1 x 28 x 28, C-contiguous,
        N <= ``max_batch``) *unchecked* and returns the library's raw output (logits, possibly in
        a buffer the next call reuses). For measuring the SDK's own overhead (benchmarks/) and
        for apps that validated their input already; None when the backend offers no such call.

        Raises:
            BackendError: the session is closed.
        """
        if self.closed:
            raise BackendError(f"this {self.backend} session was closed; open a new one to run it again.")
        return self._native_impl()

    def close(self) -> None:
        """Release the library's resources; further ``run`` calls raise BackendError."""
        if not self.closed:
            self.closed = True
            self._close_impl()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.backend}/{self.device}/{self.precision} {self.path.name}>"

    # -- hooks -------------------------------------------------------------------------------
    def _run_impl(self, x: np.ndarray) -> np.ndarray:
        """Logits for a checked batch no larger than ``max_batch``."""
        raise NotImplementedError

    def _close_impl(self) -> None:
        """Free what the library holds (default: drop references)."""

    def _native_impl(self):
        """The callable behind :attr:`native` (default: None, no bare call)."""
        return None


class RoutedSession(Session):
    """Several sessions of one precision, each serving a range of batch sizes.

    Used by ``auto`` when the fastest library for single images is not the fastest for large
    batches on this machine. ``routes`` is a list of (largest batch or None for the rest, session),
    in increasing order.
    """

    def __init__(self, routes: list[tuple[int | None, Session]]):
        last = routes[-1][1]
        super().__init__("+".join(dict.fromkeys(s.backend for _, s in routes)), last.path, last.device, last.precision)
        self.routes = routes

    def session_for(self, n: int) -> Session:
        for limit, session in self.routes:
            if limit is None or n <= limit:
                return session
        return self.routes[-1][1]

    def _run_checked(self, x: np.ndarray) -> np.ndarray:
        return self.session_for(len(x))._run_checked(x)

    def _close_impl(self) -> None:
        for _, session in self.routes:
            session.close()

    def __repr__(self) -> str:
        return "<RoutedSession " + ", ".join(f"<={limit}: {s!r}" for limit, s in self.routes) + ">"


class Backend:
    """What one inference library can do on this machine, and how to load artifacts with it.

    Subclasses set the class attributes and implement ``_probe_impl``, ``_devices_impl``,
    ``precisions`` and ``_load_impl``. Probing happens once per process and is cached.

    Attributes:
        name: the backend's name in the API, the CLI and ``EDGEDIGITS_BACKEND``.
        package: the Python package it imports.
        formats: the bundle formats it loads, preferred first.
        role: one line on what it is for (shown by ``edgedigits backends``).
    """

    name: ClassVar[str]
    package: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]
    role: ClassVar[str] = ""
    #: Whether ``auto`` may pick it (the PyTorch reference is for development, not devices).
    auto_candidate: ClassVar[bool] = True

    def __init__(self):
        self._lock = threading.Lock()
        self._probed: tuple[bool, str] | None = None
        self._devices: list[str] = []

    # -- what it can do --------------------------------------------------------------------
    def availability(self) -> tuple[bool, str]:
        """(True, what it found) or (False, why not and what to do)."""
        with self._lock:
            if self._probed is None:
                self._probed = self._probe()
            return self._probed

    @property
    def available(self) -> bool:
        return self.availability()[0]

    def version(self) -> str | None:
        """The library's version, or None when it is not installed."""
        if not has(self.package):
            return None
        from importlib import metadata

        for dist in self._distributions():
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return None

    def devices(self) -> list[str]:
        """Devices this backend can run on here ([] when it is unavailable)."""
        return list(self._devices) if self.available else []

    def precisions(self, device: str) -> list[str]:
        """Precisions this backend can run on ``device``, preferred (fastest) first."""
        raise NotImplementedError

    def artifact_for(self, bundle: Bundle, precision: str, device: str) -> Artifact | None:
        """The artifact of ``bundle`` this backend would load for ``precision`` on ``device``."""
        for fmt in self.formats:
            artifact = bundle.find(fmt, precision)
            if artifact is not None:
                return artifact
        return None

    # -- loading ----------------------------------------------------------------------------
    def load(
        self,
        path: str | os.PathLike,
        format: str,
        precision: str,
        device: str = "cpu",
        threads: int | None = None,
        **options,
    ) -> Session:
        """Load the file ``path`` (of ``format`` and ``precision``) on ``device``.

        Args:
            threads: intra-op threads (None = the library's default, usually all cores).
            options: backend-specific settings (e.g. ``model`` for the torch backend).

        Raises:
            BackendError: the backend is unavailable, or cannot run this format/device/precision,
                or the library failed to load the file.
        """
        self.require()
        if format not in self.formats:
            raise BackendError(
                f"the {self.name} backend cannot load {format} files; it loads: {', '.join(self.formats)}."
            )
        device = self.check_device(device)
        if precision not in self.precisions(device):
            raise BackendError(
                f"the {self.name} backend cannot run {precision} on {device}; it can run: "
                f"{', '.join(self.precisions(device))}."
            )
        path = Path(path)
        if not path.is_file():
            raise BackendError(f"{path} does not exist; pass the model file of a bundle.")
        if threads is not None and threads < 1:
            raise BackendError(f"threads must be at least 1, got {threads}.")
        return self._load_impl(path, format, precision, device, threads, **options)

    def open_artifact(
        self,
        bundle: Bundle,
        artifact: Artifact,
        device: str = "cpu",
        threads: int | None = None,
        precision: str | None = None,
    ) -> Session:
        """Verify ``artifact``'s checksums in ``bundle`` and load it.

        Args:
            precision: what to run it at when that differs from the file's (PyTorch casting
                FP32 weights to FP16, TensorRT building FP16 from an FP32 model); default the file's.
        """
        path = bundle.artifact_path(artifact)
        return self.load(
            path, artifact.format, precision or artifact.precision, device, threads, **self._bundle_options(bundle)
        )

    def require(self) -> None:
        """Raise BackendError with the reason when this backend is unavailable."""
        ok, reason = self.availability()
        if not ok:
            raise BackendError(f"the {self.name} backend is not available here: {reason}.")

    def check_device(self, device: str) -> str:
        """``device`` normalised ('CPU' -> 'cpu', 'cuda:0' -> 'cuda:0'), or BackendError listing devices."""
        wanted = device.lower()
        if wanted in self.devices():
            return wanted
        raise BackendError(
            f"the {self.name} backend has no device {device!r} here; it has: {', '.join(self.devices()) or 'none'}."
        )

    # -- hooks -----------------------------------------------------------------------------
    def _probe(self) -> tuple[bool, str]:
        if not has(self.package):
            return False, (
                f"the '{self.package}' package is not installed "
                f"({INSTALL_HINTS.get(self.package, 'pip install ' + self.package)})"
            )
        try:
            devices, note = self._probe_impl()
        except ImportError as exc:
            return False, f"'{self.package}' is installed but does not import ({exc})"
        if not devices:
            return False, note
        self._devices = devices
        return True, note

    def _probe_impl(self) -> tuple[list[str], str]:
        """(devices found, a note on what was found or why there is nothing)."""
        raise NotImplementedError

    def _load_impl(
        self, path: Path, format: str, precision: str, device: str, threads: int | None, **options
    ) -> Session:
        raise NotImplementedError

    def _bundle_options(self, bundle: Bundle) -> dict:
        """Extra ``load`` options taken from a bundle's manifest (default none)."""
        return {}

    def _distributions(self) -> tuple[str, ...]:
        """Distribution names that may provide ``package`` (for :meth:`version`)."""
        return (self.package,)

    def __repr__(self) -> str:
        return f"<backend {self.name}>"
