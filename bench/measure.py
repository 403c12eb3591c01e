"""What every comparison measures the same way: wall time, CPU of the process tree, rows.

A *row* is one tool on one workload (a plain dict, so it goes to JSON as is):

``workload``, ``tool``, ``workers``, ``status`` (``ok``, ``skipped`` or
``failed``), ``reason`` (why it was skipped or failed), ``startup_s`` (pool
or cluster start until every worker is ready, median), ``wall_s`` (the
compute alone, with warm workers, median), ``wall_with_startup_s``,
``cpu_util`` (CPU seconds of the whole process tree during the compute /
(wall x cores)), ``speedup`` and ``speedup_with_startup`` (serial wall /
this wall), ``efficiency`` (speed-up / workers) and ``runs`` (every
repeat's numbers).
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager

import psutil

#: Environment variables that cap BLAS/OpenMP pools; set before any worker starts.
BLAS_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def pin_blas_threads() -> None:
    """One BLAS/OpenMP thread in this process and every process it starts from now on."""
    os.environ.update(BLAS_ENV)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # libraries this process has already loaded
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _tree_cpu() -> dict[int, float]:
    """CPU seconds (user + system, with reaped children) of this process and all its descendants."""
    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system + t.children_user + t.children_system
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return out


class Stopwatch:
    """Wall time and process-tree CPU time of a block: ``with Stopwatch() as sw: ...; sw.wall, sw.cpu``."""

    def __enter__(self):
        self._cpu0 = _tree_cpu()
        self._t0 = time.perf_counter()
        self.wall = self.cpu = None
        return self

    def stop(self) -> "Stopwatch":
        """Stop now (before any teardown); later calls and the block's end keep the first reading."""
        if self.wall is None:
            self.wall = time.perf_counter() - self._t0
            after = _tree_cpu()
            # Processes alive at both readings: the difference; started in between: all of it.
            self.cpu = sum(v - self._cpu0.get(pid, 0.0) for pid, v in after.items())
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def util(self) -> float:
        return self.cpu / (self.wall * cores()) if self.wall else float("nan")


@contextmanager
def timed():
    """``with timed() as t: ...`` then ``t()`` is the seconds the block took."""
    t0 = time.perf_counter()
    box = []
    yield lambda: box[0] if box else time.perf_counter() - t0
    box.append(time.perf_counter() - t0)


def run_record(startup_s: float | None, sw: Stopwatch, **extra) -> dict:
    """One repeat's numbers."""
    return {"startup_s": None if startup_s is None else round(startup_s, 4), "wall_s": round(sw.wall, 4),
            "cpu_s": round(sw.cpu, 3), "cpu_util": round(sw.util, 3), **extra}


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def make_row(workload: str, tool: str, workers: int, runs: list[dict], status: str = "ok", reason: str = "",
             **extra) -> dict:
    """Summarise repeats into a row (speed-ups are filled in by :func:`add_speedups`)."""
    row = {"workload": workload, "tool": tool, "workers": workers, "status": status, "reason": reason,
           "startup_s": None, "wall_s": None, "wall_with_startup_s": None, "cpu_util": None,
           "speedup": None, "speedup_with_startup": None, "efficiency": None, "runs": runs, **extra}
    if status == "ok" and runs:
        row["startup_s"] = _round(median_or_none(r["startup_s"] for r in runs))
        row["wall_s"] = _round(statistics.median(r["wall_s"] for r in runs))
        row["wall_with_startup_s"] = _round(statistics.median(r["wall_s"] + (r["startup_s"] or 0.0) for r in runs))
        row["cpu_util"] = round(statistics.median(r["cpu_util"] for r in runs), 3)
    return row


def skipped(workload: str, tool: str, workers: int, reason: str, **extra) -> dict:
    return make_row(workload, tool, workers, [], status="skipped", reason=reason, **extra)


def add_speedups(rows: list[dict], baseline_tool: str = "serial") -> list[dict]:
    """Speed-up over the serial row of the same workload, and parallel efficiency."""
    base = {r["workload"]: r for r in rows if r["tool"] == baseline_tool and r["status"] == "ok"}
    for r in rows:
        b = base.get(r["workload"])
        if r["status"] != "ok" or b is None or not r["wall_s"]:
            continue
        r["speedup"] = round(b["wall_s"] / r["wall_s"], 3)
        r["speedup_with_startup"] = round(b["wall_with_startup_s"] / r["wall_with_startup_s"], 3)
        r["efficiency"] = round(r["speedup"] / max(r["workers"], 1), 3)
    return rows


def _round(x, nd=3):
    return None if x is None else round(x, nd)


def verdict(ok: bool, shortfall: str) -> str:
    """``PASS`` or ``MISSED (by ...)``, as printed and written."""
    return "PASS" if ok else f"MISSED (by {shortfall})"


def rotated(items, turn: int) -> list:
    """``items`` started at position ``turn``: interleaved repeats take turns going first.

    Running tools in a fixed order puts each one behind the same neighbour in
    every repeat (for instance the engine right after PySpark's JVM exits).
    """
    items = list(items)
    k = turn % len(items) if items else 0
    return items[k:] + items[:k]


def wait_until_idle(threshold: float = 10.0, sample_s: float = 0.5, max_wait_s: float = 30.0) -> float:
    """Wait until the machine's CPU use falls below ``threshold`` percent; return the seconds waited.

    Between two measured runs, what the last one left behind (processes
    still exiting, the kernel reclaiming their memory) must not be charged
    to the next.  Gives up after ``max_wait_s``: a machine that never goes
    quiet is measured as it is.
    """
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait_s:
        if psutil.cpu_percent(interval=sample_s) < threshold:
            break
    return time.perf_counter() - t0


def _child(queue, function, args) -> None:
    try:
        queue.put(("ok", function(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent, with what it was measuring
        import traceback

        queue.put(("failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def run_in_child(function, args: tuple, name: str, timeout: float):
    """``function(*args)`` in a fresh (spawned) process, so that its peak memory is its own; its return value.

    ``function`` must be importable by name (module level).  A child that
    raises, dies (out of memory?) or gives nothing within ``timeout``
    seconds is a :class:`RuntimeError` naming ``name``.
    """
    import multiprocessing
    import queue as queue_module

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, function, args), name=name)
    proc.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                status, value = queue.get(timeout=5)
                break
            except queue_module.Empty:
                if not proc.is_alive():  # killed (out of memory?) before it could say why
                    status, value = "failed", f"the child process died with exit code {proc.exitcode}"
                    break
                if time.monotonic() > deadline:
                    status, value = "failed", f"no result after {timeout:.0f} s"
                    break
    finally:
        proc.join(60)
        if proc.is_alive():  # pragma: no cover - a child stuck in teardown
            proc.kill()
            proc.join()
    if status != "ok":
        raise RuntimeError(f"{name}: {value}")
    return value
