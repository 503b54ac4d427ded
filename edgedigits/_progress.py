"""A small dependency-free progress bar for long loops (training, export, benchmarks)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Progress over ``total`` steps with a description, free-form stats and an ETA.

    On a terminal it redraws one line; elsewhere (logs, CI) it prints a line at most every
    ``log_every`` seconds and at the end, so logs stay short.
    """

    def __init__(
        self,
        total: int,
        desc: str = "",
        stream: TextIO | None = None,
        width: int = 24,
        log_every: float = 10.0,
        enabled: bool = True,
    ):
        self.total = max(1, int(total))
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = log_every
        self.n = 0
        self.stats = ""
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1, stats: str | None = None) -> None:
        self.n = min(self.total, self.n + n)
        if stats is not None:
            self.stats = stats
        now = time.perf_counter()
        if not self.enabled:
            return
        if self.tty and now - self._last >= 0.1:
            self._draw(now, end="\r")
            self._last = now
        elif not self.tty and now - self._last >= self.log_every:
            self._draw(now, end="\n")
            self._last = now

    def _draw(self, now: float, end: str) -> None:
        frac = self.n / self.total
        filled = int(frac * self.width)
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        line = (
            f"{self.desc} [{bar}] {self.n}/{self.total} {frac:4.0%} {_fmt_time(elapsed)}<{_fmt_time(eta)} {self.stats}"
        )
        self.stream.write(line.rstrip() + (" " * 4 if end == "\r" else "") + end)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter(), end="\n")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
