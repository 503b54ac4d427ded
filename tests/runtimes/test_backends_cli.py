"""`edgedigits backends`: the table, --json, and a bundle nothing can run."""

from __future__ import annotations

import json

from edgedigits import runtimes
from edgedigits.bundle import default_bundle_path


def test_table_lists_every_backend_and_the_auto_pick(cli, tmp_path):
    r = cli("backends", env={"EDGEDIGITS_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["backend", "available", "version", "devices:"]
    for name in runtimes.NAMES:
        row = next(line for line in lines if line.startswith(name + " "))
        ok, reason = runtimes.get_backend(name).availability()
        assert row.split()[1] == ("yes" if ok else "no") and reason in row
    assert any(line.startswith("auto pick for ") for line in lines)
    assert any(line.startswith("why: ") for line in lines)


def test_json_has_reasons_versions_devices_precisions_and_the_pick(cli, tmp_path):
    r = cli("backends", "--json", env={"EDGEDIGITS_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    rows = {b["name"]: b for b in data["backends"]}
    assert list(rows) == list(runtimes.NAMES)
    assert rows["onnxruntime"]["available"] and rows["onnxruntime"]["devices"] == ["cpu"]
    assert rows["onnxruntime"]["precisions"]["cpu"] == ["int8", "fp32"] and rows["onnxruntime"]["version"]
    assert all(isinstance(b["reason"], str) and b["reason"] for b in data["backends"])
    pick = data["auto"]
    assert pick["backend"] in rows and rows[pick["backend"]]["available"] and pick["why"]


def test_a_bundle_nothing_can_run_is_an_error_after_the_table(cli, tmp_path):
    r = cli("backends", "--model", tmp_path / "missing")
    assert r.returncode == 1
    assert "auto: nothing can run the model here: model bundle" in r.stdout
    assert "Traceback" not in r.stderr


def test_a_bad_backend_variable_is_named_and_not_sent_back_to_itself(cli, tmp_path):
    """EDGEDIGITS_BACKEND=garbage: the message names the variable and the valid names, and under
    `edgedigits backends` it does not tell the user to run `edgedigits backends`."""
    env = {"EDGEDIGITS_CACHE_DIR": str(tmp_path), "EDGEDIGITS_BACKEND": "garbage"}
    r = cli("backends", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "EDGEDIGITS_BACKEND='garbage' names an unknown backend 'garbage'" in r.stdout
    assert ", ".join(runtimes.NAMES) in r.stdout and "run 'edgedigits backends'" not in r.stdout
    digit = default_bundle_path().parent / "digits" / "mnist_0.png"
    p = cli("predict", digit, env={**env, "EDGEDIGITS_BACKEND": "onnxruntime:cpu:int4"})
    assert (
        p.returncode == 1 and "EDGEDIGITS_BACKEND='onnxruntime:cpu:int4' names an unknown precision 'int4'" in p.stderr
    )
