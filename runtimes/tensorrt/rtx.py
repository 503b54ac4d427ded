"""The ``tensorrt_rtx`` backend's registration module (the code is shared with ``tensorrt``, in :mod:`.backend`)."""

from .backend import TensorRtRtxBackend

BACKEND = TensorRtRtxBackend
