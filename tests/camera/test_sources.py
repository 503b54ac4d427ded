"""Frame sources: files, folders, images, failures to open, and live sources that stall."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edgedigits.camera.capture import LiveSource
from edgedigits.camera.demo import DemoCapture
from edgedigits.camera.files import ImagesSource, VideoFileSource
from edgedigits.camera.frames import SourceError
from edgedigits.camera.sources import open_source


class ScriptedCapture:
    """A capture-like device that delivers ``frames`` distinct frames, then misbehaves.

    after: 'block' (read never returns until released), 'fail' (read returns False) or
    'freeze' (the same image forever).
    """

    def __init__(self, frames: int, after: str, interval: float = 0.005):
        self.frames, self.after, self.interval = frames, after, interval
        self.n = 0
        self.released = threading.Event()

    def isOpened(self):  # noqa: N802
        return True

    def read(self):
        time.sleep(self.interval)
        if self.n < self.frames:
            self.n += 1
            return True, np.full((48, 64, 3), self.n % 256, np.uint8)
        if self.after == "block":
            self.released.wait(30)
            return False, None
        if self.after == "fail":
            return False, None
        return True, np.full((48, 64, 3), self.n % 256, np.uint8)

    def release(self):
        self.released.set()


def _drain(source, stop, limit=200):
    got = []
    while len(got) < limit:
        frame = source.read()
        if frame is None:
            break
        got.append(frame)
    return got


@pytest.mark.parametrize("after", ["block", "fail", "freeze"])
def test_stalled_live_source_is_reconnected_and_reported(after, capsys):
    opened = []

    def opener():
        cap = ScriptedCapture(5, after)
        opened.append(cap)
        return cap

    stop = threading.Event()
    source = LiveSource(opener, "camera 9", "cannot open", stop, stall_timeout=0.3, max_reconnects=3)
    frames = []
    for _ in range(50):  # 3 openings take about 12 reads; a bound, not an endless wait
        if len(opened) >= 3:
            break
        frames.append(source.read())
    source.close()
    assert len(opened) >= 3 and source.reconnects >= 2
    assert all(f is not None for f in frames)
    err = capsys.readouterr().err
    assert "camera 9:" in err and "reconnecting (attempt 1 of 3" in err and "reconnected" in err
    if after == "freeze":
        assert "repeated the same image" in err


def test_live_source_gives_up_after_its_attempts(capsys):
    calls = []

    def opener():
        calls.append(1)
        return ScriptedCapture(3, "fail") if len(calls) == 1 else None

    source = LiveSource(opener, "camera 9", "cannot open", threading.Event(), stall_timeout=0.2, max_reconnects=2)
    with pytest.raises(SourceError, match="could not be reopened after 2 attempts"):
        _drain(source, None)
    source.close()
    assert len(calls) == 3


def test_live_source_keeps_only_the_newest_frame():
    """A slow consumer gets fresh frames with gaps in the index, never a backlog of old ones."""
    stop = threading.Event()
    source = LiveSource(lambda: ScriptedCapture(10_000, "fail", interval=0.001), "fast", "x", stop)
    indices = []
    for _ in range(10):
        # Be slower than the device: let it publish three more frames (however fast this machine
        # runs it; the deadline only guards against a hang) before asking again.
        target, deadline = source._count + 3, time.monotonic() + 10
        while source._count < target and time.monotonic() < deadline:
            time.sleep(0.001)
        newest_before = source._count - 1  # the newest frame already captured when we ask
        frame = source.read()
        assert frame.index >= newest_before  # never an older, queued frame
        indices.append(frame.index)
    source.close()
    assert all(later - earlier >= 3 for earlier, later in zip(indices, indices[1:]))  # skipped, not queued
    assert source.dropped >= 2 * (len(indices) - 1)


def test_stop_event_ends_a_waiting_read():
    stop = threading.Event()
    source = LiveSource(lambda: ScriptedCapture(1, "block"), "cam", "x", stop, stall_timeout=30)
    source.read()
    result = []
    reader = threading.Thread(target=lambda: result.append(source.read()))
    reader.start()
    stop.set()
    reader.join(5)  # the stall timeout is 30 s: only the stop event can end it this soon
    assert not reader.is_alive() and result == [None]
    source.close()


def test_camera_that_cannot_be_opened_names_the_likely_causes():
    with pytest.raises(SourceError) as err:
        open_source("57")
    message = str(err.value)
    for cause in ("index", "permission", "another program", "backend"):
        assert cause in message


@pytest.mark.parametrize(
    "spec,match", [("no/such/video.mp4", "not a camera index"), ("rtsp://127.0.0.1:9/none", "could not be opened")]
)
def test_missing_sources_fail_clearly(spec, match):
    with pytest.raises(SourceError, match=match):
        open_source(spec)


def test_video_file_gives_every_frame_then_ends(sheet_video):
    path, truth = sheet_video
    source = open_source(str(path))
    assert isinstance(source, VideoFileSource) and not source.live
    frames = _drain(source, None)
    source.close()
    assert [f.index for f in frames] == list(range(len(truth)))
    assert frames[1].time == pytest.approx(1 / 30, abs=1e-3)


def test_realtime_video_drops_frames_it_is_too_slow_for(sheet_video):
    path, truth = sheet_video
    source = open_source(str(path), realtime=True)
    frames = []
    while (f := source.read()) is not None:
        frames.append(f.index)
        time.sleep(0.07)  # ~2 frame intervals of work per frame
    source.close()
    assert frames[-1] >= len(truth) - 3 and len(frames) < len(truth) * 0.7 and source.dropped > 0


def test_not_a_video_is_refused(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(SourceError, match="could not be opened as a video"):
        open_source(str(bad))


def test_folder_of_images_skips_unreadable_ones(tmp_path, capsys):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 50, 3), 200, np.uint8))
    (tmp_path / "1b.png").write_bytes(b"broken")
    (tmp_path / "readme.txt").write_text("ignored")
    source = open_source(str(tmp_path))
    frames = _drain(source, None)
    assert isinstance(source, ImagesSource) and len(frames) == 3 and source.skipped == 1
    assert "skipping" in capsys.readouterr().err


def test_empty_folder_and_broken_single_image_are_errors(tmp_path):
    with pytest.raises(SourceError, match="holds no image files"):
        open_source(str(tmp_path))
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    with pytest.raises(SourceError, match="not an image"):
        open_source(str(bad)).read()


class VirtualClock:
    """Stands in for the time module inside the demo source: sleeping advances a virtual clock."""

    def __init__(self):
        self.now, self.slept = 1000.0, []

    def perf_counter(self):
        self.now += 1e-4  # each look at the clock costs a little, as rendering does
        return self.now

    def sleep(self, dt):
        self.slept.append(dt)
        self.now += dt


def test_demo_renders_paced_distinct_frames(monkeypatch):
    from edgedigits.camera import demo

    clock = VirtualClock()
    monkeypatch.setattr(demo, "time", clock)
    cap = DemoCapture(fps=100, seed=1)
    start = clock.now
    frames = [cap.read()[1] for _ in range(6)]
    assert clock.now - start >= 5 / 100  # six frames at 100 fps span at least five intervals
    assert len(clock.slept) == 5 and all(0 < dt <= 1 / 100 for dt in clock.slept)
    assert frames[0].shape == (480, 640, 3) and not np.array_equal(frames[0], frames[1])
    assert cap.get(cv2.CAP_PROP_FPS) == 100
