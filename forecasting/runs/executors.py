"""Executors: run a job function over tasks and yield outcomes as they finish.

Two implementations share one small interface, ``run(fn, tasks)``:

* :class:`SerialExecutor` calls the function in this process, in order, with
  no Dask at all (``FORECASTING_SERIAL=1``): step into a job with pdb.
* :class:`DaskExecutor` submits tasks to a ``distributed.Client``, about
  two per worker thread at a time, and yields outcomes with
  ``as_completed``, fetching finished results a batch at a time.  A job
  that takes a while (a region's nightly forecast) is one Dask task under
  its task's deterministic key; short jobs go several to a Dask task
  (:mod:`forecasting.runs.batching`), so that Dask's own cost per task does
  not outweigh them.

Both give every exception the same treatment: a transient error raised by
the job is retried ``retries`` times; what still fails (after the retries,
or a worker dying under the task: ``KilledWorker``) becomes a
:class:`~forecasting.runs.tasks.RegionFailure` with the remote traceback, so one
bad region never sinks the run.  Losing the scheduler is different: it is
no region's fault, so :class:`~forecasting.errors.ClusterError` stops the
run.  A scheduler process that dies is noticed at once (its connection
closes); a host that vanishes within ``distributed.comm.timeouts.tcp``
(TCP keepalive, default 30 s).  Where a cluster comes from (local, an
address, YARN) is not this module's business: see ``deploy.clusters``.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from concurrent.futures import CancelledError
from dataclasses import replace
from typing import Callable, Iterable, Iterator, Protocol

from forecasting.errors import ClusterError
from forecasting.logs.events import log_event
from forecasting.runs.batching import MAX_BATCH, TARGET_S, BatchPlan, batch_key, next_finished, run_batch, run_one
from forecasting.runs.outcomes import TRANSIENT_ERRORS, RegionFailure

log = logging.getLogger(__name__)

SERIAL_ENV = "FORECASTING_SERIAL"
#: Seconds between looks for new worker threads while no job has finished yet.
POLL_S = 0.2
#: The scheduler is asked how many worker threads there are at most this often.
THREADS_S = 1.0


def serial_requested() -> bool:
    """True when ``FORECASTING_SERIAL`` is set to a true value."""
    return os.environ.get(SERIAL_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class Executor(Protocol):
    """What the driver needs of a runner."""

    name: str
    dashboard_link: str | None
    worker_cache_path: str | None

    def run(self, fn: Callable, tasks: Iterable) -> Iterator:
        """Yield one outcome per task, in completion order."""


class SerialExecutor:
    """Run every task in this process, one after the other.

    Parameters
    ----------
    retries : int
        Extra attempts after a transient error.
    """

    name = "serial"
    dashboard_link = None
    worker_cache_path = None

    def __init__(self, retries: int = 2):
        self.retries = retries

    def run(self, fn: Callable, tasks: Iterable) -> Iterator:
        for task in tasks:
            start = time.perf_counter()
            for attempt in range(self.retries + 1):
                try:
                    yield fn(task)
                    break
                except TRANSIENT_ERRORS as exc:
                    if attempt < self.retries:
                        log.warning("region %s: attempt %d failed (%s), retrying", task.region, attempt + 1, exc)
                        continue
                    yield RegionFailure.from_exception(
                        task, exc, worker="serial", duration=time.perf_counter() - start, retryable=True
                    )


class DaskExecutor:
    """Run tasks on a Dask cluster through a connected ``distributed.Client``.

    Parameters
    ----------
    client : distributed.Client
        A connected client; this object does not own it.
    retries : int
        Dask ``retries=``: extra attempts after the task raised (the job only
        raises transient errors).  Worker deaths are counted separately by
        the scheduler (``distributed.scheduler.allowed-failures``).
    max_batch : int
        The most short jobs one Dask task may carry (1: one Dask task per job).
    batch_target_s : float
        About how long one batch should run; jobs under a quarter of it are batched.
    """

    name = "dask"

    def __init__(self, client, retries: int = 2, max_batch: int = MAX_BATCH, batch_target_s: float = TARGET_S):
        self.client = client
        self.retries = retries
        self.max_batch, self.batch_target_s = max_batch, batch_target_s
        self._threads_seen, self._threads_at = 1, -float("inf")
        #: Where workers find the cache, if not at the driver's path (on YARN: the key it was shipped under).
        self.worker_cache_path: str | None = None
        #: ``reason(worker_name) -> str | None``: why a dead worker died, from
        #: whoever ran it (on YARN: the container's end as YARN reported it).
        self.worker_death_reason: Callable[[str], str | None] | None = None

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001 - no dashboard (bokeh missing) is not an error
            return None

    def run(self, fn: Callable, tasks: Iterable) -> Iterator:
        from distributed import as_completed

        queue = deque((t, False) for t in tasks)  # (task, must run alone)
        plan = BatchPlan(target_s=self.batch_target_s, max_batch=self.max_batch)
        inflight: dict = {}  # future -> the tasks it runs (one: under the task's own key)
        done = as_completed()
        try:
            while queue or inflight:
                self._top_up(fn, queue, inflight, plan, done)
                # Finished futures a batch at a time: one gather per batch, not a
                # blocking round trip per task (bench/overheads.py).
                batch = next_finished(done, poll_s=POLL_S if plan.estimate_s is None else None)
                results = self._gather([f for f in batch if f.status == "finished"])
                for future in batch:
                    jobs = inflight.pop(future)
                    pairs = results.get(future.key)
                    if pairs is None and len(jobs) > 1 and self._worker_died(future):
                        # One job may have sunk the worker, not all of them: each runs again alone.
                        log.warning("a batch of %d short jobs lost its worker; running them one by one", len(jobs))
                        queue.extendleft((t, True) for t in reversed(jobs))
                    elif pairs is None:
                        unfinished = len(queue) + sum(len(j) for f, j in inflight.items() if not f.done()) + len(jobs)
                        pairs = self._late_result(future, jobs, unfinished)
                    for outcome, seconds in pairs or ():
                        if seconds is not None:
                            plan.observe(seconds)
                        yield outcome
                    future.release()
        finally:
            # On an early exit (Ctrl-C, a store error) nothing should keep
            # computing on the cluster on our behalf.
            pending = [f for f in inflight if not f.done()]
            if pending and self.client.status == "running":
                self.client.cancel(pending)

    def _top_up(self, fn, queue: deque, inflight: dict, plan: BatchPlan, done) -> None:
        """Submit work until each worker thread has about two Dask tasks queued or running."""
        threads = self._threads()
        singles, batches = [], []
        while queue and len(inflight) + len(singles) + len(batches) < 2 * threads:
            size = plan.size(len(queue), threads)
            if size == 1 or queue[0][1]:
                singles.append(queue.popleft()[0])
            else:
                jobs = []
                while queue and len(jobs) < size and not queue[0][1]:
                    jobs.append(queue.popleft()[0])
                batches.append(jobs)
        # One map call per kind is one graph update for all of them; a job
        # alone keeps its task's own key, a batch gets one of its own.
        if singles:
            futures = self.client.map(run_one, singles, key=[t.key for t in singles], retries=self.retries, fn=fn)
            for future, task in zip(futures, singles):
                inflight[future] = (task,)
                done.add(future)
        if batches:
            futures = self.client.map(run_batch, batches, key=[batch_key(b) for b in batches], fn=fn,
                                      in_place_retries=self.retries)
            for future, jobs in zip(futures, batches):
                inflight[future] = tuple(jobs)
                done.add(future)

    def _threads(self) -> int:
        """Worker threads on the cluster (at least 1), asked of the scheduler at most every THREADS_S."""
        now = time.monotonic()
        if now - self._threads_at >= THREADS_S:
            # A round trip to the scheduler: once per finished future would be
            # scheduler CPU taken from the jobs on a machine this small.
            try:
                self._threads_seen = max(1, sum(self.client.nthreads().values()))
            except Exception:  # noqa: BLE001 - a client in trouble: the futures' outcomes say so
                self._threads_seen = max(1, self._threads_seen)
            self._threads_at = now
        return self._threads_seen

    @staticmethod
    def _worker_died(future) -> bool:
        return future.status == "error" and type(future.exception()).__name__ == "KilledWorker"

    def _gather(self, finished: list) -> dict:
        """Results of finished futures by key, in one round trip; {} if that fails (then each is asked alone)."""
        if not finished:
            return {}
        try:
            return dict(zip([f.key for f in finished], self.client.gather(finished)))
        except Exception:  # noqa: BLE001 - e.g. a result lost with its worker: _outcome sorts each out
            return {}

    def _late_result(self, future, jobs: tuple, unfinished: int) -> list:
        """``[(outcome, seconds or None), ...]`` of a future whose result was not gathered with its batch."""
        fetch_error = None
        if future.status != "error" and not future.cancelled():
            # Finished (its batch's gather failed) or lost with its worker:
            # result() waits for the scheduler to recompute it if need be.
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001 - the recomputation failed, or the fetch did: see below
                fetch_error = exc
        return [(self._failure(future, task, unfinished, fetch_error), None) for task in jobs]

    def _failure(self, future, task, unfinished: int, fetch_error):
        """The failure of one job whose future errored, was cancelled, or whose result could not be fetched."""
        if future.cancelled():
            if self.client.status != "running":
                # The scheduler died (or its host): every unfinished task
                # is lost with it.  Stop the run instead of failing each
                # region; the driver marks it failed, --resume completes it.
                raise ClusterError(
                    f"lost the Dask scheduler {self._scheduler_address()} with "
                    f"{unfinished} regions unfinished"
                )
            # Cancelled while the client is connected: not the region's fault.
            exc = CancelledError(f"task {future.key} was cancelled (scheduler restarted or connection lost)")
            return RegionFailure.from_exception(task, exc, tb="", retryable=True)
        # What reaches here got past the job's own handling: a worker died
        # under it, or I/O kept failing through the retries.
        if future.status == "error":
            exc, tb = future.exception(), future.traceback()
        else:  # its result could not be fetched
            exc, tb = fetch_error, getattr(fetch_error, "__traceback__", None)
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        failure = RegionFailure.from_exception(task, exc, tb=text, retryable=True)
        if type(exc).__name__ == "KilledWorker":
            failure = replace(failure, message=self._killed_worker_message(exc))
            # The driver's record of a worker death ('forecasting logs' counts it; a backtest logs nothing else).
            last = getattr(exc, "last_worker", None)
            log_event(log, logging.WARNING, "worker_lost", "region %s lost its worker: %s", task.region,
                      failure.message, extra={"region": task.region}, region=task.region,
                      worker=getattr(last, "address", None),
                      tries=getattr(exc, "allowed_failures", 0) + 1, reason=failure.message)
        return failure

    def _scheduler_address(self) -> str:
        try:
            return self.client.scheduler.address
        except AttributeError:
            return "(address unknown)"

    def _killed_worker_message(self, exc) -> str:
        """Why a region ended as ``KilledWorker``, in words an on-call engineer can act on."""
        tries = getattr(exc, "allowed_failures", 0) + 1
        last = getattr(exc, "last_worker", None)
        worker = getattr(last, "address", "?")
        message = f"the worker running this region died {tries} times (the region's job may exceed the worker's memory limit)"
        reason = None
        if self.worker_death_reason is not None and getattr(last, "name", None) is not None:
            try:
                reason = self.worker_death_reason(str(last.name))
            except Exception:  # noqa: BLE001 - the reason is a bonus, never a new failure
                log.debug("no reason for the death of %s", last.name, exc_info=True)
        if reason:
            return f"the worker running this region died {tries} times: {reason}; last worker {worker}, see its log"
        try:  # A nanny that killed its worker for memory says so in the scheduler's event log.
            events = [e for _, e in self.client.get_events("worker-restart-memory") if e.get("worker") == worker]
        except Exception:  # noqa: BLE001 - the reason is a bonus, never a new failure
            events = []
        if events:
            message = (
                f"the worker running this region died {tries} times: its job went over the worker's memory limit "
                f"(the nanny restarted {worker} at {events[-1]['rss'] / 2**20:.0f} MiB)"
            )
        return f"{message}; last worker {worker}, see its log"
