"""GPU check: PyTorch on CUDA against the CPU reference, CUDA graphs, FP16, and TensorRT engines.

    python benchmarks/gpu_check.py [--data MNIST_DIR] [--out benchmarks/results]

Meant for a machine with an NVIDIA GPU (it takes well under 5 minutes there):

1. conformance: the shipped model's logits on the 10,000 MNIST test digits, PyTorch on CUDA vs
   PyTorch on the CPU (predicted digits equal, max |logit difference|);
2. batch-1 latency, eager vs a captured CUDA graph (medians, and their ratio);
3. batch-16,384 throughput, FP32 vs FP16 (medians, the ratio, and FP16's conformance);
4. for each TensorRT backend available here (``tensorrt``, ``tensorrt_rtx``: a library and a GPU
   it supports): engines built from the bundle's ONNX (FP32, FP16, INT8), run on the same digits,
   against the CPU reference, with their build time, batch-1 latency and throughput. Where no
   backend is available the reason is recorded.

Results: ``<out>/gpu_check.json`` and ``gpu_check.md``. Without CUDA it exits with status 2 and one
sentence saying so. It needs only PyTorch (with CUDA) and numpy - no registry, no install: run from
a plain checkout it imports edgedigits from the working tree. ``--device cpu`` runs every part that
does not need CUDA on the CPU (a check of the script itself, used by its test); it is not a GPU result.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LATENCY_CALLS = 300
THROUGHPUT_REPEATS = 10
TENSORRT_BACKENDS = ("tensorrt", "tensorrt_rtx")


class Stop(Exception):
    """Why the check cannot run here (one sentence)."""


def import_tree():
    """Import edgedigits, from the working tree when it is not installed (export/ and runtimes/ are
    top-level folders that an install maps into the package)."""
    try:
        import edgedigits.runtimes  # noqa: F401
    except ModuleNotFoundError:
        sys.path.insert(0, str(ROOT))
        import edgedigits

        edgedigits.__path__.append(str(ROOT))  # edgedigits.export -> export/, edgedigits.runtimes -> runtimes/
        import edgedigits.runtimes  # noqa: F401
    import edgedigits

    return edgedigits


def require_device(device: str):
    """torch, once it is known that ``device`` can run here."""
    try:
        import torch
    except ImportError:
        raise Stop("PyTorch is not installed, so the GPU check cannot run; install a CUDA build of PyTorch.") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise Stop(
            f"no CUDA device is available to PyTorch {torch.__version__} (CUDA build: "
            f"{torch.version.cuda or 'none'}), so the GPU check did not run; run it on a machine with an "
            "NVIDIA GPU and a CUDA build of PyTorch."
        )
    return torch


# -- inputs ----------------------------------------------------------------------------------------
def digits(data: str | None, limit: int | None):
    """(float32 N x 1 x 28 x 28 in [0, 1], labels, description): MNIST test, else the shipped 1,000."""
    import numpy as np

    from edgedigits.data import load_mnist
    from edgedigits.errors import EdgeDigitsError

    try:
        images, labels = load_mnist("test", data)
        source = f"MNIST test ({len(images):,} digits)"
    except (EdgeDigitsError, OSError) as exc:
        from edgedigits.samples import load_sample

        images, labels = load_sample("heldout")
        source = f"shipped held-out MNIST test sample ({len(images):,} digits; MNIST test not found: {exc})"
    if limit:
        images, labels, source = images[:limit], labels[:limit], f"{source}, first {limit}"
    x = np.ascontiguousarray(images[:, None], dtype=np.float32) / np.float32(255)
    return x, labels.astype(np.int64), source


def reference_model(torch):
    """The shipped bundle's PyTorch model on the CPU, in eval mode."""
    from edgedigits.bundle import load_bundle
    from edgedigits.models import create_model

    bundle = load_bundle()
    weights = bundle.artifact_path(bundle.find("torch", "fp32"))
    model = create_model(bundle.manifest["model"]["name"])
    model.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
    return model.eval(), bundle


def logits_of(torch, model, x, device: str, dtype=None, batch: int = 1000):
    """Logits (float32 numpy) of ``x`` through ``model`` on ``device``, in batches."""
    import numpy as np

    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            t = torch.from_numpy(x[i : i + batch]).to(device)
            out.append(model(t.to(dtype) if dtype is not None else t).float().cpu().numpy())
    return np.concatenate(out)


def compare(reference, logits, labels) -> dict:
    """Conformance of ``logits`` with ``reference`` on digits with ``labels``."""
    import numpy as np

    digit = slice(0, 10)  # a reject class, when the model has one, is the 11th column
    same = reference[:, digit].argmax(1) == logits[:, digit].argmax(1)
    return {
        "digits": int(len(labels)),
        "labels_equal": int(same.sum()),
        "labels_differ": int((~same).sum()),
        "max_abs_logit_diff": float(np.abs(reference - logits).max()),
        "accuracy": float((logits[:, digit].argmax(1) == labels).mean()),
        "reference_accuracy": float((reference[:, digit].argmax(1) == labels).mean()),
    }


# -- timing ----------------------------------------------------------------------------------------
def _sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def median_call_seconds(torch, device, call, calls: int) -> float:
    """Median wall time of ``call()`` (synchronised), after a warm-up."""
    for _ in range(max(3, calls // 10)):
        call()
    _sync(torch, device)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        _sync(torch, device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency(torch, model, device: str, calls: int) -> dict:
    """Batch-1 latency, eager and (on CUDA) replaying a captured CUDA graph."""
    x = torch.rand(1, 1, 28, 28, device=device)
    with torch.inference_mode():
        eager = median_call_seconds(torch, device, lambda: model(x), calls)
        result = {"eager_us": eager * 1e6}
        if device != "cuda":
            result["cuda_graph"] = "not measured: CUDA graphs need CUDA"
            return result
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm-up on a side stream before capture, as PyTorch asks
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            y = model(x)
        graphed = median_call_seconds(torch, device, graph.replay, calls)
        check = float((y - model(x)).abs().max())
    result.update(cuda_graph_us=graphed * 1e6, eager_over_graph=eager / graphed, graph_vs_eager_max_abs_diff=check)
    return result


def throughput(torch, model, device: str, batch: int, repeats: int, x_cpu, reference, labels) -> dict:
    """Images/s at ``batch``, FP32 vs FP16 weights and activations, and FP16's conformance."""
    import copy

    out = {"batch": batch}
    half = copy.deepcopy(model).half()
    for name, net, dtype in (("fp32", model, torch.float32), ("fp16", half, torch.float16)):
        x = torch.rand(batch, 1, 28, 28, device=device, dtype=dtype)
        with torch.inference_mode():
            seconds = median_call_seconds(torch, device, lambda: net(x), repeats)
        out[f"{name}_images_per_s"] = batch / seconds
    out["fp16_over_fp32"] = out["fp16_images_per_s"] / out["fp32_images_per_s"]
    out["fp16_conformance"] = compare(reference, logits_of(torch, half, x_cpu, device, torch.float16), labels)
    return out


# -- TensorRT --------------------------------------------------------------------------------------
def tensorrt_checks(bundle, x, reference, labels) -> dict:
    """Build + run + conformance for every available TensorRT backend; the reason for the others."""
    from edgedigits import runtimes

    found = {}
    for name in TENSORRT_BACKENDS:
        backend = runtimes.get_backend(name)
        ok, why = backend.availability()
        found[name] = {"available": ok, "reason": why, "version": backend.version()}
        if ok:
            found[name]["engines"] = {
                p: _engine_check(backend, bundle, p, x, reference, labels) for p in ("fp32", "fp16", "int8")
            }
    return found


def _onnx_of(bundle, precision: str, work: Path) -> Path | None:
    artifact = bundle.find("onnx", precision)
    if artifact is not None:
        return bundle.artifact_path(artifact)
    if precision == "fp16":
        from edgedigits.export.onnx import convert_to_fp16

        return convert_to_fp16(bundle.artifact_path(bundle.find("onnx", "fp32")), work / "model.fp16.onnx")
    return None


def _engine_check(backend, bundle, precision, x, reference, labels) -> dict:
    """One engine: built (timed) from the ONNX model of ``precision``, run on every digit, timed."""
    import numpy as np

    from edgedigits.errors import EdgeDigitsError

    try:
        with tempfile.TemporaryDirectory() as work:
            onnx_path = _onnx_of(bundle, precision, Path(work))
            if onnx_path is None:
                return {"status": f"skipped: the bundle has no {precision} ONNX model"}
            start = time.perf_counter()
            session = backend.load(onnx_path, "onnx", precision, "cuda")
            build_s = time.perf_counter() - start
        with session:
            logits = np.concatenate([session.run(x[i : i + 1000]) for i in range(0, len(x), 1000)])
            one = np.ascontiguousarray(x[:1])
            big = np.ascontiguousarray(x[: session.max_batch or 256])
            lat = median_call_seconds(None, "cpu", lambda: session.run(one), LATENCY_CALLS)  # run() synchronises
            thr = median_call_seconds(None, "cpu", lambda: session.run(big), THROUGHPUT_REPEATS)
    except (EdgeDigitsError, ImportError) as exc:
        return {"status": f"failed: {str(exc).rstrip('.')}"}
    return {
        "status": "ok",
        "build_and_load_s": build_s,
        "conformance": compare(reference, logits, labels),
        "batch1_us": lat * 1e6,
        "batch": len(big),
        "images_per_s": len(big) / thr,
    }


# -- report ----------------------------------------------------------------------------------------
def markdown(r: dict) -> str:
    c, lat, thr = r["conformance"], r["latency_batch1"], r["throughput"]
    lines = [
        f"# GPU check ({r['device_name']})",
        "",
        f"torch {r['torch']} (CUDA {r['torch_cuda']}), Python {r['python']}, digits: {r['digits']}.",
        "",
        "| check | result |",
        "|---|---|",
        f"| {r['device']} vs CPU, FP32 | {c['labels_equal']:,}/{c['digits']:,} labels equal, "
        f"max abs logit diff {c['max_abs_logit_diff']:.2e}, accuracy {c['accuracy']:.2%} "
        f"(CPU {c['reference_accuracy']:.2%}) |",
        f"| batch-1 latency, eager | {lat['eager_us']:.0f} us |",
    ]
    if "cuda_graph_us" in lat:
        lines.append(
            f"| batch-1 latency, CUDA graph | {lat['cuda_graph_us']:.0f} us "
            f"(eager / graph = {lat['eager_over_graph']:.2f}x) |"
        )
    else:
        lines.append(f"| batch-1 latency, CUDA graph | {lat['cuda_graph']} |")
    f16 = thr["fp16_conformance"]
    lines += [
        f"| batch-{thr['batch']:,} throughput | FP32 {thr['fp32_images_per_s']:,.0f} images/s, FP16 "
        f"{thr['fp16_images_per_s']:,.0f} images/s (FP16 / FP32 = {thr['fp16_over_fp32']:.2f}x) |",
        f"| FP16 vs CPU FP32 | {f16['labels_equal']:,}/{f16['digits']:,} labels equal, max abs logit diff "
        f"{f16['max_abs_logit_diff']:.2e} |",
    ]
    for name, t in r["tensorrt"].items():
        if not t["available"]:
            lines.append(f"| {name} | not run: {t['reason']} |")
            continue
        for precision, e in t["engines"].items():
            if e["status"] != "ok":
                lines.append(f"| {name} {precision} | {e['status']} |")
                continue
            ec = e["conformance"]
            lines.append(
                f"| {name} {precision} | built+loaded in {e['build_and_load_s']:.1f} s; "
                f"{ec['labels_equal']:,}/{ec['digits']:,} labels equal, max abs logit diff "
                f"{ec['max_abs_logit_diff']:.2e}; batch 1 {e['batch1_us']:.0f} us; batch {e['batch']} "
                f"{e['images_per_s']:,.0f} images/s |"
            )
    lines += ["", f"Medians; ran in {r['seconds']:.0f} s. Written by benchmarks/gpu_check.py."]
    return "\n".join(lines) + "\n"


def run(args) -> dict:
    torch = require_device(args.device)
    if args.device == "cpu":
        torch.set_num_threads(1)  # the self-check stays light on a shared CPU machine
    import_tree()
    from edgedigits._io import write_report

    start = time.perf_counter()
    os.environ.setdefault("EDGEDIGITS_CACHE_DIR", tempfile.mkdtemp(prefix="edgedigits-gpu-check-"))
    x, labels, source = digits(args.data, args.limit)
    model, bundle = reference_model(torch)
    reference = logits_of(torch, model, x, "cpu")
    on_device = model.to(args.device) if args.device != "cpu" else model
    result = {
        "device": args.device,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "digits": source,
        "model": bundle.manifest["model"]["name"],
        "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (script self-check)",
        "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(0)))
        if args.device == "cuda"
        else None,
    }
    result["conformance"] = compare(reference, logits_of(torch, on_device, x, args.device), labels)
    result["latency_batch1"] = latency(torch, on_device, args.device, args.latency_calls)
    result["throughput"] = throughput(
        torch, on_device, args.device, args.batch, THROUGHPUT_REPEATS, x, reference, labels
    )
    result["tensorrt"] = tensorrt_checks(bundle, x, reference, labels)
    result["seconds"] = time.perf_counter() - start
    path = write_report(args.out, "gpu_check", result, markdown(result))
    print(markdown(result), end="")
    print(f"wrote {path}")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA or ../shared/data/mnist)")
    p.add_argument("--out", default=str(RESULTS), help="folder for gpu_check.json and gpu_check.md")
    p.add_argument(
        "--device",
        default="cuda",
        choices=("cuda", "cpu"),
        help="cpu: run the parts that need no CUDA on the CPU, to check the script itself",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N digits")
    p.add_argument("--batch", type=int, default=16384, help="throughput batch (default 16384)")
    p.add_argument("--latency-calls", type=int, default=LATENCY_CALLS, help="batch-1 calls per median")
    args = p.parse_args(argv)
    try:
        run(args)
    except Stop as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
