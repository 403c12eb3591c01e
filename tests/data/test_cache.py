"""Reading the cache file: read-only immutable reads, clear errors."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from forecasting.data.cache import open_cache
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
