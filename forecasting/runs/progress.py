"""Progress of a run on the terminal: regions done, failed and remaining.

On a terminal the line redraws in place; elsewhere (cron, YARN logs) it logs
a line at each tenth of the way, so logs are not flooded with redraws.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("forecasting.runs.progress")


class Progress:
    """Count outcomes as they arrive and show them.

    Parameters
    ----------
    total : int
        Number of regions.
    stream : file, optional
        Where to draw; standard error by default.
    enabled : bool, optional
        Draw at all; by default only when ``stream`` is a terminal.
    unit : str
        What is counted (``regions``, ``tasks``).
    """

    def __init__(self, total: int, stream=None, enabled: bool | None = None, unit: str = "regions"):
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if enabled is None else enabled
        self.ok = 0
        self.failed = 0
        self.start = time.monotonic()
        self._next_log = 0.1

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def update(self, ok: bool) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if self.interactive:
            self._draw()
        elif self.total and self.done / self.total >= self._next_log:
            self._next_log += 0.1
            log.info("%s", self.line())

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        return f"{self.done}/{self.total} {self.unit}: {self.ok} ok, {self.failed} failed, {self.total - self.done} remaining, {elapsed:.0f}s"

    def _draw(self) -> None:
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.line()}")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
