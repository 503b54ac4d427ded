"""edgedigits._io.cache_dir: the one cache folder (platformdirs, EDGEDIGITS_CACHE_DIR)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from edgedigits import _io, data
from edgedigits.runtimes import _cache


def test_the_variable_wins_and_every_cache_user_shares_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEDIGITS_CACHE_DIR", str(tmp_path / "c"))
    assert _io.cache_dir("trials", "x.json") == tmp_path / "c" / "trials" / "x.json"
    assert data.cache_dir() == tmp_path / "c" / "mnist"  # MNIST downloads included
    assert _cache.cache_dir is _io.cache_dir


def test_without_the_variable_it_is_the_platform_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEDIGITS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_cache_dir("edgedigits", appauthor=False))
    assert _io.cache_dir() == expected and data.cache_dir() == expected / "mnist"
    assert not _io.cache_dir().exists()  # not created by asking
