"""Our log format in every Dask process a cluster of ours starts: YARN containers and local workers.

Both :mod:`deploy.yarn.scheduler` / :mod:`deploy.yarn.worker` (inside YARN
containers) and the local cluster of :mod:`deploy.clusters` use it, so a
local cluster does not depend on the YARN modules.
"""

from __future__ import annotations

import logging
import os

from distributed.comm.core import CommClosedError
from distributed.core import Status
from distributed.diagnostics.plugin import WorkerPlugin

#: What :meth:`distributed.Worker.heartbeat` logs, with the exception, when its call fails.
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat."


def configure_logging(level: str | int | None = None) -> None:
    """The project's one log line format (:data:`forecasting.logs.records.LOG_FORMAT`)
    on standard error, tagged with the YARN application and container ids
    (from the environment) and, inside a task, its run, region, model and key.

    On-call engineers read these lines in ``yarn logs -applicationId ...``
    (or with ``forecasting logs``).  ``level``: default
    ``FORECASTING_LOG_LEVEL`` from the environment, else INFO.
    """
    from forecasting.logs.records import configure_logging as configure

    configure(level or os.environ.get("FORECASTING_LOG_LEVEL") or "INFO")


class ContainerLogging(WorkerPlugin):
    """Worker start-up callback: our log format inside the worker process.

    The Nanny runs the worker in a process of its own (spawned: it inherits
    no logging set-up); this plugin sets the format there when the worker
    starts.  Used for YARN containers and for local clusters alike.

    Parameters
    ----------
    level : str or int, optional
        Level of the worker's root logger (default: see :func:`configure_logging`).
    log_dir : str, optional
        Also write the worker's records to ``LOG_DIR/worker-<name>/dask.worker.log``.
    """

    name = "forecasting-container-logging"

    def __init__(self, level: str | int | None = None, log_dir: str | None = None):
        self.level = level
        self.log_dir = log_dir

    def setup(self, worker) -> None:
        configure_logging(self.level)
        if self.log_dir:
            # A local worker's own file, appended to across restarts (YARN
            # keeps containers' logs itself).
            from forecasting.logs.records import add_log_file

            add_log_file(os.path.join(self.log_dir, f"worker-{worker.name}", "dask.worker.log"))
        logging.getLogger("distributed.worker").addFilter(ClosedHeartbeat(lambda: worker.status))


class ClosedHeartbeat(logging.Filter):
    """One plain line, not an ERROR with two tracebacks, for a heartbeat whose
    connection the scheduler closed.

    When a cluster shuts down, the scheduler can close while a worker's
    heartbeat is on the wire; distributed then logs ``HEARTBEAT_FAILED`` at
    ERROR with a chained traceback of its own internals, at the end of a run
    that went well (1 of 50 local runs here with the 2-core machine loaded).
    A worker already closing gets an INFO line; one still running (the
    scheduler went away under it) a WARNING.  Any other heartbeat failure
    keeps distributed's record.

    Parameters
    ----------
    status : callable
        Returns the worker's current :class:`distributed.core.Status`.
    """

    def __init__(self, status):
        super().__init__()
        self._status = status

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.msg != HEARTBEAT_FAILED or not isinstance(exc, CommClosedError):
            return True
        closing = self._status() != Status.running
        record.levelno = logging.INFO if closing else logging.WARNING
        record.levelname = logging.getLevelName(record.levelno)
        record.msg = ("heartbeat cut off as the scheduler closed (the worker was closing too)" if closing
                      else "heartbeat failed: the scheduler closed the connection")
        record.args = ()
        record.exc_info = record.exc_text = None
        return True
