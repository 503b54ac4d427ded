"""A model with a reject class: an 11th output, "not a digit", read by every backend and the reader.

The bundles here are the shipped weights widened by :func:`edgedigits.train._with_reject_output`
with the reject output's bias set by hand: very low, the model must read exactly like the
shipped one; very high, it must call everything "not a digit". Both are checked through the
real runtimes, the recognizer and the reader, so nothing downstream assumes ten outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits._deps import has
from edgedigits.rejection import confidence, predicted

BACKENDS = [
    b
    for b, need in (("onnxruntime", "onnxruntime"), ("opencv", "cv2"), ("openvino", "openvino"), ("torch", "torch"))
    if has(need)
]


def test_confidence_and_label_of_eleven_logits_leave_the_reject_column_out():
    logits = np.array(
        [
            [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0],  # reject wins
            [0.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -9.0],
        ]
    )  # a clear 3
    assert predicted(logits).tolist() == [0, 3]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = e[:, :10].max(axis=1) / e.sum(axis=1)
    np.testing.assert_allclose(confidence(logits), expected)
    assert confidence(logits)[0] < 0.05 < 0.9 < confidence(logits)[1]
    # Ten columns: the score is the plain top softmax probability, as before.
    np.testing.assert_allclose(confidence(logits[:, :10]), (e[:, :10] / e[:, :10].sum(1, keepdims=True)).max(1))


def _reject_bundle(root, reject_bias: float):
    from _support import shipped_variant_bundle

    def edit(state):
        state["head.bias"][10] = reject_bias

    return shipped_variant_bundle(root, "digitnet_sfr", edit)


@pytest.fixture(scope="module")
def silent_reject(tmp_path_factory):
    """The shipped model with a reject output that never fires (bias -40)."""
    return _reject_bundle(tmp_path_factory.mktemp("reject-off") / "bundle", -40.0)


@pytest.fixture(scope="module")
def loud_reject(tmp_path_factory):
    """The shipped model with a reject output that always wins (bias +40)."""
    return _reject_bundle(tmp_path_factory.mktemp("reject-on") / "bundle", 40.0)


def test_widening_keeps_the_digit_outputs_and_starts_the_reject_output_at_zero():
    torch = pytest.importorskip("torch")
    from edgedigits.bundle import default_bundle_path
    from edgedigits.models import create_model
    from edgedigits.train import _with_reject_output

    shipped = torch.load(default_bundle_path() / "weights.pt", map_location="cpu", weights_only=True)
    widened = _with_reject_output(torch, shipped, create_model("digitnet_sfr"))
    assert widened["head.weight"].shape[0] == 11 and widened["head.bias"].shape == (11,)
    assert torch.equal(widened["head.weight"][:10], shipped["head.weight"])
    assert not widened["head.weight"][10].any() and float(widened["head.bias"][10]) == 0.0
    # A 10-output model's own weights pass through untouched.
    assert _with_reject_output(torch, shipped, create_model("digitnet_sf")) is shipped


def test_reject_class_needs_non_digits_to_train_on(tmp_path):
    pytest.importorskip("torch")
    from edgedigits.errors import UsageError
    from edgedigits.train import TrainConfig, train

    cfg = TrainConfig(model="digitnet_sfr", epochs=1, subset=512, outlier_weight=0.0)
    with pytest.raises(UsageError, match=r"^digitnet_sfr has a reject class, which needs non-digits"):
        train(cfg, tmp_path / "run", progress=False, log=lambda *_: None)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_manifest_states_eleven_outputs(silent_reject):
    from edgedigits.bundle import load_bundle

    assert load_bundle(silent_reject).manifest["output"]["shape"] == ["batch", 11]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_silent_reject_output_reads_like_the_shipped_model(backend, silent_reject, default_bundle):
    from edgedigits import Recognizer
    from edgedigits.samples import load_sample

    images, _ = load_sample("heldout")
    images = images[:300]
    # One threshold for both: the widened bundle was never calibrated.
    ours = Recognizer(silent_reject, backend=backend, precision="fp32", min_confidence=0.45).classify(images)
    shipped = Recognizer(default_bundle, backend=backend, precision="fp32", min_confidence=0.45).classify(images)
    assert ours.probabilities.shape == (len(images), 10)
    assert ours.labels.tolist() == shipped.labels.tolist()
    np.testing.assert_allclose(ours.confidences, shipped.confidences, atol=1e-4)
    assert ours.rejected.tolist() == shipped.rejected.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_winning_reject_output_rejects_every_input(backend, loud_reject):
    from edgedigits import Recognizer
    from edgedigits.samples import load_sample

    images, _ = load_sample("heldout")
    result = Recognizer(loud_reject, backend=backend, precision="fp32", min_confidence=0.45).classify(images[:100])
    assert result.rejected.all()
    assert set(result.labels.tolist()) <= set(range(10))
    assert (result.probabilities.sum(axis=1) < 1e-6).all()


def test_the_reader_reads_a_page_with_a_reject_class_model_as_with_the_shipped_one(silent_reject, default_bundle):
    from _pages import blank, comb, handwriting, write_in_cells, write_number
    from edgedigits import Recognizer

    images, labels = handwriting()
    image = blank(700, 400)
    write_in_cells(image, images, labels, "30517", comb(image, 60, 60, 50, 5))
    write_number(image, images, labels, "2406", 80, 250, 44, k=2)
    ours = Recognizer(silent_reject, backend="onnxruntime", precision="fp32", min_confidence=0.45).read(image)
    shipped = Recognizer(default_bundle, backend="onnxruntime", precision="fp32", min_confidence=0.45).read(image)
    assert len(ours.digits) >= 8
    assert [(d.label, d.box) for d in ours.digits] == [(d.label, d.box) for d in shipped.digits]
    assert [n.value for n in ours.numbers] == [n.value for n in shipped.numbers]
