"""Bulk reading throughput: `edgedigits batch` with local processes vs a Ray Data actor pool.

    python benchmarks/bench_batch.py [--files 10000] [--distinct 200] [--ray]

The input is a folder of ``--files`` 640x480 JPEG sheets of MNIST test digits (``--distinct``
rendered sheets, each hard-linked under several names: every file is opened, read and decoded
like any other; the page cache holds them all either way). Each engine writes JSON Lines into a
fresh folder; images/s counts the whole job (start-up included), as a user waits for it.
`--ray` adds Ray Data with 2 actors on a local one-node Ray (in a child process inside a
loopback-only network namespace, `unshare -n`, needs root). Results: benchmarks/results/batch.json
and batch.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

# A loopback-only network namespace in a PID namespace of its own: when the job ends (or is
# killed on a timeout) the kernel ends every process it started, Ray's daemons included.
NAMESPACE = ("unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child")
RESULTS = Path(__file__).resolve().parent / "results"


def make_inputs(folder: Path, files: int, distinct: int) -> None:
    from edgedigits.camera.render import render_scene
    from edgedigits.samples import load_sample

    images, labels = load_sample("heldout")
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    sources = []
    for i in range(distinct):
        path = folder / f"sheet{i:06d}.jpg"
        cv2.imwrite(str(path), render_scene(rng, images, labels).image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        sources.append(path)
    for i in range(distinct, files):
        os.link(sources[i % distinct], folder / f"sheet{i:06d}.jpg")


def timed(inputs: Path, out: Path, **kwargs) -> dict:
    from edgedigits.batch import Model, run_batch

    t0 = time.perf_counter()
    s = run_batch([str(inputs)], out, progress=False, model=Model(threads=1), **kwargs)
    wall = time.perf_counter() - t0
    return {
        "files": s.found,
        "read": s.read,
        "errors": s.errors,
        "seconds": round(wall, 1),
        "images_per_s": round(s.found / wall, 1),
        "nodes": len(s.nodes) or None,
    }


def ray_inside(inputs: str, out: str, result: str) -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    try:
        Path(result).write_text(json.dumps(timed(Path(inputs), Path(out), engine="ray", workers=2)))
    finally:
        ray.shutdown()


def ray_run(inputs: Path, out: Path, tmp: Path) -> dict:
    result = tmp / "ray.json"
    inner = f"ip link set lo up && {sys.executable} {Path(__file__).resolve()} --ray-inside {inputs} {out} {result}"
    r = subprocess.run(
        [*NAMESPACE, "sh", "-c", inner],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "HOME": str(tmp), "RAY_USAGE_STATS_ENABLED": "0"},
    )
    if r.returncode != 0:
        raise SystemExit(f"the Ray Data run failed:\n{r.stderr[-4000:]}")
    return json.loads(result.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--distinct", type=int, default=200)
    p.add_argument("--ray", action="store_true", help="also Ray Data (needs ray and root)")
    p.add_argument("--ray-inside", nargs=3, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ray_inside:
        ray_inside(*args.ray_inside)
        return
    from edgedigits._io import write_report

    data = {
        "command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_start": round(os.getloadavg()[0], 2),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_inputs(tmp / "in", args.files, args.distinct)
        data["runs"]["local, 1 process"] = timed(tmp / "in", tmp / "out1", workers=1)
        data["runs"]["local, 2 processes"] = timed(tmp / "in", tmp / "out2", workers=2)
        if args.ray:
            data["runs"]["Ray Data, 2 actors (1 node)"] = ray_run(tmp / "in", tmp / "out3", tmp)
        rows = [
            sorted(json.loads(line)["file"] for f in (tmp / d).glob("part-*.jsonl") for line in f.open())
            for d in ("out1", "out2") + (("out3",) if args.ray else ())
        ]
        data["same_files_in_every_output"] = all(r == rows[0] for r in rows)
    data["load_end"] = round(os.getloadavg()[0], 2)
    lines = [
        "# Batch benchmark",
        "",
        f"`{data['command']}` on {data['machine']} (load average at start "
        f"{data['load_start']}, at end {data['load_end']}); {args.files} files, whole job timed.",
        "",
        "| engine | files | seconds | images/s |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {k} | {r['files']} | {r['seconds']} | {r['images_per_s']} |" for k, r in data["runs"].items()]
    text = "\n".join(lines) + "\n"
    print(text)
    print(write_report(RESULTS, "batch", data, text))


if __name__ == "__main__":
    main()
