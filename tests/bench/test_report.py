"""The bench report: latency units, the chart's accuracy axis, and the chart itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgedigits.bench import Measurement, chart_png
from edgedigits.bench.report import MIN_ACCURACY_SPAN_PP, _cells, accuracy_limits


def _row(backend, precision, accuracy, p50, p99, ips):
    return Measurement(
        backend,
        "cpu",
        precision,
        "onnx",
        artifact=f"onnx-{precision}",
        accuracy=accuracy,
        latency_us_p50=p50,
        latency_us_p99=p99,
        throughput_ips=ips,
    )


def test_tail_latencies_of_a_millisecond_or_more_are_printed_in_ms():
    cells = _cells(_row("onnxruntime", "int8", 0.99, 420.0, 1840.0, 1e5))
    assert cells[7] == "420 us" and cells[8] == "1.84 ms"
    assert _cells(_row("opencv", "fp32", 0.99, 999.4, 1000.0, 1e4))[7:9] == ("999 us", "1.00 ms")


@pytest.mark.parametrize("accuracies", [[99.4, 99.5], [99.5], [98.0, 99.9], [99.95, 100.0]])
def test_the_accuracy_axis_is_never_narrower_than_its_minimum_span(accuracies):
    lo, hi = accuracy_limits(accuracies)
    assert hi - lo >= MIN_ACCURACY_SPAN_PP - 1e-9 and hi <= 100
    assert lo < min(accuracies) and max(accuracies) <= hi
    one_image = 0.1  # pp, one image of 1,000
    assert one_image / (hi - lo) <= 0.05


def test_chart_has_both_panels_drawn_from_the_rows(tmp_path):
    rows = [
        _row("onnxruntime", "int8", 0.994, 80.0, 200.0, 90_000.0),
        _row("opencv", "fp32", 0.995, 300.0, 1500.0, 20_000.0),
        Measurement("tensorrt", status="skipped", reason="no GPU"),
    ]
    chart_png(rows, tmp_path / "full.png", throughput_batch=256)
    chart_png(rows[2:], tmp_path / "empty.png")
    full, empty = cv2.imread(str(tmp_path / "full.png")), cv2.imread(str(tmp_path / "empty.png"))
    assert full.shape == empty.shape == (500, 1200, 3)
    right = full[:, 700:]  # the throughput panel has coloured bars
    coloured = (right.max(axis=2).astype(int) - right.min(axis=2)) > 60
    assert coloured.sum() > 2000 and not np.array_equal(full, empty)
