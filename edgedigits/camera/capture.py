"""A live source read by a capture thread that keeps only the newest frame.

A camera delivers frames at its own pace whether or not we keep up. The capture thread reads
them continuously into a single slot; ``read()`` returns the newest frame not yet returned, so
the frame being processed is never older than one frame interval plus the processing time, and
frames we were too slow for are counted as dropped (gaps in ``Frame.index``).

The thread also watches the device: when ``read()`` sees no new frame for ``stall_timeout``
seconds (the device stopped delivering, its read blocks, it failed, or it repeats the very same
image), the source is reopened with exponential back-off and the event is reported on stderr.
Frames the device delivers but nothing can read (no image, empty, a few pixels, NaN, an odd
channel count or dtype) are skipped, counted in ``skipped`` and reported; 16-bit, float, gray
and BGRA frames are converted to 8-bit BGR (see :func:`.frames.camera_frame`).
A capture whose read is blocked cannot be interrupted safely; it is abandoned to its (daemon)
thread, which releases it if the read ever returns.
"""

from __future__ import annotations

import threading
from typing import Callable

import cv2
import numpy as np

from ..errors import InputError
from .frames import MAX_RECONNECTS, STALL_TIMEOUT_S, Frame, SourceError, camera_frame, log, now, quiet_opencv

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0


def _same_image(a: np.ndarray | None, b: np.ndarray) -> bool:
    """Whether two frames are pixel-identical (checked on a sparse grid, then in full)."""
    if a is None or a.shape != b.shape:
        return False
    return np.array_equal(a[::16, ::16], b[::16, ::16]) and np.array_equal(a, b)


class _Reader(threading.Thread):
    """Reads one opened capture until it fails or is abandoned; publishes into the owner's slot."""

    def __init__(self, owner: "LiveSource", cap, generation: int):
        super().__init__(name=f"edgedigits-capture-{generation}", daemon=True)
        self.owner, self.cap, self.generation = owner, cap, generation
        self.failed = False
        self.frozen = False
        self.unusable = None  # why the frames since the last good one were skipped

    def run(self) -> None:
        owner, last = self.owner, None
        try:
            while owner.generation == self.generation and not owner.stop.is_set():
                ok, image = self.cap.read()
                if owner.generation != self.generation:
                    break
                if not ok:
                    self.failed = True
                    break
                try:
                    image = camera_frame(image)
                except InputError as exc:
                    self.unusable = str(exc)
                    owner._skip(self.unusable)
                    continue
                self.unusable = None
                if _same_image(last, image):
                    self.frozen = True  # a repeated image is not a new frame
                    continue
                self.frozen = False
                last = image
                owner._publish(image)
        except Exception as exc:  # a backend error ends this capture, not the program
            self.failed = True
            owner.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.cap.release()
            with owner.cond:
                owner.cond.notify_all()


class LiveSource:
    """A camera, stream or demo read by a capture thread with a latest-frame policy.

    Args:
        opener: opens the device and returns a ``cv2.VideoCapture``-like object
            (``isOpened()``, ``read()``, ``release()``, optionally ``get(prop)``).
        name: how messages call the source ('camera 0', a URL, 'demo').
        failure: the one-sentence message when the source cannot be opened at all.
        stop: an event that makes a waiting ``read()`` return None.
        stall_timeout: seconds without a new frame before reconnecting.
        max_reconnects: failed attempts in a row before giving up with :class:`SourceError`.
    """

    live = True

    def __init__(
        self,
        opener: Callable,
        name: str,
        failure: str,
        stop: threading.Event,
        stall_timeout: float = STALL_TIMEOUT_S,
        max_reconnects: int = MAX_RECONNECTS,
    ):
        self.opener, self.name, self.failure, self.stop = opener, name, failure, stop
        self.stall_timeout, self.max_reconnects = stall_timeout, max_reconnects
        self.cond = threading.Condition()
        self.generation = 0
        self.reconnects = 0
        self.dropped = 0
        self.skipped = 0
        self.error = None
        self._slot: Frame | None = None
        self._count = 0  # frames published (the index of the next one)
        self._returned = -1  # index of the last frame read() returned
        self._start = now()
        cap = self._open()
        if cap is None:
            raise SourceError(self.failure)
        self.fps = self._fps(cap)
        self._reader = self._start_reader(cap)

    def _open(self):
        try:
            with quiet_opencv():
                cap = self.opener()
        except Exception as exc:  # a backend may raise instead of failing quietly
            self.error = f"{type(exc).__name__}: {exc}"
            return None
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            return None
        return cap

    @staticmethod
    def _fps(cap) -> float:
        try:
            fps = float(cap.get(cv2.CAP_PROP_FPS))
        except Exception:  # not every capture-like object reports it
            fps = 0.0
        return fps if 1 <= fps <= 1000 else 30.0

    def _start_reader(self, cap) -> _Reader:
        self.generation += 1
        self.error = None
        reader = _Reader(self, cap, self.generation)
        reader.start()
        return reader

    def _publish(self, image: np.ndarray) -> None:
        t = now()
        with self.cond:
            self._slot = Frame(self._count, t - self._start, image, t)
            self._count += 1
            self.cond.notify_all()

    def _skip(self, reason: str) -> None:
        """Count an unusable frame; report the 1st, 10th, 100th, ... so a broken device cannot flood the log."""
        self.skipped += 1
        if str(self.skipped).strip("0") == "1":
            log(f"{self.name}: skipped an unusable frame ({reason}); {self.skipped} so far")

    def _wait_new(self) -> Frame | None:
        """The newest unreturned frame, or None after ``stall_timeout`` / on stop / reader end."""
        deadline = now() + self.stall_timeout
        with self.cond:
            while not self.stop.is_set():
                if self._slot is not None and self._slot.index > self._returned:
                    frame = self._slot
                    self.dropped += frame.index - self._returned - 1
                    self._returned = frame.index
                    return frame
                left = deadline - now()
                if left <= 0 or not self._reader.is_alive():
                    return None
                self.cond.wait(min(left, 0.1))
        return None

    def read(self) -> Frame | None:
        """The newest frame not yet returned; reconnects a stalled source; None once stopped."""
        while not self.stop.is_set():
            frame = self._wait_new()
            if frame is not None:
                return frame
            if self.stop.is_set():
                break
            self._reconnect(self._stall_reason())
        return None

    def _stall_reason(self) -> str:
        r = self._reader
        if r.failed:
            return "it stopped delivering frames" + (f" ({self.error})" if self.error else "")
        if r.unusable:
            return f"it delivered only unusable frames for {self.stall_timeout:g} s ({r.unusable})"
        if r.frozen:
            return f"it repeated the same image for {self.stall_timeout:g} s"
        return f"no new frame arrived for {self.stall_timeout:g} s"

    def _reconnect(self, reason: str) -> None:
        self.generation += 1  # abandons the current reader
        delay = BACKOFF_FIRST_S
        for attempt in range(1, self.max_reconnects + 1):
            log(f"{self.name}: {reason}; reconnecting (attempt {attempt} of {self.max_reconnects} in {delay:g} s)")
            if self.stop.wait(delay):
                return
            cap = self._open()
            if cap is not None:
                self.reconnects += 1
                self._reader = self._start_reader(cap)
                log(f"{self.name}: reconnected")
                return
            reason = "it could not be reopened"
            delay = min(BACKOFF_MAX_S, delay * 2)
        raise SourceError(
            f"{self.name} stopped delivering frames and could not be reopened after "
            f"{self.max_reconnects} attempts; check the device, its cable or network, and "
            f"that no other program took it."
        )

    def close(self) -> None:
        self.generation += 1
        with self.cond:
            self.cond.notify_all()
        self._reader.join(timeout=1.0)
