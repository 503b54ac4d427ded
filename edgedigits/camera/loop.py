"""The camera loop: frame -> digit candidates -> one batch through the model -> outputs.

from edgedigits.camera import Options, run_camera
summary = run_camera(Options(source="demo", headless=True, duration=5))
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..reader import Digit, Reader
from ..recognizer import Recognizer
from ..vision import DEFAULT_CONFIG, FinderConfig, Number
from .overlay import VideoSaver, Window, check_video_path, display_available, draw
from .frames import MAX_RECONNECTS, STALL_TIMEOUT_S, SourceError, log as _log
from .sources import open_source

# Results below the model's calibrated confidence are dropped as "not a digit"; the novelty check
# (edgedigits.novelty) is off unless --max-novelty asks for it (benchmarks/results/real.md).


@dataclass
class Options:
    """What ``edgedigits camera`` does; the CLI flags map one to one onto these fields."""

    source: str = "0"
    headless: bool = False
    json: bool = False
    save: Path | None = None
    save_crops: Path | None = None
    duration: float | None = None
    max_frames: int | None = None
    realtime: bool = False
    workers: int = 1
    min_confidence: float | None = None  # None: the model's own (Recognizer.min_confidence)
    max_novelty: float | None = None
    stall_timeout: float = STALL_TIMEOUT_S
    max_reconnects: int = MAX_RECONNECTS
    finder: FinderConfig = DEFAULT_CONFIG


@dataclass
class FrameResult:
    """What one frame held: digits kept (confidence >= the minimum), their numbers and crops."""

    digits: list[Digit]
    numbers: list[Number]
    crops: list[np.ndarray] = field(default_factory=list)
    rejected: int = 0

    @classmethod
    def of(cls, reading) -> "FrameResult":
        """The camera's view of a :class:`edgedigits.reader.Reading`."""
        accepted = len(reading.accepted)  # the accepted digits come first, number by number
        numbers = [Number(n.box, n.value, list(n.digits)) for n in reading.numbers]
        return cls(
            list(reading.digits[:accepted]), numbers, list(reading.crops[:accepted]), len(reading.digits) - accepted
        )


class Pipeline:
    """The camera's view of :class:`edgedigits.reader.Reader`: one frame -> a :class:`FrameResult`.

    Args:
        recognizer: an :class:`edgedigits.Recognizer` (any backend).
        min_confidence: results below it are dropped as non-digits (None: the recognizer's own
            calibrated ``min_confidence``).
        max_novelty: results farther than this from every training example of their class are
            dropped as non-digits (see :mod:`edgedigits.novelty`); None turns the check off.
        config: limits of the digit finder.
    """

    def __init__(
        self,
        recognizer,
        min_confidence: float | None = None,
        max_novelty: float | None = None,
        config: FinderConfig = DEFAULT_CONFIG,
    ):
        if min_confidence is None:
            min_confidence = recognizer.min_confidence
        self.recognizer, self.min_confidence, self.config = recognizer, min_confidence, config
        self.max_novelty = max_novelty
        self.reader = Reader(recognizer, min_confidence=min_confidence, max_novelty=max_novelty, config=config)

    def __call__(self, image: np.ndarray) -> FrameResult:
        return FrameResult.of(self.reader.read(image))


class LatencyStats:
    """Percentiles of per-frame latency in constant memory (log-spaced histogram, ~1 % bins)."""

    EDGES = np.geomspace(1e-3, 1e5, 1600)  # milliseconds

    def __init__(self):
        self.counts = np.zeros(len(self.EDGES) + 1, np.int64)

    def add(self, ms: float) -> None:
        self.counts[np.searchsorted(self.EDGES, ms)] += 1

    def percentile(self, q: float) -> float:
        total = int(self.counts.sum())
        if total == 0:
            return float("nan")
        i = int(np.searchsorted(np.cumsum(self.counts), q / 100.0 * total))
        return float(self.EDGES[min(i, len(self.EDGES) - 1)])


@dataclass
class Summary:
    """Totals of one run, printed at the end."""

    source: str
    backend: str
    frames: int = 0
    dropped: int = 0
    skipped: int = 0
    seconds: float = 0.0
    digits: int = 0
    numbers: int = 0
    reconnects: int = 0
    stopped: str = "end of source"
    saved: str | None = None
    latency: LatencyStats = field(default_factory=LatencyStats, repr=False)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "backend": self.backend,
            "frames": self.frames,
            "dropped": self.dropped,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 1),
            "latency_ms_p50": self._latency_ms(50),
            "latency_ms_p95": self._latency_ms(95),
            "digits": self.digits,
            "numbers": self.numbers,
            "reconnects": self.reconnects,
            "stopped": self.stopped,
            "saved": self.saved,
        }

    def _latency_ms(self, q: float) -> float | None:
        """A latency percentile in ms, or None (JSON null) before any frame was processed."""
        value = self.latency.percentile(q)
        return None if value != value else round(value, 3)  # NaN: no samples

    def text(self) -> str:
        d = self.to_dict()
        latency = (
            "latency -"
            if d["latency_ms_p50"] is None
            else f"latency p50 {d['latency_ms_p50']:.2f} ms, p95 {d['latency_ms_p95']:.2f} ms"
        )
        return (
            f"{d['frames']} frames in {d['seconds']:.1f} s ({d['fps']:.1f} FPS, {d['dropped']} dropped); "
            f"{latency}; "
            f"{d['digits']} digits read in {d['numbers']} numbers; backend {d['backend']}; "
            f"stopped: {d['stopped']}"
            + (f"; {d['reconnects']} reconnects" if d["reconnects"] else "")
            + (f"; {d['skipped']} unusable frames skipped" if d["skipped"] else "")
            + (f"; saved {d['saved']}" if d["saved"] else "")
        )


def frame_record(index: int, time_s: float, latency_ms: float, result: FrameResult) -> dict:
    """The JSON object of one processed frame (the documented ``--json`` line)."""
    return {
        "frame": index,
        "time": round(time_s, 3),
        "latency_ms": round(latency_ms, 3),
        "digits": [{"box": list(d.box), "label": d.label, "confidence": round(d.confidence, 4)} for d in result.digits],
        "numbers": [{"box": list(n.box), "value": n.value} for n in result.numbers],
    }


class _Signals:
    """SIGINT / SIGTERM set ``stop`` (a clean stop); a second SIGINT interrupts at once."""

    def __init__(self, stop: threading.Event):
        self.stop, self.old, self.reason = stop, {}, None

    def _handle(self, signum, _frame):
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        self.stop.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


def _save_crops(folder: Path, index: int, result: FrameResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (d, crop) in enumerate(zip(result.digits, result.crops)):
        cv2.imwrite(str(folder / f"{index:07d}_{i:02d}_label{d.label}_{d.confidence:.2f}.png"), crop)


def run_camera(options: Options, recognizer=None, out=None, stop: threading.Event | None = None) -> Summary:
    """Run the camera loop until the source ends, a limit is reached, or ``stop`` is set.

    Args:
        options: what to read and where the results go.
        recognizer: a ready :class:`edgedigits.Recognizer` (default: the shipped model, best backend).
        out: where ``--json`` lines go (default stdout).
        stop: an event another thread may set to end the loop; SIGINT/SIGTERM set it too.

    Returns:
        The run's :class:`Summary` (also printed to stderr).

    Raises:
        SourceError: the source cannot be opened, or a live source could not be reconnected (the
            summary of what was processed is printed first and a saved video is kept).
    """
    if recognizer is None:
        recognizer = Recognizer()
    out = out or sys.stdout
    stop = stop or threading.Event()
    pipeline = Pipeline(recognizer, options.min_confidence, options.max_novelty, options.finder)
    info = getattr(recognizer, "info", None)
    backend = f"{info.backend}/{info.device}/{info.precision}" if info is not None else "unknown"
    window = None
    if not options.headless:
        ok, why = display_available()
        if ok:
            window = Window()
        else:
            _log(f"running headless: {why}")
    if options.save:
        check_video_path(options.save)
    with _Signals(stop) as signals:
        source = open_source(
            options.source,
            realtime=options.realtime,
            stop=stop,
            stall_timeout=options.stall_timeout,
            max_reconnects=options.max_reconnects,
        )
        summary = Summary(options.source, backend)
        saver = VideoSaver(options.save, source.fps or 30.0) if options.save else None
        timer = threading.Timer(options.duration, stop.set) if options.duration else None
        clean = False
        try:
            if timer:
                timer.daemon = True
                timer.start()
            _loop(options, source, pipeline, summary, out, stop, window, saver)
            clean = True
        except SourceError:
            summary.stopped = "the source failed"
            clean = True
            raise
        finally:
            if timer:
                timer.cancel()
            summary.dropped = getattr(source, "dropped", 0)
            summary.skipped = getattr(source, "skipped", 0)
            summary.reconnects = getattr(source, "reconnects", 0)
            source.close()
            if window:
                window.close()
            if saver:
                if clean:
                    saved = saver.close()
                    summary.saved = str(saved) if saved else None
                else:
                    saver.discard()
            if signals.reason:
                summary.stopped = f"{signals.reason} received"
            elif summary.stopped == "running":
                summary.stopped = f"--duration {options.duration:g} s reached" if timer else "stop requested"
            if clean:
                _log(summary.text())
                judge = getattr(source, "judge", None)
                if judge is not None:
                    _log(
                        judge.text() + (f"; annotated video: {Path(summary.saved).resolve()}" if summary.saved else "")
                    )
    return summary


class _Reading:
    """Headless, non-JSON runs print what is read: a line when the numbers in view change
    (at most every ``every`` seconds of the source's time)."""

    def __init__(self, out, every: float = 0.5):
        self.out, self.every, self.last, self.when = out, every, None, -1e9

    def update(self, frame, result: FrameResult) -> None:
        values = tuple(n.value for n in result.numbers)
        if values != self.last and frame.time - self.when >= self.every:
            self.out.write(f"frame {frame.index} ({frame.time:.2f} s): {'  '.join(values) or '-'}\n")
            self.out.flush()
            self.last, self.when = values, frame.time


def _processed(options: Options, source, pipeline: Pipeline, stop: threading.Event, summary: Summary):
    """Yield (frame, result, finished_at) in frame order, with up to ``options.workers`` frames
    in flight (each worker runs the whole pipeline on its own frame).

    A live source is processed one frame at a time: waiting for a second frame to arrive would
    delay the result of the first by a frame interval.
    """
    limit = options.max_frames or float("inf")
    workers = 1 if getattr(source, "live", False) else options.workers
    submitted, ended = 0, False
    pending: deque = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="edgedigits-worker") if workers > 1 else None
    try:
        while True:
            while not ended and len(pending) < workers and submitted < limit and not stop.is_set():
                frame = source.read()
                if frame is None:
                    ended = True
                    break
                submitted += 1
                pending.append((frame, pool.submit(pipeline, frame.image) if pool else None))
            if not pending:
                break
            frame, future = pending.popleft()
            result = future.result() if future else pipeline(frame.image)
            yield frame, result, time.perf_counter()
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    if submitted >= limit:
        summary.stopped = f"--max-frames {options.max_frames} reached"
    elif not stop.is_set():
        summary.stopped = "end of source"


def _loop(options, source, pipeline, summary, out, stop, window, saver) -> None:
    start = time.perf_counter()
    summary.stopped = "running"
    reading = _Reading(out) if not options.json and window is None else None
    judge = getattr(source, "judge", None)  # the demo knows what it shows
    try:
        for frame, result, done in _processed(options, source, pipeline, stop, summary):
            latency_ms = (done - frame.captured) * 1000.0
            summary.frames += 1
            summary.digits += len(result.digits)
            summary.numbers += len(result.numbers)
            summary.latency.add(latency_ms)
            if judge is not None:
                judge.add(frame.image, result.digits)
            if options.json:
                out.write(json.dumps(frame_record(frame.index, frame.time, latency_ms, result)) + "\n")
                out.flush()
            if reading:
                reading.update(frame, result)
            if options.save_crops and result.digits:
                _save_crops(options.save_crops, frame.index, result)
            if window or saver:
                elapsed = done - start
                fps = summary.frames / elapsed if elapsed > 0 else 0.0
                annotated = draw(frame.image, result, f"{fps:.0f} FPS | {summary.backend} | frame {frame.index}")
                if saver:
                    saver.write(annotated)
                if window:
                    if not window.show(annotated):
                        summary.stopped = "window closed"
                        return
                    if window.failed:
                        _log(f"no preview window ({window.failed}); running headless")
                        window = None
    finally:
        summary.seconds = time.perf_counter() - start
