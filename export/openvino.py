"""OpenVINO IR: FP32, FP16-compressed and INT8, converted from the exported ONNX models.

INT8 has two candidates, both measured on the evaluation set with OpenVINO itself:
``qdq-onnx`` (the IR of the Q/DQ ONNX model, the same quantization every runtime uses) and
``nncf`` (NNCF post-training quantization of the FP32 IR, calibrated on the same images).
The more accurate one wins; candidates within parity of FP32 count as equal and the smaller
file wins among them. The manifest says which was kept and what each measured.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from .._deps import has
from .datasets import ImageSet

NNCF_SUBSET = 300


def unavailable_reason() -> str | None:
    if not has("openvino"):
        return "OpenVINO is not installed (pip install 'edgedigits[openvino]')"
    return None


def ir_files(xml: str) -> tuple[str, list[str]]:
    """(main file, companions) of an IR, e.g. ('openvino/model.fp32.xml', ['openvino/model.fp32.bin'])."""
    return xml, [xml[:-4] + ".bin"]


def ir_size(xml_path: Path) -> int:
    return xml_path.stat().st_size + xml_path.with_suffix(".bin").stat().st_size


def _save(model, xml_path: Path, compress_to_fp16: bool) -> None:
    import openvino as ov

    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(xml_path), compress_to_fp16=compress_to_fp16)


def convert(onnx_path: str | os.PathLike, xml_path: Path, compress_to_fp16: bool = False) -> dict:
    """Convert an ONNX model (FP32 or Q/DQ INT8) to IR; returns build facts."""
    import openvino as ov

    _save(ov.convert_model(str(onnx_path)), xml_path, compress_to_fp16)
    return {
        "openvino": ov.__version__,
        "converter": "openvino.convert_model (from ONNX)",
        "weights": "fp16" if compress_to_fp16 else "as in the source",
    }


def quantize_nncf(fp32_onnx: str | os.PathLike, xml_path: Path, calibration: ImageSet) -> dict:
    """NNCF post-training INT8 quantization of the FP32 model; returns build facts."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(fp32_onnx))
    items = [calibration.images[i : i + 1] for i in range(len(calibration))]
    subset = min(len(items), NNCF_SUBSET)
    with contextlib.redirect_stdout(sys.stderr):  # NNCF draws its progress bars on stdout
        quantized = nncf.quantize(
            model,
            nncf.Dataset(items),
            subset_size=subset,
            preset=nncf.QuantizationPreset.PERFORMANCE,
            fast_bias_correction=False,
        )
    _save(quantized, xml_path, compress_to_fp16=False)
    return {
        "openvino": ov.__version__,
        "nncf": nncf.__version__,
        "quantizer": "nncf.quantize",
        "preset": "performance",
        "bias_correction": "full",
        "subset_size": subset,
        "calibration": calibration.facts(),
    }


def quantize_best(
    qdq_onnx: Path,
    fp32_onnx: Path,
    xml_path: Path,
    calibration: ImageSet,
    accuracy_of: Callable[[Path], float],
    parity: float,
    scratch: Path,
    log=print,
) -> dict:
    """Build each INT8 IR candidate, measure it, and keep the better one at ``xml_path``.

    Args:
        accuracy_of: measures an IR file with OpenVINO on the validation split that training held
            out - never on the evaluation (test) set, which only gates the result.
        parity: the validation accuracy at or above which a candidate counts as equal to FP32.

    Returns:
        Build facts of the kept IR, with ``method`` and every candidate's measurements.
    """
    builders = {"qdq-onnx": lambda xml: convert(qdq_onnx, xml)}
    skipped = {}
    if has("nncf"):
        builders["nncf"] = lambda xml: quantize_nncf(fp32_onnx, xml, calibration)
    else:
        skipped["nncf"] = "nncf is not installed (pip install nncf)"
    results = {}
    for method, build in builders.items():
        xml = scratch / method / xml_path.name
        facts = build(xml)
        results[method] = (accuracy_of(xml), ir_size(xml), xml, facts)
        log(f"  openvino int8 {method}: accuracy {results[method][0]:.4%}, {results[method][1]:,} bytes")
    # At parity every candidate is as good as FP32, so the smaller wins; below it, accuracy wins.
    method = min(results, key=lambda m: (min(results[m][0], parity) * -1, results[m][1]))
    acc, size, xml, facts = results[method]
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    for src, dst in ((xml, xml_path), (xml.with_suffix(".bin"), xml_path.with_suffix(".bin"))):
        shutil.copyfile(src, dst)
    candidates = {m: {"accuracy": round(r[0], 6), "size": r[1]} for m, r in results.items()}
    candidates.update({m: {"skipped": why} for m, why in skipped.items()})
    return {**facts, "method": method, "candidates": candidates}
