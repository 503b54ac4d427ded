"""`edgedigits bench`: outputs, a status on every row, unavailable backends as rows, bad flags.

Runs the real command (real bundle, real backends, a real rendered video) on tiny settings
(--limit-images, --frames) so the whole file stays well under two minutes on 2 cores. Nothing
here asserts a speed.
"""

from __future__ import annotations

import json
import shutil

import cv2
import pytest

from _support import requires_openvino

STATUSES = ("ok", "failed", "skipped")
TINY = ("--quick", "--limit-images", "60", "--frames", "4")


def _bench(cli, tmp_path, *args):
    env = {"EDGEDIGITS_CACHE_DIR": str(tmp_path / "cache"), "EDGEDIGITS_BACKEND": ""}
    return cli("bench", *args, env=env, timeout=300)


def _rows(out):
    return json.loads((out / "bench.json").read_text())["rows"]


def test_quick_writes_json_markdown_and_chart_with_a_status_on_every_row(cli, tmp_path):
    out = tmp_path / "results"
    r = _bench(cli, tmp_path, *TINY, "--backends", "onnxruntime,opencv,tensorrt", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "status" in r.stdout.splitlines()[0]
    for name in ("bench.json", "bench.md", "bench.png"):
        assert (out / name).is_file()
    png = cv2.imread(str(out / "bench.png"))
    assert png is not None and png.shape[2] == 3
    report = json.loads((out / "bench.json").read_text())
    rows = report["rows"]
    assert {r["backend"] for r in rows} == {"onnxruntime", "opencv", "tensorrt"}
    for row in rows:
        assert row["status"] in STATUSES
        assert row["status"] == "ok" or row["reason"], row
    measured = [r for r in rows if r["backend"] == "onnxruntime"]
    assert {r["precision"] for r in measured} == {"fp32", "int8"}
    for row in measured:
        assert row["status"] == "ok", row
        assert 0.9 < row["accuracy"] <= 1 and row["accuracy_images"] == 60
        assert row["latency_us_p50"] <= row["latency_us_p99"]
        assert row["throughput_ips"] > 0 and row["camera_fps"] > 0 and row["size_bytes"] > 0
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and "onnxruntime" in machine["libraries"]
    rob = report["robustness"]
    assert set(rob["accuracy"]) == {"fp32", "int8"}
    assert set(rob["accuracy"]["fp32"]["noise"]) == {"1", "2", "3"}
    md = (out / "bench.md").read_text()
    assert "| backend |" in md and "## Robustness" in md and "bench.png" in md


def test_an_unavailable_backend_is_a_skipped_row_with_its_reason(cli, tmp_path):
    from edgedigits.runtimes import get_backend

    trt = get_backend("tensorrt")
    if trt.available:
        pytest.skip("TensorRT is available here")
    out = tmp_path / "results"
    r = _bench(cli, tmp_path, *TINY, "--no-robustness", "--backends", "tensorrt", "--out", out)
    assert r.returncode == 0, r.stderr
    (row,) = _rows(out)
    assert row["status"] == "skipped" and trt.availability()[1] in row["reason"]
    assert "skipped: backend not available here" in r.stdout


def test_a_failing_row_does_not_stop_the_others(cli, tmp_path):
    """An INT8 file that loads but is no digit model (its checksum recorded, so the bundle loads)
    fails its own rows when they run, and the FP32 rows are still measured."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from edgedigits.bundle import default_bundle_path, load_bundle, make_artifact, write_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), bundle)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["logits"])],
        "not-a-digit-model",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 784])],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8),
        str(bundle / "model.int8.onnx"),
    )
    loaded = load_bundle(bundle, verify=False)
    write_manifest(
        bundle,
        loaded.manifest,
        [
            make_artifact(
                bundle, a.id, a.format, a.precision, a.file, [c.file for c in a.companions], a.accuracy, a.build
            )
            for a in loaded.artifacts
        ],
    )
    out = tmp_path / "results"
    r = _bench(cli, tmp_path, *TINY, "--frames", "0", "--model", bundle, "--backends", "onnxruntime", "--out", out)
    assert r.returncode == 0, r.stderr
    rows = {row["precision"]: row for row in _rows(out)}
    assert rows["fp32"]["status"] == "ok"
    assert rows["int8"]["status"] == "failed" and "model.int8.onnx" in rows["int8"]["reason"]
    assert "robustness table not measured" in (out / "bench.md").read_text()


@requires_openvino
def test_missing_formats_are_exported_once_into_the_cache(cli, tmp_path):
    cache = tmp_path / "exports"
    args = (*TINY, "--frames", "0", "--no-robustness", "--backends", "openvino", "--cache", cache)
    r = _bench(cli, tmp_path, *args, "--out", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path / "a")
    formats = {(row["format"], row["precision"]): row["status"] for row in rows}
    assert formats[("openvino", "fp32")] == "ok" and formats[("openvino", "int8")] == "ok", rows
    assert formats[("onnx", "fp32")] == "ok"  # OpenVINO also reads the shipped ONNX
    (folder,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert (folder / "manifest.json").is_file()
    assert list(cache.iterdir()) == [folder]  # no temporary folder left behind
    r = _bench(cli, tmp_path, *args)
    assert r.returncode == 0, r.stderr
    assert "reused from the cache" in r.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (("--backends", "onnxruntime,warpdrive"), ("--backends", "warpdrive", "choose from")),
        (("--backends", ","), ("--backends", "no backend given")),
    ],
)
def test_bad_backend_filter_is_one_clear_sentence(cli, tmp_path, args, words):
    r = _bench(cli, tmp_path, "--quick", *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert all(w in lines[0] for w in words)


def test_unwritable_out_is_refused_before_any_work(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "results"):
        r = _bench(cli, tmp_path, "--quick", "--out", out)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "--out" in lines[0], r.stderr
        assert "Traceback" not in r.stderr
    assert blocker.read_text() == "not a folder"
    assert not (tmp_path / "cache").exists()  # nothing was exported or measured


def test_chart_and_markdown_without_any_measured_row(tmp_path):
    from edgedigits.bench import BenchResult, Measurement, chart_png, markdown

    rows = [Measurement("tensorrt", status="skipped", reason="backend not available here: no GPU")]
    chart_png(rows, tmp_path / "c.png")
    assert cv2.imread(str(tmp_path / "c.png")) is not None
    result = BenchResult(
        rows,
        {"cpu": "x", "cores": 1, "os": "y", "load_average_start": [0.0], "load_average_end": [0.0], "libraries": {}},
        {
            "model": "m",
            "command": "edgedigits bench",
            "seconds": 1.0,
            "evaluation": "e",
            "settings": {"latency_calls": 1, "throughput_batch": 1, "throughput_windows": 1},
            "video": "v",
            "threads": "t",
        },
    )
    assert "skipped: backend not available here: no GPU" in markdown(result)


def test_missing_model_or_data_is_one_clear_sentence(cli, tmp_path):
    for args in (("--model", tmp_path / "nowhere"), ("--data", tmp_path / "no-mnist")):
        r = _bench(cli, tmp_path, *args, "--backends", "onnxruntime")
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(args[1].name) in lines[0], r.stderr
        assert "Traceback" not in r.stderr
