"""Reading the cache file: read-only immutable reads, clear errors."""

from __future__ import annotations

import shutil
import sqlite3

import pandas as pd
import pytest

from forecasting.data.cache import open_cache
from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import to_epoch_seconds
from forecasting.errors import CacheError, RegionDataError


def test_reader_fetches_one_region_on_a_complete_index(synthetic_cache):
    cache = open_cache(synthetic_cache)
    assert cache.regions() == [f"r{i:03d}" for i in range(6)]
    data = cache.load_region("r003")
    assert data.orders.index.tz is not None and data.orders.index.freq == "h"
    assert len(data.orders) == 63 * 24
    assert {"temperature", "precipitation"} <= set(data.exogenous.columns)
    assert data.events.start.max() > data.orders.index[-1]  # schedules reach into the future


def test_cache_is_in_rollback_journal_mode_and_read_only(synthetic_cache):
    with sqlite3.connect(synthetic_cache) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    reader = open_cache(synthetic_cache)
    with reader._engine.connect() as c:
        with pytest.raises(Exception, match="readonly"):
            c.exec_driver_sql("DELETE FROM orders")


def test_missing_region_is_a_region_error(synthetic_cache):
    with pytest.raises(RegionDataError, match="nowhere"):
        open_cache(synthetic_cache).load_region("nowhere")


def test_missing_not_sqlite_truncated_and_wrong_version(tmp_path, synthetic_cache):
    with pytest.raises(CacheError, match="does not exist"):
        open_cache(tmp_path / "nope.sqlite")
    text = tmp_path / "text.sqlite"
    text.write_text("region,timestamp,orders\n")
    with pytest.raises(CacheError, match="not an SQLite file"):
        open_cache(text)
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(synthetic_cache.read_bytes()[: 8192])
    with pytest.raises(CacheError, match=str(truncated.name)):
        open_cache(truncated)
    old = tmp_path / "old.sqlite"
    shutil.copy(synthetic_cache, old)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(CacheError, match="schema version 0"):
        open_cache(old)


def test_orders_between_reads_one_range_on_complete_slots(tmp_path, synthetic_cache):
    cache = open_cache(synthetic_cache)
    assert set(cache.timezones()) == set(cache.regions()) and all(cache.timezones().values())
    full = cache.load_region("r002").orders
    start, end = full.index[100], full.index[147]
    part = cache.orders_between("r002", start, end)
    pd.testing.assert_series_equal(part, full.loc[start:end], check_freq=False)
    assert part.index.tz is not None and part.name == "orders"
    # Gaps: a missing row and an unknown count both read as NaN, on a complete index.
    path = tmp_path / "c.sqlite"
    idx = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    with CacheWriter(path, freq="h") as writer:
        writer.add_regions(pd.DataFrame({"region": ["a"], "name": ["a"], "timezone": ["Europe/Berlin"]}))
        writer.add_orders(pd.DataFrame({"region": "a", "ts": to_epoch_seconds(idx[[0, 1, 3, 4]]), "orders": [1.0, None, 3.0, 4.0]}))
    gappy = open_cache(path)
    assert gappy.timezones() == {"a": "Europe/Berlin"}
    got = gappy.orders_between("a", idx[0].tz_localize(None), idx[3])  # naive means UTC
    assert list(got.index) == list(idx[:4]) and got.tolist()[::3] == [1.0, 3.0] and got.iloc[1:3].isna().all()
    assert gappy.orders_between("a", idx[4] + pd.Timedelta("1h"), idx[4] + pd.Timedelta("9h")).empty
    assert gappy.orders_between("nowhere", idx[0], idx[4]).empty
