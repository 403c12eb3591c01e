"""Tests of the model registry and every registered model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.cache import RegionData
from forecasting.errors import ConfigError
from forecasting.engine.features import build_features
from forecasting.models import MODELS, available_models, make_model
from forecasting.models.base import FORECAST_COLUMNS, Forecaster
from forecasting.models.naive import SeasonalNaive

WEEK_H = 168


def _expected(index: pd.DatetimeIndex) -> np.ndarray:
    """Mean orders: strong daily cycle (UTC), busier weekends."""
    hours = (index.hour + index.minute / 60).to_numpy()
    daily = 1 + np.sin(2 * np.pi * (hours - 6) / 24)
    weekend = 1 + 0.5 * (index.day_of_week.to_numpy() >= 5)
    return 30 * daily * weekend + 2


def _region(weeks: float, freq: str = "h", seed: int = 0, values=None) -> RegionData:
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    index = pd.date_range("2024-01-01", periods=int(weeks * 7 * pd.Timedelta("1D") / step), freq=freq, tz="UTC")
    if values is None:
        values = np.random.default_rng(seed).poisson(_expected(index)).astype(float)
    orders = pd.Series(values, index=index, name="orders")
    orders.index.freq = freq
    exog = pd.DataFrame({"temperature": 4 + 3 * np.sin(2 * np.pi * np.arange(len(index)) / (24 * 60 / (step / pd.Timedelta("1min"))))}, index=index)
    events = pd.DataFrame({"start": pd.to_datetime(["2024-01-17 17:00"], utc=True), "end": pd.to_datetime(["2024-01-17 21:00"], utc=True),
                           "kind": ["match"], "name": ["derby"]})
    promotions = pd.DataFrame({"start": pd.to_datetime(["2024-01-22"], utc=True), "end": pd.to_datetime(["2024-01-24"], utc=True), "name": ["p"]})
    holidays = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-06"]), "name": ["new year", "epiphany"]})
    return RegionData("r", "R", "Europe/Berlin", freq, orders, exog, events, promotions, holidays)


def _split(data: RegionData, horizon: int):
    """History, features of history and future, and the held-out truth."""
    y_all = data.orders
    y = y_all.iloc[:-horizon].copy()
    y.index.freq = data.freq
    X = build_features(data, y.index)
    X_future = build_features(data, y_all.index[-horizon:])
    return y, X, X_future, y_all.iloc[-horizon:]


@pytest.fixture(scope="module")
def hourly():
    return _split(_region(8), WEEK_H)


@pytest.fixture(scope="module")
def forecasts(hourly):
    y, X, X_future, _ = hourly
    return {name: make_model(name).fit(y, X, len(X_future)).predict(X_future) for name in available_models()}


def _check_contract(frame: pd.DataFrame, index: pd.DatetimeIndex) -> None:
    assert list(frame.columns) == list(FORECAST_COLUMNS)
    assert frame.index.equals(index)
    values = frame.to_numpy()
    assert values.dtype == np.float64
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (frame["q10"] <= frame["q50"]).all() and (frame["q50"] <= frame["q90"]).all()


# --------------------------------------------------------------------------- registry


def test_registry_lists_models():
    from forecasting.models import plugin_models

    # Plug-ins installed in this virtualenv (the README's example, say) come on top of the built-ins.
    built_in = sorted(set(MODELS) - set(plugin_models()))
    assert available_models() == sorted(MODELS)
    assert built_in == ["combination", "gbm", "gbm_direct", "mean_week", "mstl", "sarimax", "seasonal_median", "seasonal_naive",
                        "seasonal_naive_local", "tsb", "zero"]
    for name, cls in MODELS.items():
        assert issubclass(cls, Forecaster) and cls.name == name


def test_make_model_passes_params():
    model = make_model("seasonal_naive", {"season": "1D", "n_seasons": 3})
    assert isinstance(model, SeasonalNaive)
    assert model.get_params() == {"season": "1D", "n_seasons": 3}


def test_unknown_model_suggests_close_match():
    with pytest.raises(ConfigError) as info:
        make_model("seasonal_naiv")
    message = str(info.value)
    assert "'seasonal_naiv'" in message and "did you mean 'seasonal_naive'" in message
    assert all(name in message for name in available_models())


def test_unknown_model_without_close_match_lists_known():
    with pytest.raises(ConfigError, match="known models: " + ", ".join(available_models())) as info:
        make_model("prophet")
    assert "did you mean" not in str(info.value)


def test_unknown_parameter_suggests_close_match():
    with pytest.raises(ConfigError) as info:
        make_model("seasonal_naive", {"n_season": 4})
    message = str(info.value)
    assert "'n_season'" in message and "did you mean 'n_seasons'" in message and "season, n_seasons" in message
    with pytest.raises(ConfigError, match="learning_rate"):
        make_model("gbm", {"learnin_rate": 0.1})


# --------------------------------------------------------------------------- every model

#: Baselines that are the floor of every comparison, not forecasts meant to be accurate.
FLOORS = {"zero"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sklearn_conventions(name, hourly):
    cls = MODELS[name]
    model = cls()
    # __init__ stores its arguments and nothing else.
    assert vars(model) == model.get_params()
    assert set(model.get_params()) == set(cls.param_names()) and (cls.param_names() or name in FLOORS)
    params = model.get_params()
    y, X, X_future, _ = hourly
    assert model.fit(y, X, len(X_future)) is model
    fitted = set(vars(model)) - set(params)
    assert fitted and all(attr.endswith("_") for attr in fitted)
    assert model.get_params() == params
    assert repr(model).startswith(cls.__name__ + "(")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_contract(name, hourly, forecasts):
    _check_contract(forecasts[name], hourly[2].index)


@pytest.mark.parametrize("name", sorted(set(MODELS) - FLOORS))
def test_beats_flat_mean(name, hourly, forecasts):
    y, _, _, truth = hourly
    flat = np.abs(truth - y.mean()).mean()
    mae = np.abs(truth - forecasts[name]["yhat"]).mean()
    assert mae < 0.6 * flat, (name, mae, flat)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_deterministic(name, hourly, forecasts):
    y, X, X_future, _ = hourly
    again = make_model(name).fit(y.copy(), X.copy(), len(X_future)).predict(X_future.copy())
    pd.testing.assert_frame_equal(again, forecasts[name], check_exact=True)


@pytest.mark.parametrize("name", sorted(set(MODELS) - FLOORS))
def test_gaps_in_history(name, hourly):
    y, X, X_future, truth = hourly
    y = y.copy()
    y.iloc[200:260] = np.nan  # a long interior gap
    y.iloc[-5:] = np.nan  # the latest slots not yet known
    forecast = make_model(name).fit(y, X, len(X_future)).predict(X_future)
    _check_contract(forecast, X_future.index)
    assert np.abs(truth - forecast["yhat"]).mean() < 0.6 * np.abs(truth - y.mean()).mean()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_quarter_hour_slots(name):
    y, X, X_future, _ = _split(_region(3, freq="15min", seed=1), 4 * 24 * 2)
    _check_contract(make_model(name).fit(y, X, len(X_future)).predict(X_future), X_future.index)


# --------------------------------------------------------------------------- seasonal naive


def test_seasonal_naive_reproduces_weekly_periodic_series():
    week = np.random.default_rng(3).poisson(_expected(pd.date_range("2024-01-01", periods=WEEK_H, freq="h", tz="UTC"))).astype(float)
    data = _region(6, values=np.tile(week, 6))
    y, X, X_future, truth = _split(data, 2 * WEEK_H)
    forecast = make_model("seasonal_naive").fit(y, X, len(X_future)).predict(X_future)
    np.testing.assert_array_equal(forecast["yhat"].to_numpy(), truth.to_numpy())
    # No seasonal differences at all: the intervals collapse onto the point.
    for col in ("q10", "q50", "q90"):
        np.testing.assert_array_equal(forecast[col].to_numpy(), truth.to_numpy())


def test_seasonal_naive_falls_back_to_earlier_seasons():
    data = _region(4)
    y, X, X_future, _ = _split(data, 48)
    y = y.copy()
    y.iloc[-WEEK_H:-WEEK_H + 10] = np.nan  # missing in the last season
    y.iloc[-2 * WEEK_H:-2 * WEEK_H + 5] = np.nan  # and, for 5 slots, the one before
    forecast = make_model("seasonal_naive").fit(y, X, 48).predict(X_future)
    expected = y.iloc[-WEEK_H:-WEEK_H + 48].to_numpy().copy()
    expected[:10] = y.iloc[-2 * WEEK_H:-2 * WEEK_H + 10].to_numpy()
    expected[:5] = y.iloc[-3 * WEEK_H:-3 * WEEK_H + 5].to_numpy()
    np.testing.assert_array_equal(forecast["yhat"].to_numpy(), expected)


def test_seasonal_naive_intervals_widen_by_season_and_follow_slot_of_day():
    y, X, X_future, _ = _split(_region(10), 3 * WEEK_H)
    forecast = make_model("seasonal_naive").fit(y, X, len(X_future)).predict(X_future)
    width = (forecast["q90"] - forecast["q10"]).to_numpy()
    # Same slot, k-th season ahead: sqrt(k) times the first season's width,
    # wherever clipping at zero does not interfere.
    lower = forecast["q10"].to_numpy()
    ok = lower[:WEEK_H] > 0
    ok &= lower[2 * WEEK_H:] > 0
    assert ok.sum() > 50
    np.testing.assert_allclose(width[2 * WEEK_H:][ok], np.sqrt(3) * width[:WEEK_H][ok], rtol=1e-9)
    # Busy afternoons are noisier than nights.
    hour = X_future.index.hour
    assert width[(hour >= 10) & (hour <= 14)].mean() > 2 * width[(hour >= 0) & (hour <= 2)].mean()


def test_seasonal_naive_rejects_bad_season(hourly):
    y, X, X_future, _ = hourly
    with pytest.raises(ConfigError, match="whole number"):
        make_model("seasonal_naive", {"season": "90min"}).fit(y, X, len(X_future))


# --------------------------------------------------------------------------- model specifics


def test_gbm_lags_are_known_at_forecast_time(hourly):
    y, X, _, _ = hourly
    model = make_model("gbm", {"max_iter": 5, "lag_weeks": 3})
    assert model.fit(y, X, WEEK_H).lags_ == [WEEK_H, 2 * WEEK_H, 3 * WEEK_H]
    assert model.fit(y, X, WEEK_H + 1).lags_ == [2 * WEEK_H, 3 * WEEK_H, 4 * WEEK_H]
    assert min(model.lags_) >= WEEK_H + 1


def test_sarimax_keeps_fit_warnings(hourly):
    y, X, X_future, _ = hourly
    model = make_model("sarimax", {"maxiter": 2, "order": [1, 0, 0]}).fit(y, X, len(X_future))
    assert isinstance(model.fit_warnings_, list)
    assert any("Convergence" in w for w in model.fit_warnings_)
    _check_contract(model.predict(X_future), X_future.index)


def test_mstl_point_is_median(forecasts):
    forecast = forecasts["mstl"]
    np.testing.assert_array_equal(forecast["yhat"].to_numpy(), forecast["q50"].to_numpy())


# --------------------------------------------------------------------------- local time and the direct gbm


def _local_weekly_region(start: str, weeks: int, tz: str = "America/New_York", seed: int = 5) -> RegionData:
    """Orders that repeat exactly every week in local wall-clock time (closed 2-5 a.m.)."""
    index = pd.date_range(pd.Timestamp(start, tz=tz).tz_convert("UTC"), periods=weeks * WEEK_H, freq="h")
    wall = index.tz_convert(tz)
    rng = np.random.default_rng(seed)
    pattern = rng.poisson(20, size=(7, 24)).astype(float)
    pattern[:, 2:5] = 0.0
    values = pattern[wall.day_of_week, wall.hour]
    orders = pd.Series(values, index=index, name="orders")
    orders.index.freq = "h"
    empty = pd.DataFrame(columns=["start", "end"])
    return RegionData("r", "R", tz, "h", orders, pd.DataFrame(index=index), empty, empty, pd.DataFrame(columns=["date", "name"]))


def test_local_lag_sources_follow_wall_clock_across_dst():
    from forecasting.models.base import local_lag_sources, local_offsets

    data = _local_weekly_region("2024-10-14", 6)  # the clocks go back on 2024-11-03
    X = build_features(data, data.orders.index)
    offsets = local_offsets(X, pd.Timedelta("1h"), 24)
    assert set(np.unique(offsets)) == {-5, -4}
    positions = np.arange(len(X))
    src = local_lag_sources(positions, offsets, WEEK_H, offsets)
    wall = data.orders.index.tz_convert(data.timezone).tz_localize(None)
    ok = src >= 0
    assert ok.sum() == len(X) - WEEK_H
    assert ((wall[positions[ok]] - wall[src[ok]]) == pd.Timedelta("7D")).all()
    # Without a local calendar: plain UTC lags.
    assert (local_offsets(X.drop(columns="cal_slot_of_day"), pd.Timedelta("1h"), 24) == 0).all()


def test_seasonal_naive_local_repeats_local_week_across_dst():
    data = _local_weekly_region("2024-10-07", 6)
    y, X, X_future, truth = _split(data, 2 * WEEK_H)  # the forecast spans the change of 2024-11-03
    local = make_model("seasonal_naive_local").fit(y, X, len(X_future)).predict(X_future)
    np.testing.assert_array_equal(local["yhat"].to_numpy(), truth.to_numpy())
    utc = make_model("seasonal_naive").fit(y, X, len(X_future)).predict(X_future)
    assert np.abs(utc["yhat"] - truth).mean() > 1.0  # shifted by an hour after the change


def test_seasonal_naive_local_is_utc_without_dst(hourly):
    y, X, X_future, _ = hourly  # Europe/Berlin in January and February: no change
    a = make_model("seasonal_naive_local").fit(y, X, len(X_future)).predict(X_future)
    b = make_model("seasonal_naive").fit(y, X, len(X_future)).predict(X_future)
    pd.testing.assert_frame_equal(a, b)


def test_gbm_direct_uses_only_history_lags_in_local_time():
    data = _local_weekly_region("2024-09-30", 8)
    y, X, X_future, truth = _split(data, 4 * WEEK_H)
    model = make_model("gbm_direct", {"max_iter": 30}).fit(y, X, len(X_future))
    assert model.horizon_weeks_ == 4
    forecast = model.predict(X_future)
    _check_contract(forecast, X_future.index)
    # A perfectly weekly local pattern, across the DST change: the freshest lag is the answer.
    assert np.abs(forecast["yhat"] - truth).mean() < 0.1 * truth.mean()
    # No lag reaches into the forecast window: changing it changes nothing.
    h = np.arange(1, len(X_future) + 1)
    k = np.ceil(h / WEEK_H).astype(int)
    from forecasting.models.base import local_lag_sources, local_offsets

    src = local_lag_sources(len(y) - 1 + h, local_offsets(X_future, pd.Timedelta("1h"), 24), k * WEEK_H, model.offsets_)
    assert (src >= 0).all() and (src < len(y)).all()
    assert (len(y) - 1 + h - src >= (k - 1) * WEEK_H).all()


def test_gbm_direct_ignores_data_after_the_cutoff():
    data = _region(6)
    y, X, X_future, _ = _split(data, 2 * WEEK_H)
    first = make_model("gbm_direct", {"max_iter": 20}).fit(y, X, len(X_future)).predict(X_future)
    # Same history, wildly different future orders: the same forecast.
    other = data.orders.copy()
    other.iloc[-2 * WEEK_H:] = 1000.0
    other.index.freq = data.freq
    y2, X2, X_future2, _ = _split(RegionData(data.region, data.name, data.timezone, data.freq, other, data.exogenous, data.events,
                                             data.promotions, data.holidays), 2 * WEEK_H)
    second = make_model("gbm_direct", {"max_iter": 20}).fit(y2, X2, len(X_future2)).predict(X_future2)
    pd.testing.assert_frame_equal(first, second)


def test_gbm_direct_short_history_fails_cleanly():
    y, X, X_future, _ = _split(_region(1.5), WEEK_H // 2)
    y = y.iloc[-WEEK_H:]
    y.index.freq = "h"
    with pytest.raises(ValueError, match="more than one week"):
        make_model("gbm_direct").fit(y, X.iloc[-WEEK_H:], len(X_future))


def test_gbm_direct_intermittent_series():
    data = _region(5, seed=4)
    values = data.orders.to_numpy().copy()
    wall = data.orders.index.tz_convert(data.timezone)
    values[(wall.hour < 10) | (wall.day_of_week == 1)] = 0.0  # closed at night and on Tuesdays
    orders = pd.Series(values, index=data.orders.index)
    orders.index.freq = data.freq
    data = RegionData(data.region, data.name, data.timezone, data.freq, orders, data.exogenous, data.events, data.promotions, data.holidays)
    y, X, X_future, truth = _split(data, 3 * WEEK_H)
    forecast = make_model("gbm_direct", {"max_iter": 50}).fit(y, X, len(X_future)).predict(X_future)
    _check_contract(forecast, X_future.index)
    closed = np.asarray(X_future.index.tz_convert(data.timezone).hour) < 10
    yhat = forecast["yhat"].to_numpy()
    assert yhat[closed].mean() < 0.1 * yhat[~closed].mean()
