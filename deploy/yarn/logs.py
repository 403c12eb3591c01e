"""Read a YARN application's logs back: what failed, where, and why.

The input is what ``yarn logs -applicationId <id>`` prints (Hadoop 2 or 3
layout, see :func:`parse_aggregated`) or the per-container log folders a
NodeManager (or the test stand-in) writes (:func:`read_directory`).  Lines
in the project's format (:data:`forecasting.logs.records.LINE_RE`) are split into
their fields; Dask's and skein's own lines are read for worker deaths and
the application's outcome.  :func:`summarize` builds a plain dictionary
(``forecasting logs --json`` prints it), :func:`format_summary` the text.

Pure functions: no YARN, Dask or skein needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from forecasting.errors import UsageError
from forecasting.logs.records import LINE_RE
from forecasting.logs.records import field as clean_field

APP_ID_RE = re.compile(r"^application_\d+_\d+$")
_HEADER_RE = re.compile(r"^Container: (?P<container>container_\S+) on (?P<host>\S+)\s*$")
_META = ("LogLength:", "Log Upload Time:", "LogLastModifiedTime:", "LogAggregationType:")
_CONTENTS = ("LogContents:", "Log Contents:")
# Lines that start a record in some other format: Dask's default
# ("time - logger - LEVEL - msg"), log4j's / the stand-in AM's ("time LEVEL logger: msg").
_DASK_RE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (?P<logger>\S+) - (?P<level>[A-Z]+) - (?P<message>.*)$")
_LOG4J_RE = re.compile(
    r"^(?P<time>(?:\d{4}-\d\d-\d\d|\d\d/\d\d/\d\d) \d\d:\d\d:\d\d(?:,\d{3})?) (?P<level>[A-Z]+) (?P<logger>\S+?): (?P<message>.*)$"
)
_TASK_END_RE = re.compile(r"^task end: (?:ok in (?P<ok>[\d.]+)s(?:, model (?P<chosen>\S+))?|failed after (?P<failed>[\d.]+)s: (?P<error>[\w.]+): ?(?P<msg>.*)"
                          r"|transient error after (?P<transient>[\d.]+)s, may be retried: (?P<terror>[\w.]+): ?(?P<tmsg>.*))$")
_DRIVER_FAIL_RE = re.compile(r"^region (?P<region>\S+) failed: (?P<error>[\w.]+): ?(?P<msg>.*)$")
_AM_RUNNING_RE = re.compile(r"^RUNNING: (?P<skein>\S+) on (?P<container>container_\S+)")
_AM_END_RE = re.compile(r"^(?P<state>SUCCEEDED|FAILED|KILLED): (?P<skein>\S+) - (?P<msg>.*)$")
# YARN's diagnostics ("Exit code is 137", "exitCode: 143"); not the Nanny's
# "Worker process ... exited with status", which is the worker process's.
_EXIT_RE = re.compile(r"(?:Exit code is|exitCode:) ?(-?\d+)")
_FRAME_RE = re.compile(r'^\s+File "')
#: (kind, pattern): a worker died or was killed, and why.
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


@dataclass
class LogFile:
    """One log file of one container."""

    container: str
    name: str
    text: str
    host: str = ""


@dataclass
class Record:
    """A log record: its first line's fields, plus continuation lines (tracebacks)."""

    container: str
    file: str
    time: str = ""
    level: str = ""
    logger: str = ""
    message: str = ""
    fields: dict = field(default_factory=dict)
    more: list = field(default_factory=list)

    def text(self) -> str:
        return "\n".join([self.message, *self.more])


def _block_start(lines: list[str], j: int) -> bool:
    """Does a new container or log-file block start at line ``j``?"""
    line = lines[j]
    if _HEADER_RE.match(line):
        return j + 1 < len(lines) and lines[j + 1].startswith(("=", "LogAggregationType:", "LogType:"))
    return line.startswith("LogType:") and any(x.startswith(_META + _CONTENTS) for x in lines[j + 1:j + 4])


def parse_aggregated(text: str) -> list[LogFile]:
    """Split the output of ``yarn logs -applicationId <id>`` into log files.

    Both layouts: Hadoop 3 (a ``Container: <id> on <host>`` header before
    every file, ``LogAggregationType``, ``LogLastModifiedTime``,
    ``LogContents:``) and Hadoop 2 (one header per container, ``Log Upload
    Time``, ``Log Contents:``).  A file ends at its ``End of LogType:`` line
    when there is one, else after ``LogLength`` bytes when that fits, else
    where the next block starts.  Files of the same container and name
    (logs aggregated more than once) are joined.

    Raises
    ------
    UsageError
        Nothing in the text looks like aggregated YARN logs.
    """
    lines = text.splitlines()
    files: dict[tuple[str, str], LogFile] = {}
    container, host, i, n = None, "", 0, len(lines)
    while i < n:
        header = _HEADER_RE.match(lines[i])
        if header:
            container, host = header["container"], header["host"]
            i += 1
            continue
        if not (container and lines[i].startswith("LogType:")):
            i += 1  # rules, blank lines, the yarn client's own chatter
            continue
        name = lines[i][len("LogType:"):].strip()
        length, i = None, i + 1
        while i < n and not lines[i].startswith(_CONTENTS) and not _block_start(lines, i):
            if lines[i].startswith("LogLength:") and lines[i][10:].strip().isdigit():
                length = int(lines[i][10:].strip())
            i += 1
        body: list[str] = []
        if i < n and lines[i].startswith(_CONTENTS):
            i += 1
            body, i = _contents(lines, i, name, length)
        key = (container, name)
        if key in files:
            files[key].text += "\n" + "\n".join(body)
        else:
            files[key] = LogFile(container, name, "\n".join(body), host)
    if not files:
        raise UsageError("no 'Container: <id> on <host>' / 'LogType:' blocks: is this the output of "
                         "'yarn logs -applicationId <id>'?")
    return list(files.values())


def _contents(lines: list[str], i: int, name: str, length: int | None) -> tuple[list[str], int]:
    """A file's lines from ``i``, and where the next block starts."""
    marker = "End of LogType:" + name
    j = i
    while j < len(lines) and not _block_start(lines, j):
        pos = lines[j].find(marker)
        if pos >= 0 and lines[j][pos + len(marker):pos + len(marker) + 1] in ("", ".", " "):
            body = lines[i:j] + ([lines[j][:pos]] if pos else [])
            if body and body[-1] == "" and not pos:
                body.pop()  # Hadoop 3 writes "\nEnd of LogType": one blank line of its own
            return body, j + 1
        j += 1
    body = lines[i:j]
    raw = "\n".join(body).encode()
    if length is not None and length <= len(raw) + 1:
        body = raw[:length].decode("utf-8", "replace").splitlines()
    while body and (not body[-1].strip() or set(body[-1].strip()) == {"*"}):
        body.pop()
    return body, j


def read_directory(path) -> tuple[str, list[LogFile]]:
    """Read per-container logs: ``<app id>/<container id>/<file>``, or a
    local run's log folder (``driver/``, ``worker-<n>/``).

    ``path`` is such an application folder, a folder holding exactly one
    (the NodeManager's log folder, the stand-in's ``log_root``), or one
    container's folder.  Returns the application id (or ``""``) and the files.
    """
    path = Path(path)
    apps = sorted(p for p in path.iterdir() if p.is_dir() and APP_ID_RE.match(p.name))
    if len(apps) > 1:
        raise UsageError(f"{path} holds {len(apps)} applications ({', '.join(a.name for a in apps)}): give one of their folders")
    if apps:
        path = apps[0]
    if path.name.startswith("container_"):
        containers, app_id = [path], ""
    else:
        containers = sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith("container_"))
        app_id = path.name if APP_ID_RE.match(path.name) else ""
    if not containers and not app_id:
        # A local run's log folder: driver/, worker-0/, worker-1/, ...
        containers = sorted(p for p in path.iterdir() if p.is_dir())
    files = [LogFile(c.name, f.name, f.read_text(encoding="utf-8", errors="replace"))
             for c in containers for f in sorted(c.iterdir()) if f.is_file()]
    if not files:
        raise UsageError(f"{path}: no container log files (expected <application id>/<container id>/<file>)")
    return app_id, files


def records(log: LogFile) -> list[Record]:
    """The records of one log file; lines that start no record continue the previous one."""
    out: list[Record] = []
    for line in log.text.splitlines():
        m = LINE_RE.match(line)
        if m:
            fields = {k: m[k] for k in ("run", "app", "container", "region", "model", "task")}
            out.append(Record(log.container, log.name, m["time"], m["level"], m["logger"], m["message"], fields))
            continue
        m = _DASK_RE.match(line) or _LOG4J_RE.match(line)
        if m:
            out.append(Record(log.container, log.name, m["time"], m["level"], m["logger"], m["message"]))
        elif out:
            out[-1].more.append(line)
        elif line.strip():
            out.append(Record(log.container, log.name, message=line))
    return out


def traceback_tail(lines: list[str], frames: int = 3) -> list[str]:
    """The last ``frames`` frames of the last traceback in ``lines``, and its exception line."""
    starts = [k for k, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return []
    tb = [line for line in lines[starts[-1]:] if line.strip() and not set(line.strip()) <= {"^", "~"}]
    frame_at = [k for k, line in enumerate(tb) if _FRAME_RE.match(line)]
    keep = frame_at[-frames:] if frame_at else [1]
    return tb[keep[0]:]


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
    loggers = {r.logger for r in recs}
    if loggers & {"deploy.yarn.scheduler", "distributed.scheduler"}:
        return "dask.scheduler"
    if loggers & {"deploy.yarn.worker", "distributed.nanny", "distributed.worker", "forecasting.runs.tasks"}:
        return "dask.worker"
    return "-"


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
    skein_ids, ends, app = {}, {}, {"id": app_id, "status": "UNKNOWN", "diagnostics": "", "source": "inferred"}
    shutdown_at = ""
    for c, rs in recs.items():
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
    failed, dead, durations, tasks = [], [], [], {"ok": 0, "failed": 0, "transient": 0}
    containers = []
    for c in sorted(recs):
        rs, running = recs[c], {}
        skein_id = skein_ids.get(c, "")
        service = _service(by_container[c], rs, skein_id)
        state = ends.get(skein_id)
        exit_status = f"{state[0]}: {state[1]}" if state else "-"
        codes = [m[1] for r in rs for line in [r.message, *r.more] for m in [_EXIT_RE.search(line)] if m]
        codes += [m[1] for m in [_EXIT_RE.search(state[1])] if m] if state else []
        if codes:
            exit_status = f"exit code {codes[-1]}" if exit_status == "-" else f"{exit_status} (exit code {codes[-1]})"
        containers.append({"container": c, "host": by_container[c][0].host, "service": service, "skein_id": skein_id,
                           "files": [f.name for f in by_container[c]], "records": len(rs),
                           "errors": sum(r.level in ("ERROR", "CRITICAL") for r in rs), "exit": exit_status})
        for r in rs:
            where = {"container": c, "service": service, "time": r.time}
            f = r.fields
            m = _TASK_END_RE.match(r.message) if f else None
            if f and r.message == "task start":
                running[f["task"]] = f["region"]
            elif m:
                running.pop(f["task"], None)
            if m and m["ok"]:
                tasks["ok"] += 1
                durations.append({"region": f["region"], "model": m["chosen"] or f["model"], "task": f["task"],
                                  "seconds": float(m["ok"]), "outcome": "ok", **where})
            elif m and m["failed"]:
                tasks["failed"] += 1
                durations.append({"region": f["region"], "model": f["model"], "task": f["task"],
                                  "seconds": float(m["failed"]), "outcome": "failed", **where})
                failed.append({"region": f["region"], "model": f["model"], "task": f["task"], "run": f["run"],
                               "error_type": m["error"].rsplit(".", 1)[-1], "message": m["msg"],
                               "traceback": traceback_tail(r.more), **where})
            elif m and m["transient"]:
                tasks["transient"] += 1
            elif (d := _DRIVER_FAIL_RE.match(r.message)) and r.logger == "forecasting.runs.nightly":
                failed.append({"region": d["region"], "model": "-", "task": "-", "run": f.get("run", "-"),
                               "error_type": d["error"].rsplit(".", 1)[-1], "message": d["msg"], "traceback": [],
                               **where})
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
        for d in dead:
            if d["container"] == c:
                # Tasks it started and never ended: what was running when it died.
                d["regions_in_flight"] = sorted(set(running.values()))
    failed = _dedupe_failures(failed)
    if app["source"] == "inferred":
        crashed = any(c["errors"] for c in containers if c["service"] == "dask.scheduler")
        app["status"] = "FAILED" if crashed else ("SUCCEEDED" if tasks["ok"] or failed else "UNKNOWN")
        app["diagnostics"] = app["diagnostics"] or "no application master log: inferred from the containers' lines"
    runs = sorted({r.fields["run"] for rs in recs.values() for r in rs if r.fields.get("run", "-") != "-"})
    summary = {"application": app, "runs": runs, "tasks": tasks, "containers": containers, "failed_regions": failed,
               "dead_workers": dead, "slowest": _slowest(durations, slowest)}
    if region is not None:
        summary["region"] = _region_view(recs, clean_field(region), failed)
    return summary


def _slowest(durations: list[dict], n: int) -> list[dict]:
    """The ``n`` slowest regions, each with its longest attempt."""
    longest: dict[str, dict] = {}
    for d in durations:
        if d["seconds"] > longest.get(d["region"], {"seconds": -1.0})["seconds"]:
            longest[d["region"]] = d
    return sorted(longest.values(), key=lambda d: -d["seconds"])[:n]


def _dedupe_failures(failed: list[dict]) -> list[dict]:
    """One entry per failed task; the driver's one-line report of a region
    only where no worker's line (with its traceback) tells more."""
    tasks = {(f["region"], f["task"]): f for f in failed if f["task"] != "-"}
    seen = {region for region, _ in tasks}
    driver = {f["region"]: f for f in failed if f["task"] == "-" and f["region"] not in seen}
    return sorted([*tasks.values(), *driver.values()], key=lambda f: (f["region"], f["task"]))


def _region_view(recs: dict, region: str, failed: list[dict]) -> dict:
    lines = []
    for rs in recs.values():
        for r in rs:
            if r.fields.get("region") == region or (not r.fields and re.search(rf"\b{re.escape(region)}\b", r.message)):
                lines.append({"container": r.container, "time": r.time, "level": r.level, "logger": r.logger,
                              "message": r.message, "more": r.more})
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
