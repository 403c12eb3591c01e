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

Pure functions apart from running ``yarn logs``: no YARN, Dask or skein needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deploy.yarn.aggregated import LogFile, read_source
from forecasting.logs.reader import TaskTally, parse_line
from forecasting.logs.records import field as clean_field

__all__ = ["DEATH_PATTERNS", "Record", "format_summary", "records", "summarize", "summarize_source"]

# Lines that start a record in some other format: Dask's default
# ("time - logger - LEVEL - msg"), log4j's / skein's AM's ("time LEVEL logger: msg").
_DASK_RE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (?P<logger>\S+) - (?P<level>[A-Z]+) - (?P<message>.*)$")
_LOG4J_RE = re.compile(
    r"^(?P<time>(?:\d{4}-\d\d-\d\d|\d\d/\d\d/\d\d) \d\d:\d\d:\d\d(?:,\d{3})?) (?P<level>[A-Z]+) (?P<logger>\S+?): (?P<message>.*)$"
)
_AM_RUNNING_RE = re.compile(r"^RUNNING: (?P<skein>\S+) on (?P<container>container_\S+)")
_AM_END_RE = re.compile(r"^(?P<state>SUCCEEDED|FAILED|KILLED): (?P<skein>\S+) - (?P<msg>.*)$")
# YARN's diagnostics ("Exit code is 137", "exitCode: 143"); not the Nanny's
# "Worker process ... exited with status", which is the worker process's.
_EXIT_RE = re.compile(r"(?:Exit code is|exitCode:) ?(-?\d+)")
#: (kind, pattern): a worker died or was killed, and why, in Dask's and YARN's words.
DEATH_PATTERNS = (
    ("memory", re.compile(r"exceeded \d+% memory budget")),
    # Hadoop 3: "is running 155MB beyond the 'PHYSICAL' memory limit"; Hadoop 2:
    # "running beyond physical memory limits"; skein's application master
    # keeps only "1.1 GB of 1 GB physical memory used".
    ("memory", re.compile(r"running (?:[\d.]+ ?[KMGT]?B )?(?:beyond|over) (?:the )?'?(?:physical|virtual)'? memory limits?",
                          re.IGNORECASE)),
    ("memory", re.compile(r"[\d.]+ [KMGT]?B of [\d.]+ [KMGT]?B (?:physical|virtual) memory used")),
    ("preempted", re.compile(r"Container preempted|[Pp]reempted by")),
    ("killed", re.compile(r"Container killed on request\. Exit code is \d+")),
    ("killed", re.compile(r"\bKilledWorker\b|workers died while")),
    ("died", re.compile(r"Worker process \d+ (?:was killed by (?:unknown )?signal ?\d*|exited with status -?\d+)")),
    ("died", re.compile(r"Worker process died unexpectedly")),
    ("restarted", re.compile(r"Restarting worker")),
)
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

    def text(self) -> str:
        return "\n".join([self.message, *self.more])


def records(log: LogFile) -> list[Record]:
    """The records of one log file; lines that start no record continue the previous one."""
    out: list[Record] = []
    for text in log.text.splitlines():
        line = parse_line(text)
        if line is not None:
            out.append(Record(log.container, log.name, line.time, line.level, line.logger, line.message,
                              dict(line.context), event=line.event, event_fields=line.fields, line=line))
            continue
        m = _DASK_RE.match(text) or _LOG4J_RE.match(text)
        if m:
            out.append(Record(log.container, log.name, m["time"], m["level"], m["logger"], m["message"]))
        elif out:
            out[-1].more.append(text)
        elif text.strip():
            out.append(Record(log.container, log.name, message=text))
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
                ends[m["skein"]] = (m["state"], m["msg"], r.time)
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
    """
    by_container: dict[str, list[LogFile]] = {}
    for f in files:
        by_container.setdefault(f.container, []).append(f)
    recs = {c: [r for f in fs for r in records(f)] for c, fs in by_container.items()}
    app, skein_ids, ends, shutdown_at = _application(recs, app_id)
    tally, dead, containers = TaskTally(), [], []
    for c in sorted(recs):
        rs = recs[c]
        skein_id = skein_ids.get(c, "")
        service = _service(by_container[c], rs, skein_id)
        state = ends.get(skein_id)
        exit_status = f"{state[0]}: {state[1]}" if state else "-"
        codes = [m[1] for r in rs if not r.event  # YARN's exit codes, not the words of our events
                 for line in [r.message, *r.more] for m in [_EXIT_RE.search(line)] if m]
        codes += [m[1] for m in [_EXIT_RE.search(state[1])] if m] if state else []
        if codes:
            exit_status = f"exit code {codes[-1]}" if exit_status == "-" else f"{exit_status} (exit code {codes[-1]})"
        containers.append({"container": c, "host": by_container[c][0].host, "service": service, "skein_id": skein_id,
                           "files": [f.name for f in by_container[c]], "records": len(rs),
                           "errors": sum(r.level in ("ERROR", "CRITICAL") for r in rs), "exit": exit_status})
        first_dead = len(dead)
        for r in rs:
            where = {"container": c, "service": service, "time": r.time}
            if r.event:
                # Ours: read by the fields, never the words.
                tally.add(r.line, r.more, where)
                if r.event == "worker_lost":
                    dead.append(_lost_worker(r, where))
                continue
            if r.file == "application.master.log" and _AM_END_RE.match(r.message):
                continue  # a container's end: told below, under that container
            for line in [r.message, *r.more]:
                for kind, pattern in DEATH_PATTERNS:
                    if pattern.search(line):
                        dead.append({"kind": kind, "detail": line.strip()[:300], **where})
                        break
        # A worker container that FAILED died; one KILLED before the
        # application shut down was stopped mid-run (at shutdown skein
        # kills every container).
        if state and service.startswith("dask.worker") and (
                state[0] == "FAILED" or (state[0] == "KILLED" and (not shutdown_at or state[2] < shutdown_at))):
            # Ended before the application did: YARN (or someone) stopped it
            # mid-run; YARN's diagnostics (as skein keeps them) may say why.
            kind = next((k for k, pattern in DEATH_PATTERNS if pattern.search(state[1])), "container " + state[0].lower())
            dead.append({"kind": kind, "detail": f"{skein_id}: {state[1]}", "container": c, "service": service,
                         "time": state[2]})
        for d in dead[first_dead:]:
            # Tasks it started and never ended: what was running when it died.
            d.setdefault("regions_in_flight", tally.in_flight(c))
    failed = tally.failures()
    if app["source"] == "inferred":
        crashed = any(c["errors"] for c in containers if c["service"] == "dask.scheduler")
        app["status"] = "FAILED" if crashed else ("SUCCEEDED" if tally.counts["ok"] or failed else "UNKNOWN")
        app["diagnostics"] = app["diagnostics"] or "no application master log: inferred from the containers' lines"
    runs = sorted({r.fields["run"] for rs in recs.values() for r in rs if r.fields.get("run", "-") != "-"})
    summary = {"application": app, "runs": runs, "tasks": dict(tally.counts), "containers": containers,
               "failed_regions": failed, "dead_workers": dead, "slowest": tally.slowest(slowest)}
    if region is not None:
        summary["region"] = _region_view(recs, clean_field(region), failed)
    return summary


def summarize_source(source: str, region: str | None = None) -> dict:
    """:func:`summarize` of what ``forecasting logs SOURCE`` names (see :func:`~deploy.yarn.aggregated.read_source`)."""
    app_id, files = read_source(source)
    return summarize(files, app_id=app_id, region=region)


def _region_view(recs: dict, region: str, failed: list[dict]) -> dict:
    lines = []
    for rs in recs.values():
        for r in rs:
            # Ours by their region field; Dask's and YARN's lines where they name it.
            if r.fields.get("region") == region or (not r.fields and re.search(rf"\b{re.escape(region)}\b", r.message)):
                lines.append({"container": r.container, "time": r.time, "level": r.level, "logger": r.logger,
                              "message": r.message, "more": r.more, "event": r.event, "fields": r.event_fields})
    lines.sort(key=lambda x: x["time"])
    return {"name": region, "lines": lines, "failures": [f for f in failed if f["region"] == region]}


def _short(line: str) -> str:
    # Container paths are long and say nothing: keep the package's own.
    return re.sub(r'File "[^"]*/(?:site|dist)-packages/', 'File ".../', line)


def format_summary(summary: dict) -> str:
    """The summary as text for a terminal."""
    app, tasks = summary["application"], summary["tasks"]
    what = f"application {app['id']}" if app["id"] else "logs (no YARN application id)"
    out = [f"{what}: {app['status']} ({app['source']})" + (f": {app['diagnostics']}" if app["diagnostics"] else ""),
           f"  runs: {', '.join(summary['runs']) or '-'}",
           f"  tasks: {tasks['ok']} ok, {tasks['failed']} failed, {tasks['transient']} transient errors (retried)", "",
           "containers:"]
    for c in summary["containers"]:
        out.append(f"  {c['container']}  {c['service']:<18} {c['records']:>5} lines  {c['errors']:>3} errors  exit: {c['exit']}")
    out += ["", f"failed regions ({len(summary['failed_regions'])}):"]
    for f in summary["failed_regions"]:
        out.append(f"  {f['region']}  {f['error_type']}: {f['message'][:200]}  [{f['container']} {f['time']}]")
        out += [f"      {_short(line)}" for line in f["traceback"]]
    out += ["", f"workers that died ({len(summary['dead_workers'])}):"]
    for d in summary["dead_workers"]:
        out.append(f"  {d['container']} ({d['service']}) {d['time']}  {d['kind']}: {d['detail'][:200]}")
        if d.get("regions_in_flight"):
            out.append(f"      running then: {', '.join(d['regions_in_flight'])}")
    out += ["", "slowest regions:"]
    for d in summary["slowest"]:
        out.append(f"  {d['region']:<12} {d['seconds']:8.2f}s  {d['outcome']:<7} model {d['model']}  [{d['container']}]")
    if "region" in summary:
        view = summary["region"]
        out += ["", f"region {view['name']}: {len(view['lines'])} lines"]
        for line in view["lines"]:
            out.append(f"  {line['time']} {line['level']} [{line['container']}] {line['logger']}: {line['message']}")
            out += [f"      {x}" for x in line["more"]]
    return "\n".join(out)
