"""Opening a frame source by name: cameras, streams, video files, images, folders and the demo.

Every source gives :class:`~.frames.Frame` objects through ``read()`` (None at the end) and is
closed with ``close()``. Live sources (a camera, a stream, the demo) run a capture thread that
keeps only the newest frame (:mod:`.capture`); files and folders are read by :mod:`.files`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2

from .capture import LiveSource
from .demo import DemoCapture, DemoJudge
from .files import ImagesSource, VideoFileSource, image_files, is_image_file
from .frames import MAX_RECONNECTS, STALL_TIMEOUT_S, SourceError


def _camera_failure(spec: str) -> str:
    if spec.isdigit() or spec.startswith("/dev/video"):
        return (
            f"camera {spec} could not be opened; likely causes: no camera at that index (try another "
            f"index or /dev/videoN), no permission to read it (e.g. not in the 'video' group), another "
            f"program is using it, or this OpenCV build has no camera backend (V4L2, MSMF, AVFoundation)."
        )
    if " ! " in spec:
        return (
            "the GStreamer pipeline could not be opened; check the pipeline with gst-launch-1.0 and that "
            "this OpenCV build has GStreamer support (cv2.getBuildInformation())."
        )
    return (
        f"the stream {spec} could not be opened; check the address, the network and the credentials, "
        f"and that this OpenCV build can decode it (FFmpeg or GStreamer support)."
    )


def camera_opener(spec: str):
    """A function that opens ``spec`` (an index, a device path, a URL or a GStreamer pipeline)."""
    if spec.isdigit():
        return lambda: cv2.VideoCapture(int(spec))
    if " ! " in spec:
        return lambda: cv2.VideoCapture(spec, cv2.CAP_GSTREAMER)
    return lambda: cv2.VideoCapture(spec)


def open_source(
    spec: str,
    *,
    realtime: bool = False,
    stop: threading.Event | None = None,
    stall_timeout: float = STALL_TIMEOUT_S,
    max_reconnects: int = MAX_RECONNECTS,
    demo_fps: float = 30.0,
):
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
    stop = stop or threading.Event()
    live = dict(stop=stop, stall_timeout=stall_timeout, max_reconnects=max_reconnects)
    if spec == "demo":
        judge = DemoJudge()
        source = LiveSource(
            lambda: DemoCapture(fps=demo_fps, judge=judge), "demo", "the demo source could not start.", **live
        )
        source.judge = judge  # the loop reports how much of the demo it read right
        return source
    path = Path(os.path.expanduser(spec))
    is_stream = spec.isdigit() or "://" in spec or " ! " in spec or spec.startswith("/dev/video")
    if is_stream and not path.is_file():
        return LiveSource(
            camera_opener(spec), f"camera {spec}" if spec.isdigit() else spec, _camera_failure(spec), **live
        )
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise SourceError(
                f"the folder {path} holds no image files (PNG, JPEG, BMP, TIFF, WebP, PNM); "
                f"pass a folder with images, a video, a camera index or 'demo'."
            )
        return ImagesSource(files, str(path))
    if not path.exists():
        raise SourceError(
            f"{spec} is not a camera index, a stream, 'demo', or an existing file or folder; check the path."
        )
    if is_image_file(path):
        return ImagesSource([path], str(path))
    return VideoFileSource(path, realtime=realtime, stop=stop)
