"""``--engine ray`` on a real 2-node local Ray cluster, inside a loopback-only network namespace.

The cluster runs in a child process started with ``unshare -n`` (a new network namespace whose
only interface is loopback): Ray binds non-loopback addresses (Serve replicas bind ``[::]``), and
nothing here may listen beyond 127.0.0.1. Skipped with the reason when Ray or ``unshare`` is
missing, except under CI (CI=true), where that fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
# A loopback-only network namespace in a PID namespace of its own: when the job ends (or is
# killed on a timeout) the kernel ends every process it started, Ray's daemons included.
NAMESPACE = ("unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child")
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason: str):
    if UNDER_CI:
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


def _netns_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    r = subprocess.run([*NAMESPACE, "sh", "-c", "ip link set lo up"], capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """Run the cluster job once; its JSON result, the images it read and its output folder."""
    from edgedigits._deps import has

    if not has("ray"):
        _missing("Ray is not installed (pip install 'edgedigits[ray]')")
    if not _netns_works():
        _missing("cannot make a loopback-only network namespace here (needs root, unshare and ip)")
    from edgedigits.camera.render import render_scene
    from edgedigits.samples import load_sample

    root = tmp_path_factory.mktemp("ray")
    images = root / "images"
    images.mkdir()
    digits, labels = load_sample("heldout")
    rng = np.random.default_rng(7)
    for i in range(40):
        cv2.imwrite(str(images / f"sheet{i:02d}.png"), render_scene(rng, digits, labels, n_digits=3, n_marks=0).image)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = root / "result.json"
    env = {**os.environ, "HOME": str(root / "home"), "RAY_USAGE_STATS_ENABLED": "0"}
    script = f"ip link set lo up && {sys.executable} {HERE / '_ray_cluster_job.py'} {result} {images} {root / 'out'}"
    r = subprocess.run([*NAMESPACE, "sh", "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0 and result.exists(), f"the cluster job failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return json.loads(result.read_text()), images, root / "out"


def test_two_nodes_run_the_batch_job(cluster_run, tmp_path):
    from edgedigits.batch import Model, run_batch

    result, images, out = cluster_run
    assert result["cluster_nodes"] == 2
    assert result["batch"] == {**result["batch"], "found": 41, "read": 40, "errors": 1, "nodes": 2}
    # the rows Ray wrote are the rows a local run writes (backend and precision named: 'auto' decides
    # by a per-machine timing cache, and INT8 and FP32 confidences differ)
    run_batch(
        [str(images)],
        tmp_path / "local",
        workers=1,
        progress=False,
        model=Model(backend="onnxruntime", precision="fp32"),
    )

    def rows(folder):
        return sorted(
            (json.loads(line) for p in Path(folder).glob("part-*.jsonl") for line in p.open()), key=lambda r: r["file"]
        )

    assert rows(out) == rows(tmp_path / "local")


def test_serve_answers_over_http_with_replicas_and_batching(cluster_run):
    result, _, _ = cluster_run
    assert result["health"] == [200, {"status": "ok"}]
    assert result["no_token"][0] == 401 and "bearer token" in result["no_token"][1]["error"]
    status, reading = result["read"]
    assert status == 200 and reading["size"] == [640, 480] and len(reading["digits"]) >= 2
    assert result["bad_image"][0] == 400 and "corrupt" in result["bad_image"][1]["error"]
    assert result["classify_status"] == [200] and result["classify_accuracy"] > 0.97
    assert result["replicas_seen"] == 2
    # 16 concurrent requests were answered in fewer inference calls than requests: they were batched
    assert result["batching"]["requests"] == 16 and result["batching"]["inference_calls"] < 16


def test_the_serve_command_runs_on_the_cluster_and_stops_on_sigterm(cluster_run):
    result, _, _ = cluster_run
    cli = result["cli"]
    assert cli["health"] == [200, {"status": "ok"}] and cli["read_status"] == 200
    assert cli["returncode"] == 0
    assert any("Ray Serve, 1 replica(s); listening on http://127.0.0.1:" in line for line in cli["stderr"])
    assert "edgedigits serve: stopped" in cli["stderr"]
