"""The sparse synthetic cache: Poisson orders whose rate per slot of the week is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.cache import open_cache
from forecasting.data.synthetic_sparse import build_sparse_cache, sparse_rate_at


def test_orders_follow_the_returned_rates_and_the_same_seed_gives_the_same_cache(tmp_path):
    rates = build_sparse_cache(tmp_path / "a.sqlite", regions=2, weeks=30, freq="h", low=0.05, high=0.3, seed=7)
    again = build_sparse_cache(tmp_path / "b.sqlite", regions=2, weeks=30, freq="h", low=0.05, high=0.3, seed=7)
    assert sorted(rates) == ["s000", "s001"] and all(len(r) == 7 * 24 for r in rates.values())
    assert all(((r >= 0.05) & (r <= 0.3)).all() for r in rates.values())
    assert not np.allclose(rates["s000"], rates["s001"])
    a, b = open_cache(tmp_path / "a.sqlite"), open_cache(tmp_path / "b.sqlite")
    for region, rate in rates.items():
        y = a.load_region(region).orders
        assert y.equals(b.load_region(region).orders) and np.array_equal(rate, again[region])
        assert len(y) == 30 * 7 * 24 and (y == 0).mean() > 0.7
        truth = sparse_rate_at(pd.DatetimeIndex(y.index), rate)
        # Over 30 weeks the busiest slots of the week have more orders than the quietest.
        weekly = pd.Series(y.to_numpy(), index=truth).groupby(level=0).mean()
        assert abs(y.mean() - truth.mean()) < 0.1 * truth.mean()
        assert np.corrcoef(weekly.index, weekly.to_numpy())[0, 1] > 0.5


def test_quarter_hour_slots_have_a_rate_per_quarter_hour_of_the_week(tmp_path):
    rates = build_sparse_cache(tmp_path / "q.sqlite", regions=1, weeks=2, freq="15min")
    assert len(rates["s000"]) == 7 * 96
    idx = pd.date_range("2024-01-01", periods=3, freq="15min", tz="UTC")  # a Monday
    assert np.array_equal(sparse_rate_at(idx, rates["s000"]), rates["s000"][:3])
