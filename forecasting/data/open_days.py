"""The importer's open days: zero-filled empty slots, and whole-day gaps.

A local day with at least one orders row is *open*: its slots without a
row had no orders and are stored as 0.  A whole local day without rows
between a region's first and last day is a *gap*: it is not stored, so it
reads back as NaN.  Nothing is filled outside a region's observed range: a
partial first or last day stays partial (an offset timestamp such as
``00:00+01:00`` in a UTC region is 23:00 the day before, and the slots
before it were never observed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.data.input_checks import local_seconds


@dataclass(frozen=True)
class Gap:
    """A run of whole local days without any orders row inside a region's history."""

    region: str
    first_day: dt.date
    last_day: dt.date
    n_days: int

    def __str__(self) -> str:
        span = f"{self.first_day}" if self.n_days == 1 else f"{self.first_day} .. {self.last_day}"
        return f"region {self.region!r}: no rows on {span} ({self.n_days} day{'s' if self.n_days != 1 else ''}), left missing"


def fill_open_days(codes, seconds, counts, regions, zones, step: int, phase: int):
    """Zero-fill the empty slots of each region's open local days, within its observed range; find gaps.

    ``zones`` holds one IANA time zone per region (aligned with ``regions``).
    Returns ``(orders frame, filled slots per region (array), gaps)``.
    """
    zones = np.asarray(zones, dtype=object)
    observed = pd.DataFrame({"code": codes, "ts": seconds, "orders": counts})
    grids, gaps = [], []
    for zone in np.unique(zones.astype(str)):
        mine = np.isin(codes, np.flatnonzero(zones == zone))
        grid, found = _grid(codes[mine], seconds[mine], regions, str(zone), step, phase)
        grids.append(grid)
        gaps += found
    # The observed range of each region bounds the filled slots.
    lo = observed.groupby("code")["ts"].min()
    hi = observed.groupby("code")["ts"].max()
    grid = pd.concat(grids, ignore_index=True)
    inside = (grid["ts"] >= lo.reindex(grid["code"]).to_numpy()) & (grid["ts"] <= hi.reindex(grid["code"]).to_numpy())
    full = pd.concat([observed, grid[inside.to_numpy()]], ignore_index=True).drop_duplicates(["code", "ts"], keep="first")
    full = full.sort_values(["code", "ts"], ignore_index=True)
    filled = np.bincount(full["code"].to_numpy(), minlength=len(regions)) - np.bincount(codes, minlength=len(regions))
    full.insert(0, "region", regions[full.pop("code").to_numpy()])
    gaps.sort(key=lambda g: (g.region, g.first_day))
    return full, filled, tuple(gaps)


def _grid(codes, seconds, regions, timezone: str, step: int, phase: int):
    """Every slot of the open local days in ``timezone`` of these rows' regions, and the gaps between them."""
    day = local_seconds(seconds, timezone) // 86400
    pairs = pd.DataFrame({"code": codes, "day": day}).drop_duplicates().sort_values(["code", "day"], ignore_index=True)
    pc, pd_ = pairs["code"].to_numpy(), pairs["day"].to_numpy()

    # UTC bounds of each local day.  A midnight skipped by a DST change starts
    # the day at the first instant that exists; a repeated one at the earlier.
    days = np.unique(np.concatenate([pd_, pd_ + 1]))
    midnights = pd.DatetimeIndex((days * 86400).astype("datetime64[s]"))
    bounds = midnights.tz_localize(timezone, ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward")
    bound_s = bounds.as_unit("s").asi8
    day_start = bound_s[np.searchsorted(days, pd_)]
    day_end = bound_s[np.searchsorted(days, pd_ + 1)]
    first = day_start + (phase - day_start) % step
    n = np.maximum((day_end - first + step - 1) // step, 0)
    total = int(n.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    grid = pd.DataFrame({"code": np.repeat(pc, n), "ts": np.repeat(first, n) + offsets * step, "orders": 0.0})

    same = np.r_[False, pc[1:] == pc[:-1]]
    jump = np.r_[0, np.diff(pd_)]
    at = np.flatnonzero(same & (jump > 1))
    epoch = dt.date(1970, 1, 1)
    gaps = [
        Gap(
            region=str(regions[pc[i]]),
            first_day=epoch + dt.timedelta(days=int(pd_[i - 1] + 1)),
            last_day=epoch + dt.timedelta(days=int(pd_[i] - 1)),
            n_days=int(pd_[i] - pd_[i - 1] - 1),
        )
        for i in at
    ]
    return grid, gaps
