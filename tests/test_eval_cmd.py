"""`edgedigits eval`: the robustness and rejection suite, end to end on the shipped bundle."""

from __future__ import annotations

import json

import pytest

SMALL = ["--corruption-images", "40", "--negatives", "64", "--rendered", "40"]


@pytest.fixture(scope="module")
def report(mnist_dir):
    from _support import run_cli

    r = run_cli("eval", *SMALL, "--data", mnist_dir, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_json_report_has_every_figure(report):
    from edgedigits import synth
    from edgedigits.evaluation import suite_kinds

    fp32 = report["results"]["fp32"]
    assert report["mnist_source"].startswith("MNIST test (10,000")
    assert fp32["mnist"]["images"] == 10000 and 0.98 < fp32["mnist"]["accuracy"] <= 1
    assert set(fp32["corruptions"]) == set(synth.CORRUPTIONS)
    assert all(set(v) == {"1", "2", "3"} for v in fp32["corruptions"].values())
    assert "rendered_fonts" in fp32["digits"]
    assert set(fp32["negatives"]["per_group"]) == set(suite_kinds())
    assert set(synth.NEGATIVE_KINDS + synth.FORM_KINDS) <= set(fp32["negatives"]["per_kind"])
    for value in (fp32["corruption_mean"], fp32["negatives"]["accepted"], fp32["separation"]["auroc_max_softmax"]):
        assert 0.0 <= value <= 1.0
    assert set(fp32["targets"]) == set(report["targets"])


def test_a_threshold_of_zero_accepts_everything(cli, mnist_dir):
    r = cli("eval", *SMALL, "--data", mnist_dir, "--min-confidence", "0", "--precision", "fp32", "--json")
    assert r.returncode == 0, r.stderr
    fp32 = json.loads(r.stdout)["results"]["fp32"]
    assert fp32["negatives"]["accepted"] == 1.0 and fp32["mnist"]["rejected"] == 0.0


def test_table_output(cli, mnist_dir):
    r = cli("eval", *SMALL, "--data", mnist_dir, "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    for row in (
        "MNIST test accuracy",
        "corruptions: mean accuracy",
        "uneven_light (severity 1/2/3)",
        "non-digits accepted",
        "targets met",
    ):
        assert row in r.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--min-confidence", "1.5"], 2, "min_confidence must be between 0 and 1"),
        (["--min-confidence", "x"], 2, "invalid float value"),
        (["--corruption-images", "0"], 2, "expected a whole number of at least 1"),
        (["--model", "no/such/bundle"], 1, "does not exist"),
    ],
)
def test_bad_arguments_are_one_sentence(cli, args, code, message):
    r = cli("eval", *args)
    assert r.returncode == code and message in r.stderr and "Traceback" not in r.stderr


def test_missing_int8_model_is_a_usage_error(cli, default_bundle):
    if default_bundle.find("onnx", "int8") is not None:
        pytest.skip("the shipped bundle has an INT8 model")
    r = cli("eval", "--precision", "int8")
    assert r.returncode == 2 and "has no ONNX int8 model" in r.stderr


def test_explicit_data_folder_must_hold_mnist(cli, tmp_path):
    r = cli("eval", *SMALL, "--data", tmp_path / "nodata")
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
