"""Tests of forecasting.engine.exogenous: regressors as they were known at the origin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import RegionData
from forecasting.engine.features import build_features
from forecasting.engine.window import cut, oracle_future

TZ = "Europe/Berlin"
#: Recorded values from the origin on: far outside anything else in the data.
SENTINEL = 1000.0


def _region(weeks=6, forecasts=None) -> RegionData:
    index = pd.date_range("2024-01-01", periods=weeks * 7 * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    exog = pd.DataFrame({"temperature": 5 + rng.normal(0, 1, len(index)), "capacity": 50 + rng.normal(0, 1, len(index))},
                        index=index)
    orders = pd.Series(rng.poisson(20, len(index)).astype(float), index=index, name="orders")
    orders.index.freq = "h"
    empty = pd.to_datetime([], utc=True)
    data = RegionData("r", "R", TZ, "h", orders, exog,
                      pd.DataFrame({"start": empty, "end": empty, "kind": [], "name": []}),
                      pd.DataFrame({"start": empty, "end": empty, "name": []}),
                      pd.DataFrame({"date": pd.to_datetime([]), "name": []}))
    return data if forecasts is None else dataclasses.replace(data, weather_forecasts=forecasts)


def _forecasts(issues, slots, value) -> pd.DataFrame:
    rows = [{"name": "temperature", "issued_at": i, "ts": t, "value": value(i, t)} for i in issues for t in slots if t > i]
    frame = pd.DataFrame(rows)
    for col in ("issued_at", "ts"):
        frame[col] = pd.DatetimeIndex(frame[col])
    return frame


def _poisoned(data: RegionData, origin: pd.Timestamp) -> RegionData:
    """The recorded weather from the origin on replaced by a sentinel no honest feature may show."""
    exog = data.exogenous.copy()
    exog.loc[exog.index >= origin, "temperature"] = SENTINEL
    return dataclasses.replace(data, exogenous=exog)


def test_the_window_never_sees_recorded_weather_from_the_origin_on():
    origin = pd.Timestamp("2024-02-01", tz=TZ).tz_convert("UTC")
    data = _poisoned(_region(), origin)
    index = pd.date_range("2024-01-01", "2024-02-10", freq="h", tz="UTC", inclusive="left")
    honest = build_features(data, index, known_at=origin)
    future = honest.index >= origin
    assert (honest.loc[future, "wx_temperature"] < 100).all()  # climatology of the values before the origin
    assert (honest.loc[~future, "wx_temperature"] == data.exogenous.temperature.reindex(index)[~future]).all()
    # The climatology is of the past only: the sentinel would drag every mean up.
    before = data.exogenous.temperature[data.exogenous.index < origin]
    assert honest.loc[future, "wx_temperature"].mean() == pytest.approx(before.mean(), abs=1.0)
    oracle = build_features(data, index)
    assert (oracle.loc[future, "wx_temperature"] == SENTINEL).all()


def test_the_latest_forecast_issued_before_the_origin_and_never_one_issued_at_or_after_it():
    origin = pd.Timestamp("2024-02-01", tz=TZ).tz_convert("UTC")
    slots = pd.date_range(origin - pd.Timedelta("2D"), origin + pd.Timedelta("4D"), freq="h")
    issues = [origin - pd.Timedelta("30h"), origin - pd.Timedelta("6h"), origin, origin + pd.Timedelta("1h")]
    # A forecast's value says when it was issued: hours before the origin (negative after it).
    fc = _forecasts(issues, slots, lambda i, t: -500 - (origin - i) / pd.Timedelta("1h"))
    data = _poisoned(_region(forecasts=fc), origin)
    window = cut(data, "2024-02-01", ForecastConfig(horizon="7D"))
    got = window.X_future.wx_temperature
    covered = got.index <= slots[-1]
    assert (got[covered] == -506).all()  # issued 6 h before: the latest before the origin
    assert (got[~covered].abs() < 100).all()  # beyond the last forecast: climatology
    # Issued at or after the origin, or recorded: never.
    assert not got.isin([-500, -499, SENTINEL]).any()


def test_known_regressors_are_used_as_recorded():
    origin = pd.Timestamp("2024-02-01", tz=TZ).tz_convert("UTC")
    data = _region()
    exog = data.exogenous.copy()
    exog.loc[exog.index >= origin, "capacity"] = 80.0  # planned: a new depot opens at the origin
    data = dataclasses.replace(data, exogenous=exog)
    planned = cut(data, "2024-02-01", ForecastConfig(horizon="7D", known_regressors=("capacity",))).X_future
    observed = cut(data, "2024-02-01", ForecastConfig(horizon="7D")).X_future
    assert (planned.x_capacity == 80.0).all()
    assert (observed.x_capacity < 60).all()


def test_oracle_future_gives_the_recorded_values():
    origin = pd.Timestamp("2024-02-01", tz=TZ).tz_convert("UTC")
    data = _poisoned(_region(), origin)
    window = cut(data, "2024-02-01", ForecastConfig(horizon="7D"))
    oracle = oracle_future(data, window)
    assert oracle.index.equals(window.future)
    assert (oracle.wx_temperature == SENTINEL).all() and (window.X_future.wx_temperature < 100).all()
    other = [c for c in oracle.columns if c not in ("wx_temperature", "x_capacity")]
    pd.testing.assert_frame_equal(oracle[other], window.X_future[other])  # calendar and the rest: the same


def test_the_nightly_hold_out_scores_with_the_regressors_known_at_its_start():
    data = _region()
    window = cut(data, "2024-02-01", ForecastConfig(horizon="7D"))
    slots = 7 * 24
    start = window.y.index[-slots]
    poisoned = _poisoned(data, start)
    window = cut(poisoned, "2024-02-01", ForecastConfig(horizon="7D"))
    assert (window.X.wx_temperature.iloc[-slots:] == SENTINEL).all()  # recorded: the history's own
    honest = window.holdout(slots, poisoned)
    assert honest.X_future.index[0] == start and (honest.X_future.wx_temperature < 100).all()
    assert (window.holdout(slots).X_future.wx_temperature == SENTINEL).all()
