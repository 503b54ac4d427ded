"""`edgedigits eval`: how well a bundle holds up outside clean MNIST, and how well it says "not a digit".

The suite (all sources held out from training; see :mod:`edgedigits.synth`):

- MNIST test (10,000; the 1,000 shipped held-out test images when MNIST is absent);
- the first ``--corruption-images`` MNIST test images under each camera-like corruption at
  severities 1-3;
- digits that are not MNIST: Hershey-font digits in the evaluation fonts, and scikit-learn's
  1,797 handwritten 8x8 digits (when scikit-learn is installed);
- non-digits of the evaluation split: letters, symbols, scribbles, lines, blobs, noise, paper
  texture and blank crops.

Models run with onnxruntime on the bundle's ONNX FP32 model, and INT8 when the bundle has one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from . import nonneg_int, positive_int

NAME = "eval"
HELP = "evaluate a bundle on corrupted, non-MNIST and non-digit inputs (robustness and rejection)"

# The targets, checked on the held-out suite.
TARGETS = {
    "mnist_accuracy": 0.996,          # at least
    "mnist_rejected": 0.01,           # at most
    "corruption_mean": 0.97,          # at least
    "non_mnist_digits": 0.97,         # at least (each non-MNIST digit source)
    "negatives_accepted": 0.05,       # at most
}


def add_arguments(p) -> None:
    p.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    p.add_argument("--precision", choices=("all", "fp32", "int8"), default="all",
                   help="which ONNX models to run (default: every one the bundle has)")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="rejection threshold (default: the bundle's calibrated one)")
    p.add_argument("--corruption-images", type=positive_int, default=2000,
                   help="MNIST test images per corruption and severity (default 2000)")
    p.add_argument("--negatives", type=positive_int, default=2000, help="non-digit images (default 2000)")
    p.add_argument("--rendered", type=positive_int, default=2000, help="font-rendered digits (default 2000)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the generated sets (default 0)")
    p.add_argument("--data", default=None, help="MNIST folder (default: $EDGEDIGITS_DATA, then the cache)")
    p.add_argument("--threads", type=positive_int, default=2, help="onnxruntime threads (default 2)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


@dataclass
class Suite:
    """The evaluation sets, each uint8 N x 28 x 28 with labels (digit sets) or kind names (negatives)."""
    mnist: tuple
    mnist_source: str
    corrupted: dict = field(default_factory=dict)       # (kind, severity) -> images; labels: corrupted_labels
    corrupted_labels: np.ndarray | None = None
    digits: dict = field(default_factory=dict)          # name -> (images, labels)
    negatives: tuple = ()
    notes: list = field(default_factory=list)


def build_suite(data_dir=None, corruption_images: int = 2000, negatives: int = 2000, rendered: int = 2000,
                seed: int = 0) -> Suite:
    """Generate every evaluation set (deterministic for ``seed``)."""
    from .. import synth
    from .._deps import has
    from ..data import load_mnist, mnist_available
    if data_dir is not None or mnist_available(None):     # an explicit folder must hold MNIST
        x, y = load_mnist("test", data_dir)
        source = f"MNIST test ({len(x):,} images)"
    else:
        from ..samples import load_sample
        x, y = load_sample("heldout")
        source = f"shipped MNIST test sample ({len(x):,} images; MNIST itself was not found)"
    suite = Suite((x, y), source)
    xs = x[:corruption_images]
    suite.corrupted_labels = y[:corruption_images]
    for kind in synth.CORRUPTIONS:
        for sev in synth.SEVERITIES:
            suite.corrupted[(kind, sev)] = synth.corrupt(xs, kind, sev, seed=seed)
    suite.digits["rendered_fonts"] = synth.rendered_digits(rendered, "eval", seed=seed)
    if has("sklearn"):
        suite.digits["sklearn_8x8"] = synth.sklearn_digits()
    else:
        suite.notes.append("scikit-learn is not installed: the 8x8 handwritten digits were skipped "
                           "(pip install scikit-learn)")
    suite.negatives = synth.negatives(negatives, "eval", seed=seed)
    return suite


def _digit_stats(conf: np.ndarray, pred: np.ndarray, labels: np.ndarray, min_conf: float) -> dict:
    from ..rejection import rejected
    return {"accuracy": float((pred == labels).mean()), "rejected": float(rejected(conf, min_conf).mean()),
            "images": int(len(labels))}


def score(logits_fn, suite: Suite, min_confidence: float) -> dict:
    """Every figure of the suite for one model, given ``logits_fn(uint8 images) -> N x 10 logits``."""
    from ..rejection import auroc, confidence, energy, rejected

    def run(images):
        logits = logits_fn(images)
        return logits, confidence(logits), logits.argmax(axis=1)

    mnist_logits, mnist_conf, mnist_pred = run(suite.mnist[0])
    res = {"min_confidence": min_confidence, "mnist": _digit_stats(mnist_conf, mnist_pred, suite.mnist[1], min_confidence)}
    corr, corr_rej = {}, []
    for (kind, sev), images in suite.corrupted.items():
        _, conf, pred = run(images)
        corr.setdefault(kind, {})[str(sev)] = float((pred == suite.corrupted_labels).mean())
        corr_rej.append(float(rejected(conf, min_confidence).mean()))
    res["corruptions"] = corr
    res["corruption_mean"] = float(np.mean([a for k in corr.values() for a in k.values()]))
    res["corruption_rejected_mean"] = float(np.mean(corr_rej))
    res["digits"] = {}
    for name, (images, labels) in suite.digits.items():
        _, conf, pred = run(images)
        res["digits"][name] = _digit_stats(conf, pred, labels, min_confidence)
    neg_images, kinds = suite.negatives
    neg_logits, neg_conf, _ = run(neg_images)
    accepted = ~rejected(neg_conf, min_confidence)
    res["negatives"] = {"accepted": float(accepted.mean()), "images": int(len(kinds)),
                        "per_kind": {k: float(accepted[kinds == k].mean()) for k in dict.fromkeys(kinds)}}
    res["separation"] = {   # threshold-free: MNIST test digits vs non-digits
        "auroc_max_softmax": auroc(mnist_conf, neg_conf),
        "auroc_energy": auroc(energy(mnist_logits), energy(neg_logits)),
    }
    res["targets"] = check_targets(res)
    return res


def check_targets(res: dict) -> dict:
    """Whether each of :data:`TARGETS` is met by the figures in ``res``."""
    digit_accs = [d["accuracy"] for d in res["digits"].values()]
    return {
        "mnist_accuracy": res["mnist"]["accuracy"] >= TARGETS["mnist_accuracy"],
        "mnist_rejected": res["mnist"]["rejected"] <= TARGETS["mnist_rejected"],
        "corruption_mean": res["corruption_mean"] >= TARGETS["corruption_mean"],
        "non_mnist_digits": bool(digit_accs) and min(digit_accs) >= TARGETS["non_mnist_digits"],
        "negatives_accepted": res["negatives"]["accepted"] <= TARGETS["negatives_accepted"],
    }


def evaluate_bundle(bundle, suite: Suite, precisions=("fp32", "int8"), min_confidence: float | None = None,
                    threads: int = 2) -> dict:
    """``{precision: figures}`` for each ONNX precision the bundle has among ``precisions``."""
    from ..rejection import min_confidence_for, onnx_logits
    threshold = min_confidence_for(bundle) if min_confidence is None else min_confidence
    out = {}
    for precision in precisions:
        if bundle.find("onnx", precision) is None:
            continue
        out[precision] = score(lambda x, p=precision: onnx_logits(bundle, x, p, threads), suite, threshold)
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def format_table(results: dict) -> str:
    """A plain-text table of ``{precision: figures}`` (or ``{model: {precision: figures}}``), one column each."""
    cols = {}
    for key, value in results.items():
        if "mnist" in value:
            cols[key] = value
        else:
            cols.update({f"{key} {p}": v for p, v in value.items()})
    if not cols:
        return "(no ONNX model to evaluate)"
    first = next(iter(cols.values()))
    rows = [("min_confidence", lambda r: f"{r['min_confidence']:.4f}"),
            ("MNIST test accuracy", lambda r: _pct(r["mnist"]["accuracy"])),
            ("MNIST test rejected", lambda r: _pct(r["mnist"]["rejected"])),
            ("corruptions: mean accuracy", lambda r: _pct(r["corruption_mean"])),
            ("corruptions: mean rejected", lambda r: _pct(r["corruption_rejected_mean"]))]
    for kind in first["corruptions"]:
        rows.append((f"  {kind} (severity 1/2/3)",
                     lambda r, k=kind: " / ".join(f"{100 * a:.1f}" for a in r["corruptions"][k].values())))
    for name in first["digits"]:
        rows.append((f"{name}: accuracy", lambda r, n=name: _pct(r["digits"][n]["accuracy"])))
        rows.append((f"{name}: rejected", lambda r, n=name: _pct(r["digits"][n]["rejected"])))
    rows.append(("non-digits accepted", lambda r: _pct(r["negatives"]["accepted"])))
    for kind in first["negatives"]["per_kind"]:
        rows.append((f"  {kind}", lambda r, k=kind: _pct(r["negatives"]["per_kind"][k])))
    rows.append(("AUROC max-softmax / energy",
                 lambda r: f"{r['separation']['auroc_max_softmax']:.4f} / {r['separation']['auroc_energy']:.4f}"))
    rows.append(("targets met", lambda r: f"{sum(r['targets'].values())}/{len(r['targets'])}"))
    width = max(len(name) for name, _ in rows)
    cw = max(16, *(len(c) for c in cols))
    lines = [f"{'':{width}}  " + "  ".join(f"{c:>{cw}}" for c in cols)]
    lines += [f"{name:{width}}  " + "  ".join(f"{fmt(r):>{cw}}" for r in cols.values()) for name, fmt in rows]
    return "\n".join(lines)


def run(args) -> int:
    from ..bundle import load_bundle
    from ..errors import UsageError
    from ..rejection import check_min_confidence
    if args.min_confidence is not None:
        try:
            check_min_confidence(args.min_confidence)
        except ValueError as exc:
            raise UsageError(f"--min-confidence: {exc}") from None
    bundle = load_bundle(args.model)
    precisions = ("fp32", "int8") if args.precision == "all" else (args.precision,)
    if args.precision != "all" and bundle.find("onnx", args.precision) is None:
        raise UsageError(f"bundle {bundle.path} has no ONNX {args.precision} model; "
                         f"choose --precision all or export one with 'edgedigits export'.")
    suite = build_suite(args.data, args.corruption_images, args.negatives, args.rendered, args.seed)
    results = evaluate_bundle(bundle, suite, precisions, args.min_confidence, args.threads)
    if args.json:
        print(json.dumps({"bundle": str(bundle.path), "mnist_source": suite.mnist_source, "notes": suite.notes,
                          "targets": TARGETS, "results": results}, indent=1))
    else:
        print(f"bundle {bundle.path}; {suite.mnist_source}")
        for note in suite.notes:
            print(f"note: {note}")
        print(format_table(results))
    return 0
