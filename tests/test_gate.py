"""A second-stage "not a digit" check: ``digitnet_sfg``, a frozen digit network plus a gate.

The gate can only take probability away from all ten digits at once, so the digit read with
rejection off is the digit network's own, whatever the gate says. That is checked through the
real runtimes with the gate's last bias set by hand (never firing, always firing), and the
recipe's ``train_only`` is checked to train the gate and leave every other weight (BatchNorm
statistics included) exactly as loaded.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits._deps import has

BACKENDS = [
    b
    for b, need in (("onnxruntime", "onnxruntime"), ("opencv", "cv2"), ("openvino", "openvino"), ("torch", "torch"))
    if has(need)
]


def _shipped_state(torch):
    from edgedigits.bundle import default_bundle_path

    return torch.load(default_bundle_path() / "weights.pt", map_location="cpu", weights_only=True)


def _gated_bundle(root, gate_bias: float):
    """The shipped network with a gate whose output is ``gate_bias`` on every input."""
    torch = pytest.importorskip("torch")
    from _support import shipped_variant_bundle

    def edit(state):
        state["gate.2.weight"] = torch.zeros_like(state["gate.2.weight"])
        state["gate.2.bias"] = torch.full_like(state["gate.2.bias"], gate_bias)

    return shipped_variant_bundle(root, "digitnet_sfg", edit)


@pytest.fixture(scope="module")
def gate_off(tmp_path_factory):
    return _gated_bundle(tmp_path_factory.mktemp("gate-off") / "bundle", -40.0)


@pytest.fixture(scope="module")
def gate_on(tmp_path_factory):
    return _gated_bundle(tmp_path_factory.mktemp("gate-on") / "bundle", 40.0)


def test_the_gate_starts_fresh_and_the_digit_network_is_loaded_unchanged():
    torch = pytest.importorskip("torch")
    from edgedigits.models import create_model
    from edgedigits.train import _with_reject_output

    shipped = _shipped_state(torch)
    model = create_model("digitnet_sfg")
    state = _with_reject_output(torch, shipped, model)
    assert {k for k in state if k.startswith("gate.")} == {k for k in model.state_dict() if k.startswith("gate.")}
    assert all(torch.equal(state[k], v) for k, v in shipped.items())
    model.load_state_dict(state)
    model.eval()
    plain = create_model("digitnet_sf")
    plain.load_state_dict(shipped)
    plain.eval()
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out, ref = model(x), plain(x)
    assert out.shape == (16, 11)
    assert torch.equal(out[:, :10], ref)


def test_manifest_states_eleven_outputs(gate_off):
    from edgedigits.bundle import load_bundle

    manifest = load_bundle(gate_off).manifest
    assert manifest["output"]["shape"] == ["batch", 11] and manifest["model"]["name"] == "digitnet_sfg"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_silent_gate_reads_like_the_shipped_model(backend, gate_off, default_bundle):
    from edgedigits import Recognizer
    from edgedigits.samples import load_sample

    images = load_sample("heldout")[0][:300]
    ours = Recognizer(gate_off, backend=backend, precision="fp32", min_confidence=0.45).classify(images)
    shipped = Recognizer(default_bundle, backend=backend, precision="fp32", min_confidence=0.45).classify(images)
    assert ours.labels.tolist() == shipped.labels.tolist()
    np.testing.assert_allclose(ours.confidences, shipped.confidences, atol=1e-4)
    assert ours.rejected.tolist() == shipped.rejected.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_firing_gate_rejects_everything_but_keeps_the_digit_read(backend, gate_on, default_bundle):
    from edgedigits import Recognizer
    from edgedigits.samples import load_sample

    images = load_sample("heldout")[0][:100]
    ours = Recognizer(gate_on, backend=backend, precision="fp32", min_confidence=0.45).classify(images)
    shipped = Recognizer(default_bundle, backend=backend, precision="fp32", min_confidence=0.45).classify(images)
    assert ours.rejected.all()
    assert ours.labels.tolist() == shipped.labels.tolist()


def test_train_only_trains_the_gate_and_leaves_the_rest_as_loaded(tmp_path, mnist_dir):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from edgedigits.models import create_model
    from edgedigits.train import TrainConfig, _with_reject_output, train

    start = _with_reject_output(torch, _shipped_state(torch), create_model("digitnet_sfg"))
    torch.save(start, tmp_path / "start.pt")
    cfg = TrainConfig(
        model="digitnet_sfg",
        epochs=1,
        subset=768,
        outlier_weight=1.0,
        outlier_fraction=0.5,
        outlier_pool=256,
        outlier_kinds=("blob", "line", "scribble"),
        init_from=str(tmp_path / "start.pt"),
        train_only=("gate",),
    )
    bundle = train(cfg, tmp_path / "run", data_dir=mnist_dir, progress=False, log=lambda *_: None)
    trained = torch.load(bundle / "weights.pt", map_location="cpu", weights_only=True)
    assert [k for k, v in start.items() if not k.startswith("gate.") and not torch.equal(trained[k], v)] == []
    assert all(not torch.equal(trained[k], v) for k, v in start.items() if k.startswith("gate."))


def test_train_only_naming_a_part_the_model_lacks_is_one_sentence(tmp_path, mnist_dir):
    pytest.importorskip("torch")
    from edgedigits.errors import UsageError
    from edgedigits.train import TrainConfig, train

    cfg = TrainConfig(model="digitnet_sf", epochs=1, subset=512, train_only=("gate",))
    with pytest.raises(UsageError, match=r"^train_only names gate, which the model does not have; it has features"):
        train(cfg, tmp_path / "run", data_dir=mnist_dir, progress=False, log=lambda *_: None)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
