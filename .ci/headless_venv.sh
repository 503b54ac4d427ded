#!/usr/bin/env bash
# CI: a device-like install - a fresh virtualenv with the base dependencies only (numpy, onnxruntime,
# opencv-python-headless; no torch, no OpenVINO, no GUI OpenCV), edgedigits installed from this
# checkout as a normal (non-editable) package - runs predict, the camera loop headless with a saved
# video, and bench --quick, from a folder outside the checkout. About 60 s here.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$repo"
cd "$work"
bin="$work/venv/bin"
py="$bin/python"

fail() { echo "headless_venv: $*" >&2; exit 1; }

# Only the headless OpenCV build and no heavy optional library.
"$py" - <<'PY' || fail "the device venv does not hold exactly the base dependencies"
import importlib.metadata as md, importlib.util as u
names = {d.metadata["Name"].lower() for d in md.distributions()}
assert "opencv-python-headless" in names and "opencv-python" not in names, names
assert not any(u.find_spec(m) for m in ("torch", "openvino")), "torch or openvino installed"
PY

digits="$("$py" -c 'import edgedigits, pathlib; print(pathlib.Path(edgedigits.__file__).parent / "assets" / "digits")')"
"$bin/edgedigits" predict "$digits" --json > predict.jsonl
"$py" - <<'PY' || fail "predict read the shipped digit images wrong"
import json, pathlib, re
rows = [json.loads(line) for line in open("predict.jsonl")]
# each image holds one digit: its reading is one number whose value is the digit in the file name
right = sum([n["value"] for n in r["numbers"]] == [re.search(r"_(\d)\.", pathlib.Path(r["file"]).name).group(1)]
            for r in rows)
print(f"headless_venv: predict read {right} of {len(rows)} shipped digit images right")
assert len(rows) == 10 and right == len(rows)
PY

# Without --headless: the loop says in one line that there is no window, and runs headless.
"$bin/edgedigits" camera --source demo --duration 3 --save demo.mp4 > camera.out 2> camera.err \
    || { cat camera.err >&2; fail "camera --source demo failed"; }
grep -q "no GUI" camera.err || { cat camera.err >&2; fail "camera did not say that this OpenCV has no GUI"; }
"$bin/edgedigits" camera --source demo --headless --duration 3 --save demo.mp4 > camera.out 2> camera.err \
    || { cat camera.err >&2; fail "camera --headless --save failed"; }
"$py" -c "
import cv2, sys
cap = cv2.VideoCapture('demo.mp4'); n = 0
while cap.read()[0]: n += 1
print(f'headless_venv: camera --headless --save wrote {n} decodable frames'); sys.exit(n < 10)
" || fail "the saved video does not decode"

"$bin/edgedigits" bench --quick --no-robustness > bench.out 2> bench.err || { cat bench.err >&2; fail "bench --quick failed"; }
grep -q "onnxruntime .* ok" bench.out || { cat bench.out >&2; fail "bench --quick has no ONNX Runtime row"; }
echo "headless_venv: ok (predict, camera --headless --save, bench --quick in a base-only venv)"
