"""The one exception family of edgedigits.

Every failure a user can cause (a bad file, a missing backend, a wrong shape, a bad flag) is raised
as a subclass of :class:`EdgeDigitsError` whose message is one sentence saying what is wrong and
what to do. The CLI prints that sentence and exits non-zero, without a traceback.
"""

from __future__ import annotations


class EdgeDigitsError(Exception):
    """Base class for every error edgedigits raises on purpose."""

    exit_code = 1


class DataError(EdgeDigitsError):
    """A dataset file is missing, truncated, corrupted or of the wrong kind."""


class DownloadError(DataError):
    """A download failed or delivered something other than the expected file."""


class BundleError(EdgeDigitsError):
    """A model bundle is missing, malformed, tampered with or incompatible."""


class BackendError(EdgeDigitsError):
    """An inference backend is unavailable or failed to load or run an artifact."""


class ExportError(EdgeDigitsError):
    """An export step failed or produced an artifact that does not pass its checks."""


class MissingDependencyError(EdgeDigitsError):
    """An optional dependency is needed for this feature but is not installed."""

    def __init__(self, package: str, feature: str, install: str):
        self.package = package
        super().__init__(f"{feature} needs the '{package}' package, which is not installed; install it with: {install}")


class InputError(EdgeDigitsError, ValueError):
    """An array or image given to the SDK has the wrong shape, dtype or content."""


class UsageError(EdgeDigitsError):
    """A command-line argument or option is invalid."""

    exit_code = 2


def parse_choices(text: str | None, valid, option: str, noun: str) -> tuple[str, ...] | None:
    """``'a, B,a'`` -> ('a', 'b'): comma-separated names from ``valid``, lower-cased, de-duplicated.

    None stays None (the option was not given). Unknown names, or none at all, raise one
    :class:`UsageError` naming ``option`` and listing the valid names.
    """
    if text is None:
        return None
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        what = f"unknown {noun} {', '.join(repr(n) for n in unknown)}" if unknown else f"no {noun} given"
        raise UsageError(f"{option}: {what}; choose from {', '.join(valid)} (comma-separated).")
    return tuple(dict.fromkeys(names))


class RequestError(InputError):
    """Input refused with a status: the HTTP code (4xx) a server answers it with (400 bad data,
    413 too large, 415 not a supported type)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
