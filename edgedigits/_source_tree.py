"""Importing edgedigits from a source checkout whose ``export/`` and ``runtimes/`` sit beside it.

In the repository, ``export/`` and ``runtimes/`` live at the top level and are installed inside
the package as ``edgedigits.export`` and ``edgedigits.runtimes`` (pyproject.toml's package-dir).
An installed wheel or an editable install provides that mapping. When Python instead finds the
checkout's own ``edgedigits/`` first - ``python -m edgedigits`` or a script run from the checkout
root with a normal (non-editable) install - the two subpackages would be missing; this module maps
them to the checkout's folders, so the checkout's code is imported consistently.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

MAPPED = ("export", "runtimes")


class _SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``edgedigits.<name>`` (and its submodules) in ``<checkout>/<name>``."""

    def __init__(self, folders: dict[str, Path]):
        self.folders = folders

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if len(parts) != 2 or parts[0] != "edgedigits" or parts[1] not in self.folders:
            return None  # submodules are found through the package's __path__
        folder = self.folders[parts[1]]
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


def map_source_tree() -> bool:
    """Map the checkout's ``export/`` and ``runtimes/`` when nothing else provides them.

    Returns whether a mapping was installed (only for a source tree that lacks it).
    """
    package_dir = Path(__file__).resolve().parent
    missing = {
        name: package_dir.parent / name
        for name in MAPPED
        if not (package_dir / name).is_dir()
        and (package_dir.parent / name / "__init__.py").is_file()
        and importlib.util.find_spec(f"edgedigits.{name}") is None
    }
    if not missing:
        return False
    sys.meta_path.append(_SourceTreeFinder(missing))
    return True
