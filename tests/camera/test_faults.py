"""The camera loop survives faulty sources: stalls, errors mid-stream and garbage frames.

tests/camera/test_sources.py covers a live source that blocks, fails or freezes for good (at the
source level). Here whole `run_camera` runs face a camera that misbehaves *between* good frames,
and must skip or reconnect, report it, and read every good frame around the fault. The good
frames are the frames of a real video written with OpenCV (the ``sheet_video`` fixture); the
faulty camera hands them to the loop in lock-step (frame k+1 only once frame k was processed), so
no frame is dropped and each one can be checked against a clean reading of the same frame.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import deque

import cv2
import numpy as np
import pytest

from edgedigits.camera import Options, run_camera, sources
from edgedigits.camera.loop import Pipeline
from edgedigits.camera.frames import MIN_FRAME_SIDE, SourceError, camera_frame
from edgedigits.errors import InputError

STALL_TIMEOUT = 1.0


class Records(io.TextIOBase):
    """The loop's ``--json`` output, parsed as it arrives; lets the camera wait for the loop."""

    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []
        self.cond = threading.Condition()

    def write(self, text: str) -> int:
        with self.cond:
            self.lines += [json.loads(line) for line in text.splitlines() if line.strip()]
            self.cond.notify_all()
        return len(text)

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        with self.cond:
            self.cond.wait_for(lambda: len(self.lines) >= n, timeout)


class Plan:
    """The steps a faulty camera takes, shared by every capture opened on it (a reconnected
    camera goes on where the last one stopped).

    Steps: ("frame", f) the next frame of the video, passed through f when f is not None;
    ("bad", value) hand ``value`` as a frame with ok=True; ("raise", exc); ("pause", seconds)
    a read that blocks, then goes on; "hang" a read that blocks until the camera is reopened;
    ("bad-until-reopened", value) hand ``value`` again and again until the camera is reopened.
    After the last step the camera waits for the loop to process the last frame, then stops the
    run (as a user would).
    """

    def __init__(self, video, steps, records: Records, stop: threading.Event):
        self.video = cv2.VideoCapture(str(video))
        self.steps = deque(steps)
        self.records, self.stop = records, stop
        self.opened = 0
        self.delivered = 0  # video frames handed to the loop
        self.bad_since = None  # the camera that began a "bad-until-reopened" step
        self.reopened = threading.Condition()

    def open(self) -> "FaultyCamera":
        with self.reopened:
            self.opened += 1
            self.reopened.notify_all()
        if self.opened > 5:  # a test gone wrong ends instead of reconnecting for ever
            self.stop.set()
        return FaultyCamera(self, self.opened)

    def next_frame(self, transform):
        self.records.wait_for(self.delivered)
        ok, image = self.video.read()
        assert ok, "the plan asks for more frames than the video has"
        self.delivered += 1
        return True, image if transform is None else transform(image)

    def wait_reopened(self, generation: int, timeout: float) -> bool:
        with self.reopened:
            return self.reopened.wait_for(lambda: self.opened > generation, timeout)


class FaultyCamera:
    """A ``cv2.VideoCapture``-like camera that follows a :class:`Plan`."""

    def __init__(self, plan: Plan, generation: int):
        self.plan, self.generation = plan, generation

    def isOpened(self):  # noqa: N802 - the cv2.VideoCapture name
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass

    def read(self):
        plan = self.plan
        while plan.steps:
            step = plan.steps[0]
            kind = step if isinstance(step, str) else step[0]
            if kind == "bad-until-reopened":
                plan.bad_since = plan.bad_since or self.generation
                if self.generation == plan.bad_since:
                    time.sleep(0.01)
                    return True, step[1]
                plan.steps.popleft()  # this is the reopened camera: it works again
                continue
            plan.steps.popleft()
            if kind == "frame":
                return plan.next_frame(step[1])
            if kind == "bad":
                return True, step[1]
            if kind == "raise":
                raise step[1]
            if kind == "pause":
                time.sleep(step[1])
            elif kind == "hang":
                plan.wait_reopened(self.generation, 30)
                return False, None
        plan.records.wait_for(plan.delivered)
        plan.stop.set()
        return False, None


FRAME = ("frame", None)


def run_plan(monkeypatch, video, steps, recognizer, **options):
    """Run the real camera loop on a faulty camera '7'; returns (summary, records, plan)."""
    records, stop = Records(), threading.Event()
    plan = Plan(video, steps, records, stop)
    monkeypatch.setattr(sources, "camera_opener", lambda spec: plan.open)
    summary = run_camera(
        Options(source="7", headless=True, json=True, stall_timeout=STALL_TIMEOUT, max_reconnects=2, **options),
        recognizer,
        out=records,
        stop=stop,
    )
    return summary, records.lines, plan


@pytest.fixture(scope="module")
def clean_labels(sheet_video, recognizer):
    """The digits read from each frame of the video with no fault in the way."""
    cap = cv2.VideoCapture(str(sheet_video[0]))
    pipe, labels = Pipeline(recognizer), []
    while True:
        ok, image = cap.read()
        if not ok:
            return labels
        labels.append([d.label for d in pipe(image).digits])


def check_every_frame_read(records, plan, clean_labels) -> None:
    assert [r["frame"] for r in records] == list(range(plan.delivered))
    assert [[d["label"] for d in r["digits"]] for r in records] == clean_labels[: plan.delivered]
    assert sum(len(r["digits"]) for r in records) > plan.delivered  # the frames do show digits


def _nan_frame(shape=(48, 64, 3)):
    frame = np.full(shape, 0.5)
    frame[3, 4] = np.nan
    return frame


# What a broken driver may hand over with ok=True -> why it is skipped (None: the reason comes
# from edgedigits.preprocess.to_gray, whose wording is its own).
GARBAGE = {
    "no image": (None, "gave no image"),
    "a list": ([[1, 2], [3, 4]], None),
    "empty array": (np.zeros(0, np.uint8), None),
    "0x0 frame": (np.zeros((0, 0, 3), np.uint8), "smaller than"),
    "1x1 frame": (np.zeros((1, 1, 3), np.uint8), "smaller than"),
    "a row of pixels": (np.zeros((1, 640, 3), np.uint8), "smaller than"),
    "2 channels": (np.zeros((48, 64, 2), np.uint8), None),
    "5 channels": (np.zeros((48, 64, 5), np.uint8), None),
    "4-D": (np.zeros((2, 48, 64, 3), np.uint8), None),
    "NaN floats": (_nan_frame(), "NaN"),
    "infinite floats": (np.full((48, 64), np.inf, np.float32), "NaN or infinite"),
    "complex": (np.zeros((48, 64, 3), np.complex64), None),
}


@pytest.mark.parametrize("name", GARBAGE)
def test_unusable_frames_are_refused_with_the_reason(name):
    value, reason = GARBAGE[name]
    with pytest.raises(InputError, match=reason):
        camera_frame(value)


@pytest.mark.parametrize(
    "frame,dtype",
    [
        (np.full((48, 64, 3), 40000, np.uint16), np.uint16),
        (np.full((48, 64, 3), 0.5), np.float64),
        (np.full((48, 64), 128, np.uint8), np.uint8),
        (np.full((48, 64, 4), 128, np.uint8), np.uint8),
        (np.full((MIN_FRAME_SIDE, MIN_FRAME_SIDE, 1), 9, np.uint8), np.uint8),
    ],
)
def test_readable_frames_become_8_bit_bgr(frame, dtype):
    out = camera_frame(frame)
    assert out.dtype == np.uint8 and out.shape == frame.shape[:2] + (3,)


def test_garbage_frames_are_skipped_counted_and_the_rest_read(
    monkeypatch, sheet_video, recognizer, clean_labels, capsys, tmp_path, count_frames
):
    """A 1x1 frame first (it must not set the saved video's size), garbage between good frames, and
    16-bit, float, gray and BGRA frames (converted and read like the 8-bit original)."""
    steps = [("bad", GARBAGE["1x1 frame"][0]), FRAME]
    for value, _ in GARBAGE.values():
        steps += [("bad", value), FRAME]
    steps += [
        ("frame", lambda im: im.astype(np.uint16) * 257),
        ("frame", lambda im: im / 255.0),
        ("frame", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)),
        ("frame", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)),
        FRAME,
    ]
    saved = tmp_path / "annotated.avi"
    summary, records, plan = run_plan(monkeypatch, sheet_video[0], steps, recognizer, save=saved)
    garbage = len(GARBAGE) + 1
    assert summary.skipped == garbage and summary.reconnects == 0 and summary.frames == plan.delivered
    check_every_frame_read(records, plan, clean_labels)
    err = capsys.readouterr().err
    assert "camera 7: skipped an unusable frame (a 1x1 frame is smaller than" in err
    assert "; 10 so far" in err and f"{garbage} unusable frames skipped" in err
    assert count_frames(saved) == plan.delivered
    cap = cv2.VideoCapture(str(saved))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
    cap.release()


def test_camera_that_stalls_then_recovers(monkeypatch, sheet_video, recognizer, clean_labels, capsys):
    """A pause shorter than the stall timeout is waited out; a longer one reconnects, and the
    reopened camera's frames are read."""
    steps = [FRAME] * 3 + [("pause", STALL_TIMEOUT / 5)] + [FRAME] * 3 + ["hang"] + [FRAME] * 3
    summary, records, plan = run_plan(monkeypatch, sheet_video[0], steps, recognizer)
    assert summary.reconnects == 1 and plan.opened == 2 and summary.frames == 9
    check_every_frame_read(records, plan, clean_labels)
    err = capsys.readouterr().err
    assert err.count("reconnecting (attempt 1 of 2") == 1
    assert f"camera 7: no new frame arrived for {STALL_TIMEOUT:g} s; reconnecting" in err
    assert "camera 7: reconnected" in err and "1 reconnects" in err


def test_camera_that_raises_mid_stream_is_reopened(monkeypatch, sheet_video, recognizer, clean_labels, capsys):
    steps = (
        [FRAME] * 3
        + [("raise", cv2.error("bad USB transfer"))]
        + [FRAME] * 3
        + [("raise", OSError(5, "Input/output error"))]
        + [FRAME] * 3
    )
    summary, records, plan = run_plan(monkeypatch, sheet_video[0], steps, recognizer)
    assert summary.reconnects == 2 and plan.opened == 3 and summary.frames == 9
    check_every_frame_read(records, plan, clean_labels)
    err = capsys.readouterr().err
    assert "it stopped delivering frames (error: bad USB transfer); reconnecting" in err
    assert "it stopped delivering frames (OSError: [Errno 5] Input/output error); reconnecting" in err
    assert "Traceback" not in err


def test_camera_that_delivers_only_garbage_is_reopened(monkeypatch, sheet_video, recognizer, clean_labels, capsys):
    steps = [FRAME] * 2 + [("bad-until-reopened", None)] + [FRAME] * 2
    summary, records, plan = run_plan(monkeypatch, sheet_video[0], steps, recognizer)
    assert summary.reconnects == 1 and summary.skipped >= 1 and summary.frames == 4
    check_every_frame_read(records, plan, clean_labels)
    err = capsys.readouterr().err
    assert (
        f"camera 7: it delivered only unusable frames for {STALL_TIMEOUT:g} s (the device reported a frame "
        f"but gave no image); reconnecting"
    ) in err


class RaisingCapture:
    """A real ``cv2.VideoCapture`` on a video file whose decoder raises after ``good`` frames."""

    def __init__(self, capture, good: int):
        self.capture, self.good = capture, good

    def read(self):
        if self.good == 0:
            raise cv2.error("decoder failure")
        self.good -= 1
        return self.capture.read()

    def __getattr__(self, name):
        return getattr(self.capture, name)


@pytest.mark.parametrize("realtime", [False, True])
def test_video_file_whose_decoder_raises_ends_with_one_message(
    monkeypatch, sheet_video, recognizer, realtime, tmp_path, count_frames
):
    """The frames before the failure are read and saved, then one clear SourceError (no hang)."""
    real = cv2.VideoCapture
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a: RaisingCapture(real(*a), 6))
    out, saved = io.StringIO(), tmp_path / "partial.avi"
    with pytest.raises(
        SourceError,
        match=r"decoding failed after \d+ frames \(error: decoder failure\); the file "
        r"may be damaged",
    ):
        run_camera(
            Options(source=str(sheet_video[0]), headless=True, json=True, realtime=realtime, save=saved),
            recognizer,
            out=out,
        )
    read = len(out.getvalue().splitlines())
    assert 1 <= read <= 6 and (read == 6 or realtime)
    monkeypatch.undo()
    assert count_frames(saved) == read


def test_truncated_video_file_is_read_up_to_the_cut(sheet_video, recognizer, tmp_path, capsys):
    """A real MJPG AVI written by OpenCV, cut at 60 %: the frames before the cut are read."""
    whole, cut = tmp_path / "whole.avi", tmp_path / "cut.avi"
    cap = cv2.VideoCapture(str(sheet_video[0]))
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    frames = 0
    while (got := cap.read())[0]:
        writer.write(got[1])
        frames += 1
    writer.release()
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    summary = run_camera(Options(source=str(cut), headless=True, json=True), recognizer, out=io.StringIO())
    assert frames // 3 <= summary.frames < frames and summary.digits > 0
    assert summary.stopped == "end of source" and "Traceback" not in capsys.readouterr().err
