"""The saved video's codec (chosen by what this OpenCV writes and reads back), the overlay, and the
demo's own score of what the loop read."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgedigits.camera import video
from edgedigits.camera.demo import DemoCapture, DemoJudge
from edgedigits.camera.overlay import LABEL_SIZE, VideoSaver, _scale, draw
from edgedigits.camera.render import Truth
from edgedigits.recognizer import Digit
from edgedigits.vision import Number

HEADLESS_ENV = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}


def _frames(n=12, size=(640, 480)):
    cap = DemoCapture(fps=1000.0, size=size, seed=1)
    return [cap.read()[1] for _ in range(n)]


def test_each_suffix_gets_a_codec_that_decodes_again(tmp_path, count_frames):
    for suffix in (".mp4", ".avi", ".webm"):
        fourcc = video.choose(suffix)
        assert video.writes(suffix, fourcc)
        saver = VideoSaver(tmp_path / f"out{suffix}", 30.0)
        for frame in _frames():
            saver.write(frame)
        assert saver.close() == tmp_path / f"out{suffix}"
        stride = video.pacing(fourcc, 30.0, (640, 480))[0]
        assert count_frames(tmp_path / f"out{suffix}") == len(range(0, 12, stride))


def test_mp4_prefers_h264_and_says_when_it_cannot():
    fourcc = video.choose(".mp4")
    assert fourcc == ("avc1" if video.writes(".mp4", "avc1") else "H264" if video.writes(".mp4", "H264") else "mp4v")
    text = video.describe(video.Path("out.mp4"), fourcc)
    assert ("plays in a browser" in text) == (fourcc != "mp4v")
    if fourcc == "mp4v":
        assert "browsers do not play" in text and "cannot write H.264" in text


def test_no_suffix_means_a_video_browsers_play(tmp_path):
    path, fourcc = video.resolve(tmp_path / "demo")
    assert fourcc in video.BROWSER_PLAYABLE
    assert path == tmp_path / ("demo.mp4" if fourcc in ("avc1", "H264") else "demo.webm")


def test_a_codec_the_container_cannot_hold_is_refused():
    assert video.writes(".avi", "MJPG")
    assert not video.writes(".webm", "MJPG")  # WebM holds only VP8/VP9/AV1


def test_slow_codec_keeps_ten_frames_a_second_at_most_480_wide():
    assert video.pacing("VP80", 30.0, (1280, 720)) == (3, (480, 270))
    assert video.pacing("mp4v", 30.0, (1280, 720)) == (1, (1280, 720))


def _result(digits, numbers):
    from edgedigits.camera.loop import FrameResult

    return FrameResult(digits, numbers)


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1920, 1080)])
def test_overlay_text_scales_with_the_frame(size):
    w, h = size
    frame = np.full((h, w, 3), 255, np.uint8)
    box = (w // 3, h // 3, w // 10, h // 5)
    out = draw(frame, _result([Digit(box, 4, 0.93)], [Number(box, "4", [0])]), "hud")
    scale, _ = _scale(frame, LABEL_SIZE)
    (_, th), _ = cv2.getTextSize("4", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    assert 0.025 * h <= th <= 0.05 * h or h < 300
    green = np.all(out == (0, 200, 0), axis=2)
    above = green[: box[1]].any(axis=1).sum()  # the label's band above the digit box
    assert above >= 0.8 * th


def test_lone_digit_gets_a_number_box_too():
    frame = np.full((480, 640, 3), 255, np.uint8)
    box = (300, 200, 30, 50)
    out = draw(frame, _result([Digit(box, 7, 0.9)], [Number(box, "7", [0])]), "hud")
    blue = np.all(out == (255, 120, 0), axis=2)
    assert blue[box[1] + box[3] :].any() and blue[:, : box[0]].any()  # box outline and the value under it


def test_label_and_confidence_are_apart():
    frame = np.full((480, 640, 3), 128, np.uint8)
    box = (300, 200, 30, 50)
    out = draw(frame, _result([Digit(box, 4, 0.93)], []), "hud")
    band = np.all(out[150 : 200 - 2, 290:420] == (255, 255, 255), axis=2)  # white text inside the green tag
    columns = np.flatnonzero(band.any(axis=0))
    gaps = np.diff(columns)
    assert gaps.max() >= 6  # a clear gap between "4" and "93%", not "40.93"


def test_judge_scores_only_frames_it_delivered():
    judge = DemoJudge(keep=2)
    a, b, c = (np.zeros((4, 4, 3), np.uint8) for _ in range(3))
    truth = [Truth((10, 10, 20, 30), 3, 0), Truth((50, 10, 20, 30), 5, 0)]
    judge.expect(a, truth)
    assert judge.add(a, [Digit((11, 10, 20, 30), 3, 0.9), Digit((50, 11, 20, 30), 8, 0.9)])
    assert not judge.add(a.copy(), [])  # a copy is not the frame that was shown
    judge.expect(b, truth)
    judge.expect(c, truth)  # a falls out of the window of 2
    assert not judge.add(a, [])
    s = judge.total
    assert (s.frames, s.digits, s.correct, s.wrong, s.false) == (1, 2, 1, 1, 0)
    assert "read 1 of the 2 digits shown right (50.0%)" in judge.text()


def test_demo_run_ends_with_its_score_and_a_video_browsers_play(cli, tmp_path, count_frames):
    r = cli(
        "camera",
        "--source",
        "demo",
        "--max-frames",
        "20",
        "--stall-timeout",
        "60",
        "--save",
        str(tmp_path / "demo"),
        env=HEADLESS_ENV,
        timeout=300,
        cwd=tmp_path,
    )  # frames, not seconds: load-proof
    assert r.returncode == 0, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    path, fourcc = video.resolve(tmp_path / "demo")
    assert last.startswith("edgedigits camera: demo: read ") and last.endswith(f"annotated video: {path}")
    right, shown = (int(v) for v in last.split("read ")[1].split(" digits")[0].split(" of the "))
    assert shown >= 10 and right >= 0.8 * shown
    assert count_frames(path) >= 3
    assert f"{video.NAMES[fourcc]}, plays in a browser" in r.stderr


def test_stream_that_cannot_connect_is_one_line(cli):
    r = cli(
        "camera",
        "--source",
        "rtsp://127.0.0.1:9/none",
        "--headless",
        "--max-frames",
        "1",
        "--stall-timeout",
        "1",
        "--reconnects",
        "1",
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "could not be opened" in r.stderr, r.stderr


def test_json_mode_reports_the_score_on_stderr_only(cli):
    r = cli(
        "camera", "--source", "demo", "--max-frames", "5", "--stall-timeout", "60", "--json", "--headless", timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert all(json.loads(line) for line in r.stdout.splitlines())
    assert "demo: read " in r.stderr.strip().splitlines()[-1]
