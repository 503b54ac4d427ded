"""The novelty check now lives in the core SDK, :mod:`edgedigits.novelty` (the reader uses it); re-exported here."""

from __future__ import annotations

from ..novelty import DEFAULT_MAX_NOVELTY, NEIGHBOURS, NoveltyGate

__all__ = ["DEFAULT_MAX_NOVELTY", "NEIGHBOURS", "NoveltyGate"]
