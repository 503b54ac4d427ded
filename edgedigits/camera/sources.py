"""Where frames come from: cameras, streams, video files, images, folders and the demo.

Every source gives :class:`Frame` objects through ``read()`` (None at the end) and is closed
with ``close()``. Live sources (a camera, a stream, the demo) run a capture thread that keeps
only the newest frame (see :mod:`edgedigits.camera.capture`); files and folders give every frame
in order, unless ``realtime`` paces a video at its own frame rate and drops late frames as a
live camera would.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgeDigitsError, InputError

# A frame smaller than this on either side cannot hold a readable digit: it is a device fault.
MIN_FRAME_SIDE = 16


class SourceError(EdgeDigitsError):
    """A frame source cannot be opened, or a live source stopped and could not be reopened."""


@dataclass
class Frame:
    """One frame: its 0-based index in the source, its time in seconds, and when it was captured.

    ``time`` is the position in the source (a video: index / fps; live: seconds since the start;
    images: their position in the folder, one second apart);
    ``captured`` is the ``time.perf_counter()`` at which the frame was read.
    """
    index: int
    time: float
    image: np.ndarray
    captured: float


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` as the 8-bit BGR frame the loop, the overlay and the video writer expect.

    Gray, BGRA, 16-bit and float images are converted as :func:`edgedigits.preprocess.to_gray`
    reads them; anything it cannot read raises its :class:`~edgedigits.errors.InputError`.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size:
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    from ..preprocess import to_gray
    return cv2.cvtColor(to_gray(image), cv2.COLOR_GRAY2BGR)


def camera_frame(image) -> np.ndarray:
    """A frame from a capture device as 8-bit BGR, or :class:`InputError` saying why it is unusable.

    Unusable: no image, not an array, empty, smaller than ``MIN_FRAME_SIDE`` pixels on a side,
    NaN or infinite values, or a shape, channel count or dtype that :func:`as_bgr` cannot read.
    """
    if image is None:
        raise InputError("the device reported a frame but gave no image")
    if isinstance(image, np.ndarray) and image.ndim in (2, 3) and min(image.shape[:2]) < MIN_FRAME_SIDE:
        raise InputError(f"a {image.shape[1]}x{image.shape[0]} frame is smaller than {MIN_FRAME_SIDE} pixels "
                         f"on a side")
    if isinstance(image, np.ndarray) and np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise InputError("the frame holds NaN or infinite values")
    return as_bgr(image)


def _now() -> float:
    return time.perf_counter()


def _log(message: str) -> None:
    print(f"edgedigits camera: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_opencv():
    """Silence OpenCV's own log while probing a device: our error message says what matters.

    FFmpeg inside OpenCV writes to the process's stderr directly (e.g. "[tcp @ 0x...] Connection
    refused"), past OpenCV's log level, so file descriptor 2 is pointed at the null device too.
    """
    logging = cv2.utils.logging
    old = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        with _stderr_to_devnull():
            yield
    finally:
        logging.setLogLevel(old)


@contextlib.contextmanager
def _stderr_to_devnull():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):                 # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
            raise SourceError(f"{path} could not be opened as a video; check that it is a video file "
                              f"this OpenCV build can decode (e.g. MP4/H.264, AVI/MJPG).")
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
                except Exception as exc:         # a decoder error ends the video; read() reports it
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
            self._start = _now()
        due = int((_now() - self._start) * self.fps)
        while self._next < due:                 # late: skip to the frame due now
            if not self._cap.grab():
                return None
            self._next += 1
            self.dropped += 1
        wait = self._start + self._next / self.fps - _now()
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
        except Exception as exc:                 # the paced path decodes here, in this thread
            self.error, image = f"{type(exc).__name__}: {exc}", None
        if image is None:
            if self.error:
                raise SourceError(f"{self.name}: decoding failed after {self._next} frames ({self.error}); "
                                  f"the file may be damaged: re-encode or replace it.")
            return None
        frame = Frame(self._next, self._next / self.fps, image, _now())
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
        from ..cli.predict_cmd import read_image
        while self._i < len(self._paths):
            path, index = self._paths[self._i], self._i
            self._i += 1
            try:
                image = as_bgr(read_image(path))
            except ValueError as exc:
                if len(self._paths) == 1:
                    raise SourceError(f"{path} {str(exc).rstrip('.')}; pass an image, a video, a folder, "
                                      f"a camera index or 'demo'.") from None
                self.skipped += 1
                _log(f"skipping {path}: {exc}")
                continue
            return Frame(index, float(index), image, _now())
        if self.skipped == len(self._paths):      # the end, and not one file could be read
            raise SourceError(f"none of the {len(self._paths)} image files in {self.name} could be read; "
                              "fix or replace them (the messages above say what is wrong with each).")
        return None

    def close(self) -> None:
        pass


def _image_files(folder: Path) -> list[Path]:
    from ..cli.predict_cmd import IMAGE_SUFFIXES
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _camera_failure(spec: str) -> str:
    if spec.isdigit() or spec.startswith("/dev/video"):
        return (f"camera {spec} could not be opened; likely causes: no camera at that index (try another "
                f"index or /dev/videoN), no permission to read it (e.g. not in the 'video' group), another "
                f"program is using it, or this OpenCV build has no camera backend (V4L2, MSMF, AVFoundation).")
    if " ! " in spec:
        return ("the GStreamer pipeline could not be opened; check the pipeline with gst-launch-1.0 and that "
                "this OpenCV build has GStreamer support (cv2.getBuildInformation()).")
    return (f"the stream {spec} could not be opened; check the address, the network and the credentials, "
            f"and that this OpenCV build can decode it (FFmpeg or GStreamer support).")


def camera_opener(spec: str):
    """A function that opens ``spec`` (an index, a device path, a URL or a GStreamer pipeline)."""
    if spec.isdigit():
        return lambda: cv2.VideoCapture(int(spec))
    if " ! " in spec:
        return lambda: cv2.VideoCapture(spec, cv2.CAP_GSTREAMER)
    return lambda: cv2.VideoCapture(spec)


def open_source(spec: str, *, realtime: bool = False, stop: threading.Event | None = None,
                stall_timeout: float = 3.0, max_reconnects: int = 10, demo_fps: float = 30.0):
    """Open the frame source named by ``spec``.

    Args:
        spec: 'demo', a camera index ('0'), a device path, a stream URL, a GStreamer pipeline
            (contains ' ! '), an image file, a folder of images or a video file.
        realtime: pace a video file at its own frame rate, dropping late frames.
        stop: set it to make a waiting ``read()`` return None promptly.
        stall_timeout: seconds without a new frame before a live source is reconnected.
        max_reconnects: failed reconnection attempts in a row before giving up.
        demo_fps: frame rate of the demo source.

    Raises:
        SourceError: the source does not exist or cannot be opened (one sentence with likely causes).
    """
    from .capture import LiveSource
    stop = stop or threading.Event()
    live = dict(stop=stop, stall_timeout=stall_timeout, max_reconnects=max_reconnects)
    if spec == "demo":
        from .demo import DemoCapture, DemoJudge
        judge = DemoJudge()
        source = LiveSource(lambda: DemoCapture(fps=demo_fps, judge=judge), "demo",
                            "the demo source could not start.", **live)
        source.judge = judge        # the loop reports how much of the demo it read right
        return source
    path = Path(os.path.expanduser(spec))
    is_stream = spec.isdigit() or "://" in spec or " ! " in spec or spec.startswith("/dev/video")
    if is_stream and not path.is_file():
        return LiveSource(camera_opener(spec), f"camera {spec}" if spec.isdigit() else spec,
                          _camera_failure(spec), **live)
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise SourceError(f"the folder {path} holds no image files (PNG, JPEG, BMP, TIFF, WebP, PNM); "
                              f"pass a folder with images, a video, a camera index or 'demo'.")
        return ImagesSource(files, str(path))
    if not path.exists():
        raise SourceError(f"{spec} is not a camera index, a stream, 'demo', or an existing file or folder; "
                          f"check the path.")
    from ..cli.predict_cmd import IMAGE_SUFFIXES
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImagesSource([path], str(path))
    return VideoFileSource(path, realtime=realtime, stop=stop)
