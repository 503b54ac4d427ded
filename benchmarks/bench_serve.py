"""Serving throughput and latency: in-process reader vs `edgedigits serve` (uvicorn) vs Ray Serve.

    python benchmarks/bench_serve.py [--requests 1500] [--clients 16,64] [--ray]

Workloads: 640x480 JPEG frames of rendered sheets of MNIST test digits (POST /v1/read), and
batches of 64 MNIST test crops as .npy (POST /v1/classify). Each (server, workload, clients)
cell sends a bounded number of requests from that many client threads, each with its own
keep-alive connection, and records every request's latency; the in-process baseline is the same
decode + read loop without HTTP. `--ray` adds Ray Serve with 1 and 2 replicas (dynamic batching
of /v1/classify); Ray runs in a child process inside a loopback-only network namespace
(`unshare -n`, needs root), like the tests. Everything listens on 127.0.0.1 only.

The clients run on the same machine and share its cores with the server: the figures are what
one 2-core box does serving itself, an upper bound on neither. Results: benchmarks/results/serve.json
and serve.md.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

# A loopback-only network namespace in a PID namespace of its own: when the job ends (or is
# killed on a timeout) the kernel ends every process it started, Ray's daemons included.
NAMESPACE = ("unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child")
RESULTS = Path(__file__).resolve().parent / "results"


def workloads(n_frames: int = 16) -> dict:
    """{name: (path, content type, [bodies])}: JPEG frames and .npy batches of 64 crops."""
    from edgedigits.camera.render import render_scene
    from edgedigits.samples import load_sample

    images, labels = load_sample("heldout")
    rng = np.random.default_rng(0)
    frames = [
        cv2.imencode(".jpg", render_scene(rng, images, labels).image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        for _ in range(n_frames)
    ]
    crops = []
    for i in range(0, 1024, 64):
        buf = io.BytesIO()
        np.save(buf, images[i : i + 64])
        crops.append(buf.getvalue())
    return {
        "frame 640x480 JPEG": ("/v1/read", "image/jpeg", frames),
        "64 crops .npy": ("/v1/classify", "application/x-npy", crops),
    }


def load(port: int, path: str, kind: str, bodies: list[bytes], clients: int, total: int) -> dict:
    """Send ``total`` requests from ``clients`` threads; requests/s and latency percentiles."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        for i in counter:  # shared iterator: the work stays bounded
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": kind})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                ok = False
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {
        "requests": total,
        "errors": errors[0],
        "seconds": round(wall, 2),
        "rps": round(total / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def in_process(work: dict, total: int) -> dict:
    """The same decode + read (or classify) loop with no HTTP: the ceiling of one server process."""
    from edgedigits.recognizer import Recognizer
    from edgedigits.serve.core import classify_json, decode_image, load_npy, read_json

    out = {}
    with Recognizer(threads=1) as rec:
        for name, (path, _, bodies) in work.items():
            fn = (
                (lambda b: read_json(rec, decode_image(b)))
                if path == "/v1/read"
                else (lambda b: classify_json(rec, load_npy(b)))
            )
            for b in bodies[:4]:
                fn(b)  # warm-up
            ms = []
            t0 = time.perf_counter()
            for i in range(total):
                t1 = time.perf_counter()
                fn(bodies[i % len(bodies)])
                ms.append((time.perf_counter() - t1) * 1000)
            wall = time.perf_counter() - t0
            out[name] = {
                "requests": total,
                "rps": round(total / wall, 1),
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2),
            }
    return out


def run_cells(port: int, work: dict, clients: list[int], total: int) -> dict:
    out = {}
    for name, (path, kind, bodies) in work.items():
        load(port, path, kind, bodies, 4, 40)  # warm-up
        for c in clients:
            out[f"{name} @ {c} clients"] = load(port, path, kind, bodies, c, total)
    return out


def uvicorn_cells(work: dict, clients: list[int], total: int) -> dict:
    """`edgedigits serve` in a subprocess (1 inference thread), loaded from here."""
    process = subprocess.Popen(
        [sys.executable, "-m", "edgedigits", "serve", "--port", "0", "--threads", "1"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EDGEDIGITS_TOKEN": ""},
    )
    try:
        line = process.stderr.readline()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", line).group(1))
        return run_cells(port, work, clients, total)
    finally:
        process.terminate()
        process.wait(timeout=30)


def ray_cells_inside(result_path: str, clients: list[int], total: int) -> None:
    """In the loopback-only namespace: Ray Serve with 1 and 2 replicas, the same load."""
    import socket

    import ray
    from ray import serve

    from edgedigits.serve.ray_app import build

    work = workloads()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    out = {}
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for replicas in (1, 2):
            serve.run(build({"replicas": replicas}), name="edgedigits", route_prefix="/")
            out[f"{replicas} replica(s)"] = run_cells(port, work, clients, total)
            serve.delete("edgedigits")
        serve.shutdown()
    finally:
        ray.shutdown()
    Path(result_path).write_text(json.dumps(out))


def ray_cells(clients: list[int], total: int) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "ray.json"
        inner = (
            f"ip link set lo up && {sys.executable} {Path(__file__).resolve()} --ray-inside {result} "
            f"--clients {','.join(map(str, clients))} --requests {total}"
        )
        r = subprocess.run(
            [*NAMESPACE, "sh", "-c", inner],
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "HOME": tmp, "RAY_USAGE_STATS_ENABLED": "0"},
        )
        if r.returncode != 0:
            raise SystemExit(f"the Ray Serve run failed:\n{r.stderr[-4000:]}")
        return json.loads(result.read_text())


def report(data: dict) -> str:
    lines = [
        "# Serving benchmark",
        "",
        f"`{data['command']}` on {data['machine']} (load average at start "
        f"{data['load_start']}, at end {data['load_end']}). Clients share the machine with the server.",
        "",
        "| server | workload @ clients | requests/s | p50 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in data["in_process"].items():
        lines.append(f"| in-process loop (no HTTP) | {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | - |")
    for server, cells in data["servers"].items():
        for name, r in cells.items():
            lines.append(f"| {server} | {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1500, help="requests per cell (default 1500)")
    p.add_argument("--clients", default="16,64", help="concurrent clients, comma-separated (default 16,64)")
    p.add_argument("--ray", action="store_true", help="also Ray Serve, 1 and 2 replicas (needs ray and root)")
    p.add_argument("--ray-inside", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    if args.ray_inside:
        ray_cells_inside(args.ray_inside, clients, args.requests)
        return
    from edgedigits._io import write_report

    work = workloads()
    data = {
        "command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_start": round(os.getloadavg()[0], 2),
        "in_process": in_process(work, min(args.requests, 1000)),
        "servers": {},
    }
    data["servers"]["edgedigits serve (uvicorn, 1 process)"] = uvicorn_cells(work, clients, args.requests)
    if args.ray:
        for name, cells in ray_cells(clients, args.requests).items():
            data["servers"][f"Ray Serve, {name}"] = cells
    data["load_end"] = round(os.getloadavg()[0], 2)
    text = report(data)
    print(text)
    print(write_report(RESULTS, "serve", data, text))


if __name__ == "__main__":
    main()
