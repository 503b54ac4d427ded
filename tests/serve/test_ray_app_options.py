"""The Ray Serve builder's options as `serve run edgedigits.serve.ray_app:build key=value ...` passes them."""

from __future__ import annotations

import pytest

from edgedigits.errors import UsageError
from edgedigits.serve.ray_app import DEFAULTS, _options


def test_string_options_become_numbers(monkeypatch):
    monkeypatch.setenv("EDGEDIGITS_TOKEN", "from-env")
    o = _options({"replicas": "2", "batch_wait_s": "0.01", "max_bytes": "1000"})
    assert (o["replicas"], o["batch_wait_s"], o["max_bytes"], o["token"]) == (2, 0.01, 1000, "from-env")
    assert _options(None)["replicas"] == DEFAULTS["replicas"]


def test_unknown_option_is_one_sentence():
    with pytest.raises(UsageError, match="unknown option 'replica' .* use replicas, model"):
        _options({"replica": "2"})
