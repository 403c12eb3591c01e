"""Weather forecasts in the cache: written with their issue time, read back per region, absent from old caches."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np
import pandas as pd

from forecasting.data.cache import RegionData, empty_weather_forecasts, open_cache
from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import to_epoch_seconds


def _utc(text: str) -> int:
    return int(to_epoch_seconds([pd.Timestamp(text, tz="UTC")])[0])


def _write(path, forecasts: pd.DataFrame | None) -> None:
    slots = to_epoch_seconds(pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC"))
    with CacheWriter(path, freq="h") as writer:
        writer.add_regions(pd.DataFrame({"region": ["a", "b"], "name": ["A", "B"], "timezone": ["UTC", "UTC"]}))
        for region in ("a", "b"):
            writer.add_orders(pd.DataFrame({"region": region, "ts": slots, "orders": 1.0}))
        if forecasts is not None:
            writer.add_weather_forecasts(forecasts)


def _assert_form(frame: pd.DataFrame) -> None:
    empty = empty_weather_forecasts()
    assert list(frame.columns) == list(empty.columns) == ["name", "issued_at", "ts", "value"]
    assert frame.dtypes.to_dict() == empty.dtypes.to_dict()
    assert str(frame["issued_at"].dt.tz) == str(frame["ts"].dt.tz) == "UTC"


def test_forecasts_read_back_per_region_sorted_by_name_slot_and_issue(tmp_path):
    issued_early, issued_late = _utc("2024-01-01 05:17:03"), _utc("2024-01-01 18:00")
    slot = _utc("2024-01-02 06:00")
    rows = pd.DataFrame(
        [
            ("a", "temperature", issued_late, slot, 3.5),
            ("a", "temperature", issued_early, slot, 2.0),
            ("a", "temperature", issued_early, slot - 3600, np.nan),
            ("a", "temperature", issued_late, slot - 3600, 1.5),
            ("a", "precipitation", issued_early, slot, 0.4),
            ("b", "temperature", issued_early, slot, -7.0),
        ],
        columns=["region", "name", "issued_at", "ts", "value"],
    )
    path = tmp_path / "c.sqlite"
    _write(path, rows)
    got = open_cache(path).load_region("a").weather_forecasts
    _assert_form(got)
    assert list(got.name) == ["precipitation"] + ["temperature"] * 4
    # Within a name: by slot, then by issue time (the issue time kept to the second).
    temperature = got[got.name == "temperature"]
    assert temperature.ts.is_monotonic_increasing
    same_slot = temperature[temperature.ts == pd.Timestamp("2024-01-02 06:00", tz="UTC")]
    assert list(same_slot.issued_at) == [pd.Timestamp("2024-01-01 05:17:03", tz="UTC"), pd.Timestamp("2024-01-01 18:00", tz="UTC")]
    assert list(same_slot.value) == [2.0, 3.5]
    assert np.isnan(temperature.value.iloc[0]) and temperature.ts.iloc[0] == pd.Timestamp("2024-01-02 05:00", tz="UTC")
    assert got.index.tolist() == list(range(len(got)))
    # Each region reads its own rows only.
    other = open_cache(path).load_region("b").weather_forecasts
    assert other.value.tolist() == [-7.0]


def test_region_without_forecasts_and_cache_without_the_table_read_as_empty(tmp_path):
    path = tmp_path / "c.sqlite"
    _write(path, None)
    for region in ("a", "b"):
        data = open_cache(path).load_region(region)
        assert data.weather_forecasts.empty
        _assert_form(data.weather_forecasts)
    # A cache written before the table existed: the same file without it.
    with_rows = tmp_path / "new.sqlite"
    _write(with_rows, pd.DataFrame({"region": ["a"], "name": ["temperature"], "issued_at": [0], "ts": [_utc("2024-01-01")],
                                    "value": [1.0]}))
    old = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(with_rows)) as src, closing(sqlite3.connect(old)) as dst:
        src.backup(dst)
        with dst:
            dst.execute("DROP TABLE weather_forecasts")
    assert not open_cache(with_rows).load_region("a").weather_forecasts.empty
    cache = open_cache(old)
    data = cache.load_region("a")
    assert data.weather_forecasts.empty and len(data.orders) == 48
    _assert_form(data.weather_forecasts)


def test_region_data_built_without_forecasts_has_an_empty_frame():
    index = pd.date_range("2024-01-01", periods=2, freq="h", tz="UTC")
    empty = pd.DataFrame(columns=["start", "end", "name"])
    args = ("r", "R", "UTC", "h", pd.Series(1.0, index=index), pd.DataFrame(index=index), empty, empty,
            pd.DataFrame(columns=["date", "name"]))
    data = RegionData(*args)
    _assert_form(data.weather_forecasts)
    assert data.weather_forecasts.empty
    # A fresh frame each time: one region's frame is no other's.
    assert RegionData(*args).weather_forecasts is not data.weather_forecasts
