"""ARM64 check: edgedigits on linux/aarch64 under QEMU user-mode emulation, compared with this x86 host.

    python benchmarks/arm64_check.py [--backends onnxruntime,opencv,openvino] [--cache DIR] [--no-write]

What it runs on aarch64 (Debian bookworm's Python 3.11, the aarch64 wheels of numpy, onnxruntime,
opencv-python-headless, platformdirs and openvino, and a wheel of this checkout):

- ``Recognizer`` on the 1,000 shipped held-out digits with each backend and precision asked for,
  compared label by label with the same backend on this host;
- ``edgedigits predict`` on the shipped digit images (labels compared with this host),
  ``edgedigits backends``, and ``edgedigits camera --source demo --headless --json`` for a few frames.

It is a correctness check. Emulated speed says nothing about a real board, so no timing is reported
beyond how long the check took.

Set-up, cached in ``--cache`` (default ``~/.cache/edgedigits-arm64``) so reruns skip it; needs
Debian's ``qemu-user-static`` and ``debootstrap`` (``apt-get install qemu-user-static binfmt-support
debootstrap``) and pip access to the package index:

- ``debootstrap --foreign`` downloads the arm64 packages of a minimal Python, which are unpacked with
  ``dpkg -x`` (no arm64 code runs for this, and nothing is registered with binfmt_misc: the emulator
  is called directly, with ``QEMU_LD_PREFIX`` pointing at the unpacked root);
- ``pip download --platform manylinux_2_{17..36}_aarch64`` fetches the wheels (every tag up to
  bookworm's glibc 2.36 is named: with fewer, pip silently settles for old releases).

Three traps, handled here: QEMU 7.2 shows the host's x86 ``/proc/cpuinfo``, on which onnxruntime's
CPU detection crashes, so an ARM one is written under the root (the emulator's prefix redirects the
read); OpenVINO computes wrong results under the emulator's default ``-cpu max``, so
``QEMU_CPU=cortex-a72`` (a Raspberry Pi 4's core) is set; and the backend trial of ``auto`` takes
minutes when emulated, so ``EDGEDIGITS_TRIAL=0``. Both QEMU variables are passed in the environment,
so that child processes inherit them.

Results: ``benchmarks/results/arm64.json`` and ``arm64.md``. Exit code 1 when an FP32 label or a
CLI check differs from the host, or a step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SUITE = "bookworm"
PYTHON = "python3.11"
PACKAGES = "python3.11-minimal,libpython3.11-stdlib,libstdc++6"
WHEELS = ("numpy", "onnxruntime", "opencv-python-headless", "platformdirs", "openvino")
MANYLINUX = [f"manylinux_2_{minor}_aarch64" for minor in range(17, 37)]
# (backend, precision) pairs compared; the CI run keeps to ONNX Runtime.
ALL_BACKENDS = ("onnxruntime", "opencv", "openvino")
DEMO_FRAMES = 5

# One core of a Raspberry Pi 4, as the Linux kernel lists it.
CPUINFO = (
    "".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
        f"CPU revision\t: 3\n\n"
        for i in range(4)
    )
    + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B\n"
)

# Run under both Pythons: labels of the held-out sample per backend/precision, as JSON on stdout.
PROBE = """
import json, platform, sys
import numpy as np
from edgedigits import Recognizer
from edgedigits.samples import load_sample
images, labels = load_sample("heldout")
out = {"machine": platform.machine(), "python": platform.python_version(), "labels": {}, "errors": {}}
for pair in sys.argv[1:]:
    backend, precision = pair.split(":")
    try:
        with Recognizer(backend=backend, precision=precision) as rec:
            out["labels"][pair] = rec.classify(images).labels.tolist()
    except Exception as exc:
        out["errors"][pair] = f"{type(exc).__name__}: {exc}"
out["truth"] = labels.tolist()
print(json.dumps(out))
"""


def log(message: str) -> None:
    print(f"arm64_check: {message}", file=sys.stderr, flush=True)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(
            f"arm64_check: {tool} is not installed; install it with: "
            f"apt-get install qemu-user-static binfmt-support debootstrap"
        )
    return path


def arm64_root(cache: Path) -> Path:
    """An unpacked arm64 Debian root with Python (downloaded once, then reused)."""
    root = cache / "root"
    if (root / "usr" / "bin" / PYTHON).exists():
        return root
    stage = cache / "stage"
    archives = stage / "var" / "cache" / "apt" / "archives"
    if not list(archives.glob("*.deb")):
        shutil.rmtree(stage, ignore_errors=True)
        log(f"downloading arm64 Debian {SUITE} packages (debootstrap --foreign)")
        subprocess.run(
            [
                need("debootstrap"),
                "--arch=arm64",
                "--foreign",
                "--variant=minbase",
                f"--include={PACKAGES}",
                SUITE,
                str(stage),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    tmp = cache / "root.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for deb in sorted(archives.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
    (tmp / "proc").mkdir(exist_ok=True)
    (tmp / "proc" / "cpuinfo").write_text(CPUINFO)
    tmp.rename(root)
    return root


def arm64_site(cache: Path) -> Path:
    """The aarch64 wheels of the dependencies, unpacked into one folder (once)."""
    site = cache / "site"
    stamp = " ".join(WHEELS)  # a changed list of wheels unpacks the folder again
    if (site / ".complete").exists() and (site / ".complete").read_text() == stamp:
        return site
    platforms = [arg for tag in MANYLINUX for arg in ("--platform", tag)]
    target = ["--only-binary=:all:", *platforms, "--python-version", "3.11", "--implementation", "cp"]
    wheels = cache / "wheels"
    log("downloading aarch64 wheels (pip download --platform manylinux_2_17..36_aarch64)")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", *target, "-d", str(wheels), *WHEELS], check=True
    )
    shutil.rmtree(site, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            *target,
            *map(str, sorted(wheels.glob("*.whl"))),
        ],
        check=True,
    )
    (site / ".complete").write_text(stamp)
    return site


def edgedigits_site(work: Path) -> Path:
    """This checkout built as a wheel and unpacked (pure Python: the same files on any machine)."""
    dist, site = work / "dist", work / "edgedigits-site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)], check=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            *map(str, dist.glob("edgedigits-*.whl")),
        ],
        check=True,
    )
    return site


class Arm64:
    """Runs the aarch64 Python under qemu-aarch64-static, with the environment the traps need."""

    def __init__(self, root: Path, sites: list[Path], home: Path):
        self.argv = [need("qemu-aarch64-static"), str(root / "usr" / "bin" / PYTHON)]
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "QEMU_LD_PREFIX": str(root),
            "QEMU_CPU": "cortex-a72",
            "EDGEDIGITS_TRIAL": "0",
            "PYTHONPATH": os.pathsep.join(map(str, sites)),
            "PYTHONNOUSERSITE": "1",
            "OMP_NUM_THREADS": "1",
        }
        self.cwd = home

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.argv, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=timeout
        )


def host_python(site: Path, home: Path) -> tuple[list[str], dict]:
    """This host's interpreter reading the same edgedigits wheel (not the checkout)."""
    env = dict(os.environ, PYTHONPATH=str(site), HOME=str(home), EDGEDIGITS_TRIAL="0", OMP_NUM_THREADS="1")
    return [sys.executable], env


def probe(argv: list[str], env: dict, cwd: Path, pairs: list[str], timeout: float) -> dict:
    """Labels per backend:precision, one process per backend (a crash or a timeout costs one backend)."""
    out = {"labels": {}, "errors": {}}
    for backend in dict.fromkeys(p.split(":")[0] for p in pairs):
        mine = [p for p in pairs if p.startswith(backend + ":")]
        try:
            r = subprocess.run(
                [*argv, "-c", PROBE, *mine], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            out["errors"].update({p: f"timed out after {timeout:.0f} s" for p in mine})
            continue
        if r.returncode != 0:
            out["errors"].update({p: f"exit {r.returncode}: {r.stderr.strip()[-300:]}" for p in mine})
            continue
        got = json.loads(r.stdout.strip().splitlines()[-1])
        for key in ("labels", "errors"):
            out[key].update(got.pop(key))
        out.update(got)
    return out


def compare(host: dict, arm: dict, pairs: list[str]) -> list[dict]:
    rows = []
    for pair in pairs:
        a, h = arm["labels"].get(pair), host["labels"].get(pair)
        row = {"backend": pair.split(":")[0], "precision": pair.split(":")[1]}
        if a is None or h is None:
            row["error"] = arm["errors"].get(pair) or host["errors"].get(pair)
        else:
            row["different"] = sum(x != y for x, y in zip(a, h))
            row["arm64_correct"] = sum(x == t for x, t in zip(a, arm["truth"]))
            row["x86_correct"] = sum(x == t for x, t in zip(h, host["truth"]))
            row["images"] = len(a)
        rows.append(row)
    return rows


def predict_labels(stdout: str) -> dict:
    """``{file name: the numbers read in it}`` from ``predict --json`` (one reading per file)."""
    return {
        Path(r["file"]).name: "|".join(n["value"] for n in r["numbers"])
        for r in map(json.loads, stdout.strip().splitlines())
    }


def cli_checks(arm: Arm64, host_argv, host_env, site: Path) -> dict:
    """predict, backends and the camera loop on the aarch64 Python (predict also on the host)."""
    digits = site / "edgedigits" / "assets" / "digits"
    checks = {}
    r = arm.run("-m", "edgedigits", "predict", str(digits), "--json")
    h = subprocess.run(
        [*host_argv, "-m", "edgedigits", "predict", str(digits), "--json"],
        env=host_env,
        cwd=arm.cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    same = r.returncode == 0 and h.returncode == 0 and predict_labels(r.stdout) == predict_labels(h.stdout)
    checks["predict"] = {
        "ok": same,
        "images": len(predict_labels(r.stdout)) if r.returncode == 0 else 0,
        "labels": predict_labels(r.stdout) if r.returncode == 0 else None,
        "error": None if same else (r.stderr or h.stderr).strip()[-500:],
    }
    r = arm.run("-m", "edgedigits", "backends")
    checks["backends"] = {
        "ok": r.returncode == 0 and "onnxruntime" in r.stdout,
        "output": r.stdout.strip(),
        "error": None if r.returncode == 0 else r.stderr.strip()[-500:],
    }
    # A frame count, not a duration: the first emulated frames can take seconds on a loaded host.
    r = arm.run(
        "-m",
        "edgedigits",
        "camera",
        "--source",
        "demo",
        "--headless",
        "--json",
        "--max-frames",
        str(DEMO_FRAMES),
        "--stall-timeout",
        "300",
    )
    frames = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    digits_read = sum(len(f["digits"]) for f in frames)
    checks["camera"] = {
        "ok": r.returncode == 0 and len(frames) > 0 and digits_read > 0,
        "frames": len(frames),
        "digits": digits_read,
        "summary": r.stderr.strip().splitlines()[-1:] or None,
        "error": None if r.returncode == 0 else r.stderr.strip()[-500:],
    }
    return checks


def markdown(res: dict) -> str:
    lines = [
        "# edgedigits on linux/aarch64 (QEMU user-mode emulation)",
        "",
        f"`python benchmarks/arm64_check.py --backends {','.join(res['backends'])}`: aarch64 Python "
        f"{res['arm64_python']} (Debian {SUITE}) under qemu-aarch64-static {res['qemu']} with "
        f"QEMU_CPU=cortex-a72, against Python {res['x86_python']} on this x86-64 host; the same edgedigits "
        f"wheel on both. A correctness check: emulated speed is not reported.",
        "",
        "| backend | precision | labels different from x86 (of 1,000) | correct on aarch64 | correct on x86 |",
        "|---|---|---|---|---|",
    ]
    for row in res["recognizer"]:
        if "error" in row:
            lines.append(f"| {row['backend']} | {row['precision']} | failed: {row['error']} | | |")
        else:
            lines.append(
                f"| {row['backend']} | {row['precision']} | {row['different']} | "
                f"{row['arm64_correct']} | {row['x86_correct']} |"
            )
    c = res["cli"]
    lines += [
        "",
        f"- `edgedigits predict` on the {c['predict']['images']} shipped digit images: "
        f"{'same labels as x86' if c['predict']['ok'] else 'FAILED: ' + str(c['predict']['error'])}",
        f"- `edgedigits camera --source demo --headless --json --max-frames {DEMO_FRAMES}`: "
        f"{c['camera']['frames']} frames, {c['camera']['digits']} digits read"
        + ("" if c["camera"]["ok"] else f" - FAILED: {c['camera']['error']}"),
        f"- `edgedigits backends` {'ran' if c['backends']['ok'] else 'FAILED'}:",
        "",
        "```",
        c["backends"]["output"] or str(c["backends"]["error"]),
        "```",
        "",
        f"Verdict: **{'pass' if res['passed'] else 'FAIL'}** (FP32 labels identical to x86 and every CLI "
        f"check ok; INT8 differences are counted, not failed). Whole check: {res['seconds']:.0f} s "
        f"({'warm cache' if res['warm'] else 'cold: downloads and set-up included'}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--backends",
        default=",".join(ALL_BACKENDS),
        help="backends compared, comma-separated (default: onnxruntime,opencv,openvino)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "edgedigits-arm64",
        help="where the arm64 root and wheels are kept between runs",
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    ap.add_argument("--no-write", action="store_true", help="print the report, write no results file")
    ap.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds allowed per backend under emulation (default 3600; emulation on a loaded machine is slow)",
    )
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(ALL_BACKENDS)
    if unknown or not backends:
        ap.error(f"--backends: choose from {', '.join(ALL_BACKENDS)}")
    pairs = [f"{b}:{p}" for b in backends for p in ("fp32", "int8")]
    start = time.perf_counter()
    args.cache.mkdir(parents=True, exist_ok=True)
    warm = (args.cache / "site" / ".complete").exists() and (args.cache / "root" / "usr" / "bin" / PYTHON).exists()
    root, deps = arm64_root(args.cache), arm64_site(args.cache)
    with tempfile.TemporaryDirectory(prefix="edgedigits-arm64-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        site = edgedigits_site(work)
        arm = Arm64(root, [site, deps], home)
        host_argv, host_env = host_python(site, home)
        log(f"Recognizer on 1,000 digits under emulation: {', '.join(pairs)}")
        arm_out = probe(arm.argv, arm.env, home, pairs, args.timeout)
        if arm_out.get("machine") != "aarch64":
            raise RuntimeError(f"the emulated Python did not run as aarch64: {arm_out}")
        host_out = probe(host_argv, host_env, home, pairs, args.timeout)
        log("CLI checks under emulation: predict, backends, camera")
        cli = cli_checks(arm, host_argv, host_env, site)
    qemu = subprocess.run([arm.argv[0], "--version"], capture_output=True, text=True).stdout.split()[2]
    rows = compare(host_out, arm_out, pairs)
    fp32_equal = all(r.get("different") == 0 for r in rows if r["precision"] == "fp32")
    passed = fp32_equal and all("error" not in r for r in rows) and all(c["ok"] for c in cli.values())
    res = {
        "backends": backends,
        "arm64_python": arm_out["python"],
        "x86_python": host_out["python"],
        "qemu": qemu,
        "qemu_cpu": "cortex-a72",
        "recognizer": rows,
        "cli": cli,
        "passed": passed,
        "warm": warm,
        "seconds": round(time.perf_counter() - start, 1),
    }
    text = markdown(res)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(REPO))
        from edgedigits._io import write_report

        write_report(args.out, "arm64", res, text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
