"""TensorRT in edgedigits: engine facts and compatibility, the engine build, and the backends.

Polygraphy-like, the loader and the runner live together, in the runtime layer:

- :mod:`._engine` - what an engine was built with and whether it can run here (pure Python);
- :mod:`._library` - the TensorRT modules (full, lean, RTX), what each offers, the GPU check;
- :mod:`.build` - ONNX -> serialized engine (strongly typed, one optimisation profile);
- :mod:`.backend` - the ``tensorrt`` backend and its session; :mod:`.rtx` registers ``tensorrt_rtx``.

The exporter (:mod:`edgedigits.export.tensorrt`) imports these; nothing here imports the exporter.
Importing this package imports no TensorRT module.
"""

from ._engine import (
    BUILDER_RTX,
    BUILDER_TENSORRT,
    DEFAULT_MAX_BATCH,
    ENV_TRUST_ENGINE_CODE,
    EngineFacts,
    MachineFacts,
    compatibility,
    engine_cache_dir,
    engine_cache_key,
    host_code_decision,
    rebuild_reasons,
)
from ._library import cuda_device

__all__ = [
    "BUILDER_RTX",
    "BUILDER_TENSORRT",
    "DEFAULT_MAX_BATCH",
    "ENV_TRUST_ENGINE_CODE",
    "EngineFacts",
    "MachineFacts",
    "compatibility",
    "engine_cache_dir",
    "engine_cache_key",
    "host_code_decision",
    "cuda_device",
    "rebuild_reasons",
]
