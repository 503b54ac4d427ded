"""Fixtures for the camera tests: real MNIST test digits rendered onto sheets, a real model."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def heldout():
    """The shipped 1,000 MNIST *test* digits (always available, never trained on)."""
    from edgedigits.samples import load_sample

    return load_sample("heldout")


@pytest.fixture(scope="session")
def recognizer():
    from edgedigits.recognizer import Recognizer

    with Recognizer(backend="onnxruntime") as rec:
        yield rec


@pytest.fixture(scope="session")
def sheet_video(tmp_path_factory, heldout):
    """A 640x480 MP4 of 40 frames (4 sheets of 3-6 digits with marks) and its per-frame truth."""
    from edgedigits.camera.render import render_video

    path = tmp_path_factory.mktemp("video") / "sheets.mp4"
    truth = render_video(path, *heldout, frames=40, seed=3)
    return path, truth


def _count_frames(path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture
def count_frames():
    """Decode a video file to the end (is it playable?) and return its number of frames."""
    return _count_frames


@pytest.fixture
def rng():
    return np.random.default_rng(0)
