"""The ``demo`` source: a synthetic live camera looking at sheets of real handwritten digits.

Digits come from the shipped sample of the MNIST *test* set (never trained on); each sheet is
rendered with paper texture, uneven light, slight perspective and blur (see
:mod:`edgedigits.camera.render`), then every frame adds a small camera shake and sensor noise.
A new sheet appears every few seconds. It behaves like ``cv2.VideoCapture`` so it runs through
the same capture thread as a real camera. It knows what it shows: a :class:`DemoJudge` given to
it keeps the ground truth of the recent frames and scores what the loop read in them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import cv2
import numpy as np

from ..samples import load_sample
from .render import FrameJitter, Score, Truth, render_scene, score, shifted


class DemoJudge:
    """The ground truth of the frames a demo delivered, and the score of the digits read in them.

    Frames are recognised by identity (the loop receives the very array the demo made); a frame
    the loop never processed (dropped as late) is not scored.

    Args:
        keep: how many recent frames' truth is kept.
    """

    def __init__(self, keep: int = 64):
        self.keep = keep
        self.total = Score()
        self._recent: OrderedDict[int, tuple[np.ndarray, list[Truth]]] = OrderedDict()
        self._lock = threading.Lock()

    def expect(self, frame: np.ndarray, truths: list[Truth]) -> None:
        """Record the truth of a delivered frame."""
        with self._lock:
            self._recent[id(frame)] = (frame, truths)
            while len(self._recent) > self.keep:
                self._recent.popitem(last=False)

    def add(self, frame: np.ndarray, digits) -> bool:
        """Score the digits read in ``frame`` (objects with ``box`` and ``label``); False if it is unknown."""
        with self._lock:
            entry = self._recent.get(id(frame))
        if entry is None or entry[0] is not frame:
            return False
        self.total.add(score(entry[1], [d.box for d in digits], [d.label for d in digits]))
        return True

    def text(self) -> str:
        """One sentence: how many of the digits shown were read right."""
        s = self.total
        if not s.frames:
            return "demo: no frame was scored"
        return (
            f"demo: read {s.correct} of the {s.digits} digits shown right ({s.read_rate:.1%}) in {s.frames} "
            f"frames; {s.wrong} read wrong, {s.digits - s.correct - s.wrong} missed, {s.false} false detections"
        )


class DemoCapture:
    """A ``cv2.VideoCapture``-like synthetic camera.

    Args:
        fps: frames per second it delivers (paced in real time).
        size: (width, height) of the frames.
        sheet_seconds: how long each sheet stays in view.
        seed: random seed (None: a different demo every run).
        judge: told the ground truth of every frame delivered (optional).
    """

    def __init__(
        self,
        fps: float = 30.0,
        size: tuple[int, int] = (640, 480),
        sheet_seconds: float = 4.0,
        seed: int | None = None,
        judge: DemoJudge | None = None,
    ):
        self.images, self.labels = load_sample("heldout")
        self.fps, self.size = float(fps), size
        self.rng = np.random.default_rng(seed)
        self.per_sheet = max(1, int(sheet_seconds * fps))
        self.jitter = FrameJitter(self.rng, size, noise_sigma=3.0, max_shift=2.0)
        self.scene = None
        self._n = 0
        self._next = None
        self._open = True
        self.judge = judge

    def isOpened(self) -> bool:  # noqa: N802 - the cv2.VideoCapture name
        return self._open

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            return float(self.size[0])
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            return float(self.size[1])
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame, delivered no faster than ``fps``."""
        if not self._open:
            return False, None
        now = time.perf_counter()
        self._next = now if self._next is None else self._next
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next + 1.0 / self.fps, time.perf_counter() - 1.0 / self.fps)
        if self._n % self.per_sheet == 0:
            self.scene = render_scene(self.rng, self.images, self.labels, self.size)
        self._n += 1
        frame, shift = self.jitter.apply(self.scene)
        if self.judge is not None:
            self.judge.expect(frame, shifted(self.scene.digits, shift))
        return True, frame

    def release(self) -> None:
        self._open = False
