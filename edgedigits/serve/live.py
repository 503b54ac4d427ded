"""The device's own camera for the live view: capture -> one reader -> overlay -> latest JPEG.

One thread reads the source opened by :func:`edgedigits.camera.open_source` (so a live source
reconnects exactly as in ``edgedigits camera``), reads every frame it keeps up with, draws the
camera loop's overlay and publishes the newest annotated JPEG and reading; the web routes only
ever read the latest of each.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ..camera.frames import SourceError, log
from ..camera.loop import FrameResult
from ..camera.overlay import draw
from ..camera.sources import open_source


class LiveView:
    """Reads ``source`` in a background thread until :meth:`close`.

    Args:
        recognizer: the server's one Recognizer.
        source: a source spec as ``edgedigits camera --source`` takes it.
        stall_timeout, max_reconnects: as in the camera loop.
        quality: JPEG quality of the streamed frames.

    Raises:
        SourceError: the source cannot be opened at all (raised here, at start-up).
    """

    def __init__(
        self, recognizer, source: str, stall_timeout: float = 3.0, max_reconnects: int = 10, quality: int = 80
    ):
        self.recognizer, self.spec, self.quality = recognizer, source, quality
        self.stop = threading.Event()
        self.cond = threading.Condition()
        self.seq = 0
        self.jpeg: bytes | None = None
        self.reading: dict | None = None
        self.state = "starting"
        self.frames = 0
        self._source = open_source(
            source, realtime=True, stop=self.stop, stall_timeout=stall_timeout, max_reconnects=max_reconnects
        )
        self._thread = threading.Thread(target=self._run, name="edgedigits-live", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            self.state = "running"
            while not self.stop.is_set():
                frame = self._source.read()
                if frame is None:
                    self.state = "stopped" if self.stop.is_set() else "the source ended"
                    break
                self._publish(frame, start)
        except SourceError as exc:
            self.state = f"the source failed: {exc}"
            log(f"live view: {exc}")
        except Exception as exc:  # the API keeps serving; the page shows why the view stopped
            self.state = f"the live view stopped: {type(exc).__name__}: {exc}"
            log(self.state)
        finally:
            self._source.close()
            with self.cond:
                self.cond.notify_all()

    def _publish(self, frame, start: float) -> None:
        import cv2

        t0 = time.perf_counter()
        result = self.recognizer.read(frame.image)
        ms = (time.perf_counter() - t0) * 1000
        reading = result.to_dict()
        self.frames += 1
        fps = self.frames / max(1e-6, time.perf_counter() - start)
        info = self.recognizer.info
        annotated = draw(frame.image, FrameResult.of(result), f"{fps:.0f} FPS | {info.backend} | frame {frame.index}")
        ok, jpeg = cv2.imencode(".jpg", annotated, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        reading = dict(reading, frame=frame.index, time=round(frame.time, 3), latency_ms=round(ms, 2))
        with self.cond:
            self.seq += 1
            self.jpeg = jpeg.tobytes() if ok else self.jpeg
            self.reading = reading
            self.cond.notify_all()

    def wait(self, after: int, timeout: float) -> tuple[int, bytes | None, dict | None]:
        """The newest (seq, jpeg, reading) newer than ``after``, or the current one after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.seq <= after and not self.stop.is_set() and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return self.seq, self.jpeg, self.reading

    def status(self) -> dict:
        return {
            "source": self.spec,
            "state": self.state,
            "frames": self.frames,
            "dropped": getattr(self._source, "dropped", 0),
            "reconnects": getattr(self._source, "reconnects", 0),
        }

    def close(self) -> None:
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
        self._thread.join(timeout=5)


def blank_jpeg(text: str, size: tuple[int, int] = (640, 480)) -> bytes:
    """A dark frame saying ``text`` (shown while no camera frame exists)."""
    import cv2

    image = np.full((size[1], size[0], 3), 40, np.uint8)
    cv2.putText(image, text[:70], (12, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (220, 220, 220), 1, cv2.LINE_AA)
    return cv2.imencode(".jpg", image)[1].tobytes()
