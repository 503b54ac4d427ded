"""edgedigits.export: turning a trained model into deployable artifacts.

- :mod:`.pipeline` - ``edgedigits export``: build, measure, gate and bundle every artifact.
- :mod:`.targets` - the one registry of export targets (format x precision).
- :mod:`.onnx` - PyTorch -> ONNX FP32 (BatchNorm folded, dynamic batch), FP16 conversion.
- :mod:`.quantize` - static INT8 post-training quantization to one Q/DQ ONNX model.
- :mod:`.openvino` - OpenVINO IR FP32/FP16 and INT8 (Q/DQ ONNX or NNCF, whichever measures better).
- :mod:`.tensorrt` - TensorRT's explicit-quantization rules, and engines built into the bundle
  (engine facts and the build itself live in :mod:`edgedigits.runtimes.tensorrt`).
- :mod:`.source`, :mod:`.datasets`, :mod:`.validate`, :mod:`.samples` - inputs and checks.

Importing any of these imports no heavy library; each loads what it needs when called.
"""
