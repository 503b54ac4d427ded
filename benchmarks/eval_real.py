"""Real handwriting nobody on this project made, the non-digit suite, and the camera's novelty check.

    python benchmarks/eval_real.py [--bundle NAME=PATH ...] [--real DIR] [--data MNIST_DIR]

For each bundle (default: ``before`` = ``runs/before/bundle`` when it exists, and the shipped
bundle), FP32 and INT8 on ONNX Runtime, each at the bundle's own calibrated threshold:

- the real sets in ``--real`` (``semeion``, ``hwd1000``; see their README: evaluation only) and
  scikit-learn's 8x8 digits: read right with rejection on (a rejected digit counts as wrong),
  rejected share, and read right per class;
- MNIST test: accuracy and rejected share (measured here, chosen on nothing);
- the non-digit suite (``edgedigits.evaluation.suite_kinds``, evaluation split only): share
  accepted, per kind;
- the camera loop's novelty check (``edgedigits.camera.novelty``) on top of the model's own
  rejection: which share of the non-digits the model accepts it removes, and which share of the
  real digits read right it throws away.

Results go to ``benchmarks/results/real.json`` and ``real.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from edgedigits import __version__, synth
from edgedigits.bundle import default_bundle_path, load_bundle
from edgedigits.evaluation import digit_stats, suite_kinds
from edgedigits.rejection import confidence, min_confidence_for, onnx_logits, predicted, rejected

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
REAL_SETS = ("semeion", "hwd1000")
# The targets for these sets (read right with rejection on).
TARGETS = {
    "semeion": 0.95,
    "semeion_min_class": 0.85,
    "hwd1000": 1.0,
    "sklearn_8x8": 0.975,
    "mnist_accuracy": 0.996,
    "mnist_rejected": 0.01,
    "non_digits_accepted": 0.02,
}


def load_sets(real_dir: Path, data_dir) -> dict:
    """name -> (uint8 images, labels) for every digit set measured here."""
    from edgedigits.data import load_mnist

    sets = {}
    for name in REAL_SETS:
        with np.load(real_dir / name / f"{name}.npz") as f:
            sets[name] = (f["images"], f["labels"].astype(np.int64))
    sets["sklearn_8x8"] = synth.sklearn_digits()
    sets["mnist_test"] = load_mnist("test", data_dir)
    return sets


def measure(bundle, precision: str, sets: dict, negatives, gate, threads: int) -> dict:
    """Every figure of one bundle at one precision (see the module doc)."""
    from edgedigits.camera.novelty import DEFAULT_MAX_NOVELTY

    threshold = min_confidence_for(bundle)
    out = {"min_confidence": threshold, "sets": {}}
    for name, (images, labels) in sets.items():
        logits = onnx_logits(bundle, images, precision, threads)
        conf, pred = confidence(logits), predicted(logits)
        stats = digit_stats(conf, pred, labels, threshold)
        if name != "mnist_test":
            kept = ~rejected(conf, threshold) & (pred == labels)
            novel = gate.distances(images, pred) > DEFAULT_MAX_NOVELTY
            stats["with_novelty_check"] = {
                "read_right": float((kept & ~novel).mean()),
                "read_right_thrown_away": float((kept & novel).sum() / max(1, kept.sum())),
            }
        out["sets"][name] = stats
    images, kinds = negatives
    logits = onnx_logits(bundle, images, precision, threads)
    accepted = ~rejected(confidence(logits), threshold)
    novel = gate.distances(images, predicted(logits)) > DEFAULT_MAX_NOVELTY
    groups = np.array([str(k).split(":")[0] for k in kinds], dtype=object)
    out["non_digits"] = {
        "images": int(len(kinds)),
        "accepted": float(accepted.mean()),
        "accepted_with_novelty_check": float((accepted & ~novel).mean()),
        "novelty_removes_of_accepted": float((accepted & novel).sum() / max(1, accepted.sum())),
        "per_group": {g: float(accepted[groups == g].mean()) for g in dict.fromkeys(groups)},
        "per_kind": {k: float(accepted[kinds == k].mean()) for k in sorted(set(kinds))},
        "per_kind_with_novelty_check": {k: float((accepted & ~novel)[kinds == k].mean()) for k in sorted(set(kinds))},
    }
    out["targets"] = check_targets(out)
    return out


def check_targets(r: dict) -> dict:
    s = r["sets"]
    return {
        "semeion": s["semeion"]["read_right"] >= TARGETS["semeion"],
        "semeion_min_class": min(s["semeion"]["per_class_read_right"].values()) >= TARGETS["semeion_min_class"],
        "hwd1000": s["hwd1000"]["read_right"] >= TARGETS["hwd1000"],
        "sklearn_8x8": s["sklearn_8x8"]["read_right"] >= TARGETS["sklearn_8x8"],
        "mnist_accuracy": s["mnist_test"]["accuracy"] >= TARGETS["mnist_accuracy"],
        "mnist_rejected": s["mnist_test"]["rejected"] <= TARGETS["mnist_rejected"],
        "non_digits_accepted": r["non_digits"]["accepted"] <= TARGETS["non_digits_accepted"],
    }


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def to_markdown(report: dict) -> str:
    cols = {f"{b} {p}": r for b, per in report["bundles"].items() for p, r in per["results"].items()}
    first = next(iter(cols.values()))
    rows = [("rejection threshold", lambda r: f"{r['min_confidence']:.3f}")]
    for name in first["sets"]:
        rows.append((f"{name}: read right %", lambda r, n=name: _pct(r["sets"][n]["read_right"])))
        rows.append((f"{name}: rejected %", lambda r, n=name: _pct(r["sets"][n]["rejected"])))
        if name == "mnist_test":
            rows.append(("mnist_test: accuracy % (rejection off)", lambda r: _pct(r["sets"]["mnist_test"]["accuracy"])))
        else:
            rows.append(
                (
                    f"{name}: worst class (digit, %)",
                    lambda r, n=name: "{} {}".format(
                        *min(r["sets"][n]["per_class_read_right"].items(), key=lambda kv: kv[1])[:1],
                        _pct(min(r["sets"][n]["per_class_read_right"].values())),
                    ),
                )
            )
            rows.append(
                (
                    f"{name}: read right with novelty check %",
                    lambda r, n=name: _pct(r["sets"][n]["with_novelty_check"]["read_right"]),
                )
            )
    rows.append(("non-digits accepted %", lambda r: _pct(r["non_digits"]["accepted"])))
    rows.append(
        ("non-digits accepted with novelty check %", lambda r: _pct(r["non_digits"]["accepted_with_novelty_check"]))
    )
    rows.append(
        ("novelty check removes, of those accepted %", lambda r: _pct(r["non_digits"]["novelty_removes_of_accepted"]))
    )
    for kind in first["non_digits"]["per_kind"]:
        rows.append((f"  {kind} accepted %", lambda r, k=kind: _pct(r["non_digits"]["per_kind"][k])))
    rows.append(("targets met", lambda r: f"{sum(r['targets'].values())}/{len(r['targets'])}"))
    width = max(len(n) for n, _ in rows)
    cw = max(14, *(len(c) for c in cols))
    lines = [
        "# Real handwriting, non-digits and the novelty check",
        "",
        f"Generated by `python benchmarks/eval_real.py` ({report['date']}, edgedigits {report['edgedigits']}, "
        "ONNX Runtime on CPU, each bundle at its own calibrated threshold; a rejected digit counts as wrong). "
        f"Non-digits: {report['non_digit_images']} images of the evaluation split only "
        "(evaluation font files and generators). Real sets: evaluation only, never trained, calibrated "
        "or chosen on.",
        "",
        "Targets: "
        + ", ".join(
            f"{k} {'<=' if k in ('mnist_rejected', 'non_digits_accepted') else '>='} {v}" for k, v in TARGETS.items()
        ),
        "",
    ]
    for name, b in report["bundles"].items():
        lines.append(f"- **{name}**: `{b['path']}`")
    lines += ["", "```", f"{'':{width}}  " + "  ".join(f"{c:>{cw}}" for c in cols)]
    lines += [f"{n:{width}}  " + "  ".join(f"{fmt(r):>{cw}}" for r in cols.values()) for n, fmt in rows]
    lines += ["```"]
    for note in report["notes"]:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def _real_default() -> Path:
    import os

    mnist = os.environ.get("EDGEDIGITS_DATA")
    return Path(mnist).parent / "real" if mnist else ROOT.parent / "shared" / "data" / "real"


def _default_bundles() -> dict:
    found = {}
    before = ROOT / "runs" / "before" / "bundle"
    if (before / "manifest.json").is_file():
        found["before"] = before
    found["shipped"] = default_bundle_path()
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", action="append", default=[], metavar="NAME=PATH", help="a bundle to measure")
    p.add_argument(
        "--real",
        default=str(_real_default()),
        help="folder of the real sets (default: 'real' beside $EDGEDIGITS_DATA, else ../shared/data/real)",
    )
    p.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA, then the cache)")
    p.add_argument("--negatives", type=int, default=4000, help="non-digit images (default 4000)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS), help="results folder")
    args = p.parse_args(argv)
    from edgedigits.camera.novelty import NoveltyGate

    bundles = dict(b.split("=", 1) for b in args.bundle) if args.bundle else _default_bundles()
    notes = []
    sets = load_sets(Path(args.real), args.data)
    negatives = synth.negatives(args.negatives, "eval", seed=0, kinds=suite_kinds(notes))
    gate = NoveltyGate()
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "edgedigits": __version__,
        "python": platform.python_version(),
        "targets": TARGETS,
        "notes": notes,
        "non_digit_images": len(negatives[1]),
        "bundles": {},
    }
    for name, path in bundles.items():
        bundle = load_bundle(path)
        results = {}
        for precision in ("fp32", "int8"):
            if bundle.find("onnx", precision) is not None:
                results[precision] = measure(bundle, precision, sets, negatives, gate, args.threads)
                print(f"{name} {precision} done", flush=True)
        report["bundles"][name] = {"path": str(path), "results": results}
    from edgedigits._io import write_report

    text = to_markdown(report)
    write_report(args.out, "real", report, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
