#!/usr/bin/env bash
# CI: the ARM64 check under QEMU user-mode emulation (benchmarks/arm64_check.py), restricted to ONNX
# Runtime FP32/INT8 plus the CLI checks; the full run (OpenVINO and OpenCV too) is the committed
# benchmark. Results are printed, not written: the committed benchmarks/results/arm64.* stay as
# measured. Needs Debian's qemu-user-static and debootstrap, installed here when missing; the arm64
# root and wheels are cached in ~/.cache/edgedigits-arm64 (cold ~3.5 min, warm ~2 min here).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get install -y -qq qemu-user-static debootstrap >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq qemu-user-static debootstrap >/dev/null; }
fi
.venv/bin/python benchmarks/arm64_check.py --backends onnxruntime --no-write
