"""Drawing results on frames, the preview window, and the annotated video file."""

from __future__ import annotations

import os
import queue
import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError
from .sources import SourceError
from .video import CANDIDATES, describe, pacing, quiet, resolve

DIGIT_COLOR = (0, 200, 0)  # BGR
NUMBER_COLOR = (255, 120, 0)
TEXT_COLOR = (255, 255, 255)
HUD_COLOR = (40, 40, 40)
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Text height as a fraction of the frame height (about 17 px for a label at 480 lines).
LABEL_SIZE = 0.036
SMALL = 0.6  # the confidence, relative to the label


def _scale(image, fraction: float) -> tuple[float, int]:
    """(font scale, thickness) for text ``fraction`` of the frame height tall (Hershey: ~22 px at scale 1)."""
    scale = max(0.35, fraction * image.shape[0] / 22.0)
    return scale, max(1, round(scale * 1.6))


def _tag(image, parts, org, color, fraction: float = LABEL_SIZE, below: bool = False) -> None:
    """A filled box holding ``parts``: (text, relative size) pairs drawn side by side on one baseline.

    ``org`` is the box's bottom-left corner (``below``: its top-left corner); the box is kept
    inside the frame.
    """
    sized = []
    for text, rel in parts:
        scale, thick = _scale(image, fraction * rel)
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
        sized.append((text, scale, thick, tw, th, base))
    pad = max(2, sized[0][4] // 5)
    space = max(pad, sized[0][4] // 2)  # between the parts: "4  93%", never "40.93"
    width = sum(p[3] for p in sized) + 2 * pad + space * (len(sized) - 1)
    height = max(p[4] for p in sized) + max(p[5] for p in sized) + pad
    x = min(max(0, org[0]), max(0, image.shape[1] - width))
    y = min(max(height, org[1] + (height if below else 0)), image.shape[0])
    cv2.rectangle(image, (x, y - height), (x + width, y), color, cv2.FILLED)
    baseline = y - max(p[5] for p in sized)
    cx = x + pad
    for text, scale, thick, tw, _th, _base in sized:
        cv2.putText(image, text, (cx, baseline), FONT, scale, TEXT_COLOR, thick, cv2.LINE_AA)
        cx += tw + space


def draw(image: np.ndarray, result, hud: str) -> np.ndarray:
    """A copy of ``image`` with digit boxes, labels, confidences, numbers and a status line.

    Each digit is labelled big with its confidence small beside it ("4  93%"); every number, a lone
    digit too, gets a box with its value under it. Text and lines scale with the frame size.
    """
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    line = max(2, round(out.shape[0] / 240))
    gap = 2 * line
    for n in result.numbers:
        x, y, w, h = n.box
        cv2.rectangle(out, (x - gap, y - gap), (x + w + gap, y + h + gap), NUMBER_COLOR, line)
        _tag(out, [(n.value, 1.0)], (x - gap, y + h + gap + line), NUMBER_COLOR, below=True)
    for d in result.digits:
        x, y, w, h = d.box
        cv2.rectangle(out, (x, y), (x + w, y + h), DIGIT_COLOR, line)
        _tag(out, [(str(d.label), 1.0), (f"{d.confidence:.0%}", SMALL)], (x, y - line), DIGIT_COLOR)
    _tag(out, [(hud, 1.0)], (0, 0), HUD_COLOR, fraction=LABEL_SIZE * 0.7)
    return out


def display_available() -> tuple[bool, str]:
    """Whether a preview window can be shown here, and if not, why (one sentence)."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return False, (
            "this OpenCV build has no GUI (opencv-python-headless); for a preview window replace it: "
            "pip uninstall -y opencv-python-headless && pip install opencv-python"
        )
    if sys.platform.startswith("linux") and not os.environ.get("WAYLAND_DISPLAY"):
        display = os.environ.get("DISPLAY", "")
        if not display:
            return False, "no DISPLAY is set"
        # A local X display ":N" has a socket; without it a Qt/GTK window would abort the process.
        if display.split(":")[0] in ("", "unix"):
            number = display.split(":", 1)[1].split(".")[0] if ":" in display else ""
            if not Path(f"/tmp/.X11-unix/X{number}").exists():
                return False, f"the display {display} is not reachable"
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
    if path.suffix and path.suffix.lower() not in CANDIDATES:
        raise UsageError(
            f"--save {path}: unsupported video type '{path.suffix}'; use one of "
            f"{', '.join(sorted(CANDIDATES))}, or no suffix for a video browsers play."
        )
    if path.is_dir():
        raise UsageError(f"--save {path} is a folder; give a video file name such as out.mp4.")
    if not path.parent.exists():
        raise UsageError(f"--save {path}: the folder {path.parent} does not exist; create it first.")


class VideoSaver:
    """Writes the annotated frames to a temporary file that becomes the video only on ``close()``.

    The codec is the best one this OpenCV build writes for the suffix (:mod:`.video`: H.264 in MP4
    where it can); a ``path`` without a suffix becomes NAME.mp4 (H.264) or NAME.webm (VP8).
    Frames are encoded in a thread of their own (OpenCV releases the GIL while encoding), a few
    frames behind the loop, which waits only when the encoder falls further behind.
    A run that stops early (Ctrl-C, SIGTERM, end of a stalled camera) still closes the writer,
    so the video is complete and playable; ``discard()`` removes it after an unexpected error.
    """

    QUEUE = 4

    def __init__(self, path: Path, fps: float):
        check_video_path(path)
        self.path, self.fourcc = resolve(path)
        self.fps = fps
        self.tmp = self.path.with_name(f".{self.path.name}.partial{self.path.suffix}")
        self.writer = None
        self.size = None
        self.stride = 1
        self.offered = 0  # frames given to write()
        self.frames = 0  # frames written
        self._queue: queue.Queue = queue.Queue(self.QUEUE)
        self._thread = None
        self._error = None

    @property
    def codec(self) -> str:
        """The codec written, in words (and whether a browser plays it)."""
        return describe(self.path, self.fourcc)

    def _open(self, image: np.ndarray) -> None:
        self.stride, self.size = pacing(self.fourcc, self.fps, (image.shape[1], image.shape[0]))
        with quiet():
            self.writer = cv2.VideoWriter(
                str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps / self.stride, self.size
            )
        if not self.writer.isOpened():
            self.writer = None
            raise SourceError(
                f"--save {self.path}: OpenCV cannot write {self.fourcc} at {self.size[0]}x"
                f"{self.size[1]} here; try .avi (Motion JPEG)."
            )
        self._thread = threading.Thread(target=self._encode, name="edgedigits-video", daemon=True)
        self._thread.start()

    def _encode(self) -> None:
        while (image := self._queue.get()) is not None:
            try:
                if (image.shape[1], image.shape[0]) != self.size:
                    image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
                self.writer.write(image)
                self.frames += 1
            except Exception as exc:  # reported by close(); the loop keeps running
                self._error = self._error or exc

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            self._open(image)
        self.offered += 1
        if (self.offered - 1) % self.stride == 0:
            self._queue.put(image)

    def _finish(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.writer.release()
        self.writer = None

    def close(self) -> Path | None:
        """Finish the file and move it into place (saying which codec it holds); None when no frame was written."""
        if self.writer is None:
            return None
        self._finish()
        if self._error is not None:
            self.tmp.unlink(missing_ok=True)
            raise SourceError(f"--save {self.path}: writing the video failed ({self._error}); try .avi (Motion JPEG).")
        os.replace(self.tmp, self.path)
        kept = f", 1 in {self.stride} at {self.size[0]}x{self.size[1]}" if self.stride > 1 else ""
        print(
            f"edgedigits camera: wrote {self.path} ({self.frames} frames{kept}; {self.codec})",
            file=sys.stderr,
            flush=True,
        )
        return self.path

    def discard(self) -> None:
        if self.writer is not None:
            self._finish()
        if self.tmp.exists():
            self.tmp.unlink()
