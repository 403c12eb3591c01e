"""Progress of a run: regions done, failed and remaining.

On a terminal the line redraws in place; in a Jupyter notebook (an IPython
kernel, whose standard error is no terminal) a progress bar in the cell's
output updates in place; elsewhere (cron, YARN logs) it logs a line at each
tenth of the way, so logs are not flooded with redraws.
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
        # A notebook's cell output, when no terminal is there to draw on.
        self._cell = _NotebookCell() if enabled is None and not self.interactive and in_notebook() else None

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
        elif self._cell is not None:
            self._cell.show(self.done, self.total, self.line())
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
        if self._cell is not None:
            self._cell.show(self.done, self.total, self.line(), final=True)
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython imported and running a kernel shell)."""
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has already done it
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


class _NotebookCell:
    """A progress bar in the running cell's output, redrawn in place (at most every 0.2 s, and at the end)."""

    INTERVAL = 0.2

    def __init__(self):
        self._handle = None
        self._last = float("-inf")

    def show(self, done: int, total: int, line: str, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.INTERVAL:
            return
        self._last = now
        from html import escape

        from IPython.display import display

        data = {"text/plain": line, "text/html": f"<progress value='{done}' max='{max(total, 1)}'></progress> {escape(line)}"}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)
