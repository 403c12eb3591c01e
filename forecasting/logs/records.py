"""One log line format for every process of a run.

The driver, serial runs, the Dask scheduler and workers (local or in YARN
containers) all write::

    2026-11-21 10:00:00,123 INFO [app=A container=C run=R] [region=X model=M] [task=KEY] logger: message

``app`` and ``container`` come from the environment YARN and skein give a
container (``-`` elsewhere); ``run`` is the run id (the backtest id for
backtests), set by the driver with :func:`run_context` and, on workers, by
the task itself; ``region``, ``model`` and ``task`` are set while a task
runs (:func:`task_context`).  Unknown fields are ``-``.  Values never hold
spaces, so :data:`LINE_RE` can split any line back into its fields.

The records ``forecasting logs`` reads (a task's start and end, a failed
region, ...) are events (:mod:`forecasting.logs.events`): their first line
ends in ``| event=NAME key=value ...``, fields the reader
(:mod:`forecasting.logs.reader`) takes instead of the message's words.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import re
import sys
from pathlib import Path

from forecasting.logs.events import with_tail

LOG_FORMAT = (
    "%(asctime)s %(levelname)s [app=%(app)s container=%(container)s run=%(run)s] "
    "[region=%(region)s model=%(model)s] [task=%(task)s] %(name)s: %(message)s"
)

#: A line of :data:`LOG_FORMAT`, split into its fields (continuation lines,
#: tracebacks, do not match); ``tail``: an event's logfmt fields, if any
#: (:func:`forecasting.logs.reader.parse_line` splits and checks them).
LINE_RE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<level>[A-Z]+) "
    r"\[app=(?P<app>\S*) container=(?P<container>\S*) run=(?P<run>\S*)\] "
    r"\[region=(?P<region>\S*) model=(?P<model>\S*)\] \[task=(?P<task>\S*)\] "
    r"(?P<logger>\S+?): (?P<message>.*?)(?: \| (?P<tail>event=.*))?$"
)

#: Fields a record gets from the context; a field given with ``extra=``
#: (``log.warning(..., extra={"region": r})``) is kept.
FIELDS = ("app", "container", "run", "region", "model", "task")

_run: contextvars.ContextVar[str] = contextvars.ContextVar("forecasting_run", default="-")
_task: contextvars.ContextVar[tuple[str, str, str]] = contextvars.ContextVar("forecasting_task", default=("-", "-", "-"))

#: Loggers that distributed gives a handler of its own (and its own format)
#: when it is imported before ours is installed; we take them back.
_DASK_LOGGERS = ("distributed", "distributed.client", "distributed.gc", "bokeh", "tornado", "tornado.application")


def field(value) -> str:
    """A value as it appears in a log line: ``-`` when unknown, no whitespace."""
    text = "" if value is None else str(value)
    return re.sub(r"\s+", "_", text.strip()) or "-"


def set_run_id(run_id: str) -> None:
    """Tag this context's records with ``run=run_id`` (see :func:`log_scope`)."""
    _run.set(field(run_id))


@contextlib.contextmanager
def run_context(run_id: str):
    """Within the block, log records carry ``run=run_id``."""
    token = _run.set(field(run_id))
    try:
        yield
    finally:
        _run.reset(token)


def log_scope(fn):
    """Decorator: run ``fn`` in a copy of the current context.

    A run id set inside with :func:`set_run_id` (once the function has made
    one up) tags the function's records and ends with the call.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return contextvars.copy_context().run(fn, *args, **kwargs)

    return wrapper


def task_fields(task) -> dict:
    """Region, model and run id of a task, for :func:`task_context`.

    Works for every task kind: ``RegionTask`` (``run_id``; the model when its
    config names a single one, e.g. a champion) and ``BacktestTask``
    (``backtest_id`` as run id, ``model``).
    """
    model = getattr(task, "model", None)
    if model is None:
        models = getattr(getattr(task, "config", None), "models", ()) or ()
        model = ",".join(m.label for m in models) if len(models) == 1 else None
    else:
        model = getattr(model, "label", model)
    run = getattr(task, "run_id", None) or getattr(task, "backtest_id", None)
    return {"region": getattr(task, "region", None), "model": model, "run_id": run}


@contextlib.contextmanager
def task_context(key: str, region: str | None = None, model: str | None = None, run_id: str | None = None):
    """Within the block, log records carry the task's key, region and model
    (and its run id, when given: workers learn it from the task)."""
    token = _task.set((field(region), field(model), field(key)))
    run_token = _run.set(field(run_id)) if run_id else None
    try:
        yield
    finally:
        if run_token is not None:
            _run.reset(run_token)
        _task.reset(token)


class ContextFilter(logging.Filter):
    """Adds :data:`FIELDS` to every record, from the environment and the context."""

    def __init__(self) -> None:
        super().__init__()
        # YARN's container id (what 'yarn logs' prints), else skein's name for it.
        self.app = field(os.environ.get("SKEIN_APPLICATION_ID"))
        self.container = field(os.environ.get("CONTAINER_ID") or os.environ.get("SKEIN_CONTAINER_ID"))

    def filter(self, record: logging.LogRecord) -> bool:
        region, model, task = _task.get()
        values = {"app": self.app, "container": self.container, "run": _run.get(), "region": region, "model": model,
                  "task": task}
        for name, value in values.items():
            if name in record.__dict__:  # given with extra=
                record.__dict__[name] = field(record.__dict__[name])
            else:
                record.__dict__[name] = value
        return True


class _Handler(logging.StreamHandler):
    """Writes to ``stream``, or to ``sys.stderr`` as it is when a record comes
    (tests and embedding programs swap it)."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self._stream = stream

    @property
    def stream(self):
        return self._stream or sys.stderr

    @stream.setter
    def stream(self, value):
        self._stream = value


class RecordFormatter(logging.Formatter):
    """:data:`LOG_FORMAT`, and an event's fields at the end of its first line."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Before the traceback, which format() appends after this.
        return with_tail(super().formatMessage(record), record)


def make_handler(stream=None) -> logging.Handler:
    """A handler writing :data:`LOG_FORMAT` to ``stream`` (default: standard error)."""
    handler = _Handler(stream)
    handler.setFormatter(RecordFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(level="INFO", stream=None) -> None:
    """Send every record of this process through one handler in :data:`LOG_FORMAT`.

    Like :func:`logging.basicConfig`, leaves a root logger that someone else
    has given handlers (a program embedding this one, pytest) alone; calling
    it again replaces our handler.  Dask's loggers, which get a handler and a
    format of their own when ``distributed`` is imported first (as in worker
    processes), are made to go through ours, filtering what they filtered.

    Parameters
    ----------
    level : str or int
        Level of the root logger.
    stream : file, optional
        Where to write (default: ``sys.stderr`` at the time of each record).
    """
    root = logging.getLogger()
    if any(not isinstance(h, _Handler) for h in root.handlers):
        return
    root.handlers[:] = [make_handler(stream)]
    root.setLevel(level)
    for name in _DASK_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]:
            # Keep what it filtered out (a local cluster's silence_logs sets its level).
            if handler.level > logger.level:
                logger.setLevel(handler.level)
            logger.removeHandler(handler)
        logger.propagate = True


@contextlib.contextmanager
def log_file(path):
    """Within the block, this process's records also go to ``path`` (appended).

    Local runs keep one folder per process (``driver/driver.log``,
    ``worker-0/dask.worker.log``, ...) that ``forecasting logs`` reads like
    YARN's per-container folders.
    """
    handler = add_log_file(path)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def add_log_file(path) -> logging.Handler:
    """Add a handler writing :data:`LOG_FORMAT` to ``path`` to the root logger."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(RecordFormatter())
    handler.addFilter(ContextFilter())
    logging.getLogger().addHandler(handler)
    return handler
