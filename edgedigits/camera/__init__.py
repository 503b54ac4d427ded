"""The live camera loop: capture -> find digits -> MNIST-normalise -> one batch -> overlay / JSON.

    from edgedigits.camera import Options, run_camera
    summary = run_camera(Options(source="demo", headless=True, duration=5, json=True))

Sources, the capture thread and the demo live in :mod:`.sources`, :mod:`.capture` and
:mod:`.demo`; drawing and saving in :mod:`.overlay`; synthetic sheets with ground truth (used by
the demo, the tests and the benchmark) in :mod:`.render`.
"""

from __future__ import annotations

from .loop import DEFAULT_MIN_CONFIDENCE, FrameResult, Options, Pipeline, Summary, frame_record, run_camera
from .sources import Frame, SourceError, open_source

__all__ = ["DEFAULT_MIN_CONFIDENCE", "Frame", "FrameResult", "Options", "Pipeline", "SourceError", "Summary",
           "frame_record", "open_source", "run_camera"]
