"""Drawing results on frames, the preview window, and the annotated video file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError

DIGIT_COLOR = (0, 200, 0)       # BGR
NUMBER_COLOR = (255, 120, 0)
TEXT_COLOR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX

# Container suffix -> FourCC; MJPG in AVI and mp4v in MP4 ship with every OpenCV wheel.
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}


def _label(image, text, org, color) -> None:
    (tw, th), base = cv2.getTextSize(text, FONT, 0.5, 1)
    x, y = org
    y = max(th + base, y)
    cv2.rectangle(image, (x, y - th - base), (x + tw + 2, y), color, cv2.FILLED)
    cv2.putText(image, text, (x + 1, y - base + 1), FONT, 0.5, TEXT_COLOR, 1, cv2.LINE_AA)


def draw(image: np.ndarray, result, hud: str) -> np.ndarray:
    """A copy of ``image`` with digit boxes, labels, confidences, numbers and a status line."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for n in result.numbers:
        if len(n.members) > 1:
            x, y, w, h = n.box
            cv2.rectangle(out, (x - 3, y - 3), (x + w + 3, y + h + 3), NUMBER_COLOR, 2)
            _label(out, n.value, (x - 3, y + h + 22), NUMBER_COLOR)
    for d in result.digits:
        x, y, w, h = d.box
        cv2.rectangle(out, (x, y), (x + w, y + h), DIGIT_COLOR, 2)
        _label(out, f"{d.label} {d.confidence:.2f}", (x, y - 2), DIGIT_COLOR)
    _label(out, hud, (4, 18), (40, 40, 40))
    return out


def display_available() -> tuple[bool, str]:
    """Whether a preview window can be shown here, and if not, why."""
    if sys.platform.startswith("linux") and not os.environ.get("WAYLAND_DISPLAY"):
        display = os.environ.get("DISPLAY", "")
        if not display:
            return False, "no DISPLAY is set"
        # A local X display ":N" has a socket; without it a Qt/GTK window would abort the process.
        if display.split(":")[0] in ("", "unix"):
            number = display.split(":", 1)[1].split(".")[0] if ":" in display else ""
            if not Path(f"/tmp/.X11-unix/X{number}").exists():
                return False, f"the display {display} is not reachable"
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return False, "this OpenCV build has no GUI (opencv-python-headless)"
    return True, ""


class Window:
    """The preview window; ``show()`` returns False when the user asks to quit (q, Esc, closed)."""

    TITLE = "edgedigits camera (q to quit)"

    def __init__(self):
        self.failed = None

    def show(self, image: np.ndarray) -> bool:
        try:
            cv2.imshow(self.TITLE, image)
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                return False
            return cv2.getWindowProperty(self.TITLE, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error as exc:
            self.failed = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error"
            return True

    def close(self) -> None:
        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass


def check_video_path(path: Path) -> None:
    """Refuse a --save path this module cannot write, before any work."""
    if path.suffix.lower() not in CODECS:
        raise UsageError(f"--save {path}: unsupported video type '{path.suffix}'; use one of "
                         f"{', '.join(sorted(CODECS))}.")
    if path.is_dir():
        raise UsageError(f"--save {path} is a folder; give a video file name such as out.mp4.")
    if not path.parent.exists():
        raise UsageError(f"--save {path}: the folder {path.parent} does not exist; create it first.")


class VideoSaver:
    """Writes the annotated frames to a temporary file that becomes ``path`` only on ``close()``.

    A run that stops early (Ctrl-C, SIGTERM, end of a stalled camera) still closes the writer,
    so the video is complete and playable; ``discard()`` removes it after an unexpected error.
    """

    def __init__(self, path: Path, fps: float):
        check_video_path(path)
        self.path, self.fps = path, fps
        self.tmp = path.with_name(f".{path.name}.partial{path.suffix}")
        self.writer = None
        self.size = None
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            from .sources import SourceError
            self.size = (image.shape[1], image.shape[0])
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*CODECS[self.path.suffix.lower()]),
                                          self.fps, self.size)
            if not self.writer.isOpened():
                self.writer = None
                raise SourceError(f"--save {self.path}: OpenCV cannot write this video type here; "
                                  f"try .avi (MJPG) or .mp4 (mp4v).")
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(image)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; None when no frame was written."""
        if self.writer is None:
            return None
        self.writer.release()
        self.writer = None
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.tmp.exists():
            self.tmp.unlink()
