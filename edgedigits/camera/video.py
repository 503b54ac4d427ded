"""Which codec ``--save`` writes: the best one this OpenCV build can write *and* read back.

OpenCV's pip wheels ship an FFmpeg without an H.264 encoder, so ``avc1`` (what browsers play in
MP4) opens on some builds and not on others; each candidate is therefore tried on a few tiny
frames, and kept only when the file it wrote decodes again. A path without a suffix asks for a
video a browser plays: ``NAME.mp4`` in H.264 where this build writes it, else ``NAME.webm`` (VP8).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError
from ..images import quiet_opencv

_MP4 = ("avc1", "H264", "mp4v")
# Container suffix -> FourCCs in order of preference.
CANDIDATES = {".mp4": _MP4, ".m4v": _MP4, ".mov": _MP4, ".webm": ("VP80",), ".avi": ("MJPG",)}
NAMES = {"avc1": "H.264", "H264": "H.264", "mp4v": "MPEG-4 Part 2 (mp4v)", "VP80": "VP8", "MJPG": "Motion JPEG"}
BROWSER_PLAYABLE = {"avc1", "H264", "VP80"}
# VP8 in software costs ~50-150 ms a 640x480 frame here, too slow to keep up with a camera: its
# video keeps SLOW_FPS frames a second, at most SLOW_WIDTH pixels wide.
SLOW = {"VP80"}
SLOW_FPS, SLOW_WIDTH = 10.0, 480


def quiet():
    """OpenCV's and FFmpeg's log silenced (an unsupported tag prints lines our message replaces)."""
    return quiet_opencv()


@functools.lru_cache(maxsize=None)
def writes(suffix: str, fourcc: str) -> bool:
    """Whether this OpenCV build writes ``fourcc`` into a ``suffix`` file that decodes again."""
    with tempfile.TemporaryDirectory(prefix="edgedigits-codec-") as tmp, quiet():
        path = str(Path(tmp) / f"probe{suffix}")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 10.0, (64, 48))
        if not writer.isOpened():
            return False
        for i in range(4):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
        writer.release()
        cap = cv2.VideoCapture(path)
        ok, frame = cap.read()
        cap.release()
        return bool(ok) and frame is not None and frame.shape[:2] == (48, 64)


def choose(suffix: str) -> str:
    """The preferred FourCC for ``suffix`` that :func:`writes`; UsageError when there is none."""
    suffix = suffix.lower()
    for fourcc in CANDIDATES[suffix]:
        if writes(suffix, fourcc):
            return fourcc
    raise UsageError(
        f"OpenCV cannot write {suffix} videos here (tried {', '.join(CANDIDATES[suffix])}); "
        f"save as .avi (Motion JPEG) instead."
    )


def resolve(path: Path) -> tuple[Path, str]:
    """(file to write, FourCC) for a ``--save`` path; no suffix: a video a browser plays."""
    if path.suffix:
        return path, choose(path.suffix)
    if writes(".mp4", "avc1"):
        return path.with_name(path.name + ".mp4"), "avc1"
    return path.with_name(path.name + ".webm"), choose(".webm")


def pacing(fourcc: str, fps: float, size: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    """(write every n-th frame, frame size written) for a source at ``fps`` with frames of ``size``."""
    if fourcc not in SLOW:
        return 1, size
    stride = max(1, round(fps / SLOW_FPS))
    width, height = size
    if width > SLOW_WIDTH:
        width, height = SLOW_WIDTH, 2 * round(height * SLOW_WIDTH / width / 2)
    return stride, (width, height)


def describe(path: Path, fourcc: str) -> str:
    """'H.264' / 'MPEG-4 Part 2 (mp4v), which browsers do not play; ...': the codec, said once."""
    name = NAMES.get(fourcc, fourcc)
    if fourcc in BROWSER_PLAYABLE:
        return f"{name}, plays in a browser"
    if path.suffix.lower() in (".mp4", ".m4v", ".mov"):
        return (
            f"{name}, which browsers do not play: this OpenCV build cannot write H.264; save without a "
            f"suffix or as .webm for a VP8 video that browsers play"
        )
    return name
