"""PyTorch -> ONNX FP32 with BatchNorm folded and a dynamic batch dimension.

It sits low (beside the bundle format) because training writes its bundle with it and the
exporter builds every other artifact from its output; PyTorch and the ``onnx`` package are
imported only inside the functions.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from ._deps import need

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """Export ``model`` (a DigitNet) to one self-contained ONNX file at ``path``.

    BatchNorm is folded into the convolutions first, so the graph holds only Conv, Relu,
    GlobalAveragePool, Flatten/Reshape and Gemm - the ops every runtime quantizes well.
    """
    import torch

    need("onnx", "ONNX export")
    need("onnxscript", "ONNX export")
    path = Path(path)
    fused = model.fused() if hasattr(model, "fused") else model.eval()
    example = torch.zeros(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1, max=4096)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            fused,
            (example,),
            dynamo=True,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": {0: batch}},
            external_data=False,
            verbose=False,
        )
    program.save(str(path), external_data=False)
    return path


def onnx_build_facts() -> dict:
    import onnx
    import torch

    return {
        "exporter": "torch.onnx (dynamo)",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "opset": OPSET,
        "batchnorm_folded": True,
    }
