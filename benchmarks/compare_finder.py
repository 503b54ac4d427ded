"""The digit finder of this checkout against the one of an older revision, side by side on one core.

    python benchmarks/compare_finder.py --against 7642834 [--frames 600] [--rounds 5]

Speed figures measured in different sessions are not comparable: the machines behind this
project's CI change, and a 2-core machine shared with other work changes its speed from minute
to minute. This puts both finders on the same frames in one run: the camera benchmark's rendered
640x480 video (MNIST test digits) is decoded once, the older revision is checked out into a
temporary git worktree, and each round times both finders in fresh subprocesses, one after the
other, each pinned to one core with OpenCV on one thread. Reported: the median over rounds of
milliseconds per frame (find the ink, set paper structure aside, normalise the crops: the part of
the camera loop that runs before the one batched inference) and their ratio.

Results: benchmarks/results/finder_vs_<rev>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Run in a subprocess with the checkout to time first on sys.path: ms per frame of its finder.
TIMER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import cv2, numpy as np
cv2.setNumThreads(1)
import edgedigits.vision as v
find = getattr(v, "locate", None) or v.find_digits
frames = np.load(sys.argv[2])
for f in frames[:20]:
    find(f)
t = time.perf_counter()
for f in frames:
    find(f)
print(json.dumps({"file": v.__file__, "ms": (time.perf_counter() - t) * 1000 / len(frames)}))
"""


def render_frames(path: Path, count: int, seed: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_camera import decode_all, digits_source

    from edgedigits.camera.render import render_video

    (images, labels), _ = digits_source()
    video = path.with_suffix(".mp4")
    render_video(video, images, labels, frames=count, seed=seed, frames_per_sheet=5)
    np.save(path, np.stack(decode_all(video)))


def time_once(checkout: Path, frames: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", TIMER, str(checkout), str(frames)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no message"
        raise SystemExit(
            f"compare_finder: timing the finder of {checkout} failed ({last}); that revision "
            f"may predate edgedigits.vision."
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the older git revision (a commit, tag or branch)")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.against], capture_output=True, text=True)
    if rev.returncode != 0:
        ap.error(f"--against: {args.against!r} is not a revision of this repository")
    rev = rev.stdout.strip()
    here = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    load = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames = tmp / "frames.npy"
        render_frames(frames, args.frames, args.seed)
        old = tmp / "old"
        made = subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), rev], capture_output=True, text=True
        )
        if made.returncode != 0:
            print(
                f"compare_finder: git could not check out {rev} into a temporary worktree "
                f"({made.stderr.strip().splitlines()[-1] if made.stderr.strip() else 'no message'}); "
                f"run it from a git clone of edgedigits.",
                file=sys.stderr,
            )
            return 1
        try:
            runs = {"old": [], "new": []}
            for r in range(args.rounds):
                for name, checkout in (("old", old), ("new", ROOT)):
                    runs[name].append(time_once(checkout, frames)["ms"])
                print(
                    f"round {r + 1}/{args.rounds}: old {runs['old'][-1]:.3f} ms, new {runs['new'][-1]:.3f} ms",
                    file=sys.stderr,
                )
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    res = {
        "against": rev,
        "this": here,
        "frames": args.frames,
        "rounds": args.rounds,
        "seed": args.seed,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": load,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "ms_per_frame_median": {k: round(v, 3) for k, v in med.items()},
        "frames_per_s_median": {k: round(1000 / v, 1) for k, v in med.items()},
        "new_over_old_time": round(med["new"] / med["old"], 3),
        "runs_ms": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "command": "python benchmarks/compare_finder.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    text = "\n".join(
        [
            f"# Digit finder: {here} against {rev}",
            "",
            f"{args.frames} rendered 640x480 camera frames (MNIST test digits, seed {args.seed}), both finders in fresh "
            f"subprocesses one after the other, {args.rounds} rounds, one core, OpenCV on one thread. Machine: "
            f"{res['machine']} (load average {load} at start, {res['load_average_end']} at end). "
            f"Command: `{res['command']}`.",
            "",
            "| finder | ms / frame (median) | frames / s | runs (ms) |",
            "|---|---|---|---|",
            *[
                f"| {name} ({rev if name == 'old' else here}) | {med[name]:.3f} | {1000 / med[name]:.1f} | "
                f"{', '.join(f'{x:.2f}' for x in runs[name])} |"
                for name in ("old", "new")
            ],
            "",
            f"This checkout's finder takes {res['new_over_old_time']}x the time of {rev}'s on the same frames "
            f"(the one batched inference that follows is the same in both).",
            "",
        ]
    )
    from edgedigits._io import write_report

    write_report(RESULTS, f"finder_vs_{rev}", res, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
