"""Season arithmetic shared by the models: slots per season, steps ahead, per-slot quantiles.

:func:`slot_quantiles` gives the per-slot-of-day empirical quantiles that the
naive, seasonal-median and MSTL models use for their intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.engine.features import slot_of_day_codes
from forecasting.errors import ConfigError
from forecasting.models.base import QUANTILES

#: A slot of day with fewer residuals than this uses the pooled quantiles.
MIN_PER_SLOT = 5


def season_slots(season, step: pd.Timedelta) -> int:
    """Length of ``season`` in slots of ``step``.

    Raises
    ------
    ConfigError
        If the season is not a positive whole number of slots.
    """
    try:
        length = pd.Timedelta(pd.tseries.frequencies.to_offset(season))
    except (TypeError, ValueError):
        raise ConfigError(f"season {season!r} is not a time span such as '7D' or '24h'") from None
    m, rest = divmod(length, step)
    if m < 1 or rest:
        raise ConfigError(f"season {season!r} is not a whole number of {step} slots")
    return int(m)


def horizon_steps(index: pd.DatetimeIndex, end: pd.Timestamp, step: pd.Timedelta) -> np.ndarray:
    """Steps ahead (1 = the slot after ``end``) of every slot of ``index``.

    Raises
    ------
    ValueError
        If a slot is not after ``end`` or not on the slot grid.
    """
    delta = pd.DatetimeIndex(index).tz_convert("UTC") - end
    steps, rest = np.divmod(delta.as_unit("ns").asi8, step.as_unit("ns").value)
    if (rest != 0).any() or (steps < 1).any():
        raise ValueError("forecast slots must lie on the slot grid after the end of the history")
    return steps.astype(np.int64)


def slot_quantiles(values: np.ndarray, slots: np.ndarray, spd: int, levels=QUANTILES) -> np.ndarray:
    """Empirical quantiles of ``values`` per slot of day.

    Parameters
    ----------
    values : ndarray
        Residuals (NaN ignored).
    slots : ndarray of int
        Slot of day (0..spd-1) of every value.
    spd : int
        Slots per day.
    levels : sequence of float
        Quantile levels.

    Returns
    -------
    ndarray, shape (spd, len(levels))
        Slots with fewer than :data:`MIN_PER_SLOT` values get the quantiles
        of all values; with no values at all, zeros.
    """
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    values, slots = values[ok], np.asarray(slots)[ok]
    pooled = np.quantile(values, levels) if len(values) else np.zeros(len(levels))
    out = np.tile(pooled, (spd, 1))
    # One sort by (slot, value) instead of a boolean mask per slot.
    order = np.lexsort((values, slots))
    values, slots = values[order], slots[order]
    bounds = np.searchsorted(slots, np.arange(spd + 1))
    for s in range(spd):
        group = values[bounds[s]:bounds[s + 1]]
        if len(group) >= MIN_PER_SLOT:
            out[s] = np.quantile(group, levels)
    return out


def last_season(values: np.ndarray, m: int, slots, spd: int) -> np.ndarray:
    """The last ``m`` values, each gap filled from the latest earlier season with a value."""
    n = len(values)
    n_rows = -(-n // m)
    # Right-align the history in an (n_rows, m) grid: column i holds every
    # value in phase i of the last season, oldest first.
    grid = np.full(n_rows * m, np.nan)
    grid[n_rows * m - n:] = values
    grid = grid.reshape(n_rows, m)
    has = np.isfinite(grid)
    last_row = np.where(has.any(axis=0), n_rows - 1 - np.argmax(has[::-1], axis=0), 0)
    out = grid[last_row, np.arange(m)]
    missing = ~np.isfinite(out)
    if missing.any():
        # A phase never observed: mean of its slot of day, else of everything.
        codes = slots if slots is not None else np.arange(n) % spd
        by_slot = pd.Series(values).groupby(codes).mean()
        overall = np.nanmean(values) if np.isfinite(values).any() else 0.0
        phase_codes = np.full(m, -1)
        phase_codes[max(m - n, 0):] = codes[n - min(m, n):]
        fill = by_slot.reindex(phase_codes).to_numpy(dtype=float)
        out[missing] = np.where(np.isfinite(fill), fill, overall)[missing]
    return out


def utc_slots(index: pd.DatetimeIndex, spd: int) -> np.ndarray:
    """Slot-of-day codes of ``index`` in UTC, for models fitted without features."""
    return slot_of_day_codes(pd.DataFrame(index=index), spd)
