"""Speed of every available backend x precision, through the SDK and through the bare library call.

    python benchmarks/bench_runtimes.py [--model BUNDLE] [--quick]

For each backend x device x precision the bundle can run here:
- batch-1 latency (p50, p99) through ``Recognizer.classify`` and through the library's own call on
  the very same loaded model (float32 batch in, logits out), calls alternating one by one so all
  see the same machine load. The SDK overhead is measured on the same float32 1 x 1 x 28 x 28 array
  the library call gets (labels out); also shown from a uint8 28 x 28 crop, which the SDK converts
  first, and with confidences;
- throughput (images/s) at batch 64 and 256 through the SDK session, with 1 thread and with all
  cores;
- the INT8/FP32 speed ratio per backend;
- the ``auto`` pick through ``Recognizer()``, against the fastest backend at each workload;
- OpenVINO's own ``benchmark_app`` on the same model files at batch 256 (throughput hint, async
  requests), against the best backend's batch-256 throughput.

Results go to ``benchmarks/results/runtimes.json`` and ``runtimes.md``. Figures are medians of
repeated measurements; the machine's load average is recorded, since other work on a shared
machine moves them. This is not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgedigits import __version__, runtimes
from edgedigits.bundle import load_bundle
from edgedigits.samples import load_sample
from edgedigits.recognizer import Recognizer
from edgedigits.runtimes._cache import cpu_name
from edgedigits.runtimes.base import cpu_count

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_OVERHEAD = 0.10
TARGET_AUTO = 0.10
TARGET_BENCHMARK_APP = 0.90
AUTO_BLOCK = 50  # calls per block when auto and another session alternate (see latencies)


# -- measuring ------------------------------------------------------------------------------------
def latencies(calls: dict, rounds: int, block: int = 1) -> dict:
    """Per-call seconds of each callable, calling them in turn, ``block`` calls at a time.

    Alternating (single calls or short blocks) makes every callable see the same machine load, which
    matters on a shared machine where load changes within milliseconds; the order is reversed every
    other round, because a call right after another library's call pays for that library's worker
    threads still spinning. Callables backed by *different* sessions are compared in blocks (e.g. 50
    calls), so that only the first call of a block meets the other session's spinning threads.
    """
    times = {k: np.empty(rounds * block) for k in calls}
    items = list(calls.items())
    for _, f in items:
        for _ in range(20):
            f()
    clock = time.perf_counter
    for i in range(rounds):
        for k, f in items if i % 2 == 0 else items[::-1]:  # who follows whom changes every round
            column = times[k]
            for j in range(i * block, (i + 1) * block):
                t = clock()
                f()
                column[j] = clock() - t
    return times


def throughput(run, x: np.ndarray, seconds: float, repeats: int = 5) -> float:
    """Median images/s of ``run(x)`` over ``repeats`` windows of about ``seconds`` each."""
    run(x)
    t = time.perf_counter()
    run(x)
    per_call = max(time.perf_counter() - t, 1e-6)
    calls = max(2, int(seconds / per_call))
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            run(x)
        rates.append(len(x) * calls / (time.perf_counter() - t))
    return float(np.median(rates))


def p(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1e6)


# -- benchmark_app ------------------------------------------------------------------------------
def benchmark_app(model: Path, precision: str, batch: int, seconds: int) -> dict:
    """Throughput (images/s) OpenVINO's benchmark_app reports for ``model`` at ``batch``."""
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    if not Path(exe).exists():
        return {"error": "benchmark_app not found (it comes with the openvino wheel)"}
    cmd = [
        exe,
        "-m",
        str(model),
        "-d",
        "CPU",
        "-shape",
        f"input[{batch},1,28,28]",
        "-t",
        str(seconds),
        "-hint",
        "throughput",
    ]
    if precision == "fp32":
        cmd += ["-infer_precision", "f32"]  # as the SDK's FP32 sessions (else bf16 on this CPU)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 6 + 60)
    found = re.search(r"Throughput:\s+([\d.]+)\s+FPS", r.stdout)
    if r.returncode != 0 or not found:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:] or ["failed"], "command": " ".join(cmd)}
    requests = re.search(r"(\d+) inference requests", r.stdout)
    return {
        "images_per_s": float(found.group(1)),
        "command": " ".join(cmd[1:]),
        "requests": int(requests.group(1)) if requests else None,
    }


# -- the benchmark ------------------------------------------------------------------------------
def combos(bundle) -> list[tuple[str, str, str, str]]:
    """(backend, device, precision, artifact id) for everything this machine can run of ``bundle``."""
    out = []
    for b in runtimes.available_backends():
        for d in b.devices():
            for prec in b.precisions(d):
                a = b.artifact_for(bundle, prec, d)
                if a is not None:
                    out.append((b.name, d, prec, a.id))
    return out


def bench_combo(bundle, backend, device, precision, images, args) -> dict:
    row = {"backend": backend, "device": device, "precision": precision}
    crop = images[0]
    x1 = np.ascontiguousarray(images[:1, None], dtype=np.float32) / np.float32(255)
    with Recognizer(bundle, backend=backend, device=device, precision=precision) as rec:
        row["artifact"] = rec.info.artifact
        bare = rec._session.native  # the library call itself (Session.native)
        calls = {
            "sdk": lambda: rec.classify(crop).labels,
            "sdkconf": lambda: rec.classify(crop).confidences,
            "sdkf32": lambda: rec.classify(x1).labels,
        }
        if bare is not None:
            calls["bare"] = lambda: bare(x1)
        lat = latencies(calls, args.rounds_b1)
        for k, v in lat.items():
            row[f"b1_{k}_p50_us"], row[f"b1_{k}_p99_us"] = p(v, 50), p(v, 99)
        if bare is not None:
            # The overhead target compares like with like: the float32 batch the library call takes.
            row["sdk_overhead"] = row["b1_sdkf32_p50_us"] / row["b1_bare_p50_us"] - 1
            row["sdk_overhead_uint8"] = row["b1_sdk_p50_us"] / row["b1_bare_p50_us"] - 1
            row["sdk_overhead_with_confidences"] = row["b1_sdkconf_p50_us"] / row["b1_bare_p50_us"] - 1
    for threads, label in ((None, "all"), (1, "1t")):
        with Recognizer(bundle, backend=backend, device=device, precision=precision, threads=threads) as rec:
            for n in (64, 256):
                xb = np.ascontiguousarray(images[:n, None], dtype=np.float32) / np.float32(255)
                row[f"b{n}_{label}_ips"] = throughput(rec.logits, xb, args.seconds)
    return row


def _batch(images, n: int) -> np.ndarray:
    return np.ascontiguousarray(images[:n, None], dtype=np.float32) / np.float32(255)


def bench_auto(bundle, images, rows, args) -> dict:
    """The auto pick against the fastest backend of each workload, measured side by side.

    The contenders run in alternating calls (latency) and windows (throughput), so machine load hits
    them alike.
    """
    crop = images[0]
    fastest = {
        "b1": min(rows, key=lambda r: r["b1_sdk_p50_us"]),
        **{f"b{n}": max(rows, key=lambda r, n=n: r[f"b{n}_all_ips"]) for n in (64, 256)},
    }
    recs = {"auto": Recognizer(bundle)}
    for r in fastest.values():
        recs.setdefault(_key(r), Recognizer(bundle, backend=r["backend"], device=r["device"], precision=r["precision"]))
    try:
        info = recs["auto"].info
        b1 = _key(fastest["b1"])
        lat = latencies(
            {k: (lambda rec=recs[k]: rec.classify(crop).labels) for k in ("auto", b1)},
            max(1, args.rounds_b1 // AUTO_BLOCK),
            block=AUTO_BLOCK,
        )
        ips = {}
        for n in (64, 256):
            xb = _batch(images, n)
            windows = {k: [] for k in recs}
            for i in range(args.rounds):
                for k, rec in list(recs.items()) if i % 2 == 0 else list(recs.items())[::-1]:
                    windows[k].append(throughput(rec.logits, xb, args.seconds, repeats=1))
            ips[n] = {k: float(np.median(v)) for k, v in windows.items()}
    finally:
        for rec in recs.values():
            rec.close()
    row = {
        "backend": info.backend,
        "device": info.device,
        "precision": info.precision,
        "artifact": info.artifact,
        "routes": list(info.routes),
        "why": info.why,
        "b1_sdk_p50_us": p(lat["auto"], 50),
        "b1_sdk_p99_us": p(lat["auto"], 99),
        "b64_all_ips": ips[64]["auto"],
        "b256_all_ips": ips[256]["auto"],
    }
    row["side_by_side"] = {
        "batch1": {"fastest": b1, "fastest_p50_us": p(lat[b1], 50), "ratio": p(lat["auto"], 50) / p(lat[b1], 50)},
        **{
            f"batch{n}": {
                "fastest": _key(fastest[f"b{n}"]),
                "fastest_ips": ips[n][_key(fastest[f"b{n}"])],
                "ratio": ips[n]["auto"] / ips[n][_key(fastest[f"b{n}"])],
            }
            for n in (64, 256)
        },
    }
    return row


def bench_benchmark_app(bundle, images, rows, args) -> dict:
    """OpenVINO's benchmark_app vs the best backend of each precision at batch 256, alternating runs."""
    out = {}
    x = _batch(images, 256)
    for prec in ("fp32", "int8"):
        a = bundle.find("openvino", prec) or bundle.find("onnx", prec)
        mine = [r for r in rows if r["precision"] == prec]
        if a is None or not mine:
            continue
        best = max(mine, key=lambda r: r["b256_all_ips"])
        print(f"benchmark_app {prec} ({a.id}) vs {_key(best)} ...", file=sys.stderr, flush=True)
        theirs, ours, last = [], [], {}
        with Recognizer(bundle, backend=best["backend"], device=best["device"], precision=prec) as rec:
            for _ in range(args.bapp_rounds):
                last = benchmark_app(bundle.artifact_path(a), prec, 256, args.bapp_seconds)
                if "images_per_s" not in last:
                    break
                theirs.append(last["images_per_s"])
                ours.append(throughput(rec.logits, x, args.bapp_seconds / 3, repeats=3))
        if theirs:
            out[prec] = {
                "artifact": a.id,
                "command": last.get("command"),
                "requests": last.get("requests"),
                "images_per_s": float(np.median(theirs)),
                "runs": theirs,
                "best_backend": _key(best),
                "ours_ips": float(np.median(ours)),
                "ours_runs": ours,
            }
        else:
            out[prec] = {"artifact": a.id, **last}
    return out


def summarise(rows: list[dict], auto: dict, bapp: dict) -> dict:
    """Targets and ratios from the measured rows."""
    fastest_b1 = min(rows, key=lambda r: r["b1_sdk_p50_us"])
    fastest_bare = min((r for r in rows if "b1_bare_p50_us" in r), key=lambda r: r["b1_bare_p50_us"])
    sbs = auto["side_by_side"]
    s = {
        "fastest_batch1": _key(fastest_b1),
        "fastest_batch1_bare": _key(fastest_bare),
        "sdk_overhead_fastest": fastest_bare.get("sdk_overhead"),
        "sdk_overhead_fastest_uint8": fastest_bare.get("sdk_overhead_uint8"),
        "sdk_overhead_fastest_with_confidences": fastest_bare.get("sdk_overhead_with_confidences"),
        "auto_vs_fastest": {
            "batch1_latency_ratio": sbs["batch1"]["ratio"],
            **{f"batch{n}_throughput_ratio": sbs[f"batch{n}"]["ratio"] for n in (64, 256)},
            "fastest": {
                "batch1": sbs["batch1"]["fastest"],
                "batch64": sbs["batch64"]["fastest"],
                "batch256": sbs["batch256"]["fastest"],
            },
            "measured": f"side by side, alternating blocks of {AUTO_BLOCK} calls (batch 1) and windows",
        },
        "int8_vs_fp32": {},
    }
    for r in rows:
        if r["precision"] != "int8":
            continue
        base = next((q for q in rows if _key(q) == f"{r['backend']}/{r['device']}/fp32"), None)
        if base:
            s["int8_vs_fp32"][f"{r['backend']}/{r['device']}"] = {
                "batch256_throughput": r["b256_all_ips"] / base["b256_all_ips"],
                "batch1_latency": base["b1_sdk_p50_us"] / r["b1_sdk_p50_us"],
            }
    ratios = {}
    for prec, res in bapp.items():
        if "images_per_s" in res:
            ratios[prec] = {
                "best_backend": res["best_backend"],
                "ours_ips": res["ours_ips"],
                "benchmark_app_ips": res["images_per_s"],
                "ratio": res["ours_ips"] / res["images_per_s"],
            }
    s["vs_benchmark_app"] = ratios
    overall = max(rows, key=lambda r: r["b256_all_ips"])
    s["best_batch256"] = _key(overall)
    ref = ratios.get(overall["precision"])
    auto_ratios = s["auto_vs_fastest"]
    s["targets"] = {
        "sdk_overhead_le_10pct": (
            s["sdk_overhead_fastest"] is not None and s["sdk_overhead_fastest"] <= TARGET_OVERHEAD
        ),
        "auto_within_10pct": (
            auto_ratios["batch1_latency_ratio"] <= 1 + TARGET_AUTO
            and all(auto_ratios[f"batch{n}_throughput_ratio"] >= 1 - TARGET_AUTO for n in (64, 256))
        ),
        "best_ge_0_9x_benchmark_app": bool(ref) and ref["ratio"] >= TARGET_BENCHMARK_APP,
    }
    return s


def _key(r: dict) -> str:
    return f"{r['backend']}/{r['device']}/{r['precision']}"


def markdown(result: dict) -> str:
    m, rows, s, auto = result["machine"], result["rows"], result["summary"], result["auto"]
    out = [
        f"# Runtime benchmark ({result['date']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; load average {m['load_before']} before, "
        f"{m['load_after']} after (shared machine: other jobs were running). Bundle: `{result['bundle']}`. "
        f"Images: {result['images']}. Command: `{result['command']}`.",
        "",
        "| backend/device/precision | artifact | b1 SDK p50 / p99 (us) | b1 bare p50 / p99 (us) "
        "| SDK overhead: float32 / uint8 / uint8+confidences | b64 img/s 1 thread / all "
        "| b256 img/s 1 thread / all |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bare = f"{r['b1_bare_p50_us']:.0f} / {r['b1_bare_p99_us']:.0f}" if "b1_bare_p50_us" in r else "-"
        over = (
            f"{r['sdk_overhead']:+.1%} / {r['sdk_overhead_uint8']:+.1%} / {r['sdk_overhead_with_confidences']:+.1%}"
            if "sdk_overhead" in r
            else "-"
        )
        out.append(
            f"| {_key(r)} | {r['artifact']} | {r['b1_sdk_p50_us']:.0f} / {r['b1_sdk_p99_us']:.0f} | {bare} "
            f"| {over} | {r['b64_1t_ips']:,.0f} / {r['b64_all_ips']:,.0f} "
            f"| {r['b256_1t_ips']:,.0f} / {r['b256_all_ips']:,.0f} |"
        )
    a = s["auto_vs_fastest"]
    out += [
        "",
        f"**auto** picked {auto['backend']}/{auto['device']}/{auto['precision']}"
        + (f" routed ({'; '.join(auto['routes'])})" if auto["routes"] else "")
        + f": batch 1 {auto['b1_sdk_p50_us']:.0f} us p50, batch 64 {auto['b64_all_ips']:,.0f} img/s, "
        f"batch 256 {auto['b256_all_ips']:,.0f} img/s.",
        "",
        f"- auto vs fastest: batch-1 latency {a['batch1_latency_ratio']:.2f}x of {a['fastest']['batch1']}, "
        f"batch-64 throughput {a['batch64_throughput_ratio']:.2f}x of {a['fastest']['batch64']}, "
        f"batch-256 throughput {a['batch256_throughput_ratio']:.2f}x of {a['fastest']['batch256']}.",
        f"- SDK overhead at batch 1 for the fastest bare backend ({s['fastest_batch1_bare']}): "
        f"{s['sdk_overhead_fastest']:+.1%} on the library's own input (classify(float32 1x1x28x28).labels "
        f"vs the bare call on the same array; the target's measure), "
        f"{s['sdk_overhead_fastest_uint8']:+.1%} from a uint8 28x28 crop (the SDK also converts it), "
        f"{s['sdk_overhead_fastest_with_confidences']:+.1%} from a uint8 crop with confidences."
        if s["sdk_overhead_fastest"] is not None
        else "- SDK overhead: -",
    ]
    for prec, v in s["vs_benchmark_app"].items():
        out.append(
            f"- {prec}: best backend {v['best_backend']} {v['ours_ips']:,.0f} img/s at batch 256 vs "
            f"benchmark_app {v['benchmark_app_ips']:,.0f} img/s on the same model: {v['ratio']:.2f}x."
        )
    for k, v in s["int8_vs_fp32"].items():
        out.append(
            f"- INT8/FP32 speed, {k}: {v['batch256_throughput']:.2f}x throughput at batch 256, "
            f"{v['batch1_latency']:.2f}x at batch 1."
        )
    t = s["targets"]
    out += ["", "Targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in t.items()) + "."]
    for prec, res in result["benchmark_app"].items():
        out.append(f"\nbenchmark_app ({prec}): `benchmark_app {res.get('command', '')}`")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped bundle)")
    parser.add_argument("--quick", action="store_true", help="short run (for checking the script)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for runtimes.json and runtimes.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds_b1, args.seconds, args.rounds, args.bapp_seconds, args.bapp_rounds = 400, 0.1, 2, 3, 1
    else:
        args.rounds_b1, args.seconds, args.rounds, args.bapp_seconds, args.bapp_rounds = 3000, 0.3, 7, 5, 3
    bundle = load_bundle(args.model)
    images, _ = load_sample("heldout")
    load_before = "%.2f %.2f %.2f" % os.getloadavg()
    rows = []
    for backend, device, precision, artifact in combos(bundle):
        print(f"{backend}/{device}/{precision} ({artifact}) ...", file=sys.stderr, flush=True)
        rows.append(bench_combo(bundle, backend, device, precision, images, args))
    print("auto ...", file=sys.stderr, flush=True)
    auto = bench_auto(bundle, images, rows, args)
    bapp = bench_benchmark_app(bundle, images, rows, args) if runtimes.get_backend("openvino").available else {}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "edgedigits": __version__,
        "command": "python benchmarks/bench_runtimes.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
        "bundle": str(bundle.path),
        "images": "the shipped held-out MNIST test sample (real digits)",
        "machine": {
            "cpu": cpu_name(),
            "cores": cpu_count(),
            "os": platform.platform(),
            "load_before": load_before,
            "load_after": "%.2f %.2f %.2f" % os.getloadavg(),
        },
        "libraries": {b.name: b.version() for b in runtimes.backends() if b.available},
        "rows": rows,
        "auto": auto,
        "benchmark_app": bapp,
    }
    result["summary"] = summarise(rows, auto, bapp)
    from edgedigits._io import write_report

    text = markdown(result)
    write_report(args.out, "runtimes", result, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
