"""The model registry and the architecture budget."""

from __future__ import annotations

import pytest

from _support import requires_torch

pytestmark = requires_torch


def test_registry_lists_and_builds():
    from edgedigits.models import create_model, list_models

    assert "digitnet_s" in list_models()
    model = create_model("digitnet_s")
    assert type(model).__name__ == "DigitNet"


def test_unknown_model_is_a_clear_error():
    from edgedigits.errors import BundleError
    from edgedigits.models import create_model

    with pytest.raises(BundleError, match=r"unknown model architecture 'nope'; known: .*digitnet_s"):
        create_model("nope")


@pytest.mark.parametrize("name", ["digitnet_s", "digitnet_xs"])
def test_budget_and_folding(name):
    import torch

    from edgedigits.models import count_macs, count_params, create_model

    model = create_model(name).eval()
    assert count_params(model) <= 100_000
    assert count_macs(model) <= 5_000_000
    # Give BatchNorm non-trivial statistics so that folding is really exercised.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    fused = model.fused()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), fused(x), atol=1e-5)


def test_onnx_export_has_dynamic_batch_and_no_batchnorm(tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from edgedigits.export.onnx import export_onnx
    from edgedigits.models import create_model

    torch.manual_seed(0)
    model = create_model("digitnet_xs").eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    graph = onnx.load(str(path)).graph
    assert "BatchNormalization" not in {n.op_type for n in graph.node}
    assert graph.input[0].name == "input" and graph.output[0].name == "logits"
    assert not (tmp_path / "m.onnx.data").exists()  # one self-contained file
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 3, 64):
        x = np.random.default_rng(n).random((n, 1, 28, 28), dtype=np.float32)
        out = sess.run(None, {"input": x})[0]
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        assert out.shape == (n, 10)
        assert np.abs(out - ref).max() < 1e-4
