"""The synthetic generator: deterministic and realistic in the ways models need."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from forecasting.data.cache import open_cache
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache
from forecasting.errors import UsageError


def _dump(path):
    with sqlite3.connect(path) as conn:
        rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("regions", "orders", "exogenous", "events", "promotions", "holidays")}
    conn.close()
    return rows


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    spec = SyntheticSpec(regions=2, days=14, seed=3)
    build_synthetic_cache(spec, tmp_path / "a.sqlite")
    build_synthetic_cache(spec, tmp_path / "b.sqlite")
    build_synthetic_cache(SyntheticSpec(regions=2, days=14, seed=4), tmp_path / "c.sqlite")
    assert _dump(tmp_path / "a.sqlite") == _dump(tmp_path / "b.sqlite")
    assert _dump(tmp_path / "a.sqlite")["orders"] != _dump(tmp_path / "c.sqlite")["orders"]


def test_adding_regions_leaves_existing_ones_unchanged(tmp_path):
    build_synthetic_cache(SyntheticSpec(regions=2, days=14), tmp_path / "two.sqlite")
    build_synthetic_cache(SyntheticSpec(regions=3, days=14), tmp_path / "three.sqlite")
    two, three = open_cache(tmp_path / "two.sqlite"), open_cache(tmp_path / "three.sqlite")
    for region in two.regions():
        assert two.load_region(region).orders.equals(three.load_region(region).orders)


@pytest.mark.parametrize("freq, per_day", [("15min", 96), ("30min", 48), ("h", 24)])
def test_frequencies(tmp_path, freq, per_day):
    build_synthetic_cache(SyntheticSpec(regions=1, days=3, freq=freq), tmp_path / "c.sqlite")
    data = open_cache(tmp_path / "c.sqlite").load_region("r000")
    assert len(data.orders) == 3 * per_day and data.freq == freq


def test_demand_has_the_shape_of_food_delivery(synthetic_cache):
    cache = open_cache(synthetic_cache)
    means, wet_ratios = [], []
    for region in cache.regions():
        data = cache.load_region(region)
        local = data.orders.index.tz_convert(data.timezone)
        by_hour = data.orders.groupby(local.hour).mean()
        assert by_hour.loc[4:6].mean() < 0.1 * by_hour.max()  # almost nothing at 4-7 a.m.
        assert by_hour.idxmax() in range(17, 22) or by_hour.idxmax() in range(11, 15)
        by_day = data.orders.groupby(local.day_of_week).mean()
        assert by_day.loc[[4, 5]].mean() > by_day.loc[[0, 1]].mean()  # weekends busier
        # Demand relative to the usual level of that hour of the week.
        usual = data.orders.groupby([local.day_of_week, local.hour]).transform("mean")
        busy = (local.hour >= 10) & (local.hour < 23)
        relative = (data.orders / usual)[busy]
        wet = (data.exogenous.precipitation.reindex(data.orders.index) > 0.5)[busy]
        wet_ratios.append(relative[wet].mean() / relative[~wet].mean())
        means.append(data.orders.mean())
    assert np.mean(wet_ratios) > 1.05  # rain raises orders
    assert max(means) / min(means) > 10  # sizes span orders of magnitude


def test_bad_specs_are_usage_errors():
    with pytest.raises(UsageError, match="--regions"):
        SyntheticSpec(regions=0).validate()
    with pytest.raises(UsageError, match="--freq"):
        SyntheticSpec(freq="5min").validate()
