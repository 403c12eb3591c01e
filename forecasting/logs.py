"""Log lines that say which task they come from.

:func:`task_context` marks the task a thread is running (its key names the
region, and for backtests the model and cutoff); :class:`TaskFilter` puts
it on every record as ``%(task)s``.  Deployment code decides the rest of
the format (YARN adds the application and container ids).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging

_current_task: contextvars.ContextVar[str] = contextvars.ContextVar("forecasting_task", default="-")


@contextlib.contextmanager
def task_context(key: str):
    """Within the block, log records carry ``task=key``."""
    token = _current_task.set(key)
    try:
        yield
    finally:
        _current_task.reset(token)


class TaskFilter(logging.Filter):
    """Adds ``record.task``: the key of the task being run, or ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.task = _current_task.get()
        return True
