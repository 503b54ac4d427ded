"""Serving the one reader over HTTP: ``edgedigits serve`` (Starlette + uvicorn) and Ray Serve.

:mod:`.core` checks request bodies and turns readings into JSON (no web framework);
:mod:`.app` is the Starlette application; :mod:`.live` the device camera behind the live view;
:mod:`.ray_app` the same API on Ray Serve. The web stack is imported only by those modules.
"""

from .._deps import has
from ..errors import MissingDependencyError

SERVE_INSTALL = "pip install 'edgedigits[serve]'"


def need_web_stack() -> None:
    """Raise MissingDependencyError (one sentence) unless Starlette, uvicorn and python-multipart import."""
    for package, module in (("starlette", "starlette"), ("uvicorn", "uvicorn"), ("python-multipart", "multipart")):
        if not has(module):
            raise MissingDependencyError(package, "edgedigits serve", SERVE_INSTALL)
