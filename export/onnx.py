"""ONNX model edits for the export: metadata stripped, FP16 conversion; the PyTorch -> ONNX FP32
export itself is :mod:`edgedigits._onnx` (below the bundle, which writes training bundles with it)."""

from __future__ import annotations

import os
from pathlib import Path

from .._deps import need
from .._io import atomic_path
from .._onnx import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, onnx_build_facts

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "convert_to_fp16", "export_onnx", "onnx_build_facts", "strip_metadata"]


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
    graph.node.insert(
        0, helper.make_node("Cast", [INPUT_NAME], [inside_in], name="cast_input_fp16", to=TensorProto.FLOAT16)
    )
    graph.node.append(
        helper.make_node("Cast", [inside_out], [OUTPUT_NAME], name="cast_logits_fp32", to=TensorProto.FLOAT)
    )
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return Path(dst)
