"""The events ``forecasting logs`` reads, and the one way to write them.

A record of an event keeps the human sentence on-call reads and adds the
event's fields as a logfmt tail on its first line::

    ... forecasting.runs.tasks: task end: ok in 1.23s, model gbm | event=task_end outcome=ok seconds=1.230 model=gbm

:data:`EVENTS` declares every event and its fields; :func:`log_event`
writes one and refuses what is not declared, so the writer and the reader
(:mod:`forecasting.logs.reader`) cannot drift apart.  The sentence may be
reworded freely: readers take the fields, never the words.
"""

from __future__ import annotations

import logging
import re

#: Event name -> {field: type}.  Fields are optional (a value of ``None``
#: is left out); the reader converts each back to its type.  The prefix of
#: the line (:data:`forecasting.logs.records.LOG_FORMAT`) adds app,
#: container, run, region, model and task.
EVENTS: dict[str, dict[str, type]] = {
    # A worker (or a serial run) began a task; region, model and task key are in the prefix.
    "task_start": {},
    # It ended: outcome is ok, failed (deterministic, not retried) or transient
    # (raised for the runner to retry); model is the one chosen (outcome ok).
    "task_end": {"outcome": str, "seconds": float, "model": str, "error_type": str, "error": str},
    # The driver's one line about a region that failed (its worker logged the traceback).
    "region_failed": {"region": str, "error_type": str, "error": str},
    # The driver's word that a region's task ended because its worker died
    # under it ``tries`` times (Dask's KilledWorker); worker: the last one's address.
    "worker_lost": {"region": str, "worker": str, "tries": int, "reason": str},
    # A Dask scheduler or worker process (a YARN container) started.
    "scheduler_start": {"address": str, "dashboard": str},
    "worker_start": {"worker": str, "scheduler": str},
}

#: Values ``task_end``'s outcome takes.
OUTCOMES = ("ok", "failed", "transient")

#: What separates the sentence from the fields on a line.
TAIL_SEPARATOR = " | "

#: Attribute of a :class:`logging.LogRecord` holding its logfmt tail.
TAIL_ATTRIBUTE = "forecasting_event"

# A value goes bare only when nothing in it needs quoting.
_BARE = re.compile(r"^[^\s\"=\\|]+$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def format_value(value) -> str:
    """One value as logfmt writes it: bare when safe, else double-quoted with escapes."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.3f}"  # milliseconds are plenty for durations
    else:
        text = str(value)
    if _BARE.match(text):
        return text
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def format_fields(event: str, fields: dict) -> str:
    """``event=<event> key=value ...`` for a declared event, in the table's order.

    Raises
    ------
    ValueError
        The event is not in :data:`EVENTS`, a field is not declared for it,
        or ``task_end``'s outcome is not one of :data:`OUTCOMES`.
    """
    declared = EVENTS.get(event)
    if declared is None:
        raise ValueError(f"undeclared log event {event!r}: declare it in forecasting.logs.events.EVENTS")
    unknown = sorted(set(fields) - set(declared))
    if unknown:
        raise ValueError(f"log event {event!r} has no field(s) {', '.join(unknown)}: "
                         f"declared are {', '.join(declared) or 'none'}")
    if event == "task_end" and fields.get("outcome") not in OUTCOMES:
        raise ValueError(f"task_end outcome must be one of {', '.join(OUTCOMES)}, got {fields.get('outcome')!r}")
    parts = [f"event={event}"]
    parts += [f"{name}={format_value(fields[name])}" for name in declared if fields.get(name) is not None]
    return " ".join(parts)


def log_event(logger: logging.Logger, level: int, event: str, message: str, /, *args, exc_info=None, extra=None,
              **fields) -> None:
    """Log ``message % args`` for people, with ``event``'s fields for ``forecasting logs``.

    Parameters
    ----------
    logger : logging.Logger
        Where the record goes.
    level : int
        Its level (``logging.INFO``, ...).
    event : str
        A name in :data:`EVENTS`.
    message, *args
        The sentence, as for :meth:`logging.Logger.log`: reword it at will.
    exc_info, extra
        As for :meth:`logging.Logger.log` (``extra`` may set prefix fields, e.g. ``region``).
    **fields
        The event's fields; ``None`` leaves one out.

    Raises
    ------
    ValueError
        An undeclared event or field (checked even when the level is off,
        so that tests catch it).
    """
    tail = format_fields(event, fields)
    if not logger.isEnabledFor(level):
        return
    logger.log(level, message, *args, exc_info=exc_info, stacklevel=2,
               extra={**(extra or {}), TAIL_ATTRIBUTE: tail})


def with_tail(text: str, record: logging.LogRecord) -> str:
    """A formatted line with the record's event fields (if any) at the end of its first line.

    The first line, not the last: a sentence may span lines (an exception's
    message), and readers find the fields next to the prefix.
    """
    tail = getattr(record, TAIL_ATTRIBUTE, None)
    if not tail:
        return text
    first, newline, rest = text.partition("\n")
    return first + TAIL_SEPARATOR + tail + newline + rest
