"""YARN's log layouts: ``yarn logs -applicationId`` output and NodeManager log folders.

:func:`parse_aggregated` splits what ``yarn logs`` prints (Hadoop 2 or 3)
into one :class:`LogFile` per container and file, :func:`read_directory`
reads the same from per-container folders (or a local run's log folder),
:func:`yarn_logs` runs ``yarn logs`` and :func:`read_source` picks one of
them for a ``forecasting logs SOURCE`` argument.  The text is Hadoop's: the
regular expressions here read Hadoop's layout, never our records.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from forecasting.errors import ClusterError, UsageError

APP_ID_RE = re.compile(r"^application_\d+_\d+$")
_HEADER_RE = re.compile(r"^Container: (?P<container>container_\S+) on (?P<host>\S+)\s*$")
_META = ("LogLength:", "Log Upload Time:", "LogLastModifiedTime:", "LogAggregationType:")
_CONTENTS = ("LogContents:", "Log Contents:")


@dataclass
class LogFile:
    """One log file of one container."""

    container: str
    name: str
    text: str
    host: str = ""


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


def yarn_logs(app_id: str) -> str:
    """What ``yarn logs -applicationId app_id`` prints (the aggregated logs of a finished application).

    Raises
    ------
    ClusterError
        No ``yarn`` command, or it failed.
    """
    try:
        proc = subprocess.run(["yarn", "logs", "-applicationId", app_id], capture_output=True, text=True, errors="replace")
    except FileNotFoundError:
        raise ClusterError("logs: no 'yarn' command on PATH: run this on a node of the cluster, "
                           "or save 'yarn logs -applicationId ID' to a file and pass that") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ClusterError(f"logs: 'yarn logs -applicationId {app_id}' failed (exit {proc.returncode}): {last}")
    return proc.stdout


def read_source(source: str) -> tuple[str, list[LogFile]]:
    """The log files ``forecasting logs SOURCE`` means, and the application id when known.

    ``source``: ``-`` (``yarn logs`` output on standard input), an
    application id (runs ``yarn logs``), a per-container log folder, or a
    file holding ``yarn logs`` output.

    Raises
    ------
    UsageError
        ``source`` is none of these, or holds no logs (the message names it).
    ClusterError
        ``yarn logs`` could not be run.
    """
    try:
        if source == "-":
            return "", parse_aggregated(sys.stdin.read())
        if APP_ID_RE.match(source) and not Path(source).exists():
            return source, parse_aggregated(yarn_logs(source))
        if Path(source).is_dir():
            return read_directory(source)
        if Path(source).is_file():
            return "", parse_aggregated(Path(source).read_text(encoding="utf-8", errors="replace"))
        raise UsageError("not a file, a folder, '-' or an application id (application_<digits>_<digits>)")
    except UsageError as exc:
        raise UsageError(f"logs: {'standard input' if source == '-' else source}: {exc}") from None
