"""A tiny model registry: ``@register_model`` on a builder, ``create_model(name)`` to build."""

from __future__ import annotations

from typing import Callable

from ..errors import BundleError

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, **kwargs):
    if name not in _MODELS:
        raise BundleError(f"unknown model architecture {name!r}; known: {', '.join(list_models())}.")
    return _MODELS[name](**kwargs)
