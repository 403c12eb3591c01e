"""Other people's records in a YARN application's logs: Dask's and YARN's words.

Containers whose logging we never set up (a crash before set-up, a cluster
started by hand, an older release) write distributed's default format
(``time - logger - LEVEL - message``), and YARN reports how it ended a
container in Hadoop's words.  :func:`compute_failed` reads distributed's
multi-line ``Compute Failed`` record, :func:`task_ids` the run and region
in our task keys, :data:`DEATH_PATTERNS` the lines that say a worker died,
and :func:`is_continuation` which lines without a record prefix belong to
the record before them (the others are counted as unknown).

Pure functions of text; :mod:`deploy.yarn.logs` uses them.
"""

from __future__ import annotations

import ast
import re

from forecasting.logs.reader import traceback_tail

__all__ = ["DEATH_PATTERNS", "EXIT_RE", "compute_failed", "is_continuation", "region_named", "task_ids"]

# YARN's diagnostics: "Exit code is 137" (the executor), "exitCode: 143",
# "Container exited with a non-zero exit code 143." (the launch); not the
# Nanny's "Worker process ... exited with status", which is the worker process's.
EXIT_RE = re.compile(r"(?:Exit code is|exitCode:|non-zero exit code) ?(-?\d+)")
#: (kind, pattern): a worker died or was killed, and why, in Dask's and YARN's words.
DEATH_PATTERNS = (
    ("memory", re.compile(r"exceeded \d+% memory budget")),
    # Hadoop 3: "is running 155189248B beyond the 'PHYSICAL' memory limit"; Hadoop 2:
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

# Our task keys (forecasting.runs.tasks): forecast-<run id>-<region>, where a
# run id is <date>[-<HHMMSS>-<hex>]; backtest-<id>-<region>-<model label>-<cutoff>.
_FORECAST_KEY = re.compile(r"^forecast-(?P<run>\d{4}-\d\d-\d\d(?:-\d{6}-[0-9a-f]+)?)-(?P<region>.+)$")
_ANY_FORECAST_KEY = re.compile(r"^forecast-(?P<run>.+)-(?P<region>[^-]+)$")
_BACKTEST_KEY = re.compile(
    r"^backtest-(?P<run>bt-[0-9a-f]+)-(?P<region>.+?)-(?P<model>[A-Za-z_]\w*(?:[\[(].*)?)-\d{4}-\d\d-\d\d$")
# A region in words: our errors' "region 'r003': ...", "region r003", "region=r003".
_REGION_WORDS = re.compile(r"\bregion[= ]'?(?P<region>[^\s',:]+)")
_MARKED_FAILED = re.compile(r"Task (?P<key>\S+) marked as failed because \d+ workers died")
# distributed's Compute Failed fields: "Key:", "State:", "Task:", "Exception:",
# "Traceback:" (and older releases' "Function:", "args:", "kwargs:").
_FIELD_RE = re.compile(r"^(?P<name>Key|State|Task|Function|args|kwargs|Exception|Traceback):\s*(?P<value>.*)$")
_EXCEPTION_RE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)\((?P<args>.*)\)$", re.DOTALL)
_TRACEBACK_LINES = ("Traceback (most recent call last)", "The above exception was", "During handling of the above")
# Hadoop's diagnostics around a kill: its time stamps, the process-tree dump.
_HADOOP_RE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]|^Dump of the process-tree for |^Killed by external signal")
# Python's warnings on standard error: "/path/file.py:254: UserWarning: ...".
_WARNING_RE = re.compile(r"^\S+\.py:\d+: \w*Warning: ")


def _key_text(key) -> str:
    # Tuple keys print as "('name', 0)"; ours are plain strings.
    return str(key).strip().strip("'\"")


def task_ids(key) -> dict:
    """Run id, region and model named by one of our task keys; ``{}`` for other keys."""
    key = _key_text(key)
    m = _FORECAST_KEY.match(key) or _ANY_FORECAST_KEY.match(key)
    if m:
        return {"run": m["run"], "region": m["region"], "model": "-"}
    m = _BACKTEST_KEY.match(key)
    if m:
        return {"run": m["run"], "region": m["region"], "model": m["model"]}
    return {}


def region_named(text: str) -> str | None:
    """The region a line names: in a task key it quotes (Dask's lines), else in words; None if none."""
    m = _MARKED_FAILED.search(text)
    if m and task_ids(m["key"]):
        return task_ids(m["key"])["region"]
    m = _REGION_WORDS.search(text)
    return m["region"] if m else None


def _literal(value: str) -> str:
    # distributed writes the exception's and the traceback's text with %r.
    if value[:1] in ("'", '"'):
        try:
            return str(ast.literal_eval(value))
        except (ValueError, SyntaxError):
            pass
    return value


def _exception(text: str) -> tuple[str, str]:
    """``RegionDataError("region 'r003': ...")`` as ``("RegionDataError", "region 'r003': ...")``."""
    m = _EXCEPTION_RE.match(text.strip())
    if not m:
        return "-", text.strip()
    try:
        args = ast.literal_eval(f"({m['args']},)") if m["args"].strip() else ()
    except (ValueError, SyntaxError):
        return m["type"].rsplit(".", 1)[-1], m["args"]
    message = args[0] if len(args) == 1 and isinstance(args[0], str) else ", ".join(map(repr, args))
    return m["type"].rsplit(".", 1)[-1], message


def compute_failed(message: str, more: list[str]) -> dict | None:
    """distributed's ``Compute Failed`` record (its first line's message and
    the lines after it) as a failed task: region, model, task (the key),
    run, error_type, message and the traceback's last frames; None for any
    other record.  The region and run come from the key when it is one of
    ours, else the region from the exception's message (``-`` if neither)."""
    if message.strip() != "Compute Failed":
        return None
    fields = {}
    for line in more:
        m = _FIELD_RE.match(line)
        if m and m["name"] not in fields:
            fields[m["name"]] = m["value"]
    key = _key_text(fields.get("Key", "-"))
    error_type, text = _exception(_literal(fields.get("Exception", "")))
    frames = _literal(fields.get("Traceback", "")).splitlines()
    tb = traceback_tail(["Traceback (most recent call last):", *frames, f"{error_type}: {text}"]) if frames else []
    ids = task_ids(key)
    return {"region": ids.get("region") or region_named(text) or "-", "model": ids.get("model", "-"), "task": key,
            "run": ids.get("run", "-"), "error_type": error_type, "message": text, "traceback": tb}


def is_continuation(line: str, previous: list[str]) -> bool:
    """Does ``line`` (which starts no record) belong to the record whose
    continuation lines so far are ``previous``?  Tracebacks, indented text,
    a Compute Failed record's fields and YARN's diagnostics do; any other
    line is unknown (counted, kept with the record before it)."""
    if not line.strip() or line[0].isspace() or line.startswith(_TRACEBACK_LINES):
        return True
    if _FIELD_RE.match(line) or _HADOOP_RE.match(line) or _WARNING_RE.match(line) or EXIT_RE.search(line):
        return True
    if any(pattern.search(line) for _, pattern in DEATH_PATTERNS):
        return True
    # A traceback's exception line ends it: the last frame's lines are indented.
    inside = [x for x in previous if x.strip()]
    return bool(inside) and inside[-1][:1].isspace() and any(x.startswith(_TRACEBACK_LINES) for x in previous)
