"""Run by test_ray.py in a child process inside a loopback-only network namespace (never directly).

A real 2-node Ray cluster (``ray.cluster_utils.Cluster``, 1 CPU each): the batch job on Ray Data
across both nodes, then the Ray Serve app with 2 replicas answering over HTTP on 127.0.0.1, then
``edgedigits serve --engine ray --address`` on the same cluster, stopped by SIGTERM.
What happened is written as JSON to argv[1]; the test asserts on it.

    python _ray_cluster_job.py RESULT.json IMAGES_DIR OUT_DIR
"""

from __future__ import annotations

import http.client
import io
import json
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

TOKEN = "ray-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def _until_healthy(port, seconds, alive=lambda: True):
    """GET /v1/health until it answers 200 (or ``seconds`` pass); the last answer, or None.

    Serve's HTTP proxy can answer before the application's routes reach it (a plain-text 404 or
    503 from the proxy, not our JSON), more often on a busy machine: a readiness probe waits.
    """
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline and alive():
        try:
            last = _request(port, "GET", "/v1/health")
            if last[0] == 200:
                break
        except (OSError, ValueError):  # not listening yet, or the proxy up before the app
            pass
        time.sleep(0.5)
    return last


def _cli_on_the_cluster(address: str, png: bytes) -> dict:
    """``edgedigits serve --engine ray`` started as a user would, on this cluster: it answers over
    HTTP, then SIGTERM stops it cleanly."""
    import os
    import subprocess

    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "edgedigits",
        "serve",
        "--engine",
        "ray",
        "--address",
        address,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--backend",
        "onnxruntime",
        "--precision",
        "fp32",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    out: dict = {}
    try:
        out["health"] = _until_healthy(port, 120, alive=lambda: proc.poll() is None)
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/png"}
        out["read_status"] = _request(port, "POST", "/v1/read", png, auth)[0] if proc.poll() is None else None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    out["returncode"] = proc.returncode
    out["stderr"] = [line for line in err.splitlines() if line.startswith("edgedigits serve:")]
    return out


def main(result_path: str, images: str, out: str) -> None:
    signal.alarm(540)  # a hard stop even if Ray hangs (the test's timeout then ends the whole namespace)
    import numpy as np
    import ray
    from ray.cluster_utils import Cluster

    from edgedigits.batch import Model, run_batch
    from edgedigits.samples import load_sample

    result: dict = {}
    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level="warning", log_to_driver=False)
    cluster.wait_for_nodes()
    result["cluster_nodes"] = len([n for n in ray.nodes() if n["Alive"]])
    result["start_s"] = round(time.perf_counter() - t0, 1)
    try:
        t0 = time.perf_counter()
        summary = run_batch(
            [images], out, engine="ray", workers=2, progress=False, model=Model(backend="onnxruntime", precision="fp32")
        )
        result["batch"] = {
            "found": summary.found,
            "read": summary.read,
            "errors": summary.errors,
            "nodes": len(summary.nodes),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        from ray import serve

        from edgedigits.serve.ray_app import build

        t0 = time.perf_counter()
        port = _free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build({"replicas": 2, "token": TOKEN, "batch_wait_s": 0.05}), name="edgedigits", route_prefix="/")
        result["serve_start_s"] = round(time.perf_counter() - t0, 1)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        result["health"] = _until_healthy(port, 60)
        result["no_token"] = _request(port, "GET", "/v1/info")
        png = open(sorted(__import__("pathlib").Path(images).glob("sheet*.png"))[0], "rb").read()
        result["read"] = _request(port, "POST", "/v1/read", png, dict(auth, **{"Content-Type": "image/png"}))
        result["bad_image"] = _request(
            port, "POST", "/v1/read", b"\xff\xd8junk", dict(auth, **{"Content-Type": "image/jpeg"})
        )
        crops, labels = load_sample("heldout")
        bodies = []
        for i in range(16):
            buf = io.BytesIO()
            np.save(buf, crops[i * 8 : (i + 1) * 8])
            bodies.append(buf.getvalue())
        headers = dict(auth, **{"Content-Type": "application/x-npy"})
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda b: _request(port, "POST", "/v1/classify", b, headers), bodies))
        result["classify_status"] = sorted({s for s, _ in answers})
        got = [label for _, a in answers for label in a["labels"]]
        result["classify_accuracy"] = float(np.mean(np.array(got) == labels[:128]))
        infos = [_request(port, "GET", "/v1/info", headers=auth)[1] for _ in range(12)]
        result["replicas_seen"] = len({i["replica"] for i in infos})
        stats = {i["replica"]: i["batching"] for i in infos}
        result["batching"] = {
            "requests": sum(s["requests"] for s in stats.values()),
            "inference_calls": sum(s["inference_calls"] for s in stats.values()),
        }
        serve.shutdown()
        result["cli"] = _cli_on_the_cluster(cluster.address, png)
    finally:
        ray.shutdown()
        cluster.shutdown()
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
