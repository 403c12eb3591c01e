"""synthetic_region: a synthetic region in memory is what a cache built from the same spec loads."""

from __future__ import annotations

import pandas as pd

from forecasting.data.cache import open_cache
from forecasting.data.synthetic import SyntheticSpec, build_synthetic_cache, synthetic_region


def test_a_region_in_memory_is_the_region_the_cache_holds(tmp_path):
    spec = SyntheticSpec(regions=2, days=20, freq="15min", seed=3)
    build_synthetic_cache(spec, tmp_path / "cache.sqlite")
    cached = open_cache(tmp_path / "cache.sqlite").load_region("r001")
    memory = synthetic_region(spec, 1)
    for attr in ("region", "name", "timezone", "freq"):
        assert getattr(memory, attr) == getattr(cached, attr)
    pd.testing.assert_series_equal(memory.orders, cached.orders)
    assert memory.orders.index.freq == cached.orders.index.freq
    pd.testing.assert_frame_equal(memory.exogenous, cached.exogenous)
    for attr in ("events", "promotions", "holidays"):
        pd.testing.assert_frame_equal(getattr(memory, attr).reset_index(drop=True), getattr(cached, attr).reset_index(drop=True))
