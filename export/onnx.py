"""PyTorch -> ONNX FP32 with BatchNorm folded and a dynamic batch dimension; the training bundle.

PyTorch is imported only inside the functions that export from it.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from .._deps import need
from .._io import atomic_dir, atomic_path
from ..bundle import base_manifest, make_artifact, write_manifest
from ..data import checksums

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
        program = torch.onnx.export(fused, (example,), dynamo=True, opset_version=opset,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_shapes={"x": {0: batch}}, external_data=False,
                                    verbose=False)
    program.save(str(path), external_data=False)
    return path


def onnx_build_facts() -> dict:
    import onnx
    import torch
    return {"exporter": "torch.onnx (dynamo)", "torch": torch.__version__, "onnx": onnx.__version__,
            "opset": OPSET, "batchnorm_folded": True}


def strip_metadata(path: str | os.PathLike) -> Path:
    """Remove the exporter's per-node debug metadata and cached shapes from an ONNX file, in place.

    The torch exporter stores stack traces and module paths on every node; they do not change
    the computation but make up a quarter of a small INT8 file.
    """
    onnx = need("onnx", "Writing ONNX models")
    path = Path(path)
    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return path


def convert_to_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write an FP16 copy of the FP32 model ``src``: weights and compute in float16, I/O in float32.

    The input and output stay float32 (one Cast at each end), so every runtime feeds it the same
    arrays as the FP32 model; a strongly typed TensorRT network then runs in FP16, the only way
    TensorRT 11 builds FP16 engines.
    """
    onnx = need("onnx", "FP16 conversion")
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph

    def half(tensor):
        if tensor.data_type != TensorProto.FLOAT:
            return tensor
        return numpy_helper.from_array(numpy_helper.to_array(tensor).astype("float16"), tensor.name)

    for i, init in enumerate(graph.initializer):
        graph.initializer[i].CopyFrom(half(init))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                attr.t.CopyFrom(half(attr.t))
    inside_in, inside_out = f"{INPUT_NAME}_fp16", f"{OUTPUT_NAME}_fp16"
    for node in graph.node:
        node.input[:] = [inside_in if n == INPUT_NAME else n for n in node.input]
        node.output[:] = [inside_out if n == OUTPUT_NAME else n for n in node.output]
        del node.metadata_props[:]
    graph.node.insert(0, helper.make_node("Cast", [INPUT_NAME], [inside_in], name="cast_input_fp16",
                                          to=TensorProto.FLOAT16))
    graph.node.append(helper.make_node("Cast", [inside_out], [OUTPUT_NAME], name="cast_logits_fp32",
                                       to=TensorProto.FLOAT))
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return Path(dst)


def write_training_bundle(model, dest: Path, recipe: dict, test_accuracy: float, val_accuracy: float,
                          log=print) -> Path:
    """Write the bundle of a freshly trained model: FP32 ONNX, the weights and the manifest."""
    import torch

    from ..models import count_macs, count_params      # imports torch
    model = model.eval()
    with atomic_dir(dest, force=True) as tmp:
        torch.save(model.state_dict(), tmp / "weights.pt")
        export_onnx(model, tmp / "model.onnx")
        manifest = base_manifest(recipe["model"], count_params(model), count_macs(model))
        manifest["training"] = {"recipe": recipe, "mnist_sha256": checksums()}
        manifest["metrics"] = {"mnist_test_accuracy": test_accuracy, "validation_accuracy": val_accuracy,
                               "mnist_test_images": 10000}
        artifacts = [
            make_artifact(tmp, "onnx-fp32", "onnx", "fp32", "model.onnx", accuracy=test_accuracy,
                          build=onnx_build_facts()),
            make_artifact(tmp, "torch-fp32", "torch", "fp32", "weights.pt", accuracy=test_accuracy,
                          build={"torch": torch.__version__, "kind": "state_dict (unfused)"}),
        ]
        write_manifest(tmp, manifest, artifacts)
    log(f"wrote bundle {dest}")
    return dest
