"""Tests of the TSB model for intermittent demand (forecasting.models.intermittent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.cache import RegionData
from forecasting.engine.features import build_features
from forecasting.errors import ConfigError
from forecasting.models import MODELS, check_model
from forecasting.models.intermittent import TSB

WEEK_H = 168
TZ = "Europe/Berlin"


def _region(values: np.ndarray, start: str = "2024-01-01") -> RegionData:
    index = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    orders = pd.Series(np.asarray(values, dtype=float), index=index, name="orders")
    orders.index.freq = "h"
    no_time = pd.to_datetime([], utc=True)
    events = pd.DataFrame({"start": no_time, "end": no_time, "kind": [], "name": []})
    promotions = pd.DataFrame({"start": no_time, "end": no_time, "name": []})
    holidays = pd.DataFrame({"date": pd.to_datetime([]), "name": []})
    return RegionData("r", "R", TZ, "h", orders, pd.DataFrame(index=index), events, promotions, holidays)


def _local_slot_of_week(index: pd.DatetimeIndex) -> np.ndarray:
    local = index.tz_convert(TZ)
    return (local.day_of_week * 24 + local.hour).to_numpy()


def _poisson(rates: np.ndarray, weeks: int, seed: int):
    """Poisson counts whose rate is ``rates[local slot of the week]``; returns the region and the rate of every slot."""
    index = pd.date_range("2024-01-01", periods=weeks * WEEK_H, freq="h", tz="UTC")
    lam = rates[_local_slot_of_week(index)]
    return _region(np.random.default_rng(seed).poisson(lam)), lam


def _fit_predict(data: RegionData, horizon: int, y=None, **params):
    """Fit on all but the last ``horizon`` slots (or on ``y``), forecast those."""
    history = data.orders.iloc[:-horizon].copy() if y is None else y
    history.index.freq = "h"
    X = build_features(data, history.index)
    future = data.orders.index[len(history):len(history) + horizon]
    return TSB(**params).fit(history, X, horizon).predict(build_features(data, future))


def _coverage(forecast: pd.DataFrame, lam: np.ndarray, seed: int = 7) -> float:
    """Share of fresh Poisson draws inside [q10, q90]."""
    draws = np.random.default_rng(seed).poisson(lam, size=(300, len(lam)))
    return float(((draws >= forecast["q10"].to_numpy()) & (draws <= forecast["q90"].to_numpy())).mean())


def _ordered(forecast: pd.DataFrame) -> bool:
    q10, q50, q90 = (forecast[c].to_numpy() for c in ("q10", "q50", "q90"))
    return bool(((0 <= q10) & (q10 <= q50) & (q50 <= q90)).all())


@pytest.fixture(scope="module")
def rates():
    return np.random.default_rng(0).uniform(0.05, 0.3, WEEK_H)


def test_keeps_the_model_contract():
    check_model(TSB)
    assert MODELS["tsb"] is TSB


def test_sparse_poisson_mean_tracks_the_rate_per_slot(rates):
    data, lam = _poisson(rates, weeks=53, seed=1)
    forecast = _fit_predict(data, WEEK_H)
    truth, yhat = lam[-WEEK_H:], forecast["yhat"].to_numpy()
    # Unbiased on average, not the all-zero forecast a level model drifts to, and it knows the busier slots.
    assert abs(yhat.mean() / truth.mean() - 1) < 0.15
    assert (yhat > 0).mean() > 0.75
    assert np.corrcoef(yhat, truth)[0, 1] > 0.4
    assert _ordered(forecast)
    # Counts are discrete, so an 80% band of a mostly-zero slot covers more than 80%; but not everything.
    assert 0.7 <= _coverage(forecast, truth) < 0.99
    assert (forecast["q90"] > forecast["q50"]).mean() > 0.5


def test_dense_series_is_per_slot_smoothing_with_calibrated_bands(rates):
    data, lam = _poisson(rates * 100, weeks=53, seed=2)
    forecast = _fit_predict(data, WEEK_H)
    truth, yhat = lam[-WEEK_H:], forecast["yhat"].to_numpy()
    assert abs(yhat.mean() / truth.mean() - 1) < 0.05
    assert np.corrcoef(yhat, truth)[0, 1] > 0.9
    assert _ordered(forecast)
    assert 0.7 <= _coverage(forecast, truth) <= 0.9
    # Slots of rate >= 5 have a zero now and then, which may push q10 of one of them to 0, not of many.
    assert (forecast["q10"].to_numpy() > 0).mean() > 0.9


def test_all_zero_history_forecasts_zeros():
    data = _region(np.zeros(6 * WEEK_H))
    forecast = _fit_predict(data, WEEK_H)
    assert (forecast.to_numpy() == 0).all()


def test_slot_with_only_zeros_forecasts_zero(rates):
    data, _ = _poisson(rates * 10, weeks=20, seed=3)
    values = data.orders.to_numpy().copy()
    slot = _local_slot_of_week(data.orders.index)
    values[slot == 5] = 0  # Monday 05:00 local never has demand
    values[slot == 6] = 0  # nor Monday 06:00, unknown in the first (initialisation) weeks
    values[(slot == 6) & (np.arange(len(values)) < 6 * WEEK_H)] = np.nan
    data = _region(values)
    forecast = _fit_predict(data, WEEK_H)
    quiet = np.isin(_local_slot_of_week(forecast.index), [5, 6])
    assert (forecast[quiet].to_numpy() == 0).all()
    assert (forecast["yhat"][~quiet] > 0).all()


def test_unknown_slots_leave_the_estimates_as_they_were(rates):
    data, _ = _poisson(rates, weeks=20, seed=4)
    y = data.orders.iloc[:-WEEK_H].copy()
    y.iloc[-WEEK_H:] = np.nan  # the last week of the history unknown
    y.iloc[100:140] = np.nan
    with_gap = _fit_predict(data, WEEK_H, y=y)
    y_short = y.iloc[:-WEEK_H].copy()
    # Fitted without the unknown week, forecast the same slots (a slot's forecast does not depend on the horizon).
    short = TSB().fit(y_short, build_features(data, y_short.index), 2 * WEEK_H)
    pd.testing.assert_frame_equal(short.predict(build_features(data, with_gap.index)), with_gap)


def test_slots_follow_local_time_across_daylight_saving():
    # Three orders every Monday at 12:00 Berlin time; the clocks go forward on 31 March 2024.
    index = pd.date_range("2024-02-05", "2024-04-22", freq="h", tz="UTC", inclusive="left")
    local = index.tz_convert(TZ)
    values = np.where((local.day_of_week == 0) & (local.hour == 12), 3.0, 0.0)
    data = _region(np.concatenate([values, np.zeros(WEEK_H)]), start="2024-02-05")
    forecast = _fit_predict(data, WEEK_H)
    peak = forecast.index[forecast["yhat"].argmax()].tz_convert(TZ)
    assert (peak.day_of_week, peak.hour) == (0, 12)
    assert forecast["q50"].max() == pytest.approx(3.0)
    assert (forecast["yhat"] > 0).sum() == 1


def test_size_follows_a_change_of_level():
    # Demand at every slot, 5 orders on average for 10 weeks, then 20 for 30 weeks.
    lam = np.repeat([5.0, 20.0], [10 * WEEK_H, 31 * WEEK_H])
    data = _region(np.random.default_rng(5).poisson(lam))
    forecast = _fit_predict(data, WEEK_H)
    assert abs(forecast["yhat"].mean() / 20 - 1) < 0.1
    assert 0.7 <= _coverage(forecast, lam[-WEEK_H:]) <= 0.9


def test_larger_alpha_forgets_faster():
    # A slot busy for 16 weeks, then quiet for 4: the faster model has lowered its probability more.
    values = np.zeros(20 * WEEK_H)
    values[: 16 * WEEK_H: WEEK_H] = 2.0
    data = _region(np.concatenate([values, np.zeros(WEEK_H)]))
    slow = _fit_predict(data, WEEK_H, alpha_demand=0.05)["yhat"].max()
    fast = _fit_predict(data, WEEK_H, alpha_demand=0.5)["yhat"].max()
    assert 0 < fast < slow < 2.0


@pytest.mark.parametrize("params", [
    {"alpha_demand": 0}, {"alpha_demand": 1.5}, {"alpha_size": -0.1}, {"alpha_size": "0.1"}, {"alpha_demand": True},
    {"alpha_size": float("nan")}, {"init_seasons": 0}, {"init_seasons": 1.5}, {"season": "bogus"}, {"season": "90min"},
])
def test_bad_params_raise_config_error(params):
    data = _region(np.ones(3 * WEEK_H))
    with pytest.raises(ConfigError, match=r"^[^\n]+$"):
        _fit_predict(data, 24, **params)
