"""One nightly run per run date at a time: a lock row in the results store.

Two drivers started for the same date (cron fired twice, an engineer
re-running by hand while the scheduled run is still going) would write
interleaved forecasts for that date.  The lock makes one of them win and the
other refuse with :class:`~forecasting.errors.RunLockedError`, which names
the holder.

The lock is a row of ``run_locks`` keyed by (kind, run date), inserted in a
transaction so that the database decides who wins.  Its holder refreshes a
heartbeat from a background thread.  A lock is taken over when its holder is
gone: a process on this host that no longer exists (a driver killed with
SIGKILL leaves its row behind), or a heartbeat older than ``stale_after``
seconds (a driver on another host that died).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time

import sqlalchemy as sa

from forecasting.errors import RunLockedError, StoreError
from forecasting.store.schema import run_locks
from forecasting.store.urls import shown_error

log = logging.getLogger(__name__)

#: Seconds without a heartbeat after which a lock held from another host is stale.
STALE_AFTER = 600.0
HEARTBEAT_EVERY = 30.0


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def holder_is_gone(row, now: float, host: str, stale_after: float) -> bool:
    """Whether the process holding lock ``row`` can no longer be running."""
    if now - row.heartbeat_at > stale_after:
        return True
    return row.host == host and not _process_alive(row.pid)


def describe(row, now: float) -> str:
    age = now - row.acquired_at
    return (f"run {row.run_id} (pid {row.pid} on {row.host}, started {age / 60:.0f} min ago, "
            f"last heartbeat {now - row.heartbeat_at:.0f} s ago)")


def acquire(engine, kind: str, run_date: str, run_id: str, stale_after: float = STALE_AFTER) -> None:
    """Take the lock of (kind, run date) for ``run_id`` or raise RunLockedError."""
    try:
        _acquire(engine, kind, run_date, run_id, stale_after)
    except sa.exc.OperationalError as exc:
        raise StoreError(f"results store: cannot take the run lock for {run_date}: {shown_error(exc.orig, engine.url)}") from None


def _acquire(engine, kind: str, run_date: str, run_id: str, stale_after: float) -> None:
    host, pid = socket.gethostname(), os.getpid()
    for _ in range(3):
        now = time.time()
        row = {"kind": kind, "run_date": run_date, "run_id": run_id, "host": host, "pid": pid,
               "acquired_at": now, "heartbeat_at": now}
        try:
            with engine.begin() as conn:
                conn.execute(run_locks.insert(), [row])
            return
        except sa.exc.IntegrityError:
            pass
        key = (run_locks.c.kind == kind) & (run_locks.c.run_date == run_date)
        with engine.connect() as conn:
            held = conn.execute(sa.select(run_locks).where(key)).first()
        if held is None:  # released in between: try again
            continue
        # The same run in this very process: a previous attempt that could not
        # release its lock (the store was locked or full at the time).
        ours = (held.run_id, held.host, held.pid) == (run_id, host, pid)
        if not ours and not holder_is_gone(held, now, host, stale_after):
            raise RunLockedError(
                f"another {kind} run for {run_date} is in progress: {describe(held, now)}; "
                f"wait for it, or check it with 'forecasting status {held.run_id}'"
            )
        # Compare-and-swap on the old holder's heartbeat: of two drivers taking
        # over at once, only one updates the row.
        with engine.begin() as conn:
            taken = conn.execute(
                run_locks.update()
                .where(key & (run_locks.c.run_id == held.run_id) & (run_locks.c.heartbeat_at == held.heartbeat_at))
                .values(run_id=run_id, host=host, pid=pid, acquired_at=now, heartbeat_at=now)
            ).rowcount
        if taken:
            log.warning("took over the lock of %s run %s for %s: its driver is gone", kind, held.run_id, run_date)
            return
    raise RunLockedError(f"could not take the {kind} lock for {run_date}: other drivers keep taking it")


def release(engine, kind: str, run_date: str, run_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            run_locks.delete().where(
                (run_locks.c.kind == kind) & (run_locks.c.run_date == run_date) & (run_locks.c.run_id == run_id)
            )
        )


@contextlib.contextmanager
def run_lock(engine, kind: str, run_date: str, run_id: str, stale_after: float = STALE_AFTER,
             heartbeat_every: float = HEARTBEAT_EVERY):
    """Hold the (kind, run date) lock for the block; release it on every exit.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The results store's engine.
    kind, run_date, run_id : str
        What is locked, and by which run.
    stale_after : float
        Seconds without a heartbeat after which another driver may take over.
    heartbeat_every : float
        Seconds between heartbeats.
    """
    acquire(engine, kind, run_date, run_id, stale_after)
    stop = threading.Event()

    def beat() -> None:
        key = (run_locks.c.kind == kind) & (run_locks.c.run_date == run_date) & (run_locks.c.run_id == run_id)
        while not stop.wait(heartbeat_every):
            try:
                with engine.begin() as conn:
                    conn.execute(run_locks.update().where(key).values(heartbeat_at=time.time()))
            except sa.exc.SQLAlchemyError as exc:  # the run's own writes will report a dead store
                log.warning("run lock heartbeat failed: %s", shown_error(getattr(exc, "orig", None) or exc, engine.url))

    thread = threading.Thread(target=beat, name="forecasting-run-lock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            release(engine, kind, run_date, run_id)
        except sa.exc.SQLAlchemyError as exc:
            # A store that cannot be written now: the row goes stale and the
            # next run (or --resume) takes it over.
            log.warning("could not release the run lock for %s: %s", run_date, shown_error(getattr(exc, "orig", None) or exc, engine.url))


def interrupted_runs(engine, run_ids, stale_after: float = STALE_AFTER) -> set[str]:
    """Of ``run_ids`` (runs marked ``running``), those no live driver holds.

    A driver killed with SIGKILL cannot mark its run failed; ``forecasting
    status`` uses this to show such runs as interrupted.
    """
    with engine.connect() as conn:
        held = {row.run_id: row for row in conn.execute(sa.select(run_locks))}
    now, host = time.time(), socket.gethostname()
    return {r for r in run_ids if r not in held or holder_is_gone(held[r], now, host, stale_after)}
