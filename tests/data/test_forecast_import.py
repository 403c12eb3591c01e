"""Importing a weather forecasts file: issue times and slots in UTC, and each kind of bad row with its line."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e.g. under --import-mode=importlib

from csv_inputs import HEADER, hourly, write  # noqa: E402

from forecasting.data.cache import open_cache  # noqa: E402
from forecasting.data.importer import import_csv  # noqa: E402
from forecasting.errors import InputError  # noqa: E402

FORECAST_HEADER = "region,issued_at,timestamp,temperature,precipitation\n"


def _orders(tmp_path: Path) -> tuple[Path, Path]:
    """Berlin (naive rows, its zone from a regions file) and a UTC region, Jan 1-3 2024 hourly."""
    orders = write(tmp_path / "orders.csv", HEADER + hourly("ber", "2024-01-01T00:00", 72, tz_suffix="")
                   + hourly("utc", "2024-01-01T00:00", 72))
    regions = write(tmp_path / "regions.csv", "region,name,timezone\nber,Berlin,Europe/Berlin\nutc,Zulu,UTC\n")
    return orders, regions


def test_forecasts_round_trip_in_utc(tmp_path):
    orders, regions = _orders(tmp_path)
    forecasts = write(
        tmp_path / "forecasts.csv",
        FORECAST_HEADER
        # Naive: Berlin wall time (UTC+1 in January); issued off the slot grid.
        + "ber,2024-01-02T06:17,2024-01-02T12:00,4.5,0.2\n"
        + "ber,2024-01-02T06:17,2024-01-02T13:00,5,0\n"
        # An earlier issue of the same slot, given as an instant.
        + "ber,2024-01-01T05:00:00Z,2024-01-02T12:00,3,1.5\n"
        # A slot before its issue time is kept.
        + "ber,2024-01-02T06:17,2024-01-02T06:00,1,0\n"
        + "utc,2024-01-02T00:00:00+02:00,2024-01-02T12:00:00Z,-2,0\n",
    )
    out = tmp_path / "c.sqlite"
    report = import_csv(orders, out, regions=regions, weather_forecasts=forecasts)
    assert (report.forecast_variables, report.forecast_rows, report.forecast_issues) == (("temperature", "precipitation"), 5, 3)
    text = report.summary()
    assert "weather forecasts: temperature, precipitation (5 rows, 3 issues)" in text

    cache = open_cache(out)
    assert cache.source["weather_forecasts"] == str(forecasts)
    ber = cache.load_region("ber").weather_forecasts
    assert sorted(set(ber.name)) == ["precipitation", "temperature"] and len(ber) == 8
    temp = ber[ber.name == "temperature"].reset_index(drop=True)
    utc = lambda text: pd.Timestamp(text, tz="UTC")  # noqa: E731
    assert list(temp.ts) == [utc("2024-01-02 05:00"), utc("2024-01-02 11:00"), utc("2024-01-02 11:00"), utc("2024-01-02 12:00")]
    assert list(temp.issued_at) == [utc("2024-01-02 05:17"), utc("2024-01-01 05:00"), utc("2024-01-02 05:17"), utc("2024-01-02 05:17")]
    assert list(temp.value) == [1.0, 3.0, 4.5, 5.0]
    # Every forecast slot is one of the region's order slots.
    assert set(ber.ts) <= set(cache.load_region("ber").orders.index)
    zulu = cache.load_region("utc").weather_forecasts
    assert set(zulu.issued_at) == {utc("2024-01-01 22:00")} and set(zulu.ts) == {utc("2024-01-02 12:00")}
    assert zulu.set_index("name").value.to_dict() == {"precipitation": 0.0, "temperature": -2.0}

    # Without the file: no forecasts, and the summary says nothing of them.
    plain = import_csv(orders, tmp_path / "plain.sqlite", regions=regions)
    assert "weather forecasts" not in plain.summary() and plain.forecast_rows == 0
    assert open_cache(tmp_path / "plain.sqlite").load_region("ber").weather_forecasts.empty
    assert "weather_forecasts" not in open_cache(tmp_path / "plain.sqlite").source


def _bad_forecasts():
    h = "region,issued_at,timestamp,temperature\n"
    good = "ber,2024-01-01T06:00,2024-01-01T12:00,3\n"
    yield h + good + "xyz,2024-01-01T06:00,2024-01-01T12:00,3\n", 3, "region 'xyz' does not appear in the orders file"
    yield h + good + "ber,2024-01-01T06:00,2024-01-01T13:00,warm\n", 3, "temperature value 'warm' is not a number"
    yield h + good + "ber,2024-01-01T06:00,2024-01-01T13:00,\n", 3, "empty temperature value"
    yield h + good + "ber,2024-01-01T06:00,2024-01-01T13:30,3\n", 3, "timestamp '2024-01-01T13:30' is not on the 1h slot grid"
    yield h + good + "ber,2024-01-01T05:00:00Z,2024-01-01T12:00,4\n", 3, \
        "duplicate row for region 'ber' at '2024-01-01T12:00' issued at '2024-01-01T05:00:00Z': lines 2 and 3"
    yield h + good + "ber,tomorrow,2024-01-01T12:00,4\n", 3, "unparseable issued_at 'tomorrow'"
    yield h + good + "ber,,2024-01-01T12:00,4\n", 3, "empty issued_at"
    yield h + good + "ber,2024-03-31T02:30,2024-01-01T12:00,4\n", 3, "issued_at '2024-03-31T02:30' does not exist"
    yield "region,timestamp,temperature\nber,2024-01-01T12:00,3\n", 1, "missing column issued_at"
    yield "region,issued_at,timestamp\nber,2024-01-01T06:00,2024-01-01T12:00\n", 1, "no feature columns"


BAD = list(_bad_forecasts())


@pytest.mark.parametrize("content, line, problem", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_forecasts_are_input_errors_with_the_line(tmp_path, content, line, problem):
    orders, regions = _orders(tmp_path)
    forecasts = write(tmp_path / "forecasts.csv", content)
    out = tmp_path / "c.sqlite"
    with pytest.raises(InputError) as info:
        import_csv(orders, out, regions=regions, weather_forecasts=forecasts)
    message = str(info.value)
    assert message.startswith(f"{forecasts}:{line}: ") and problem in message, message
    assert info.value.line == line and not out.exists()


def test_the_same_slot_issued_twice_is_two_forecasts_not_a_duplicate(tmp_path):
    orders, regions = _orders(tmp_path)
    forecasts = write(tmp_path / "forecasts.csv", "region,issued_at,timestamp,temperature\n"
                      "ber,2024-01-01T06:00,2024-01-01T12:00,3\nber,2024-01-01T07:00,2024-01-01T12:00,4\n")
    report = import_csv(orders, tmp_path / "c.sqlite", regions=regions, weather_forecasts=forecasts)
    assert (report.forecast_rows, report.forecast_issues) == (2, 2)
    assert open_cache(tmp_path / "c.sqlite").load_region("ber").weather_forecasts.value.tolist() == [3.0, 4.0]
