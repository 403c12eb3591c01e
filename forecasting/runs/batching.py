"""Handing short jobs to Dask workers several at a time.

A Dask task costs the scheduler, the worker and the client a few
milliseconds of CPU around the job it runs (messages, state transitions,
fetching the result): nothing next to a region's multi-second nightly job,
a tenth or more of a 50 ms one, and all of it for a near-empty one
(``python -m bench overheads``; BENCHMARKS.md).  Like joblib's automatic
batch size, :class:`BatchPlan` learns how long jobs take from the ones that
finished and, when they are short, packs several into one Dask task
(:func:`run_batch`), sized to take about :data:`TARGET_S`; jobs over
``TARGET_S / MIN_BATCH`` (125 ms) stay one Dask task each under their own
key (:func:`run_one`).  Batches shrink
towards the end of a run (never more than a quarter of each worker
thread's share of what is left), so no worker waits for a last big batch.

Each job in a batch is still run by the same function (``run_task``), so it
logs its own start and end under its own key, and its outcome is its own:
a transient error is retried in place, as Dask's ``retries=`` would, and
what still fails becomes that job's failure alone.  A batch whose worker
died is not failed as a whole: the executor runs its jobs again one by one.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from typing import Callable, Sequence

from forecasting.runs.outcomes import TRANSIENT_ERRORS, RegionFailure

#: About how long one batch should take on a worker, in seconds.
TARGET_S = 0.5
#: The most jobs in one batch.
MAX_BATCH = 64
#: The fewest jobs a batch is worth forming for (so jobs over TARGET_S / MIN_BATCH always run alone).
MIN_BATCH = 4
#: Observations before any batch is formed: a worker's first job may include one-off imports.
MIN_OBSERVED = 3
#: Durations the estimate is the median of (the most recent ones).
WINDOW = 64


def run_one(task, fn: Callable) -> list:
    """``[(fn(task), seconds)]``: one job as its own Dask task; transient errors propagate to Dask's retries."""
    start = time.perf_counter()
    outcome = fn(task)
    return [(outcome, time.perf_counter() - start)]


def run_batch(tasks: Sequence, fn: Callable, in_place_retries: int = 2) -> list:
    """``[(outcome, seconds), ...]``: each job of a batch in turn, each with its own retries.

    A transient error is retried up to ``in_place_retries`` times in place; then it
    becomes the job's :class:`RegionFailure` (``retryable=True``), as it
    would after Dask's retries.  Deterministic failures are ``fn``'s own
    business (``run_task`` returns them).
    """
    out = []
    for task in tasks:
        start = time.perf_counter()
        for attempt in range(in_place_retries + 1):
            try:
                outcome = fn(task)
                break
            except TRANSIENT_ERRORS as exc:
                if attempt == in_place_retries:
                    outcome = RegionFailure.from_exception(task, exc, duration=time.perf_counter() - start,
                                                           retryable=True)
        out.append((outcome, time.perf_counter() - start))
    return out


def next_finished(done, poll_s: float | None = None) -> list:
    """The futures of ``done`` (a ``distributed.as_completed``) that finished, waiting for at least one.

    With ``poll_s``, return after that long even if none did (possibly
    empty), so that the caller can hand work to workers that joined
    meanwhile.
    """
    if poll_s is None or done.is_empty():
        return done.next_batch(block=not done.is_empty())
    condition = getattr(done, "thread_condition", None)  # notified under its lock after each completion
    if condition is None:
        time.sleep(0 if done.has_ready() else poll_s)
    else:
        with condition:
            if not done.has_ready():
                condition.wait(timeout=poll_s)
    return done.next_batch(block=False)


def batch_key(tasks: Sequence) -> str:
    """A batch's Dask key: deterministic, and never a job's own key."""
    return f"batch-{len(tasks)}-{tasks[0].key}"


class BatchPlan:
    """How many jobs the next Dask task should carry, learnt from the jobs that finished.

    Parameters
    ----------
    target_s : float
        About how long a batch should take.
    max_batch : int
        The most jobs per batch (1: never batch).
    """

    def __init__(self, target_s: float = TARGET_S, max_batch: int = MAX_BATCH):
        self.target_s = target_s
        self.max_batch = max_batch
        self._recent: deque[float] = deque(maxlen=WINDOW)

    def observe(self, seconds: float) -> None:
        """Record how long one job took on its worker."""
        self._recent.append(max(float(seconds), 0.0))

    @property
    def estimate_s(self) -> float | None:
        """The typical job's duration (median of the recent ones); None until enough finished."""
        if len(self._recent) < MIN_OBSERVED:
            return None
        return statistics.median(self._recent)

    def size(self, remaining: int, threads: int) -> int:
        """Jobs for the next Dask task, with ``remaining`` jobs not yet submitted and ``threads`` worker threads."""
        estimate = self.estimate_s
        # Batching pays when it packs at least MIN_BATCH jobs; a job of a
        # second or so stays its own Dask task, under its own key.
        if estimate is None or estimate * MIN_BATCH > self.target_s or self.max_batch <= 1:
            return 1
        by_time = self.max_batch if estimate <= 0 else int(self.target_s / estimate)
        # Guided self-scheduling: the tail of a run is handed out in ever smaller pieces.
        by_share = math.ceil(remaining / (4 * max(threads, 1)))
        return max(1, min(by_time, by_share, self.max_batch))
