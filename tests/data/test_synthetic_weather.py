"""The synthetic cache's weather forecasts: issued daily, ten days ahead, worse further ahead, and only when asked."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np
import pandas as pd
import pytest

from forecasting.data.cache import open_cache
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache, synthetic_region

# Across the spring daylight-saving change in Europe (March 31) and the US (March 10).
SPEC = SyntheticSpec(regions=5, days=40, freq="h", seed=3, start="2024-03-01", weather_forecasts=True)


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic_weather")
    with_forecasts, plain = folder / "with.sqlite", folder / "plain.sqlite"
    build_synthetic_cache(SPEC, with_forecasts)
    build_synthetic_cache(SyntheticSpec(**{**SPEC.__dict__, "weather_forecasts": False}), plain)
    return open_cache(with_forecasts), open_cache(plain)


def _lead_days(forecasts: pd.DataFrame) -> np.ndarray:
    return ((forecasts.ts - forecasts.issued_at) / pd.Timedelta("1D")).to_numpy()


def test_forecasts_are_issued_daily_at_six_local_for_the_next_ten_days(caches):
    cache, _ = caches
    for region in cache.regions():
        data = cache.load_region(region)
        wf = data.weather_forecasts
        assert set(wf.name) == {"temperature", "precipitation"}
        issued = pd.DatetimeIndex(wf.issued_at.unique()).sort_values()
        local = issued.tz_convert(data.timezone)
        assert (local.hour == 6).all() and (local.minute == 0).all(), data.timezone
        # One issue a day, every day of the history, none after it.
        assert list(local.normalize().tz_localize(None)) == list(pd.date_range(SPEC.start, periods=SPEC.days, freq="D"))
        assert issued[-1] <= data.orders.index[-1]
        for (name, when), rows in wf.groupby(["name", "issued_at"]):
            # From the slot after the issue, every slot of the next ten days (the last past the history).
            assert rows.ts.iloc[0] == when + pd.Timedelta("1h") and rows.ts.iloc[-1] == when + pd.Timedelta(days=10)
            assert rows.ts.diff().dropna().eq(pd.Timedelta("1h")).all() and len(rows) == 240
        assert wf.ts.max() > data.orders.index[-1]
        assert set(wf.ts[wf.ts <= data.orders.index[-1]]) <= set(data.orders.index)
        assert (wf[wf.name == "precipitation"].value >= 0).all()


def test_forecast_error_grows_with_lead_time(caches):
    cache, _ = caches
    errors = {"temperature": [], "precipitation": []}
    for region in cache.regions():
        data = cache.load_region(region)
        for name in errors:
            wf = data.weather_forecasts[data.weather_forecasts.name == name]
            recorded = data.exogenous[name].reindex(wf.ts).to_numpy()
            lead = _lead_days(wf)
            known = ~np.isnan(recorded)
            errors[name].append(pd.DataFrame({"lead": np.ceil(lead[known]), "error": wf.value.to_numpy()[known] - recorded[known]}))
    for name, frames in errors.items():
        by_day = pd.concat(frames).groupby("lead").error
        spread = by_day.std() if name == "temperature" else by_day.apply(lambda e: e.abs().mean())
        assert spread.loc[1] < spread.loc[5] < spread.loc[10], (name, spread)
    # The first day's temperature forecast is close (about 1 degree), the tenth's far off.
    temp = pd.concat(errors["temperature"]).groupby("lead").error.std()
    assert temp.loc[1] < 1.5 < 3.0 < temp.loc[10]


def test_forecasts_leave_the_rest_of_the_cache_unchanged_and_are_off_by_default(caches):
    cache, plain = caches
    assert SyntheticSpec().weather_forecasts is False
    assert "weather_forecasts" not in plain.source and cache.source["weather_forecasts"] is True
    for region in plain.regions():
        a, b = cache.load_region(region), plain.load_region(region)
        assert b.weather_forecasts.empty and not a.weather_forecasts.empty
        assert a.orders.equals(b.orders) and a.exogenous.equals(b.exogenous)
        assert a.events.equals(b.events) and a.promotions.equals(b.promotions)


def test_forecasts_are_deterministic_per_region_and_match_the_in_memory_region(tmp_path, caches):
    cache, _ = caches
    fewer = tmp_path / "fewer.sqlite"
    build_synthetic_cache(SyntheticSpec(**{**SPEC.__dict__, "regions": 2}), fewer)
    for region in open_cache(fewer).regions():
        pd.testing.assert_frame_equal(open_cache(fewer).load_region(region).weather_forecasts, cache.load_region(region).weather_forecasts)
    pd.testing.assert_frame_equal(synthetic_region(SPEC, 1).weather_forecasts, cache.load_region("r001").weather_forecasts)
    other = tmp_path / "other.sqlite"
    build_synthetic_cache(SyntheticSpec(**{**SPEC.__dict__, "regions": 1, "seed": 4}), other)
    with closing(sqlite3.connect(other)) as conn:
        values = [v for (v,) in conn.execute("SELECT value FROM weather_forecasts WHERE region = 'r000' ORDER BY name, issued_at, ts")]
    assert values != cache.load_region("r000").weather_forecasts.sort_values(["name", "issued_at", "ts"]).value.tolist()


@pytest.mark.parametrize("freq, per_day", [("15min", 96), ("30min", 48)])
def test_shorter_slots_have_forecasts_for_each_slot(tmp_path, freq, per_day):
    path = tmp_path / "c.sqlite"
    build_synthetic_cache(SyntheticSpec(regions=1, days=3, freq=freq, weather_forecasts=True), path)
    wf = open_cache(path).load_region("r000").weather_forecasts
    assert len(wf) == 2 * 3 * 10 * per_day
    assert _lead_days(wf).min() == pytest.approx(1 / per_day) and _lead_days(wf).max() == pytest.approx(10)
