"""INT8 static post-training quantization with ONNX Runtime, in the one Q/DQ form every runtime reads.

The result is an explicit-quantization ONNX model: QuantizeLinear/DequantizeLinear pairs, signed
INT8 activations and weights, symmetric (every zero point 0), weights per output channel, biases
left in float. TensorRT, OpenVINO and ONNX Runtime all consume it; it is checked against
TensorRT's rules (:func:`edgedigits.export.tensorrt.check_explicit_quantization`) after writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from .._deps import need
from .datasets import ImageSet
from .onnx import INPUT_NAME, strip_metadata

# Calibration methods in the order they are tried; the first one within parity of FP32 wins.
METHODS = ("minmax", "percentile", "entropy")
# Then the same with weights in a 7-bit range (ONNX Runtime's ``reduce_range``): CPUs without VNNI
# (AVX2 only) add int8 products in pairs into 16 bits, which saturates with full-range weights
# and costs accuracy there; a 7-bit range cannot saturate. Still symmetric signed INT8 Q/DQ.
REDUCED = "-7bit"
CANDIDATES = METHODS + tuple(m + REDUCED for m in METHODS)
BATCH = 50


def _reader(calibration: ImageSet):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.at = 0

        def get_next(self):
            if self.at >= len(calibration):
                return None
            batch = calibration.images[self.at : self.at + BATCH]
            self.at += BATCH
            return {INPUT_NAME: batch}

    return Reader()


def quantize_int8(
    fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: ImageSet, method: str = "minmax"
) -> dict:
    """Write the Q/DQ INT8 model of ``fp32_path`` to ``out_path``, calibrated on ``calibration``.

    Args:
        method: a calibration method of :data:`METHODS`, with :data:`REDUCED` appended for 7-bit weights.

    Returns:
        The build facts to record in the manifest.
    """
    onnx = need("onnx", "INT8 quantization")
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    reduce_range = method.endswith(REDUCED)
    calibrate = method.removesuffix(REDUCED)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice about pre-processing at WARNING
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the histogram calibrators print their progress
            quantize_static(
                str(fp32_path),
                str(out_path),
                _reader(calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[calibrate],
                reduce_range=reduce_range,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
            )
    finally:
        root.setLevel(level)
    strip_metadata(out_path)
    return {
        "quantizer": "onnxruntime.quantization.quantize_static",
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "format": "QDQ",
        "activations": "int8 symmetric per-tensor",
        "weights": "int8 symmetric per-channel" + (", 7-bit range (reduce_range)" if reduce_range else ""),
        "bias": "float",
        "calibration_method": calibrate,
        "reduce_range": reduce_range,
        "calibration": calibration.facts(),
    }


def quantize_best(
    fp32_path: Path,
    out_path: Path,
    calibration: ImageSet,
    accuracy_of: Callable[[Path], float],
    target: float,
    methods=CANDIDATES,
    log=print,
) -> dict:
    """Try calibration ``methods`` (:data:`CANDIDATES`) in order until one reaches ``target`` accuracy; keep the best.

    Args:
        accuracy_of: measures an INT8 model file (with ONNX Runtime) on the validation split that
            training held out - never on the evaluation (test) set, which only gates the result.
        target: the validation accuracy that counts as parity with FP32.

    Returns:
        The chosen model's build facts, with every method tried and its accuracy under ``tried``.
    """
    tried, best = {}, None
    for method in methods:
        candidate = out_path.with_name(f"{out_path.stem}.{method}.onnx")
        facts = quantize_int8(fp32_path, candidate, calibration, method)
        tried[method] = accuracy_of(candidate)
        log(f"  int8 calibration {method}: accuracy {tried[method]:.4%}")
        if best is None or tried[method] > tried[best[0]]:
            best = (method, candidate, facts)
        if tried[method] >= target:
            break
    method, candidate, facts = best
    os.replace(candidate, out_path)
    for m in tried:
        out_path.with_name(f"{out_path.stem}.{m}.onnx").unlink(missing_ok=True)
    return {**facts, "tried": {m: round(a, 6) for m, a in tried.items()}}
