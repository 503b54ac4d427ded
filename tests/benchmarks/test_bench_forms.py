"""The form benchmark's readers and its whole run (benchmarks/bench_forms.py), on a tiny page set."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bench_forms
import formgen


def test_ocr_text_boxes_become_digits_and_numbers():
    # "Qty 42" with per-character boxes, and "7-19" split evenly (no character boxes)
    chars = [(0, 0, 10, 20), (10, 0, 10, 20), (20, 0, 10, 20), (40, 0, 10, 20), (50, 0, 12, 20)]
    digits, numbers = bench_forms.text_boxes_to_reading(
        [(0, 0, 62, 20, "Qty42", chars), (100, 50, 40, 20, "7-19", None)]
    )
    assert digits == [
        ((40, 0, 10, 20), 4),
        ((50, 0, 12, 20), 2),
        ((100, 50, 10, 20), 7),
        ((120, 50, 10, 20), 1),
        ((130, 50, 10, 20), 9),
    ]
    assert numbers == [((40, 0, 22, 20), "42"), ((100, 50, 10, 20), "7"), ((120, 50, 20, 20), "19")]


def test_an_ocr_reading_of_the_truth_scores_right(mnist_dir, monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_DATA", str(mnist_dir))
    page = formgen.make_page("test", seed=3, index=0)
    # each number as one OCR text box with a character box per digit
    boxes = [(*n.box, n.value, [d.box for d in page.digits if d.number == i]) for i, n in enumerate(page.numbers)]
    s = formgen.score_page(page, *bench_forms.text_boxes_to_reading(boxes))
    assert s.digits_right == s.digits and s.numbers_right == s.numbers and s.false_total == 0
    # the same text boxes without character boxes (split evenly) still find every number
    even = [(*b[:5], None) for b in boxes]
    assert formgen.score_page(page, *bench_forms.text_boxes_to_reading(even)).numbers_right > 0.8 * s.numbers


def test_a_tiny_run_writes_both_files_with_every_page_scored(mnist_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEDIGITS_DATA", str(mnist_dir))
    for var in bench_forms.THREAD_VARS:  # the run sets them; leave the session's as they were
        monkeypatch.setenv(var, "1")
    assert (
        bench_forms.main(
            [
                "--scans",
                "1",
                "--photos",
                "1",
                "--scans300",
                "0",
                "--ocr",
                "none",
                "--name",
                "tiny",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "tiny.json").read_text())
    assert (tmp_path / "tiny.md").read_text().startswith("# Form-page benchmark")
    scan = res["sets"]["scans 150 dpi"]["readers"]["edgedigits"]
    assert scan["pages"] == 1 and scan["digits"] == len(formgen.make_page("test", 12, 0).digits)
    assert 0 <= scan["digits_right"] <= scan["digits"] and scan["ms_per_page_median"] > 0
    assert set(res["sets"]) == {"scans 150 dpi", "photos of the 150 dpi scans"}


def test_edgedigits_reader_reads_blank_paper_as_nothing():
    read, label = bench_forms.edgedigits_reader()
    assert label.startswith("edgedigits (")
    assert read(np.full((1754, 1240, 3), 245, np.uint8)) == ([], [])


@pytest.mark.parametrize("flag", [["--ocr", "abbyy"], ["--scans", "-1"]])
def test_bad_flags_exit_with_a_usage_error(flag, capsys):
    with pytest.raises(SystemExit) as e:
        bench_forms.main(flag)
    assert e.value.code == 2 and "--" in capsys.readouterr().err
