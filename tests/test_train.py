"""`edgedigits train` end to end on a small subset: progress, bundle, resume, determinism, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from _support import requires_torch

pytestmark = requires_torch
SMALL = ["--model", "digitnet_xs", "--subset", "4096", "--val-size", "500", "--batch-size", "128", "--threads", "1"]


def _interrupt_after_first_checkpoint(args, out, env):
    """Start a training run, Ctrl-C it once its first checkpoint exists; returns (returncode, stderr).

    The child gets SIGINT's default disposition back: a test run started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgedigits", "train", *args, "--out", str(out)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, mnist_dir):
    """Run A: three epochs straight. Run B: the same, Ctrl-C after its first checkpoint, then --resume."""
    from _support import run_cli

    base = tmp_path_factory.mktemp("train")
    env = {"EDGEDIGITS_DATA": str(mnist_dir)}
    args = [*SMALL, "--epochs", "3"]  # epochs of a few seconds: Ctrl-C lands mid-run
    a = run_cli("train", *args, "--out", base / "a", env=env)
    b_code, b_err = _interrupt_after_first_checkpoint(args, base / "b", env)
    leftovers = [p.name for p in (base / "b").iterdir() if p.name.endswith(".tmp")]
    from edgedigits.train import load_checkpoint

    b_epoch = load_checkpoint(base / "b" / "checkpoint.pt")["epoch"]
    b2 = run_cli("train", *args, "--out", base / "b", "--resume", env=env)
    return base, a, (b_code, b_err, leftovers, b_epoch), b2


def test_train_writes_a_bundle_with_progress(two_runs):
    base, a, _, _ = two_runs
    assert a.returncode == 0, a.stderr
    out = a.stdout + a.stderr
    assert "epoch 1/3 [" in out and "loss" in out and "<" in out  # the progress bar with its ETA
    assert "MNIST test accuracy" in out
    manifest = json.loads((base / "a" / "bundle" / "manifest.json").read_text())
    recipe = manifest["training"]["recipe"]
    assert recipe["model"] == "digitnet_xs" and recipe["epochs"] == 3 and len(recipe["history"]) == 3
    assert 0.5 < manifest["metrics"]["mnist_test_accuracy"] <= 1.0
    from edgedigits.bundle import load_bundle

    bundle = load_bundle(base / "a" / "bundle", verify=True)
    assert {a.id for a in bundle.artifacts} == {"onnx-fp32", "torch-fp32"}


def test_ctrl_c_keeps_the_last_good_checkpoint(two_runs):
    code, err, leftovers, epoch = two_runs[2]
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert epoch >= 1 and leftovers == []


def test_resume_after_ctrl_c_matches_an_uninterrupted_run(two_runs):
    import torch

    base, a, _, b2 = two_runs
    assert b2.returncode == 0, b2.stderr
    assert "resuming" in b2.stdout and "of 3" in b2.stdout
    wa = torch.load(base / "a" / "bundle" / "weights.pt", weights_only=True)
    wb = torch.load(base / "b" / "bundle" / "weights.pt", weights_only=True)
    assert wa.keys() == wb.keys()
    for k in wa:  # same seed on CPU: bit-identical weights, with or without the interruption
        assert torch.equal(wa[k], wb[k]), k


def test_existing_checkpoint_needs_resume(two_runs, cli):
    base = two_runs[0]
    r = cli("train", *SMALL, "--epochs", "1", "--out", base / "a")
    assert r.returncode == 2 and "already exists; pass --resume" in r.stderr


def test_resume_without_checkpoint(cli, tmp_path):
    r = cli("train", *SMALL, "--out", tmp_path / "empty", "--resume")
    assert r.returncode == 2 and "does not exist; train without --resume first" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "expected a whole number of at least 1"),
        (["--lr", "abc"], "expected a number"),
        (["--model", "resnet"], "unknown --model 'resnet'"),
    ],
)
def test_bad_flags(cli, tmp_path, args, message):
    r = cli("train", *args, "--out", tmp_path / "x")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_missing_data_is_one_sentence(cli, tmp_path):
    r = cli("train", *SMALL, "--out", tmp_path / "x", "--data", tmp_path / "nodata")
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_one_epoch_run_says_epoch_and_announces_the_bundle_once(cli, tmp_path, mnist_dir):
    r = cli(
        "train",
        *SMALL,
        "--subset",
        "1024",
        "--epochs",
        "1",
        "--no-progress",
        "--data",
        mnist_dir,
        "--out",
        tmp_path / "one",
    )
    assert r.returncode == 0, r.stderr
    output = r.stdout + r.stderr
    assert "; 1 epoch, " in output and "1 epochs" not in output
    assert output.count(str(tmp_path / "one" / "bundle")) == 1
