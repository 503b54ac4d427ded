"""The results of ``edgedigits bench``: the table, the markdown report and the chart.

The chart (``bench.png``) is drawn with matplotlib (the ``bench`` extra), imported only there.
"""

from __future__ import annotations

import io
from pathlib import Path

from .._io import write_bytes_atomic, write_json_atomic
from ..errors import MissingDependencyError
from .plan import OK, OUTPUTS, BenchResult, Measurement

COLUMNS = (
    "backend",
    "device",
    "format",
    "precision",
    "size",
    "load",
    "accuracy",
    "p50",
    "p99",
    "throughput",
    "camera FPS",
    "status",
)


def _size(n):
    return "-" if n is None else (f"{n / 1024:.0f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB")


def _fmt(v, spec, unit=""):
    return "-" if v is None else f"{v:{spec}}{unit}"


def _latency(us: float | None) -> str:
    """Microseconds below 1 ms ('850 us'), else milliseconds ('1.25 ms'), so a tail reads at a glance."""
    if us is None:
        return "-"
    return f"{us:.0f} us" if us < 1000 else f"{us / 1000:.2f} ms"


def _cells(r: Measurement) -> tuple[str, ...]:
    return (
        r.backend,
        r.device,
        r.format,
        r.precision,
        _size(r.size_bytes),
        _fmt(r.load_ms, ".0f", " ms"),
        _fmt(None if r.accuracy is None else r.accuracy * 100, ".2f", " %"),
        _latency(r.latency_us_p50),
        _latency(r.latency_us_p99),
        _fmt(r.throughput_ips, ",.0f", "/s"),
        _fmt(r.camera_fps, ".0f"),
        r.state,
    )


def table(result: BenchResult) -> str:
    """The plain-text table printed by ``edgedigits bench``."""
    lines = [COLUMNS] + [_cells(r) for r in result.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines)
    m = result.machine
    return (
        text + f"\n\nAccuracy on the {result.setup['evaluation']}; latency = batch 1 through Recognizer.classify; "
        f"throughput at batch {result.setup['settings']['throughput_batch']}; camera FPS = the camera loop "
        f"on a {result.setup['video'].split(',')[0]} 640x480 video.\nMachine: {m['cpu']}, {m['cores']} cores, "
        f"load average {m['load_average_start'][0]} at start."
    )


def robustness_table(rob: dict) -> list[str]:
    """Markdown lines: one row per corruption, severities 1/2/3 for each precision."""
    precisions = list(rob["accuracy"])
    head = "| corruption | levels (1/2/3) | " + " | ".join(f"{p.upper()} 1 / 2 / 3 (%)" for p in precisions) + " |"
    lines = [head, "|" + "---|" * (2 + len(precisions))]
    first = rob["accuracy"][precisions[0]]
    for kind in first:
        levels = "-" if kind == "clean" else " / ".join(str(v) for v in rob["levels"][kind])
        cells = [" / ".join(f"{100 * a:.1f}" for a in rob["accuracy"][p][kind].values()) for p in precisions]
        lines.append(f"| {kind} | {levels} | " + " | ".join(cells) + " |")
    return lines


def weakest(rob: dict, below: float = 0.95) -> list[tuple[str, int, float]]:
    """(corruption, severity, FP32 accuracy) under ``below``, worst first."""
    acc = rob["accuracy"].get("fp32") or next(iter(rob["accuracy"].values()))
    found = [(k, int(s), a) for k, v in acc.items() if k != "clean" for s, a in v.items() if a < below]
    return sorted(found, key=lambda t: t[2])


def markdown(result: BenchResult, chart: str | None = "bench.png") -> str:
    m, st = result.machine, result.setup
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    lines = [
        "# edgedigits bench",
        "",
        f"Model: `{st['model']}`. Command: `{st['command']}` ({st['seconds']:.0f} s). "
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; load average {m['load_average_start'][0]} at "
        f"start, {m.get('load_average_end', ['?'])[0]} at the end. Libraries: {libs}.",
        "",
        f"Accuracy on the {st['evaluation']}. Load: `Recognizer(...)` for that backend, device and precision "
        "in a fresh process (library import, checksum check, model load). Latency: batch 1 through `Recognizer.classify` (uint8 crop in, "
        f"labels out), {st['settings']['latency_calls']} calls. Throughput: `Recognizer.logits` at batch "
        f"{st['settings']['throughput_batch']}, median of {st['settings']['throughput_windows']} windows. "
        f"Camera FPS: the `edgedigits camera --json` loop (decoding, finding digits, one batched inference, "
        f"grouping) on a {st['video']}. Threads: {st['threads']}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in result.rows]
    if chart:
        lines += ["", f"![accuracy vs latency]({chart})"]
    if result.notes:
        lines += ["", "Notes: " + "; ".join(result.notes) + "."]
    rob = result.robustness
    if rob and rob.get("accuracy"):
        lines += [
            "",
            "## Robustness",
            "",
            f"Accuracy (%) of the ONNX models (ONNX Runtime) on the first {rob['images']:,} evaluation images "
            "under each camera-like corruption of `edgedigits.synth` at severity 1 / 2 / 3 (the same "
            "corruptions, severities and seed `edgedigits eval` uses, so on the same images the figures match its corruption "
            "rows; its wider suite - non-digits, other handwriting, rejection - is in "
            "`benchmarks/eval_robustness.py`).",
            "",
        ]
        lines += robustness_table(rob)
        weak = weakest(rob)
        lines += [
            "",
            "Below 95 % (FP32): "
            + (", ".join(f"{k} {s} ({100 * a:.1f} %)" for k, s, a in weak) if weak else "none")
            + ".",
        ]
    lines.append("")
    return "\n".join(lines)


#: The accuracy axis spans at least this many percentage points, so that one image more or less
#: (0.1 pp of 1,000) moves a point by a twentieth of the axis, not from top to bottom.
MIN_ACCURACY_SPAN_PP = 2.0
_MARKERS = {"fp32": "o", "fp16": "s", "int8": "^"}


def _label(r: Measurement) -> str:
    return f"{r.backend} {r.device} {r.format} {r.precision}"


def accuracy_limits(accuracies_pp: list[float]) -> tuple[float, float]:
    """The accuracy axis: the measured range padded, at least :data:`MIN_ACCURACY_SPAN_PP` wide, <= 100."""
    lo, hi = min(accuracies_pp), max(accuracies_pp)
    pad = max(0.25 * (hi - lo), 0.2)
    lo, hi = lo - pad, hi + pad
    if hi - lo < MIN_ACCURACY_SPAN_PP:
        middle = (lo + hi) / 2
        lo, hi = middle - MIN_ACCURACY_SPAN_PP / 2, middle + MIN_ACCURACY_SPAN_PP / 2
    if hi > 100:
        lo, hi = lo - (hi - 100), 100.0
    return lo, hi


def chart_png(rows: list[Measurement], path: Path, throughput_batch: int | None = None) -> None:
    """Two panels: accuracy against batch-1 latency p50 (log scale), and throughput per row.

    One point and one bar per measured row, coloured by backend (marker: precision), with a legend
    and a grid. Rows that were not measured are left out; with none, the chart says so.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "The bench chart", "pip install matplotlib") from exc
    pts = [r for r in rows if r.status == OK and r.latency_us_p50 and r.accuracy is not None]
    fig = Figure(figsize=(12, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    left.set_title("accuracy vs batch-1 latency (p50)")
    left.set_xlabel("latency p50 (us, log scale)")
    left.set_ylabel("accuracy (%)")
    right.set_title("throughput" + (f" (batch {throughput_batch})" if throughput_batch else ""))
    right.set_xlabel("images per second")
    if not pts:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no row measured", ha="center", va="center", transform=ax.transAxes)
    else:
        backends = list(dict.fromkeys(r.backend for r in pts))
        colour = {b: f"C{i % 10}" for i, b in enumerate(backends)}
        for r in sorted(pts, key=lambda r: r.latency_us_p50):
            left.scatter(
                r.latency_us_p50,
                r.accuracy * 100,
                s=60,
                color=colour[r.backend],
                marker=_MARKERS.get(r.precision, "D"),
                label=_label(r),
                zorder=3,
            )
        left.set_xscale("log")
        for axis in (left.xaxis.set_major_formatter, left.xaxis.set_minor_formatter):
            axis(FuncFormatter(lambda v, _: f"{v:g}"))
        left.set_ylim(*accuracy_limits([r.accuracy * 100 for r in pts]))
        left.grid(True, which="both", alpha=0.3)
        left.legend(fontsize=8, loc="best")
        bars = [r for r in pts if r.throughput_ips]
        right.barh([_label(r) for r in bars], [r.throughput_ips for r in bars], color=[colour[r.backend] for r in bars])
        right.invert_yaxis()
        right.tick_params(axis="y", labelsize=8)
        right.grid(True, axis="x", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def write_outputs(result: BenchResult, out: Path) -> list[Path]:
    """Write bench.json, bench.md and bench.png into ``out`` (each file atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUTPUTS]
    write_json_atomic(paths[0], result.to_dict())
    write_bytes_atomic(paths[1], markdown(result, OUTPUTS[2]).encode("utf-8"))
    chart_png(result.rows, paths[2], result.setup.get("settings", {}).get("throughput_batch"))
    return paths
