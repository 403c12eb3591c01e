"""Building the cache file: atomic writes, data kept as data."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.data import schema
from forecasting.data.cache import open_cache
from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import to_epoch_seconds
from forecasting.errors import CacheError


def test_writer_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "c.sqlite"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with CacheWriter(target, freq="h") as writer:
            writer.add_regions(pd.DataFrame({"region": ["a"], "name": ["a"], "timezone": ["UTC"]}))
            raise RuntimeError("boom")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["c.sqlite"]


def test_region_names_are_data_not_sql(tmp_path):
    name = "x'; DROP TABLE orders; --"
    path = tmp_path / "c.sqlite"
    ts = to_epoch_seconds(pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"))
    with CacheWriter(path, freq="h") as writer:
        writer.add_regions(pd.DataFrame({"region": [name], "name": [name], "timezone": ["UTC"]}))
        writer.add_orders(pd.DataFrame({"region": name, "ts": ts, "orders": [1.0, None, 3.0]}))
    data = open_cache(path).load_region(name)
    assert data.region == name
    assert data.orders.isna().tolist() == [False, True, False]


def test_unsupported_frequency_is_refused(tmp_path):
    with pytest.raises(CacheError, match="unsupported slot frequency"):
        with CacheWriter(tmp_path / "c.sqlite", freq="7min"):
            pass
    assert schema.FREQUENCIES == ("15min", "30min", "h")
