"""The per-region job: one function every runner executes.

:func:`run_task` is what runners submit.  It takes a :class:`RegionTask`, a
descriptor of a few hundred bytes (region id, cache path, run date, config):
data never travels with the task, each worker reads its region from the
cache it was shipped.  The function is importable from the installed
package, so Dask pickles it by reference.

Outcomes are a :class:`RegionResult` or a :class:`RegionFailure`.
Deterministic failures (bad data, a model that cannot fit) are returned as a
``RegionFailure`` straight away; retrying them would fail the same way.
Transient failures (I/O) are raised, so that the runner retries them.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from forecasting.config.forecast import ForecastConfig, parse_duration
from forecasting.data.cache import RegionData, open_cache
from forecasting.errors import ModelError, RegionDataError
from forecasting.engine.features import build_features
from forecasting.logs.events import log_event
from forecasting.logs.records import task_context, task_fields
from forecasting.engine.metrics import mase
from forecasting.models.base import adjust_interval

log = logging.getLogger(__name__)

#: Exceptions worth another attempt: the same task may well succeed elsewhere.
TRANSIENT_ERRORS = (OSError, sqlite3.OperationalError, TimeoutError)


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

    def compute(self) -> "RegionResult":
        return forecast_region(self.region, self.cache_path, self.config, self.run_date)


@dataclass(frozen=True)
class RegionResult:
    """A region's forecast.

    Attributes
    ----------
    forecast : pandas.DataFrame
        UTC slot index; columns ``yhat, q10, q50, q90``.
    model : str
        The model that produced it.
    scores : dict
        Hold-out MASE per candidate model (empty with a single model).
    diagnostics : dict
        History length, missing fraction, candidate failures, warnings.
    timings : dict
        Seconds spent loading, building features, fitting and in total.
    """

    region: str
    run_date: str
    model: str
    forecast: pd.DataFrame
    scores: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    worker: str = ""
    ok = True


@dataclass(frozen=True)
class RegionFailure:
    """Why a task (a region's forecast, or one backtest window) failed."""

    region: str
    key: str
    error_type: str
    message: str
    traceback: str
    worker: str = ""
    duration: float = 0.0
    #: True when the failure may not recur (a worker died, I/O still failing
    #: after the retries): a resumed backtest runs such tasks again.
    retryable: bool = False
    ok = False

    @classmethod
    def from_exception(cls, task, exc: BaseException, tb: str | None = None, worker: str = "", duration: float = 0.0,
                       retryable: bool = False):
        if tb is None:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(task.region, task.key, type(exc).__name__, str(exc) or repr(exc), tb, worker, duration, retryable)


def worker_name() -> str:
    """``host:pid`` of the process running the job."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
    ``compute()``: :class:`RegionTask` here, ``BacktestTask`` in
    :mod:`forecasting.runs.backtest`.

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


def forecast_region(region: str, cache_path: str, config: ForecastConfig, run_date: str) -> RegionResult:
    """Forecast one region from the cache.

    Parameters
    ----------
    region : str
        Region id in the cache.
    cache_path : str
        Path of the cache file, opened read-only.
    config : ForecastConfig
        Models, horizon and data-quality thresholds.
    run_date : str
        ``YYYY-MM-DD``.  History ends, and the forecast starts, at local
        midnight of this date in the region's time zone.

    Raises
    ------
    RegionDataError
        The history is unusable (absent, too short, stale, all zeros, too
        many missing values).
    ModelError
        No candidate model could produce a forecast.
    """
    t0 = time.perf_counter()
    data = open_cache(cache_path).load_region(region)
    t_load = time.perf_counter()
    y, future_index = history_and_horizon(data, run_date, config)
    diagnostics = check_history(y, config, region)
    features = build_features(data, y.index.append(future_index))
    X, X_future = features.iloc[: len(y)], features.iloc[len(y):]
    t_features = time.perf_counter()

    scores: dict[str, float] = {}
    candidates = list(config.models)
    if len(candidates) > 1:
        scores, holdout_failures = _holdout_scores(y, X, candidates, len(future_index), config)
        diagnostics["holdout_failures"] = holdout_failures
        candidates = _rank(candidates, scores)
    failures: dict[str, str] = {}
    forecast, chosen = None, None
    for spec in candidates:
        try:
            model = spec.build().fit(y, X, horizon=len(future_index))
            forecast = model.predict(X_future)
            chosen = spec.name
            break
        except Exception as exc:  # noqa: BLE001 - a model's failure is data, try the next
            failures[spec.name] = f"{type(exc).__name__}: {exc}"
    if forecast is None:
        detail = "; ".join(f"{k}: {v}" for k, v in failures.items())
        raise ModelError(region, f"no model could forecast it ({detail})")
    forecast = adjust_interval(forecast, config.interval_adjustment)
    t_fit = time.perf_counter()
    diagnostics["model_failures"] = failures
    timings = {
        "load": t_load - t0,
        "features": t_features - t_load,
        "fit": t_fit - t_features,
        "total": t_fit - t0,
    }
    return RegionResult(region, run_date, chosen, forecast, scores, diagnostics, timings, worker_name())


def history_and_horizon(data: RegionData, run_date: str, config: ForecastConfig) -> tuple[pd.Series, pd.DatetimeIndex]:
    """Split a region at the run date's local midnight.

    Returns the history strictly before the cutoff (on a complete index up
    to the cutoff, NaN where unknown) and the slots to forecast.
    """
    try:
        cutoff = pd.Timestamp(run_date).tz_localize(data.timezone).tz_convert("UTC")
    except (ValueError, TypeError) as exc:
        raise RegionDataError(data.region, f"run date {run_date!r}: {exc}") from None
    orders = data.orders[data.orders.index < cutoff]
    if orders.dropna().empty:
        raise RegionDataError(data.region, f"no order history before the run date {run_date}")
    index = pd.date_range(orders.index[0], cutoff, freq=data.freq, inclusive="left")
    y = orders.reindex(index)
    y.index.freq = data.freq
    future = pd.date_range(cutoff, cutoff + config.horizon_delta, freq=data.freq, inclusive="left")
    return y, future


def check_history(y: pd.Series, config: ForecastConfig, region: str) -> dict:
    """Refuse histories no model should be trusted with; return diagnostics."""
    observed = y.dropna()
    span = y.index[-1] - observed.index[0] + y.index.freq
    min_history = parse_duration(config.min_history, "min_history")
    if span < min_history:
        raise RegionDataError(region, f"history too short: {span.days} days, need at least {min_history.days} days")
    staleness = y.index[-1] - observed.index[-1]
    if staleness > parse_duration(config.max_staleness, "max_staleness"):
        raise RegionDataError(region, f"stale data: the latest known slot is {observed.index[-1]}, {staleness} before the run date")
    recent = y[y.index >= y.index[-1] - pd.Timedelta("28D")]
    missing = float(recent.isna().mean())
    if missing > config.max_missing_fraction:
        raise RegionDataError(region, f"{missing:.0%} of the last 4 weeks are missing (limit {config.max_missing_fraction:.0%})")
    if not np.isfinite(observed.to_numpy()).all():
        raise RegionDataError(region, "history contains infinite values")
    if (recent.fillna(0) == 0).all():
        raise RegionDataError(region, "no orders at all in the last 4 weeks")
    return {"history_slots": int(len(y)), "history_start": str(y.index[0]), "missing_fraction_4w": missing}


def _rank(specs, scores: dict) -> list:
    """Best hold-out MASE first; models whose hold-out failed go last, in
    config order: the hold-out may be what broke them."""

    def key(i):
        s = scores.get(specs[i].name, float("nan"))
        return (0, s, i) if np.isfinite(s) else (1, 0.0, i)

    return [specs[i] for i in sorted(range(len(specs)), key=key)]


def _holdout_scores(y, X, candidates, horizon: int, config: ForecastConfig) -> tuple[dict, dict]:
    window = parse_duration(config.selection_window, "selection_window")
    n_hold = int(window / pd.Timedelta(y.index.freq))
    if len(y) - n_hold < n_hold:
        return {c.name: float("nan") for c in candidates}, {}
    y_train, y_test = y.iloc[:-n_hold], y.iloc[-n_hold:]
    scores, failures = {}, {}
    for spec in candidates:
        try:
            model = spec.build().fit(y_train, X.iloc[:-n_hold], horizon=max(horizon, n_hold))
            pred = model.predict(X.iloc[-n_hold:])
            scores[spec.name] = mase(y_test, pred["yhat"], y_train)
        except Exception as exc:  # noqa: BLE001 - recorded, the other candidates go on
            scores[spec.name] = float("nan")
            failures[spec.name] = f"{type(exc).__name__}: {exc}"
    return scores, failures
