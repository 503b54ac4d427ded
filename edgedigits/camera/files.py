"""Sources that read files: a video file, an image file, or a folder of images.

Files and folders give every frame in order, unless ``realtime`` paces a video at its own frame
rate and drops late frames as a live camera would.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import cv2
import numpy as np

from ..images import IMAGE_SUFFIXES, quiet_opencv, read_image
from .frames import Frame, SourceError, as_bgr, log, now


class VideoFileSource:
    """Every frame of a video file, or (``realtime``) the frame due now at the file's frame rate.

    Without ``realtime`` a decoder thread reads ahead into a short queue, so decoding the next
    frames overlaps with processing this one (on another core); no frame is skipped.
    """

    live = False
    READ_AHEAD = 8

    def __init__(self, path: Path, realtime: bool = False, stop: threading.Event | None = None):
        self.name = str(path)
        with quiet_opencv():
            self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(
                f"{path} could not be opened as a video; check that it is a video file "
                f"this OpenCV build can decode (e.g. MP4/H.264, AVI/MJPG)."
            )
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 1000 else 30.0
        self.realtime = realtime
        self.dropped = 0
        self.error = None
        self._stop = stop or threading.Event()
        self._closed = threading.Event()
        self._next = 0
        self._start = None
        self._queue = None
        if not realtime:
            self._queue = queue.Queue(self.READ_AHEAD)
            self._decoder = threading.Thread(target=self._decode_ahead, name="edgedigits-decoder", daemon=True)
            self._decoder.start()

    def _decode_ahead(self) -> None:
        try:
            while not self._closed.is_set():
                try:
                    ok, image = self._cap.read()
                except Exception as exc:  # a decoder error ends the video; read() reports it
                    self.error = f"{type(exc).__name__}: {exc}"
                    ok, image = False, None
                item = image if ok else None
                while not self._closed.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if item is None:
                    return
        finally:
            self._cap.release()

    def _read_paced(self) -> np.ndarray | None:
        if self._start is None:
            self._start = now()
        due = int((now() - self._start) * self.fps)
        while self._next < due:  # late: skip to the frame due now
            if not self._cap.grab():
                return None
            self._next += 1
            self.dropped += 1
        wait = self._start + self._next / self.fps - now()
        if wait > 0 and self._stop.wait(wait):
            return None
        ok, image = self._cap.read()
        return image if ok else None

    def _read_queued(self) -> np.ndarray | None:
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def read(self) -> Frame | None:
        """The next frame; None at the end; :class:`SourceError` when the decoder failed mid-file."""
        try:
            image = self._read_paced() if self.realtime else self._read_queued()
        except Exception as exc:  # the paced path decodes here, in this thread
            self.error, image = f"{type(exc).__name__}: {exc}", None
        if image is None:
            if self.error:
                raise SourceError(
                    f"{self.name}: decoding failed after {self._next} frames ({self.error}); "
                    f"the file may be damaged: re-encode or replace it."
                )
            return None
        frame = Frame(self._next, self._next / self.fps, image, now())
        self._next += 1
        return frame

    def close(self) -> None:
        self._closed.set()
        if self._queue is None:
            self._cap.release()
        else:
            self._decoder.join(timeout=2.0)


class ImagesSource:
    """One frame per image: a single image file or every image in a folder (sorted by name)."""

    live = False
    fps = None

    def __init__(self, paths: list[Path], name: str):
        self.name = name
        self._paths = paths
        self._i = 0
        self.dropped = 0
        self.skipped = 0

    def read(self) -> Frame | None:
        while self._i < len(self._paths):
            path, index = self._paths[self._i], self._i
            self._i += 1
            try:
                image = as_bgr(read_image(path))
            except ValueError as exc:
                if len(self._paths) == 1:
                    raise SourceError(
                        f"{path} {str(exc).rstrip('.')}; pass an image, a video, a folder, a camera index or 'demo'."
                    ) from None
                self.skipped += 1
                log(f"skipping {path}: {exc}")
                continue
            return Frame(index, float(index), image, now())
        if self.skipped == len(self._paths):  # the end, and not one file could be read
            raise SourceError(
                f"none of the {len(self._paths)} image files in {self.name} could be read; "
                "fix or replace them (the messages above say what is wrong with each)."
            )
        return None

    def close(self) -> None:
        pass


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def is_image_file(path: Path) -> bool:
    """Whether ``path``'s suffix is one of the image formats read as a single frame."""
    return path.suffix.lower() in IMAGE_SUFFIXES
