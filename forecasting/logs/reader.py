"""Read the project's log records back: fields, never the words of a message.

:func:`parse_line` splits one line of
:data:`~forecasting.logs.records.LOG_FORMAT` into its prefix fields (app,
container, run, region, model, task) and, for an event
(:mod:`forecasting.logs.events`), the event's fields from the logfmt tail,
converted to their declared types.  :class:`TaskTally` summarises the task
events of many processes per region: counts, failures with their
tracebacks, durations, tasks still running, regions whose worker died.

Where the lines come from (YARN containers, a local run's folders) is the
caller's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from forecasting.logs.events import EVENTS, TAIL_SEPARATOR
from forecasting.logs.records import FIELDS, LINE_RE
from forecasting.logs.records import field as clean_field

_FRAME_RE = re.compile(r'^\s+File "')
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


@dataclass
class Line:
    """One line of our format: its prefix, its sentence and, for an event, its fields."""

    time: str
    level: str
    logger: str
    message: str
    #: The prefix's fields (:data:`forecasting.logs.records.FIELDS`), ``-`` when unknown.
    context: dict
    #: The event's name (a key of :data:`~forecasting.logs.events.EVENTS`), or None.
    event: str | None = None
    #: The event's fields, converted to their declared types.
    fields: dict = field(default_factory=dict)


def parse_logfmt(text: str) -> dict | None:
    """``key=value key="quoted value" ...`` as a dict of strings; None if ``text`` is not strictly that."""
    out, i, n = {}, 0, len(text)
    while i < n:
        eq = text.find("=", i)
        key = text[i:eq] if eq > i else ""
        if not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            return None
        i = eq + 1
        if i < n and text[i] == '"':
            chars, i = [], i + 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    if i + 1 >= n or text[i + 1] not in _UNESCAPE:
                        return None
                    chars.append(_UNESCAPE[text[i + 1]])
                    i += 2
                else:
                    chars.append(text[i])
                    i += 1
            if i >= n:
                return None  # an unclosed quote
            value, i = "".join(chars), i + 1
        else:
            end = text.find(" ", i)
            end = n if end < 0 else end
            value, i = text[i:end], end
            if not value or '"' in value or "=" in value:
                return None
        out[key] = value
        if i < n:
            if text[i] != " ":
                return None
            i += 1
    return out


def _typed(event: str, raw: dict) -> dict:
    types = EVENTS.get(event, {})
    out = {}
    for name, value in raw.items():
        kind = types.get(name, str)
        try:
            out[name] = kind(value) if kind in (int, float) else value
        except ValueError:
            out[name] = value  # a writer newer or older than this reader: keep what it wrote
    return out


def split_event(text: str) -> tuple[str, str | None, dict]:
    """A message and its tail: ``(sentence, event, fields)``; ``(text, None, {})`` without one.

    The tail is the last ``" | event=..."`` from which the rest of the line
    is strict logfmt: a sentence may hold anything (an error message quoting
    a log line), while the writer quotes and escapes every value that holds
    a space, ``|``, ``=`` or a quote.
    """
    marker = TAIL_SEPARATOR + "event="
    at = text.rfind(marker)
    while at >= 0:
        raw = parse_logfmt(text[at + len(TAIL_SEPARATOR):])
        if raw is not None:
            event = raw.pop("event")
            return text[:at], event, _typed(event, raw)
        at = text.rfind(marker, 0, at)
    return text, None, {}


def parse_line(line: str) -> Line | None:
    """One line of our format as a :class:`Line`; None for any other line (tracebacks, Hadoop's)."""
    m = LINE_RE.match(line)
    if not m:
        return None
    rest = m["message"] + (TAIL_SEPARATOR + m["tail"] if m["tail"] is not None else "")
    message, event, fields = split_event(rest)
    return Line(m["time"], m["level"], m["logger"], message, {k: m[k] for k in FIELDS}, event, fields)


def traceback_tail(lines: list[str], frames: int = 3) -> list[str]:
    """The last ``frames`` frames of the last traceback in ``lines``, and its exception line."""
    starts = [k for k, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return []
    tb = [line for line in lines[starts[-1]:] if line.strip() and not set(line.strip()) <= {"^", "~"}]
    frame_at = [k for k, line in enumerate(tb) if _FRAME_RE.match(line)]
    keep = frame_at[-frames:] if frame_at else [1]
    return tb[keep[0]:]


class TaskTally:
    """Task events of many processes, summarised per region.

    Feed it every record with :meth:`add`; ``where`` says where the record
    was (a dict with at least ``container``: one process's log) and is
    copied into what the tally reports.
    """

    def __init__(self) -> None:
        #: Task ends by outcome.
        self.counts = {"ok": 0, "failed": 0, "transient": 0}
        #: Every attempt that ended ok or failed: region, model, task, seconds, outcome.
        self.durations: list[dict] = []
        #: Regions whose worker died under them (``worker_lost``): region, worker, tries, reason.
        self.lost: list[dict] = []
        self._failed: list[dict] = []
        self._running: dict[str, dict[str, str]] = {}

    def add(self, line: Line, more: list[str], where: dict) -> None:
        """Count one record (``more``: its continuation lines, e.g. a traceback)."""
        ctx, f = line.context, line.fields
        running = self._running.setdefault(where["container"], {})
        if line.event == "task_start":
            running[ctx["task"]] = ctx["region"]
        elif line.event == "task_end":
            running.pop(ctx["task"], None)
            outcome = f.get("outcome")
            if outcome in self.counts:
                self.counts[outcome] += 1
            if outcome == "transient":
                return  # retried: its end is another attempt's
            if outcome in ("ok", "failed"):
                # The chosen model where it ended ok; the prefix's otherwise.
                model = (f.get("model") or ctx["model"]) if outcome == "ok" else ctx["model"]
                self.durations.append({"region": ctx["region"], "model": model, "task": ctx["task"],
                                       "seconds": float(f.get("seconds", 0.0)), "outcome": outcome, **where})
            if outcome == "failed":
                self._failed.append({"region": ctx["region"], "model": ctx["model"], "task": ctx["task"],
                                     "run": ctx["run"], "error_type": _short_type(f.get("error_type")),
                                     "message": f.get("error", ""), "traceback": traceback_tail(more), **where})
        elif line.event == "region_failed":
            self._failed.append({"region": clean_field(f.get("region", ctx["region"])), "model": "-", "task": "-",
                                 "run": ctx["run"], "error_type": _short_type(f.get("error_type")),
                                 "message": f.get("error", ""), "traceback": [], **where})
        elif line.event == "worker_lost":
            self.lost.append({"region": clean_field(f.get("region", ctx["region"])), "worker": f.get("worker", "?"),
                              "tries": f.get("tries"), "reason": f.get("reason", ""), **where})

    def in_flight(self, container: str) -> list[str]:
        """Regions whose task started in ``container`` and never ended there."""
        return sorted(set(self._running.get(container, {}).values()))

    def failures(self) -> list[dict]:
        """One entry per failed task; the driver's one-line report of a
        region only where no worker's line (with its traceback) tells more."""
        tasks = {(f["region"], f["task"]): f for f in self._failed if f["task"] != "-"}
        seen = {region for region, _ in tasks}
        driver = {f["region"]: f for f in self._failed if f["task"] == "-" and f["region"] not in seen}
        return sorted([*tasks.values(), *driver.values()], key=lambda f: (f["region"], f["task"]))

    def slowest(self, n: int) -> list[dict]:
        """The ``n`` slowest regions, each with its longest attempt."""
        longest: dict[str, dict] = {}
        for d in self.durations:
            if d["seconds"] > longest.get(d["region"], {"seconds": -1.0})["seconds"]:
                longest[d["region"]] = d
        return sorted(longest.values(), key=lambda d: -d["seconds"])[:n]


def _short_type(name) -> str:
    # "forecasting.errors.RegionDataError" and "RegionDataError" alike.
    return str(name or "-").rsplit(".", 1)[-1]
