"""The evaluation suite: how well a bundle holds up outside clean MNIST and how well it says "not a digit".

The suite (all sources held out from training; see :mod:`edgedigits.synth`):

- MNIST test (10,000; the 1,000 shipped held-out test images when MNIST is absent);
- the first ``corruption_images`` MNIST test images under each camera-like corruption at
  severities 1-3;
- digits that are not MNIST: Hershey-font digits in the evaluation fonts, and scikit-learn's
  1,797 handwritten 8x8 digits (when scikit-learn is installed);
- non-digits of the evaluation split: letters, symbols, scribbles, lines, blobs, noise, paper
  texture, blank crops, box fragments, ticks, crosses, arrows and digits cut by a box edge, and
  when Pillow and the fonts are installed (:mod:`edgedigits.glyphs`) printed and
  handwriting-looking letters of eight scripts in the evaluation font files.

Used by ``edgedigits eval`` and ``benchmarks/eval_robustness.py``; models run through
:func:`edgedigits.rejection.onnx_logits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._deps import has
from .data import load_mnist, mnist_available
from .rejection import auroc, confidence, energy, min_confidence_for, onnx_logits, predicted, rejected
from .samples import load_sample

# The targets, checked on the held-out suite.
TARGETS = {
    "mnist_accuracy": 0.996,  # at least
    "mnist_rejected": 0.01,  # at most
    "corruption_mean": 0.97,  # at least
    "non_mnist_digits": 0.97,  # at least (each non-MNIST digit source)
    "negatives_accepted": 0.02,  # at most
}

# Shares of the non-digit suite: each kind of synth.NEGATIVE_KINDS and FORM_KINDS one, the
# letters of many scripts (when their fonts are installed) four each, so that each script and
# style gets about as many images as a kind of mark.
LETTER_SHARES = 4


@dataclass
class Suite:
    """The evaluation sets, each uint8 N x 28 x 28 with labels (digit sets) or kind names (negatives)."""

    mnist: tuple
    mnist_source: str
    corrupted: dict = field(default_factory=dict)  # (kind, severity) -> images; labels: corrupted_labels
    corrupted_labels: np.ndarray | None = None
    digits: dict = field(default_factory=dict)  # name -> (images, labels)
    negatives: tuple = ()
    notes: list = field(default_factory=list)


def suite_kinds(notes: list | None = None) -> tuple:
    """The non-digit kinds of the suite on this machine (letters of many scripts only with Pillow and fonts)."""
    from . import glyphs, synth  # imports cv2

    kinds = synth.NEGATIVE_KINDS + synth.FORM_KINDS
    scripts = [s for s, styles in glyphs.coverage("eval").items() if styles["printed"]] if has("PIL") else []
    if len(scripts) < len(glyphs.SCRIPTS) and notes is not None:
        notes.append(
            f"letters of many scripts: fonts for {len(scripts)} of {len(glyphs.SCRIPTS)} scripts found "
            f"(Pillow {'installed' if has('PIL') else 'missing'}); to draw them all: "
            f"pip install pillow; {glyphs.INSTALL_HINT}"
        )
    if scripts:
        kinds += synth.FONT_KINDS * LETTER_SHARES
    return kinds


def build_suite(
    data_dir=None, corruption_images: int = 2000, negatives: int = 4000, rendered: int = 2000, seed: int = 0
) -> Suite:
    """Generate every evaluation set (deterministic for ``seed``)."""
    from . import synth  # imports cv2

    if data_dir is not None or mnist_available(None):  # an explicit folder must hold MNIST
        x, y = load_mnist("test", data_dir)
        source = f"MNIST test ({len(x):,} images)"
    else:
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
        suite.notes.append(
            "scikit-learn is not installed: the 8x8 handwritten digits were skipped (pip install scikit-learn)"
        )
    suite.negatives = synth.negatives(negatives, "eval", seed=seed, kinds=suite_kinds(suite.notes))
    return suite


def digit_stats(conf: np.ndarray, pred: np.ndarray, labels: np.ndarray, min_conf: float) -> dict:
    """Accuracy (rejection off), rejected share, and read right with rejection on (overall and per class)."""
    labels = np.asarray(labels)
    right = (pred == labels) & ~rejected(conf, min_conf)
    return {
        "accuracy": float((pred == labels).mean()),
        "rejected": float(rejected(conf, min_conf).mean()),
        "read_right": float(right.mean()),
        "images": int(len(labels)),
        "per_class_read_right": {str(c): float(right[labels == c].mean()) for c in np.unique(labels)},
    }


def score(logits_fn, suite: Suite, min_confidence: float) -> dict:
    """Every figure of the suite for one model, given ``logits_fn(uint8 images) -> N x 10 logits``."""

    def run(images):
        logits = logits_fn(images)
        return logits, confidence(logits), predicted(logits)

    mnist_logits, mnist_conf, mnist_pred = run(suite.mnist[0])
    res = {
        "min_confidence": min_confidence,
        "mnist": digit_stats(mnist_conf, mnist_pred, suite.mnist[1], min_confidence),
    }
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
        res["digits"][name] = digit_stats(conf, pred, labels, min_confidence)
    neg_images, kinds = suite.negatives
    neg_logits, neg_conf, _ = run(neg_images)
    accepted = ~rejected(neg_conf, min_confidence)
    groups = np.array([str(k).split(":")[0] for k in kinds], dtype=object)
    res["negatives"] = {
        "accepted": float(accepted.mean()),
        "images": int(len(kinds)),
        "per_group": {g: float(accepted[groups == g].mean()) for g in dict.fromkeys(groups)},
        "per_kind": {k: float(accepted[kinds == k].mean()) for k in sorted(set(kinds))},
    }
    res["separation"] = {  # threshold-free: MNIST test digits vs non-digits
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


def evaluate_bundle(
    bundle, suite: Suite, precisions=("fp32", "int8"), min_confidence: float | None = None, threads: int = 2
) -> dict:
    """``{precision: figures}`` for each ONNX precision the bundle has among ``precisions``."""
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
    rows = [
        ("min_confidence", lambda r: f"{r['min_confidence']:.4f}"),
        ("MNIST test accuracy", lambda r: _pct(r["mnist"]["accuracy"])),
        ("MNIST test rejected", lambda r: _pct(r["mnist"]["rejected"])),
        ("corruptions: mean accuracy", lambda r: _pct(r["corruption_mean"])),
        ("corruptions: mean rejected", lambda r: _pct(r["corruption_rejected_mean"])),
    ]
    for kind in first["corruptions"]:
        rows.append(
            (
                f"  {kind} (severity 1/2/3)",
                lambda r, k=kind: " / ".join(f"{100 * a:.1f}" for a in r["corruptions"][k].values()),
            )
        )
    for name in first["digits"]:
        rows.append((f"{name}: accuracy", lambda r, n=name: _pct(r["digits"][n]["accuracy"])))
        rows.append((f"{name}: rejected", lambda r, n=name: _pct(r["digits"][n]["rejected"])))
    rows.append(("non-digits accepted", lambda r: _pct(r["negatives"]["accepted"])))
    for kind in first["negatives"]["per_kind"]:
        rows.append((f"  {kind}", lambda r, k=kind: _pct(r["negatives"]["per_kind"][k])))
    for group in first["negatives"].get("per_group", {}):
        if ":" not in group and any(k.startswith(group + ":") for k in first["negatives"]["per_kind"]):
            rows.append((f"  {group} (all scripts)", lambda r, g=group: _pct(r["negatives"]["per_group"][g])))
    rows.append(
        (
            "AUROC max-softmax / energy",
            lambda r: f"{r['separation']['auroc_max_softmax']:.4f} / {r['separation']['auroc_energy']:.4f}",
        )
    )
    rows.append(("targets met", lambda r: f"{sum(r['targets'].values())}/{len(r['targets'])}"))
    width = max(len(name) for name, _ in rows)
    cw = max(16, *(len(c) for c in cols))
    lines = [f"{'':{width}}  " + "  ".join(f"{c:>{cw}}" for c in cols)]
    lines += [f"{name:{width}}  " + "  ".join(f"{fmt(r):>{cw}}" for r in cols.values()) for name, fmt in rows]
    return "\n".join(lines)
