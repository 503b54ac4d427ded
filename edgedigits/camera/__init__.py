"""The live camera loop: capture -> find digits -> MNIST-normalise -> one batch -> overlay / JSON.

    from edgedigits.camera import Options, run_camera
    summary = run_camera(Options(source="demo", headless=True, duration=5, json=True))

Sources, the capture thread and the demo live in :mod:`.sources` (the factory), :mod:`.files`,
:mod:`.capture` and :mod:`.demo`, with what they share in :mod:`.frames`; drawing and saving in
:mod:`.overlay`; synthetic sheets with ground truth (used by the demo, the tests and the
benchmark) in :mod:`.render`.
"""

from __future__ import annotations

from .frames import Frame, SourceError
from .loop import FrameResult, Options, Pipeline, Summary, frame_record, run_camera
from .sources import open_source

__all__ = [
    "Frame",
    "FrameResult",
    "Options",
    "Pipeline",
    "SourceError",
    "Summary",
    "frame_record",
    "open_source",
    "run_camera",
]
