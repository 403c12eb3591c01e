"""The one driver loop: tasks to an executor, each outcome into the store as it arrives.

The nightly run and the backtest both hand their task list and a ``record``
function (a write to the results store) to :func:`drain`.  An outcome is
stored the moment it arrives, so an interrupted run keeps everything it
computed and a resumed one recomputes only the rest.  The executor (serial
or Dask, :mod:`forecasting.runs.executors`) is all the loop knows of the
cluster.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from forecasting.logs.events import log_event
from forecasting.runs.progress import Progress
from forecasting.runs.tasks import run_task

log = logging.getLogger(__name__)


def drain(
    executor,
    tasks: Sequence,
    record: Callable[[object], None],
    *,
    unit: str = "regions",
    show_progress: bool = False,
    failure_level: int = logging.WARNING,
    stop_after: int | None = None,
) -> int:
    """Run ``tasks`` on ``executor`` and ``record`` each outcome; return how many arrived.

    Parameters
    ----------
    executor : Executor
        Where the tasks run (``run(run_task, tasks)`` yields outcomes as they finish).
    tasks : sequence
        Task descriptors of :mod:`forecasting.runs.tasks`.
    record : callable
        Stores one outcome; an exception from it (a store error) stops the loop
        and, through the executor, cancels what is still pending.
    unit : str
        What the progress bar counts.
    show_progress : bool
        Draw a progress bar when standard error is a terminal.
    failure_level : int
        Level of the one line logged per failed outcome (the worker logged its
        traceback): a backtest's expected failures (windows before a region's
        history is long enough) log at DEBUG.
    stop_after : int, optional
        Stop, as if interrupted, after this many outcomes (tests of resuming).
    """
    progress = Progress(len(tasks), enabled=None if show_progress else False, unit=unit)
    n = 0
    try:
        for outcome in executor.run(run_task, tasks):
            record(outcome)
            if not outcome.ok:
                # One line, tagged with the region: the worker logged the traceback (run.json keeps it).
                log_event(log, failure_level, "region_failed", "region %s failed: %s: %s", outcome.region,
                          outcome.error_type, outcome.message, extra={"region": outcome.region},
                          region=outcome.region, error_type=outcome.error_type, error=outcome.message)
            progress.update(outcome.ok)
            n += 1
            if stop_after is not None and n >= stop_after:
                raise KeyboardInterrupt(f"stopped after {n} tasks")
    finally:
        progress.close()
    return n
