"""The text of ``forecasting logs``: :func:`format_summary` of a :func:`deploy.yarn.logs.summarize` summary."""

from __future__ import annotations

import re

__all__ = ["format_summary"]


def _short(line: str) -> str:
    # Container paths are long and say nothing: keep the package's own.
    return re.sub(r'File "[^"]*/(?:site|dist)-packages/', 'File ".../', line)


def format_summary(summary: dict) -> str:
    """The summary as text for a terminal."""
    app, tasks = summary["application"], summary["tasks"]
    what = f"application {app['id']}" if app["id"] else "logs (no YARN application id)"
    out = [f"{what}: {app['status']} ({app['source']})" + (f": {app['diagnostics']}" if app["diagnostics"] else ""),
           f"  runs: {', '.join(summary['runs']) or '-'}",
           f"  tasks: {tasks['ok']} ok, {tasks['failed']} failed, {tasks['transient']} transient errors (retried)",
           # Lines in no format we know that continue no record: read around, never fatal.
           f"  unknown lines: {summary.get('unknown_lines', 0)}", "",
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
