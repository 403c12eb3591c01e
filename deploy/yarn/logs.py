"""``forecasting logs``: read a YARN application's logs back: what failed, where, and why.

The input is what ``yarn logs -applicationId <id>`` prints, or per-container
log folders (:mod:`deploy.yarn.aggregated` reads both).  Our records are read
by the domain reader (:mod:`forecasting.logs.reader`): their prefix fields
and their events' fields, never their words.  What is read here as text is
other people's: Dask's own lines, skein's application master and YARN's
diagnostics (memory kills, preemption, exit codes).  :func:`summarize`
builds a plain dictionary (``forecasting logs --json`` prints it),
:func:`format_summary` the text, :func:`summarize_source` both steps from a
``forecasting logs SOURCE`` argument.

Containers whose logging we never set up write Dask's default format: its
``Compute Failed`` records are failed tasks too, and lines that start no
record in a format we know and continue none (:func:`deploy.yarn.foreign.
is_continuation`) are counted as unknown, never fatal.

Pure functions apart from running ``yarn logs``: no YARN, Dask or skein needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deploy.yarn import foreign
from deploy.yarn.aggregated import LogFile, read_source
from deploy.yarn.foreign import DEATH_PATTERNS
from deploy.yarn.summary_text import format_summary
from forecasting.logs.reader import TaskTally, parse_line
from forecasting.logs.records import field as clean_field

__all__ = ["DEATH_PATTERNS", "Record", "format_summary", "records", "summarize", "summarize_source"]

# Lines that start a record in some other format: Dask's default
# ("time - logger - LEVEL - msg"), log4j's / skein's AM's ("time LEVEL logger: msg").
_DASK_RE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (?P<logger>\S+) - (?P<level>[A-Z]+) - (?P<message>.*)$")
_LOG4J_RE = re.compile(
    r"^(?P<time>(?:\d{4}-\d\d-\d\d|\d\d/\d\d/\d\d) \d\d:\d\d:\d\d(?:,\d{3})?) (?P<level>[A-Z]+) (?P<logger>\S+?): (?P<message>.*)$"
)
_CONTAINER_RE = re.compile(r"^container_(?:e\d+_)?(\d+)_(\d+)_")
_AM_RUNNING_RE = re.compile(r"^RUNNING: (?P<skein>\S+) on (?P<container>container_\S+)")
_AM_END_RE = re.compile(r"^(?P<state>SUCCEEDED|FAILED|KILLED): (?P<skein>\S+) - (?P<msg>.*)$")
# Which process a container ran, from our events and from Dask's own loggers.
_WORKER_EVENTS = {"worker_start", "task_start", "task_end"}
_SCHEDULER_EVENTS = {"scheduler_start"}
_WORKER_LOGGERS = {"distributed.nanny", "distributed.worker"}
_SCHEDULER_LOGGERS = {"distributed.scheduler"}


@dataclass
class Record:
    """A log record: its first line's fields, plus continuation lines (tracebacks).

    ``fields`` are our prefix's (empty for other formats); ``event`` and
    ``event_fields`` an event's (:mod:`forecasting.logs.events`).
    """

    container: str
    file: str
    time: str = ""
    level: str = ""
    logger: str = ""
    message: str = ""
    fields: dict = field(default_factory=dict)
    more: list = field(default_factory=list)
    event: str | None = None
    event_fields: dict = field(default_factory=dict)
    line: object = field(default=None, repr=False)
    #: Continuation lines that continue it in no way we know (:func:`deploy.yarn.foreign.is_continuation`).
    unknown: int = 0

    def text(self) -> str:
        return "\n".join([self.message, *self.more])


def records(log: LogFile) -> list[Record]:
    """The records of one log file; lines that start no record continue the previous one.

    A file in which no line starts a record of a format we know (a launch
    script, a directory listing) is not a log: none of its lines is unknown.
    """
    out: list[Record] = []
    known = False
    for text in log.text.splitlines():
        line = parse_line(text)
        if line is not None:
            out.append(Record(log.container, log.name, line.time, line.level, line.logger, line.message,
                              dict(line.context), event=line.event, event_fields=line.fields, line=line))
            known = True
            continue
        m = _DASK_RE.match(text) or _LOG4J_RE.match(text)
        if m:
            out.append(Record(log.container, log.name, m["time"], m["level"], m["logger"], m["message"]))
            known = True
        elif out:
            out[-1].unknown += not foreign.is_continuation(text, out[-1].more)
            out[-1].more.append(text)
        elif text.strip():
            out.append(Record(log.container, log.name, message=text, unknown=1))
    if not known:
        for r in out:
            r.unknown = 0
    return out


def _service(files: list[LogFile], recs: list[Record], skein_id: str) -> str:
    names = {f.name for f in files}
    if "application.master.log" in names:
        return "application master"
    if "driver.log" in names:
        return "driver"
    if skein_id:
        return skein_id.rsplit("_", 1)[0]
    for name in sorted(names):
        if name.endswith(".log") and name.startswith("dask."):
            return name[:-4]
    events, loggers = {r.event for r in recs}, {r.logger for r in recs}
    if events & _SCHEDULER_EVENTS or loggers & _SCHEDULER_LOGGERS:
        return "dask.scheduler"
    if events & _WORKER_EVENTS or loggers & _WORKER_LOGGERS:
        return "dask.worker"
    return "-"


def _application(recs: dict, app_id: str) -> tuple[dict, dict, dict, str]:
    """The application's outcome, skein's container names and their ends, from skein's application master."""
    skein_ids, ends, app = {}, {}, {"id": app_id, "status": "UNKNOWN", "diagnostics": "", "source": "inferred"}
    shutdown_at = ""
    for rs in recs.values():
        for r in rs:
            if r.fields.get("app", "-") != "-" and not app["id"]:
                app["id"] = r.fields["app"]
            if r.file not in ("application.master.log", "application.driver.log"):
                continue
            m = _AM_RUNNING_RE.match(r.message)
            if m:
                skein_ids[m["container"]] = m["skein"]
            elif (m := _AM_END_RE.match(r.message)):
                # YARN's diagnostics may run on over lines of their own (Hadoop 3's, a process-tree dump).
                ends[m["skein"]] = (m["state"], m["msg"], r.time, "\n".join([m["msg"], *r.more]))
            elif r.message.startswith("Shutting down: "):
                app["diagnostics"], shutdown_at = r.message[len("Shutting down: "):], r.time
            elif (m := re.match(r"Unregistering application with status (\w+)", r.message)):
                app["status"], app["source"] = m[1], "application master"
    return app, skein_ids, ends, shutdown_at


def _lost_worker(r: Record, where: dict) -> dict:
    """A ``worker_lost`` event as a dead worker; its reason quotes YARN's diagnostics when it has them."""
    f = r.event_fields
    reason = str(f.get("reason", ""))
    kind = next((k for k, pattern in DEATH_PATTERNS if k != "killed" and pattern.search(reason)), "killed")
    region = clean_field(f.get("region", r.fields.get("region")))
    detail = f"region {region}: KilledWorker after {f.get('tries', '?')} worker deaths, last {f.get('worker', '?')}"
    detail += f": {reason}" if reason else ""
    return {"kind": kind, "detail": detail[:300], **where, "regions_in_flight": [region]}


def summarize(files: list[LogFile], app_id: str = "", region: str | None = None, slowest: int = 5) -> dict:
    """What the logs say: the application's outcome, containers, failed
    regions, dead workers and the slowest regions (and, with ``region``,
    every line and traceback about that region).

    Parameters
    ----------
    files : list of LogFile
        From :func:`parse_aggregated` or :func:`read_directory`.
    app_id : str
        The application id, when known (else taken from the lines).
    region : str, optional
        Also collect everything tagged with this region.
    slowest : int
        How many of the slowest regions to list.

    Failed regions come from our task events and from Dask's ``Compute
    Failed`` records (logs we did not write); ``unknown_lines`` counts the
    lines read in no known way (per container too).
    """
    by_container: dict[str, list[LogFile]] = {}
    for f in files:
        by_container.setdefault(f.container, []).append(f)
    recs = {c: [r for f in fs for r in records(f)] for c, fs in by_container.items()}
    app, skein_ids, ends, shutdown_at = _application(recs, app_id)
    if not app["id"]:
        # YARN's container ids name their application: container_[e<epoch>_]<cluster>_<app>_<attempt>_<n>.
        apps = {f"application_{m[1]}_{m[2]}" for c in recs for m in [_CONTAINER_RE.match(c)] if m}
        app["id"] = apps.pop() if len(apps) == 1 else ""
    tally, dead, containers, theirs = TaskTally(), [], [], []
    for c in sorted(recs):
        rs = recs[c]
        skein_id = skein_ids.get(c, "")
        service = _service(by_container[c], rs, skein_id)
        state = ends.get(skein_id)
        exit_status = f"{state[0]}: {state[1]}" if state else "-"
        # YARN's exit codes, not the words of our events, nor the ends the
        # application master reports of other containers (counted under those).
        codes = [m[1] for r in rs if not r.event and not _is_end(r)
                 for line in [r.message, *r.more] for m in [foreign.EXIT_RE.search(line)] if m]
        codes += [m[1] for line in state[3].splitlines() for m in [foreign.EXIT_RE.search(line)] if m] if state else []
        if codes:
            exit_status = f"exit code {codes[-1]}" if exit_status == "-" else f"{exit_status} (exit code {codes[-1]})"
        containers.append({"container": c, "host": by_container[c][0].host, "service": service, "skein_id": skein_id,
                           "files": [f.name for f in by_container[c]], "records": len(rs),
                           "errors": sum(r.level in ("ERROR", "CRITICAL") for r in rs), "exit": exit_status,
                           "unknown_lines": sum(r.unknown for r in rs)})
        first_dead = len(dead)
        for r in rs:
            where = {"container": c, "service": service, "time": r.time}
            if r.event:
                # Ours: read by the fields, never the words.
                tally.add(r.line, r.more, where)
                if r.event == "worker_lost":
                    dead.append(_lost_worker(r, where))
                continue
            if _is_end(r):
                continue  # a container's end: told below, under that container
            failure = foreign.compute_failed(r.message, r.more)
            if failure:  # Dask's own record of a task that raised
                theirs.append({**failure, **where})
                continue
            for line in [r.message, *r.more]:
                for kind, pattern in DEATH_PATTERNS:
                    if pattern.search(line):
                        # The scheduler's "Task <key> marked as failed ...": the key's region.
                        named = foreign.region_named(line) if kind == "killed" else None
                        dead.append({"kind": kind, "detail": line.strip()[:300], **where,
                                     **({"regions_in_flight": [named]} if named else {})})
                        break
        end = _ended_mid_run(skein_id, state, shutdown_at, c, service) if state else None
        dead += [end] if end else []
        for d in dead[first_dead:]:
            # Tasks it started and never ended: what was running when it died.
            d.setdefault("regions_in_flight", tally.in_flight(c))
    # Ends the application master saw of containers that left no log (killed before they wrote one).
    for skein_id, state in ends.items():
        c = next((c for c, s in skein_ids.items() if s == skein_id), skein_id)
        end = None if c in recs else _ended_mid_run(skein_id, state, shutdown_at, c, skein_id.rsplit("_", 1)[0])
        dead += [{**end, "regions_in_flight": []}] if end else []
    failed = _merge_failures(tally, theirs)
    if app["source"] == "inferred":
        crashed = any(c["errors"] for c in containers if c["service"] == "dask.scheduler")
        app["status"] = "FAILED" if crashed else ("SUCCEEDED" if tally.counts["ok"] or failed else "UNKNOWN")
        app["diagnostics"] = app["diagnostics"] or "no application master log: inferred from the containers' lines"
    runs = {r.fields["run"] for rs in recs.values() for r in rs if r.fields.get("run", "-") != "-"}
    runs |= {f["run"] for f in failed if f["run"] != "-"}
    tasks = {**tally.counts, "failed": tally.counts["failed"] + sum(f in theirs for f in failed)}
    summary = {"application": app, "runs": sorted(runs), "tasks": tasks, "containers": containers,
               "failed_regions": failed, "dead_workers": dead, "slowest": tally.slowest(slowest),
               "unknown_lines": sum(c["unknown_lines"] for c in containers)}
    if region is not None:
        summary["region"] = _region_view(recs, clean_field(region), failed)
    return summary


def _ended_mid_run(skein_id: str, state: tuple, shutdown_at: str, container: str, service: str) -> dict | None:
    """A worker container that FAILED died; one KILLED before the application
    shut down was stopped mid-run (at shutdown skein kills every container).
    YARN's diagnostics, as the application master keeps them, may say why."""
    if not service.startswith("dask.worker") or not (
            state[0] == "FAILED" or (state[0] == "KILLED" and (not shutdown_at or state[2] < shutdown_at))):
        return None
    kind = next((k for k, pattern in DEATH_PATTERNS if pattern.search(state[3])), "container " + state[0].lower())
    return {"kind": kind, "detail": f"{skein_id}: {state[1]}", "container": container, "service": service,
            "time": state[2]}


def _is_end(r: Record) -> bool:
    """The application master's line that a container ended (and YARN's diagnostics after it)."""
    return r.file == "application.master.log" and bool(_AM_END_RE.match(r.message))


def _merge_failures(tally: TaskTally, theirs: list[dict]) -> list[dict]:
    """Our failed tasks, and those only Dask's ``Compute Failed`` records tell of."""
    ours = tally.failures()
    told = {f["task"] for f in ours}
    return sorted([*ours, *(f for f in theirs if f["task"] not in told)], key=lambda f: (f["region"], f["task"]))


def summarize_source(source: str, region: str | None = None) -> dict:
    """:func:`summarize` of what ``forecasting logs SOURCE`` names (see :func:`~deploy.yarn.aggregated.read_source`)."""
    app_id, files = read_source(source)
    return summarize(files, app_id=app_id, region=region)


def _region_view(recs: dict, region: str, failed: list[dict]) -> dict:
    lines = []
    named = re.compile(rf"(?<!\w){re.escape(region)}(?!\w)")
    for rs in recs.values():
        for r in rs:
            # Ours by their region field; any record where it is named, on
            # its first line or after (a Compute Failed record's key, a traceback).
            if r.fields.get("region") == region or any(named.search(x) for x in [r.message, *r.more]):
                lines.append({"container": r.container, "time": r.time, "level": r.level, "logger": r.logger,
                              "message": r.message, "more": r.more, "event": r.event, "fields": r.event_fields})
    lines.sort(key=lambda x: x["time"])
    return {"name": region, "lines": lines, "failures": [f for f in failed if f["region"] == region]}
