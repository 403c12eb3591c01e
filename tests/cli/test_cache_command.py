"""``forecasting cache build`` and ``cache import``: what each option changes in the cache written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting import errors
from forecasting.cli.main import main
from forecasting.data.cache import open_cache


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecasting: error: ") and "Traceback" not in err[0]
    return err[0]


def _build(path: Path, *options: str) -> Path:
    assert main(["cache", "build", "--synthetic", "--regions", "2", "--days", "3", "--out", str(path), *options]) == 0
    return path


def _step(freq: str) -> pd.Timedelta:
    return pd.Timedelta(pd.tseries.frequencies.to_offset(freq))


def _spacing(orders: pd.Series) -> set:
    """The distinct steps between consecutive slots."""
    return set(orders.index[1:] - orders.index[:-1])


def _orders(path: Path, region: str = "r000") -> pd.Series:
    return open_cache(path).load_region(region).orders


# --------------------------------------------------------------------------- cache build


def test_build_needs_synthetic(capsys, tmp_path):
    assert main(["cache", "build", "--out", str(tmp_path / "c.sqlite")]) == errors.EXIT_USAGE
    assert "--synthetic" in _one_line_error(capsys)
    assert not (tmp_path / "c.sqlite").exists()


def test_build_regions_and_days(capsys, tmp_path):
    path = tmp_path / "c.sqlite"
    assert main(["cache", "build", "--synthetic", "--regions", "3", "--days", "4", "--out", str(path)]) == 0
    assert f"wrote {path}: 3 synthetic regions, 4 days" in capsys.readouterr().out
    cache = open_cache(path)
    assert cache.regions() == ["r000", "r001", "r002"]
    orders = cache.load_region("r001").orders
    assert orders.index[-1] + _step(cache.freq) - orders.index[0] == pd.Timedelta("4D")


@pytest.mark.parametrize("freq", ["15min", "30min", "h"])
def test_build_freq_sets_the_slot_spacing(tmp_path, freq):
    path = _build(tmp_path / "c.sqlite", "--freq", freq)
    assert open_cache(path).freq == freq
    orders = _orders(path)
    assert _spacing(orders) == {_step(freq)}
    assert len(orders) == 3 * pd.Timedelta("1D") // _step(freq)


def test_build_start_is_the_first_local_day(tmp_path):
    default = _orders(_build(tmp_path / "default.sqlite"))
    moved = _orders(_build(tmp_path / "moved.sqlite", "--start", "2024-03-05"))
    tz = open_cache(tmp_path / "moved.sqlite").load_region("r000").timezone
    assert moved.index[0].tz_convert(tz) == pd.Timestamp("2024-03-05", tz=tz)
    assert default.index[0].tz_convert(tz) != moved.index[0].tz_convert(tz)


def test_build_seed_same_data_for_the_same_seed_other_data_for_another(tmp_path):
    a = _orders(_build(tmp_path / "a.sqlite", "--seed", "5"))
    again = _orders(_build(tmp_path / "again.sqlite", "--seed", "5"))
    other = _orders(_build(tmp_path / "other.sqlite", "--seed", "6"))
    pd.testing.assert_series_equal(a, again)
    assert a.index.equals(other.index) and not np.array_equal(a.to_numpy(), other.to_numpy())


def test_build_weather_forecasts_adds_daily_issues_and_changes_nothing_else(capsys, tmp_path):
    plain = open_cache(_build(tmp_path / "plain.sqlite")).load_region("r000")
    path = _build(tmp_path / "forecasts.sqlite", "--weather-forecasts")
    assert "daily weather forecasts" in capsys.readouterr().out
    data = open_cache(path).load_region("r000")
    assert plain.weather_forecasts.empty and set(data.weather_forecasts.name) == {"temperature", "precipitation"}
    issued = data.weather_forecasts.issued_at.drop_duplicates().dt.tz_convert(data.timezone)
    assert len(issued) == 3 and (issued.dt.hour == 6).all()  # one a day, at 06:00 local
    assert data.orders.equals(plain.orders) and data.exogenous.equals(plain.exogenous)


# --------------------------------------------------------------------------- cache import


def _hourly_orders(tmp_path: Path, suffix: str = "Z") -> Path:
    """Regions A and B, every hour of 2024-01-01, A's orders = its hour, B's = 1."""
    stamps = pd.date_range("2024-01-01", periods=24, freq="h")
    rows = [f"A,{t:%Y-%m-%dT%H:%M:%S}{suffix},{t.hour}" for t in stamps] + [f"B,{t:%Y-%m-%dT%H:%M:%S}{suffix},1" for t in stamps]
    path = tmp_path / "orders.csv"
    path.write_text("region,timestamp,orders\n" + "\n".join(rows) + "\n")
    return path


def _import(tmp_path: Path, *options: str, orders: Path | None = None) -> Path:
    out = tmp_path / "imported.sqlite"
    assert main(["cache", "import", "--orders", str(orders or _hourly_orders(tmp_path)), "--out", str(out), *options]) == 0
    return out


def test_import_orders(capsys, tmp_path):
    out = _import(tmp_path)
    assert "2 regions" in capsys.readouterr().out
    cache = open_cache(out)
    assert cache.regions() == ["A", "B"]
    a = cache.load_region("A").orders
    assert a.tolist() == list(range(24)) and a.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_import_events_reach_their_regions(capsys, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("region,start,end,kind,name\n"
                      "A,2024-01-01T18:00Z,2024-01-01T20:00Z,football,derby\n"
                      ",2024-01-01T00:00Z,2024-01-02T00:00Z,holiday,New Year\n")
    out = _import(tmp_path, "--events", str(events))
    assert "events: 2" in capsys.readouterr().out
    cache = open_cache(out)
    a, b = cache.load_region("A").events, cache.load_region("B").events
    assert sorted(zip(a.kind, a.name)) == [("football", "derby"), ("holiday", "New Year")]
    derby = a[a.kind == "football"].iloc[0]
    assert (derby.start, derby.end) == (pd.Timestamp("2024-01-01 18:00", tz="UTC"), pd.Timestamp("2024-01-01 20:00", tz="UTC"))
    assert list(zip(b.kind, b.name)) == [("holiday", "New Year")]  # an empty region: everywhere
    # Without --events the cache has none.
    (tmp_path / "plain").mkdir()
    assert open_cache(_import(tmp_path / "plain", orders=_hourly_orders(tmp_path))).load_region("A").events.empty


@pytest.mark.parametrize("freq, per_hour", [("30min", 2), ("15min", 4)])
def test_import_freq_sets_the_slots_and_fills_the_new_ones(tmp_path, freq, per_hour):
    inferred = open_cache(_import(tmp_path)).load_region("A").orders
    assert _spacing(inferred) == {pd.Timedelta("1h")}

    (tmp_path / freq).mkdir()
    out = _import(tmp_path / freq, "--freq", freq, orders=_hourly_orders(tmp_path))
    cache = open_cache(out)
    assert cache.freq == freq
    a = cache.load_region("A").orders
    # From the first row (00:00) to the last (23:00): nothing is filled after the last row.
    assert _spacing(a) == {_step(freq)} and len(a) == 23 * per_hour + 1
    # The hourly rows keep their values; the slots between them (open day, no row) are 0 orders.
    on_the_hour = a.index.minute == 0
    assert a[on_the_hour].tolist() == list(range(24)) and (a[~on_the_hour] == 0).all()


def test_import_freq_refuses_rows_off_its_grid(capsys, tmp_path):
    orders = tmp_path / "half.csv"
    orders.write_text("region,timestamp,orders\nA,2024-01-01T00:00Z,1\nA,2024-01-01T00:30Z,2\nA,2024-01-01T01:00Z,3\n")
    out = tmp_path / "c.sqlite"
    assert main(["cache", "import", "--orders", str(orders), "--out", str(out), "--freq", "h"]) == errors.EXIT_USAGE
    assert "is not on the 1h slot grid" in _one_line_error(capsys)
    assert not out.exists()
    assert open_cache(_import(tmp_path, orders=orders)).freq == "30min"  # inferred without --freq


def test_import_features(capsys, tmp_path):
    features = tmp_path / "features.csv"
    features.write_text("region,timestamp,temperature\nA,2024-01-01T03:00Z,-2.5\nB,2024-01-01T04:00Z,7\n")
    out = _import(tmp_path, "--features", str(features))
    a = open_cache(out).load_region("A").exogenous
    assert a.columns.tolist() == ["temperature"]
    assert a.loc[pd.Timestamp("2024-01-01 03:00", tz="UTC"), "temperature"] == -2.5


def test_import_holidays(tmp_path):
    holidays = tmp_path / "holidays.csv"
    holidays.write_text("date,name,region\n2024-01-01,New Year,\n2024-01-02,A day,A\n")
    cache = open_cache(_import(tmp_path, "--holidays", str(holidays)))
    assert sorted(cache.load_region("A").holidays.name) == ["A day", "New Year"]
    assert cache.load_region("B").holidays.name.tolist() == ["New Year"]


def test_import_timezone_reads_naive_timestamps_as_local_time(tmp_path):
    out = _import(tmp_path, "--timezone", "Europe/Berlin", orders=_hourly_orders(tmp_path, suffix=""))
    a = open_cache(out).load_region("A")
    assert a.timezone == "Europe/Berlin"
    assert a.orders.index[0] == pd.Timestamp("2024-01-01 00:00", tz="Europe/Berlin")  # 23:00 UTC the day before
    assert a.orders.iloc[0] == 0  # the row of local midnight


def test_import_weather_forecasts(capsys, tmp_path):
    forecasts = tmp_path / "forecasts.csv"
    forecasts.write_text("region,issued_at,timestamp,temperature\n"
                         "A,2023-12-31T18:30:00Z,2024-01-01T03:00Z,-2\n"
                         "A,2024-01-01T01:45:00Z,2024-01-01T03:00Z,-1.5\n"
                         "B,2023-12-31T18:30:00Z,2024-01-01T04:00Z,7\n")
    out = _import(tmp_path, "--weather-forecasts", str(forecasts))
    assert "weather forecasts: temperature (3 rows, 3 issues)" in capsys.readouterr().out
    a = open_cache(out).load_region("A").weather_forecasts
    assert a.value.tolist() == [-2.0, -1.5] and set(a.ts) == {pd.Timestamp("2024-01-01 03:00", tz="UTC")}
    assert a.issued_at.tolist() == [pd.Timestamp("2023-12-31 18:30", tz="UTC"), pd.Timestamp("2024-01-01 01:45", tz="UTC")]
    # A forecast of a slot off the orders' grid is a one-line error with its line.
    forecasts.write_text("region,issued_at,timestamp,temperature\nA,2023-12-31T18:30:00Z,2024-01-01T03:30Z,-2\n")
    again = tmp_path / "again.sqlite"
    argv = ["cache", "import", "--orders", str(_hourly_orders(tmp_path)), "--weather-forecasts", str(forecasts), "--out", str(again)]
    assert main(argv) == errors.EXIT_USAGE
    assert f"{forecasts}:2: timestamp '2024-01-01T03:30Z' is not on the 1h slot grid" in _one_line_error(capsys)
    assert not again.exists()
