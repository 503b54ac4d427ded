"""``edgedigits bench``: every artifact of a model on every backend of this machine, in one table.

Every backend x device x precision x format that can run here gets one row:

- artifact size (main file + companions) and load time (``Recognizer(...)`` construction in a
  fresh process: library import, checksum verification and model load);
- MNIST test accuracy (the full 10,000 when MNIST is on the machine, else the shipped
  1,000-image held-out sample of it);
- batch-1 latency p50 / p99 through the SDK (``Recognizer.classify`` on one uint8 crop);
- throughput at a large batch through the SDK (``Recognizer.logits``);
- frames per second of the real camera loop (``edgedigits camera --json`` on a rendered
  640x480 video, decoding included);

and a status: ``ok``, ``failed: why`` or ``skipped: why``. A failing row never stops the others.
A robustness table (accuracy of the FP32 and INT8 ONNX models on camera-like corruptions of MNIST
test, from :mod:`edgedigits.synth`) follows. Results carry the machine (CPU model, cores, load,
library versions); ``--out DIR`` writes ``bench.json``, ``bench.md`` and ``bench.png``.

The work is split in three: :mod:`.plan` (settings, rows, what to export), :mod:`.measure` (one
row per fresh process, robustness, the run) and :mod:`.report` (table, markdown, chart).
"""

from __future__ import annotations

from .measure import describe_machine, run_bench
from .plan import (
    FAILED,
    FULL,
    OK,
    OUTPUTS,
    QUICK,
    SKIPPED,
    BenchOptions,
    BenchResult,
    Measurement,
    Settings,
    check_out,
    parse_backends,
)
from .report import chart_png, markdown, table, write_outputs

__all__ = [
    "FAILED",
    "FULL",
    "OK",
    "OUTPUTS",
    "QUICK",
    "SKIPPED",
    "BenchOptions",
    "BenchResult",
    "Measurement",
    "Settings",
    "check_out",
    "chart_png",
    "describe_machine",
    "markdown",
    "parse_backends",
    "run_bench",
    "table",
    "write_outputs",
]
