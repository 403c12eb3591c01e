"""Tests of forecasting.engine.features."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from forecasting.data.cache import RegionData
from forecasting.engine.features import build_features, calendar_columns, fourier_columns, regressor_columns

TZ = "Europe/Berlin"


def _region(index, *, tz=TZ, freq="h", exogenous=None, events=None, promotions=None, holidays=None, seed=0):
    rng = np.random.default_rng(seed)
    orders = pd.Series(rng.poisson(10, len(index)).astype(float), index=index, name="orders")
    orders.index.freq = freq
    if exogenous is None:
        exogenous = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    if events is None:
        events = pd.DataFrame({"start": pd.to_datetime([], utc=True), "end": pd.to_datetime([], utc=True), "kind": [], "name": []})
    if promotions is None:
        promotions = pd.DataFrame({"start": pd.to_datetime([], utc=True), "end": pd.to_datetime([], utc=True), "name": []})
    if holidays is None:
        holidays = pd.DataFrame({"date": pd.to_datetime([]), "name": []})
    return RegionData("r", "R", tz, freq, orders, exogenous, events, promotions, holidays)


def _full_region(weeks=8, freq="h", seed=0):
    index = pd.date_range("2024-01-01", periods=weeks * 7 * 24 * (4 if freq == "15min" else 1), freq=freq, tz="UTC")
    rng = np.random.default_rng(seed)
    exog = pd.DataFrame(
        {
            "temperature": 5 + 3 * np.sin(2 * np.pi * index.hour.to_numpy() / 24) + rng.normal(0, 0.1, len(index)),
            "precipitation": rng.exponential(1.0, len(index)),
            "fuel_price": 1.7 + rng.normal(0, 0.01, len(index)),
        },
        index=index,
    )
    events = pd.DataFrame(
        {
            "start": pd.to_datetime(["2024-01-10 10:00", "2024-01-10 12:00"], utc=True),
            "end": pd.to_datetime(["2024-01-10 14:00", "2024-01-10 13:00"], utc=True),
            "kind": ["concert", "match"],
            "name": ["a", "b"],
        }
    )
    promotions = pd.DataFrame({"start": pd.to_datetime(["2024-01-15"], utc=True), "end": pd.to_datetime(["2024-01-16"], utc=True), "name": ["p"]})
    holidays = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-02-14"]), "name": ["new year", "valentine"]})
    return _region(index, freq=freq, exogenous=exog, events=events, promotions=promotions, holidays=holidays, seed=seed)


def _extended(data, extra_days=14):
    idx = data.orders.index
    return pd.date_range(idx[0], idx[-1] + pd.Timedelta(days=extra_days), freq=data.freq)


def test_columns_types_and_index():
    data = _full_region()
    index = _extended(data)
    frame = build_features(data, index)
    assert frame.index.equals(index)
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert np.isfinite(frame.to_numpy()).all()
    expected = {"cal_slot_of_day", "cal_dow", "cal_month", "cal_doy", "hol_holiday", "hol_next_day", "evt_active", "evt_soon",
                "promo_active", "wx_temperature", "wx_precipitation", "x_fuel_price", "moon_illumination"}
    expected |= {f"fourier_day_{k}{i}" for k in ("sin", "cos") for i in range(1, 7)}
    expected |= {f"fourier_week_{k}{i}" for k in ("sin", "cos") for i in range(1, 4)}
    assert set(frame.columns) == expected
    assert frame["cal_slot_of_day"].between(0, 23).all()
    assert frame["cal_dow"].between(0, 6).all()


def test_column_helpers():
    frame = build_features(_full_region(weeks=1), _full_region(weeks=1).orders.index)
    assert calendar_columns(frame) == ["cal_slot_of_day", "cal_dow", "cal_month", "cal_doy"]
    assert len(fourier_columns(frame)) == 18
    assert set(fourier_columns(frame, day=2, week=1)) == {
        "fourier_day_sin1", "fourier_day_cos1", "fourier_day_sin2", "fourier_day_cos2", "fourier_week_sin1", "fourier_week_cos1"}
    assert fourier_columns(frame, day=0, week=0) == []
    regs = regressor_columns(frame)
    assert set(regs) == {"hol_holiday", "hol_next_day", "evt_active", "evt_soon", "promo_active", "wx_temperature",
                         "wx_precipitation", "x_fuel_price", "moon_illumination"}


def test_features_do_not_read_orders():
    data = _full_region()
    index = _extended(data)
    before = build_features(data, index)
    other = data.orders * 0 + 1e6
    other.iloc[::3] = np.nan
    changed = RegionData(data.region, data.name, data.timezone, data.freq, other, data.exogenous, data.events, data.promotions, data.holidays)
    pd.testing.assert_frame_equal(build_features(changed, index), before, check_exact=True)


def test_deterministic():
    data = _full_region()
    index = _extended(data)
    a, b = build_features(data, index), build_features(data, index)
    assert a.equals(b)


@pytest.mark.parametrize("freq", ["h", "15min"])
def test_local_calendar_across_dst_start(freq):
    # Europe/Berlin springs forward on 2024-03-31: 02:00 CET -> 03:00 CEST (01:00 UTC).
    index = pd.date_range("2024-03-30 06:00", "2024-04-01 12:00", freq=freq, tz="UTC")
    frame = build_features(_region(index, freq=freq), index)
    per_hour = 4 if freq == "15min" else 1
    slot = frame["cal_slot_of_day"]
    assert slot[pd.Timestamp("2024-03-31 00:00", tz="UTC")] == 1 * per_hour  # 01:00 CET
    assert slot[pd.Timestamp("2024-03-31 01:00", tz="UTC")] == 3 * per_hour  # 03:00 CEST
    assert slot[pd.Timestamp("2024-03-31 21:00", tz="UTC")] == 23 * per_hour  # 23:00 CEST
    monday = pd.Timestamp("2024-03-31 22:00", tz="UTC")  # midnight local, Monday 1 April
    assert slot[monday] == 0 and frame.at[monday, "cal_dow"] == 0
    assert frame.at[monday, "cal_month"] == 4 and frame.at[monday, "cal_doy"] == 92
    assert frame.at[pd.Timestamp("2024-03-31 21:00", tz="UTC"), "cal_dow"] == 6
    # Local noon before and after the change: same daily phase.
    fourier = fourier_columns(frame, week=0)
    np.testing.assert_allclose(
        frame.loc[pd.Timestamp("2024-03-30 11:00", tz="UTC"), fourier].to_numpy(),
        frame.loc[pd.Timestamp("2024-03-31 10:00", tz="UTC"), fourier].to_numpy(),
        atol=1e-12,
    )
    assert slot.max() == 24 * per_hour - 1


def test_fourier_terms_are_daily_and_weekly_periodic():
    index = pd.date_range("2024-01-08", periods=24 * 21, freq="h", tz="UTC")  # winter: no DST change
    frame = build_features(_region(index), index)
    day = frame[fourier_columns(frame, week=0)].to_numpy()
    week = frame[fourier_columns(frame, day=0)].to_numpy()
    np.testing.assert_allclose(day[24:], day[:-24], atol=1e-9)
    np.testing.assert_allclose(week[168:], week[:-168], atol=1e-9)
    assert not np.allclose(week[24:], week[:-24])


def test_holidays_use_local_dates():
    index = pd.date_range("2023-12-31 20:00", "2024-01-02 02:00", freq="h", tz="UTC")
    holidays = pd.DataFrame({"date": pd.to_datetime(["2024-01-01"]), "name": ["new year"]})
    frame = build_features(_region(index, holidays=holidays), index)
    local = index.tz_convert(TZ)
    is_day = (local.year == 2024) & (local.month == 1) & (local.day == 1)
    is_eve = (local.month == 12) & (local.day == 31)
    np.testing.assert_array_equal(frame["hol_holiday"].to_numpy(), is_day.astype(float))
    np.testing.assert_array_equal(frame["hol_next_day"].to_numpy(), is_eve.astype(float))
    # 23:00 UTC on 31 December is already 1 January in Berlin.
    assert frame.at[pd.Timestamp("2023-12-31 23:00", tz="UTC"), "hol_holiday"] == 1


def test_events_and_promotions():
    data = _full_region()
    index = pd.date_range("2024-01-10 06:00", "2024-01-10 16:00", freq="h", tz="UTC")
    frame = build_features(data, index)
    hours = index.hour
    # Two events: [10, 14) and [12, 13); end exclusive.
    expected_active = ((hours >= 10) & (hours < 14)).astype(float) + (hours == 12).astype(float)
    np.testing.assert_array_equal(frame["evt_active"].to_numpy(), expected_active)
    # Starts at 10:00 and 12:00: "soon" in the two hours before each.
    expected_soon = np.isin(hours, [8, 9, 10, 11]).astype(float)
    np.testing.assert_array_equal(frame["evt_soon"].to_numpy(), expected_soon)
    promo = build_features(data, pd.date_range("2024-01-14 23:00", "2024-01-16 01:00", freq="h", tz="UTC"))["promo_active"]
    assert promo.iloc[0] == 0 and promo.iloc[1] == 1 and promo.iloc[-3] == 1 and promo.iloc[-2] == 0


def test_exogenous_pass_through_and_climatology():
    data = _full_region()
    index = _extended(data, extra_days=40)  # into March: a month with no weather data
    frame = build_features(data, index)
    hist = data.orders.index
    np.testing.assert_array_equal(frame.loc[hist, "wx_temperature"].to_numpy(), data.exogenous["temperature"].to_numpy())
    np.testing.assert_array_equal(frame.loc[hist, "x_fuel_price"].to_numpy(), data.exogenous["fuel_price"].to_numpy())
    future = frame.loc[frame.index > hist[-1]]
    assert len(future) > 0 and np.isfinite(future.to_numpy()).all()
    # Same local slot of day and month (February): the mean of those slots.
    exog = data.exogenous
    local = exog.index.tz_convert(TZ)
    t = pd.Timestamp("2024-02-27 13:00", tz="UTC")
    assert t > hist[-1]
    same = (local.hour == 14) & (local.month == 2)
    assert frame.at[t, "wx_temperature"] == pytest.approx(exog.loc[same, "temperature"].mean())
    # March has no data: falls back to the slot-of-day mean over everything.
    t = pd.Timestamp("2024-03-05 13:00", tz="UTC")
    assert frame.at[t, "wx_temperature"] == pytest.approx(exog.loc[local.hour == 14, "temperature"].mean())


def test_climatology_with_gaps_and_no_exogenous():
    data = _full_region(weeks=2)
    exog = data.exogenous.copy()
    exog.iloc[::2, 0] = np.nan
    exog["empty"] = np.nan
    gappy = RegionData(data.region, data.name, data.timezone, data.freq, data.orders, exog, data.events, data.promotions, data.holidays)
    frame = build_features(gappy, _extended(data, 7))
    assert np.isfinite(frame.to_numpy()).all()
    assert (frame["x_empty"] == 0).all()
    bare = build_features(_region(data.orders.index), _extended(data, 7))
    assert not any(c.startswith(("wx_", "x_")) for c in bare.columns)
    assert np.isfinite(bare.to_numpy()).all()


def test_moon_illumination():
    index = pd.DatetimeIndex(["2000-01-06 18:14", "2024-01-11 11:57", "2024-01-25 17:54", "2024-02-02 23:18"], tz="UTC")
    year = pd.date_range("2024-01-01", periods=24 * 366, freq="h", tz="UTC")
    region = _region(year)
    moon = build_features(region, index)["moon_illumination"].to_numpy()
    assert moon[0] == pytest.approx(0.0, abs=1e-12)  # reference new moon
    assert moon[1] < 0.02  # new moon
    assert moon[2] > 0.98  # full moon
    assert 0.3 < moon[3] < 0.7  # last quarter
    full = build_features(region, year)["moon_illumination"]
    assert full.between(0, 1).all()
