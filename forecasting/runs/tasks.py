"""Task descriptors, and the one function every runner executes.

:func:`run_task` is what runners submit.  A task is a descriptor of a few
hundred bytes -- region id, cache path, origin, config -- with a
deterministic ``key`` and a ``compute()`` that calls one of the jobs of
:mod:`forecasting.runs.jobs`: :class:`RegionTask` (the nightly job at a run
date) and :class:`BacktestTask` (one model at one cutoff).  Data never
travels with a task, each worker reads its region from the cache it was
shipped.  Everything is importable from the installed package, so Dask
pickles it by reference.

Outcomes are those of :mod:`forecasting.runs.outcomes`.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from threadpoolctl import ThreadpoolController

from forecasting.config.forecast import ForecastConfig
from forecasting.logs.events import log_event
from forecasting.models.spec import ModelSpec
from forecasting.logs.records import task_context, task_fields
from forecasting.runs.jobs import backtest_window, forecast_region
from forecasting.runs.outcomes import TRANSIENT_ERRORS, RegionFailure, RegionResult, WindowResult, worker_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegionTask:
    """Everything a worker needs to forecast one region (and nothing more)."""

    region: str
    cache_path: str
    run_date: str
    config: ForecastConfig
    run_id: str = ""

    @property
    def key(self) -> str:
        """Deterministic task key within a run: ``forecast-<run id>-<region>``.

        The run id (which starts with the run date) keeps two runs that share
        a scheduler from being handed each other's results; Dask treats equal
        keys as the same computation.
        """
        return f"forecast-{self.run_id or self.run_date}-{self.region}"

    def compute(self) -> RegionResult:
        return forecast_region(self.region, self.cache_path, self.config, self.run_date)


@dataclass(frozen=True)
class BacktestTask:
    """One region, one model parameter set, one cutoff."""

    region: str
    cache_path: str
    model: ModelSpec
    cutoff: str
    config: ForecastConfig
    backtest_id: str = ""
    #: Also forecast from the regressors as recorded (``--oracle-regressors``).
    oracle: bool = False

    @property
    def key(self) -> str:
        """``backtest-<id>-<region>-<model label>-<cutoff>``: stored, so a rerun skips finished windows."""
        return f"backtest-{self.backtest_id}-{self.region}-{self.model.label}-{self.cutoff}"

    def compute(self) -> WindowResult:
        return backtest_window(self)


def inner_parallelism(mode: str):
    """joblib's context for parallel loops inside a task (scikit-learn's ``n_jobs``).

    ``serial`` (default): every inner loop runs in the task's own thread,
    even with an explicit ``n_jobs=-1``, so a worker never starts more
    processes than the one core it was given.  ``dask``: on a Dask worker,
    inner loops become tasks of the same cluster (joblib's dask backend);
    worth it only for a few large inner loops, the flat task graph already
    keeps every core busy.  Outside a Dask worker ``dask`` means ``serial``.
    """
    from joblib import parallel_config

    if mode == "dask" and _on_dask_worker():
        return parallel_config(backend="dask")
    return parallel_config(backend="sequential")


def _on_dask_worker() -> bool:
    if "distributed" not in sys.modules:  # never imported: certainly not a worker
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


_controller: tuple[int, ThreadpoolController] | None = None


def one_thread_per_pool():
    """Limit BLAS/OpenMP pools to one thread for a block (a context manager).

    ``threadpool_limits()`` scans every loaded shared library on each call
    (milliseconds, measured by ``python -m bench overheads``); the scan is
    cached per process and redone only when modules were imported since,
    which is when new native libraries can appear.
    """
    global _controller
    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1].limit(limits=1)


def run_task(task):
    """Run one task (``task.compute()``): the function every runner executes.

    Tasks are small frozen descriptors with ``region``, ``key`` and
    ``compute()``: :class:`RegionTask` and :class:`BacktestTask`.

    BLAS and OpenMP pools are limited to one thread inside the task so that
    worker processes on the same machine do not oversubscribe its cores, and
    so that serial and distributed runs compute bit-for-bit the same.

    Raises
    ------
    OSError, sqlite3.OperationalError, TimeoutError
        Transient errors, for the runner to retry.
    """
    # Every line logged while the task runs is tagged with its run, region,
    # model and key (forecasting.logs.records); 'forecasting logs' reads the
    # start and end events' fields (forecasting.logs.events), not their words.
    with task_context(task.key, **task_fields(task)):
        start = time.perf_counter()
        log_event(log, logging.INFO, "task_start", "task start")
        try:
            with one_thread_per_pool(), inner_parallelism(getattr(task.config, "inner_parallelism", "serial")):
                result = task.compute()
        except TRANSIENT_ERRORS as exc:
            # Each attempt's traceback once; the runner retries or records it.
            duration, kind = time.perf_counter() - start, type(exc).__name__
            log_event(log, logging.WARNING, "task_end", "task end: transient error after %.2fs, may be retried: %s: %s",
                      duration, kind, exc, exc_info=True, outcome="transient", seconds=duration, error_type=kind,
                      error=str(exc))
            raise
        except Exception as exc:  # any deterministic failure is this task's alone
            duration, kind = time.perf_counter() - start, type(exc).__name__
            # The one place its traceback is logged (the driver logs one line).
            log_event(log, logging.ERROR, "task_end", "task end: failed after %.2fs: %s: %s", duration, kind, exc,
                      exc_info=True, outcome="failed", seconds=duration, error_type=kind, error=str(exc))
            return RegionFailure.from_exception(task, exc, worker=worker_name(), duration=duration)
        duration, model = time.perf_counter() - start, getattr(result, "model", "-")
        log_event(log, logging.INFO, "task_end", "task end: ok in %.2fs, model %s", duration, model, outcome="ok",
                  seconds=duration, model=model)
        return result

