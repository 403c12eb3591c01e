"""Start-up milestones of a command, for ``python -m bench command``; off unless asked for.

With ``FORECASTING_TIMELINE=FILE`` in the environment, :func:`mark` appends
one line ``<unix time> <pid> <name>`` to ``FILE`` in every process that
calls it (the command, and the local workers it starts, which inherit the
environment); without it :func:`mark` does nothing but read the
environment.  The benchmark puts these next to the time it started the
command and the workers' own ``task start``/``task end`` log lines.

Milestones: ``cli_start`` (``forecasting.cli.main.main`` entered: the
interpreter is up and the console script imported), ``cli_parsed`` (the
command line parsed: every command module, plug-in and back end
imported), ``planned`` (the run's inputs checked and the cache's regions
read), ``cluster_started`` (a local cluster's scheduler and workers up),
``cluster_ready`` (the command holds a connected executor),
``worker_start`` and ``worker_preloaded`` (in each worker:
``deploy.preload``).
"""

from __future__ import annotations

import os
import time

TIMELINE_ENV = "FORECASTING_TIMELINE"


def mark(name: str) -> None:
    """Append ``name`` with the time and this process's id to the timeline file, if one is asked for."""
    path = os.environ.get(TIMELINE_ENV)
    if not path:
        return
    line = f"{time.time():.6f} {os.getpid()} {name}\n".encode()
    try:
        # One write of a short line in append mode: lines of several processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:  # timing is a bonus: it never fails a command
        pass


def read_timeline(path) -> list[tuple[float, int, str]]:
    """The ``(time, pid, name)`` lines of a timeline file, in file order (none if it is missing).

    Parameters
    ----------
    path : path-like
        The file ``FORECASTING_TIMELINE`` named.
    """
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.append((float(parts[0]), int(parts[1]), parts[2]))
    return out
