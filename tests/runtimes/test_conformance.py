"""The contract every backend keeps, checked on real MNIST test digits (Polygraphy-style comparison).

One test, parametrised over every backend x precision edgedigits knows (a new backend is covered
by being registered): on each device the backend offers here, it runs the same digits as the
PyTorch reference. FP32 must give the same label for every digit (the largest logit difference
is reported); INT8 and FP16 must stay within the export gate (0.3 pp) of the reference accuracy.
Combinations this machine cannot run are skipped with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits import runtimes
from edgedigits.bundle import PRECISIONS
from edgedigits.runtimes.select import INT8_MAX_DROP

FP32_MAX_ABS_DIFF = 1e-3


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", runtimes.NAMES)
def test_backend_matches_reference(name, precision, int8_bundle, digits, reference, run_all, record_property):
    backend = runtimes.get_backend(name)
    ok, reason = backend.availability()
    if not ok:
        pytest.skip(f"{name} is not available here: {reason}")
    x, labels, source = digits
    ref_logits, ref_name = reference
    ref_labels = ref_logits.argmax(1)
    ref_acc = float((ref_labels == labels).mean())
    ran = []
    for device in backend.devices():
        if precision not in backend.precisions(device):
            continue
        artifact = backend.artifact_for(int8_bundle, precision, device)
        if artifact is None:
            continue
        with backend.open_artifact(int8_bundle, artifact, device, precision=precision) as session:
            assert (session.backend, session.device, session.precision) == (name, device, precision)
            logits = run_all(session, x)
        assert logits.dtype == np.float32 and logits.shape == (len(x), 10)
        diff = float(np.abs(logits - ref_logits).max())
        acc = float((logits.argmax(1) == labels).mean())
        key = f"{name}/{device}/{precision}"
        record_property(f"{key} max_abs_logit_diff", diff)
        record_property(f"{key} accuracy", acc)
        print(
            f"{key} ({artifact.id}) on {source}: accuracy {acc:.2%} (reference {ref_name} {ref_acc:.2%}), "
            f"max abs logit difference {diff:.2e}"
        )
        if precision == "fp32":
            mismatches = np.flatnonzero(logits.argmax(1) != ref_labels)
            assert mismatches.size == 0, (
                f"{key} disagrees with {ref_name} on {mismatches.size} digits "
                f"(first indices {mismatches[:5].tolist()}); max abs diff {diff:.2e}"
            )
            assert diff < FP32_MAX_ABS_DIFF, f"{key} logits differ from {ref_name} by {diff:.2e}"
        else:
            assert acc >= ref_acc - INT8_MAX_DROP, (
                f"{key} accuracy {acc:.2%} is more than {INT8_MAX_DROP:.1%} below FP32 {ref_acc:.2%}"
            )
        ran.append(key)
    if not ran:
        pytest.skip(
            f"{name} offers no device for {precision} here, or the bundle has no {precision} artifact "
            f"it can load (devices: {', '.join(backend.devices())})"
        )


@pytest.mark.parametrize("name", runtimes.NAMES)
def test_native_call_gives_the_sessions_logits(name, int8_bundle, digits):
    """``Session.native`` is the library's own call on the loaded model: the same logits as ``run``
    on a batch ``run`` would accept, and refused once the session is closed."""
    backend = runtimes.get_backend(name)
    ok, reason = backend.availability()
    if not ok:
        pytest.skip(f"{name} is not available here: {reason}")
    x = np.ascontiguousarray(digits[0][:16])
    device = backend.devices()[0]
    artifact = backend.artifact_for(int8_bundle, "fp32", device)
    session = backend.open_artifact(int8_bundle, artifact, device)
    with session:
        native = session.native
        assert native is not None, f"{name} offers no native call"
        np.testing.assert_allclose(np.asarray(native(x)), session.run(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(runtimes.BackendError, match="closed"):
        session.native
