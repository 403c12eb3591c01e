"""The two jobs a worker runs, both on the one engine (:mod:`forecasting.engine.window`).

* :func:`forecast_region`: the nightly job, a window at the run date.  With
  several candidate models it first scores each on a hold-out window cut
  from the end of the history and ranks them (:mod:`forecasting.runs.selection`).
* :func:`backtest_window`: one model on a window at a cutoff, with the
  actuals that followed, for :mod:`forecasting.runs.backtest`.

Both read their region from the cache the worker was shipped; data never
travels with a task.
"""

from __future__ import annotations

import functools
import time

import pandas as pd

from forecasting.config.fields import parse_duration
from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.engine.metrics import rmsse, seasonal_scale, seasonal_scale_sq
from forecasting.engine.staffing import Calibration
from forecasting.engine.window import cut, fit, fit_forecast, oracle_future
from forecasting.errors import ModelError, RegionDataError
from forecasting.models.base import adjust_interval
from forecasting.models.spec import ModelSpec
from forecasting.runs.outcomes import RegionResult, WindowResult, worker_name
from forecasting.runs.selection import rank_candidates

#: Columns of a backtest window's frame (``yhat_oracle``: NaN unless the task asks for the oracle).
WINDOW_FRAME_COLUMNS = ("actual", "yhat", "q10", "q50", "q90", "yhat_oracle")

#: The baseline of live accuracy: seasonal naive with its default parameters.
BASELINE = ModelSpec("seasonal_naive")


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
    window = cut(data, run_date, config)
    diagnostics = dict(window.diagnostics)
    t_features = time.perf_counter()

    scores: dict[str, float] = {}
    candidates = list(config.models)
    if len(candidates) > 1:
        scores, holdout_failures = holdout_scores(window, candidates, config, data)
        diagnostics["holdout_failures"] = holdout_failures
        candidates = rank_candidates(candidates, scores)
    failures: dict[str, str] = {}
    forecast, chosen = None, None
    for spec in candidates:
        try:
            forecast = fit_forecast(window, spec)
            chosen = spec.label  # with its parameters: what a champion and the leaderboard call it
            break
        except Exception as exc:  # noqa: BLE001 - a model's failure is data, try the next
            failures[spec.label] = f"{type(exc).__name__}: {exc}"
    if forecast is None:
        detail = "; ".join(f"{k}: {v}" for k, v in failures.items())
        raise ModelError(region, f"no model could forecast it ({detail})")
    baseline = baseline_forecast(window, forecast, chosen, diagnostics)
    forecast = adjust_interval(forecast, config.interval_adjustment)
    if config.staffing_calibration is not None:
        forecast = forecast.assign(staff=Calibration.from_json(config.staffing_calibration).apply(forecast, data.timezone))
    t_fit = time.perf_counter()
    diagnostics["model_failures"] = failures
    timings = {"load": t_load - t0, "features": t_features - t_load, "fit": t_fit - t_features, "total": t_fit - t0}
    return RegionResult(region, run_date, chosen, forecast, scores, diagnostics, timings, worker_name(), baseline)


def baseline_forecast(window, forecast, chosen: str, diagnostics: dict):
    """The seasonal-naive forecast of the window: what live accuracy compares the forecast with.

    The chosen model's own forecast (before any interval adjustment) when
    it is that baseline; ``None``, with the reason in ``diagnostics``, where
    the baseline fails (the region's forecast stands).
    """
    if chosen == BASELINE.label:
        return forecast
    try:
        return fit_forecast(window, BASELINE)
    except Exception as exc:  # noqa: BLE001 - the baseline's failure is no region's failure
        diagnostics["baseline_failure"] = f"{type(exc).__name__}: {exc}"
        return None


def holdout_scores(window, candidates, config: ForecastConfig, data=None) -> tuple[dict, dict]:
    """RMSSE of each candidate on the last ``selection_window`` of the history, and
    the candidates that failed there (NaN scores for all when the history is too
    short to hold that much out).  With the region's ``data``, the held-out
    slots' regressors are those known at the hold-out's start."""
    n_hold = int(parse_duration(config.selection_window, "selection_window") / pd.Timedelta(window.y.index.freq))
    held = window.holdout(n_hold, data, config.known_regressors)
    if held is None:
        return {c.label: float("nan") for c in candidates}, {}
    horizon = max(len(window.future), n_hold)
    scores, failures = {}, {}
    for spec in candidates:
        try:
            pred = fit_forecast(held, spec, horizon=horizon)
            scores[spec.label] = rmsse(held.actual, pred["yhat"], held.y)
        except Exception as exc:  # noqa: BLE001 - recorded, the other candidates go on
            scores[spec.label] = float("nan")
            failures[spec.label] = f"{type(exc).__name__}: {exc}"
    return scores, failures


@functools.lru_cache(maxsize=4)
def _region_data(reader, region: str):
    # A worker runs many windows of the same region in a row: read it once.
    return reader.load_region(region)


def backtest_window(task) -> WindowResult:
    """Fit ``task.model`` on the history before ``task.cutoff`` and forecast the window.

    The regressors are those known at the cutoff, as in the nightly run.
    With ``task.oracle`` the fitted model also forecasts the window from the
    regressors as recorded (``yhat_oracle``).

    Raises
    ------
    RegionDataError
        Too little usable history before the cutoff, or no actuals after it.
    ModelError
        The model failed to fit or predict.
    """
    start = time.perf_counter()
    data = _region_data(open_cache(task.cache_path), task.region)
    # Staleness is the nightly run's rule (is the feed alive?): a window at a
    # cutoff after a gap in the data is still a fair test of the model.
    window = cut(data, task.cutoff, task.config, staleness=False)
    if window.actual.isna().all():
        raise RegionDataError(task.region, f"no actual orders after the cutoff {task.cutoff}")
    try:
        model = fit(window, task.model)
        forecast = model.predict(window.X_future)
        # The oracle: the same fitted model told the regressors as recorded.
        oracle = model.predict(oracle_future(data, window))["yhat"].to_numpy(dtype=float) if task.oracle else float("nan")
    except Exception as exc:  # noqa: BLE001 - any model failure is this window's
        raise ModelError(task.region, f"{task.model.label} at cutoff {task.cutoff}: {type(exc).__name__}: {exc}") from exc
    frame = forecast.assign(actual=window.actual.to_numpy(dtype=float), yhat_oracle=oracle)[list(WINDOW_FRAME_COLUMNS)]
    return WindowResult(
        task.region, task.key, task.model.label, task.cutoff, frame, seasonal_scale(window.y), time.perf_counter() - start,
        worker_name(), seasonal_scale_sq(window.y),
    )
