"""Rolling-origin backtests: cutoffs, the flat task list, and the window job.

A backtest is a cartesian product, regions x model parameter sets x cutoffs,
mapped over one job (:func:`backtest_window`), like a grid search crossed
with cross-validation folds.  Each task is a small descriptor; the worker
reads its region from the cache.  A fit sees only orders strictly before
its cutoff (the cutoff's local midnight).  Regressors in the forecast window
are the values the cache holds: calendar, holidays, scheduled events and
promotions were known in advance; weather is taken as recorded, which is an
optimistic assumption (a real forecast would use a weather forecast).
Its configuration is :class:`forecasting.config.backtest.BacktestConfig`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import time
from dataclasses import dataclass

import pandas as pd

from forecasting.config.backtest import BacktestConfig
from forecasting.config.forecast import ForecastConfig, parse_duration
from forecasting.models.spec import ModelSpec
from forecasting.data.cache import open_cache
from forecasting.errors import ModelError, RegionDataError, UsageError
from forecasting.engine.features import build_features
from forecasting.runs.tasks import check_history, history_and_horizon, worker_name
from forecasting.engine.metrics import seasonal_scale


def make_cutoffs(history_end: str, config: BacktestConfig) -> list[str]:
    """Cutoff dates whose whole horizon lies before ``history_end``.

    Parameters
    ----------
    history_end : str
        The first date without data (as a run date would be).
    config : BacktestConfig
        ``horizon``, ``step`` and ``cutoffs`` or ``start``/``end``.

    Raises
    ------
    UsageError
        If no cutoff fits.
    """
    end_day = pd.Timestamp(history_end)
    horizon = parse_duration(config.horizon, "horizon")
    step = parse_duration(config.step, "step")
    latest = end_day - horizon
    if config.cutoffs is not None:
        days = [latest - i * step for i in range(config.cutoffs)][::-1]
    elif config.start or config.end:
        first = pd.Timestamp(config.start) if config.start else latest - pd.Timedelta("365D") + horizon
        last = min(pd.Timestamp(config.end), latest) if config.end else latest
        days = list(pd.date_range(first, last, freq=step))
    else:
        earliest = end_day - pd.Timedelta("365D")
        n = int((latest - earliest) / step) + 1
        days = [latest - i * step for i in range(n)][::-1]
    if not days:
        raise UsageError(f"no cutoff fits: the data ends {history_end} and the horizon is {config.horizon}; choose earlier --start/--end")
    return [d.strftime("%Y-%m-%d") for d in days]


def backtest_id(cache_meta: dict, cache_path: str, regions, candidates, cutoffs, config: ForecastConfig) -> str:
    """Deterministic id: the same backtest (same cache build, regions, models,
    cutoffs, job settings) gets the same id, so running it again resumes it."""
    blob = json.dumps(
        {
            "cache": cache_path,
            "cache_created": cache_meta.get("created_at"),
            "regions": list(regions),
            "models": [c.label for c in candidates],
            "cutoffs": list(cutoffs),
            "config": config.to_dict(),
        },
        sort_keys=True,
        default=str,
    )
    return "bt-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BacktestTask:
    """One region, one model parameter set, one cutoff."""

    region: str
    cache_path: str
    model: ModelSpec
    cutoff: str
    config: ForecastConfig
    backtest_id: str = ""

    @property
    def key(self) -> str:
        return f"backtest-{self.backtest_id}-{self.region}-{self.model.label}-{self.cutoff}"

    def compute(self) -> "WindowResult":
        return backtest_window(self)


@dataclass(frozen=True)
class WindowResult:
    """Forecast and actuals of one backtest window.

    ``frame`` is indexed by the window's UTC slots with columns ``actual,
    yhat, q10, q50, q90``; ``scale`` is the training history's weekly
    seasonal-naive mean absolute error (MASE's denominator).
    """

    region: str
    key: str
    model: str
    cutoff: str
    frame: pd.DataFrame
    scale: float
    duration: float
    worker: str
    ok = True


def tasks_for(regions, cache_path: str, candidates, cutoffs, config: ForecastConfig, bt_id: str) -> list[BacktestTask]:
    """The flat task list: regions x candidates x cutoffs."""
    return [
        BacktestTask(region, cache_path, spec, cutoff, config, bt_id)
        for region, spec, cutoff in itertools.product(regions, candidates, cutoffs)
    ]


@functools.lru_cache(maxsize=4)
def _region_data(reader, region: str):
    # A worker runs many windows of the same region in a row: read it once.
    return reader.load_region(region)


def backtest_window(task: BacktestTask) -> WindowResult:
    """Fit ``task.model`` on the history before ``task.cutoff`` and forecast the window.

    Raises
    ------
    RegionDataError
        Too little usable history before the cutoff, or no actuals after it.
    ModelError
        The model failed to fit or predict.
    """
    start = time.perf_counter()
    data = _region_data(open_cache(task.cache_path), task.region)
    y, future = history_and_horizon(data, task.cutoff, task.config)
    check_history(y, task.config, task.region)
    actual = data.orders.reindex(future)
    if actual.isna().all():
        raise RegionDataError(task.region, f"no actual orders after the cutoff {task.cutoff}")
    features = build_features(data, y.index.append(future))
    X, X_future = features.iloc[: len(y)], features.iloc[len(y):]
    try:
        forecast = task.model.build().fit(y, X, horizon=len(future)).predict(X_future)
    except Exception as exc:  # noqa: BLE001 - any model failure is this window's
        raise ModelError(task.region, f"{task.model.label} at cutoff {task.cutoff}: {type(exc).__name__}: {exc}") from exc
    frame = forecast.assign(actual=actual.to_numpy(dtype=float))[["actual", "yhat", "q10", "q50", "q90"]]
    return WindowResult(
        task.region, task.key, task.model.label, task.cutoff, frame, seasonal_scale(y), time.perf_counter() - start, worker_name()
    )


