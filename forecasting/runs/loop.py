"""The one driver loop: tasks to an executor, each outcome into the store as it arrives.

The nightly run and the backtest both hand their task list and a ``record``
function (a write to the results store) to :func:`drain`.  An outcome is
stored the moment it arrives (the nightly run's writer thread groups those
that arrive during a write into the next one), so an interrupted run keeps
everything it computed and a resumed one recomputes only the rest.  The executor (serial
or Dask, :mod:`forecasting.runs.executors`) is all the loop knows of the
cluster.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from forecasting.logs.events import log_event
from forecasting.runs.progress import Progress
from forecasting.runs.tasks import run_task

log = logging.getLogger(__name__)


def drain(
    executor,
    tasks: Sequence,
    record: Callable[[object], None] | None,
    *,
    unit: str = "regions",
    show_progress: bool = False,
    failure_level: int = logging.WARNING,
    stop_after: int | None = None,
    record_many: Callable[[list], None] | None = None,
) -> int:
    """Run ``tasks`` on ``executor`` and ``record`` each outcome; return how many arrived.

    Parameters
    ----------
    executor : Executor
        Where the tasks run (``run(run_task, tasks)`` yields outcomes as they finish).
    tasks : sequence
        Task descriptors of :mod:`forecasting.runs.tasks`.
    record : callable or None
        Stores one outcome; an exception from it (a store error) stops the loop
        and, through the executor, cancels what is still pending.  Not used
        (``None``) when ``record_many`` is given.
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
    record_many : callable, optional
        Stores several outcomes in one transaction.  Given, outcomes are
        written by a thread of their own (:class:`GroupWriter`): each write
        takes every outcome that arrived while the previous one was being
        written, so no outcome waits for others, and the store keeps up
        however fast they come.  When the loop ends, for whatever reason,
        what arrived is written before it returns or raises.
    """
    progress = Progress(len(tasks), enabled=None if show_progress else False, unit=unit)
    writer = GroupWriter(record_many) if record_many is not None else None
    n = 0
    try:
        for outcome in executor.run(run_task, tasks):
            if writer is None:
                record(outcome)
            else:
                writer.put(outcome)
            if not outcome.ok:
                # One line, tagged with the region: the worker logged the traceback (run.json keeps it).
                log_event(log, failure_level, "region_failed", "region %s failed: %s: %s", outcome.region,
                          outcome.error_type, outcome.message, extra={"region": outcome.region},
                          region=outcome.region, error_type=outcome.error_type, error=outcome.message)
            progress.update(outcome.ok)
            n += 1
            if stop_after is not None and n >= stop_after:
                raise KeyboardInterrupt(f"stopped after {n} tasks")
    except BaseException:
        if writer is not None:  # what arrived is written; the exception in flight is the one raised
            writer.close(raise_error=False)
        raise
    finally:
        progress.close()
    if writer is not None:
        writer.close()
    return n


class GroupWriter:
    """Write outcomes on a thread of their own, everything queued at once, in arrival order (group commit).

    Parameters
    ----------
    record_many : callable
        Stores a list of outcomes in one transaction.  Its first exception
        stops the writer; :meth:`put` and :meth:`close` raise it.
    """

    def __init__(self, record_many: Callable[[list], None]):
        self._record_many = record_many
        self._queue: list = []
        self._closed = False
        self._error: BaseException | None = None
        self._reported = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="forecasting-store-writer", daemon=True)
        self._thread.start()

    def put(self, outcome) -> None:
        """Queue an outcome; raises the writer's error if a write has failed."""
        with self._cond:
            if self._error is not None:
                self._reported = True
                raise self._error
            self._queue.append(outcome)
            self._cond.notify()

    def close(self, raise_error: bool = True) -> None:
        """Write what is queued and stop the thread; then raise the writer's error, if any (or log it)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            if raise_error:
                raise self._error
            if not self._reported:
                log.error("writing outcomes to the store failed: %s: %s", type(self._error).__name__, self._error)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            try:
                self._record_many(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the driving thread, which raises it
                with self._cond:
                    self._error, self._queue = exc, []
                return
