"""Sparse synthetic demand of known rate: Poisson orders per slot, most slots zero.

Small regions and 15-minute slots look like this.  The rate of every slot is
known, so a test or a benchmark can check a forecast against the truth
instead of against noisy actuals (:func:`sparse_rates`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.cache_writer import CacheWriter
from forecasting.data.timestamps import to_epoch_seconds


def sparse_rates(region_index: int, slots_per_week: int, low: float, high: float, seed: int = 0) -> np.ndarray:
    """The known rate (orders per slot) of each slot of the week of region ``region_index``."""
    return np.random.default_rng([seed, region_index]).uniform(low, high, slots_per_week)


def sparse_rate_at(index: pd.DatetimeIndex, rates: np.ndarray) -> np.ndarray:
    """The rate of each UTC slot of ``index`` (slot of the week counted from Monday 00:00 UTC)."""
    index = pd.DatetimeIndex(index).tz_convert("UTC")
    step = pd.Timedelta(pd.Timedelta("7D") / len(rates))
    since_monday = index - index.normalize() + pd.to_timedelta(index.day_of_week, unit="D")
    return rates[(since_monday // step).astype(int)]


def build_sparse_cache(path, regions: int = 3, weeks: int = 20, freq: str = "h", low: float = 0.05, high: float = 0.3,
                       seed: int = 0, start: str = "2024-01-01") -> dict[str, np.ndarray]:
    """Write a cache of ``regions`` regions (``s000``...) of Poisson orders; return each region's rates.

    Parameters
    ----------
    path : path-like
        The cache to write.
    regions, weeks : int
        Regions, and weeks of history from ``start`` (UTC, a Monday).
    freq : str
        Slot length.
    low, high : float
        Each slot of the week gets a rate drawn uniformly between them.
    seed : int
        The same arguments always give the same cache.

    Returns
    -------
    dict
        Region -> its rate per slot of the week (:func:`sparse_rate_at` maps slots to it).
    """
    index = pd.date_range(start, periods=int(weeks * pd.Timedelta("7D") / pd.Timedelta(pd.tseries.frequencies.to_offset(freq))),
                          freq=freq, tz="UTC")
    per_week = int(pd.Timedelta("7D") / pd.Timedelta(pd.tseries.frequencies.to_offset(freq)))
    rng = np.random.default_rng([seed, 1])
    names = [f"s{i:03d}" for i in range(regions)]
    rates = {name: sparse_rates(i, per_week, low, high, seed) for i, name in enumerate(names)}
    source = {"generator": "sparse", "regions": regions, "weeks": weeks, "freq": freq, "low": low, "high": high, "seed": seed}
    with CacheWriter(path, freq, source=source) as writer:
        writer.add_regions(pd.DataFrame({"region": names, "name": names, "timezone": "UTC"}))
        for name in names:
            orders = rng.poisson(sparse_rate_at(index, rates[name])).astype(float)
            writer.add_orders(pd.DataFrame({"region": name, "ts": to_epoch_seconds(index), "orders": orders}))
    return rates
