"""edgedigits.evaluation: the suite's kinds, its per-set figures, targets and table."""

from __future__ import annotations

import numpy as np

from edgedigits import synth
from edgedigits.evaluation import digit_stats, suite_kinds


def test_suite_kinds_cover_every_generator_and_note_missing_fonts():
    notes = []
    kinds = suite_kinds(notes)
    assert set(synth.NEGATIVE_KINDS + synth.FORM_KINDS) <= set(kinds)
    assert set(kinds) <= set(synth.ALL_KINDS)
    if not set(synth.FONT_KINDS) <= set(kinds):
        assert notes and "fonts" in notes[0]


def test_digit_stats_count_a_rejected_digit_as_not_read_right():
    labels = np.array([1, 1, 2, 2])
    pred = np.array([1, 1, 2, 3])
    conf = np.array([0.9, 0.3, 0.9, 0.9])
    s = digit_stats(conf, pred, labels, 0.5)
    assert s["accuracy"] == 0.75 and s["rejected"] == 0.25 and s["read_right"] == 0.5
    assert s["per_class_read_right"] == {"1": 0.5, "2": 0.5}


def test_format_table_and_targets():
    from edgedigits.evaluation import check_targets, format_table

    res = {
        "min_confidence": 0.5,
        "mnist": {"accuracy": 0.997, "rejected": 0.004, "images": 10},
        "corruptions": {"blur": {"1": 0.99, "2": 0.98, "3": 0.97}},
        "corruption_mean": 0.98,
        "corruption_rejected_mean": 0.01,
        "digits": {"rendered_fonts": {"accuracy": 0.96, "rejected": 0.02}},
        "negatives": {"accepted": 0.04, "per_kind": {"letter": 0.04}},
        "separation": {"auroc_max_softmax": 0.99, "auroc_energy": 0.98},
    }
    res["targets"] = check_targets(res)
    assert res["targets"] == {
        "mnist_accuracy": True,
        "mnist_rejected": True,
        "corruption_mean": True,
        "non_mnist_digits": False,
        "negatives_accepted": False,
    }
    table = format_table({"a": {"fp32": res}, "b": {"fp32": res, "int8": res}})
    assert "a fp32" in table.splitlines()[0] and "b int8" in table.splitlines()[0]
    assert "99.0 / 98.0 / 97.0" in table and "3/5" in table
