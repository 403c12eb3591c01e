"""Croston-family models for intermittent (mostly zero) demand: :class:`TSB`."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.models.base import QUANTILES, Forecaster, finalize_forecast, local_offsets, slots_per_day
from forecasting.models.seasonal import horizon_steps, season_slots

#: Below this many out-of-sample relative sizes, the in-sample ones of the initialisation are added.
MIN_RATIOS = 20


class TSB(Forecaster):
    """Teunter-Syntetos-Babai (TSB) exponential smoothing of demand probability and size, per slot of the season.

    Made for sparse series (small regions, 15-minute slots) where most
    slots are zero and a level model (ETS on log counts, seasonal naive)
    either smears the rare orders over every slot or forecasts last week's
    single order again.  Each slot of the season (Monday 10:00 local time
    for the default ``7D``) is one series of weekly observations with two
    exponentially smoothed estimates, updated once a season:

    * the probability ``p`` that the slot has any demand, updated at every
      known observation: ``p += alpha_demand * (1[y > 0] - p)`` (so it
      decays through runs of zeros, unlike Croston's interval estimate);
    * the size ``z`` of the demand when there is some, updated only at
      nonzero observations: ``z += alpha_size * (y - z)``.

    The point forecast is ``p * z`` for every future occurrence of the slot.
    The forecast distribution is the mixture "0 with probability ``1 - p``,
    else ``z * R``", where ``R`` is the empirical distribution of relative
    sizes pooled over all slots: each nonzero observation divided by its
    slot's smoothed size just before it (one-season-ahead, out of sample).
    Its quantile at level ``q`` is 0 if ``q <= 1 - p``, else ``z`` times the
    quantile of ``R`` at ``(q - (1 - p)) / p``.

    Initialisation, from the first ``init_seasons`` seasons: ``p`` is the
    slot's share of nonzero observations, ``z`` its mean nonzero value;
    a slot without any known (or nonzero) value there gets the share (mean)
    pooled over all slots.  The updates run over the seasons after these.
    Slots whose whole history is known zeros forecast 0 (all quantiles 0).
    Unknown (NaN) observations leave the estimates as they were.  On a
    dense series ``p`` stays near 1 and this is per-slot simple
    exponential smoothing with intervals from pooled relative errors (which
    are too wide at busy slots and too narrow at quiet ones: prefer the
    level models there).

    Parameters
    ----------
    season : str
        Season length, a pandas offset that is a whole number of slots.
    alpha_demand : float
        Smoothing of the demand probability, in (0, 1].
    alpha_size : float
        Smoothing of the demand size, in (0, 1].
    init_seasons : int
        Seasons of history the initial estimates come from (at least 1).

    Notes
    -----
    Slots of a whole-day season follow local wall-clock time (from
    ``cal_slot_of_day``, as :class:`~forecasting.models.naive.LocalSeasonalNaive`):
    the hour repeated when clocks go back updates its slot with the mean of
    its two values, the hour skipped in spring leaves its slot as it was.
    Without that column, or for a season that is not whole days, slots
    are UTC positions modulo the season.  Values ``<= 0`` count as no
    demand.
    """

    name = "tsb"

    def __init__(self, *, season: str = "7D", alpha_demand: float = 0.1, alpha_size: float = 0.1, init_seasons: int = 4):
        self.season = season
        self.alpha_demand = alpha_demand
        self.alpha_size = alpha_size
        self.init_seasons = init_seasons

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "TSB":
        """Smooth probability and size per slot of the season and tabulate the forecast of every slot.

        Parameters
        ----------
        y : Series
            History on a complete UTC index with ``freq``.
        X : DataFrame
            Features on ``y.index`` (only ``cal_slot_of_day`` is used).
        horizon : int
            Unused: the forecast of a slot is the same at every horizon.

        Returns
        -------
        TSB
            ``self``.

        Raises
        ------
        ConfigError
            If a parameter is out of range.
        """
        a_demand = _fraction("alpha_demand", self.alpha_demand)
        a_size = _fraction("alpha_size", self.alpha_size)
        if isinstance(self.init_seasons, bool) or not isinstance(self.init_seasons, numbers.Integral) or self.init_seasons < 1:
            raise ConfigError(f"tsb: init_seasons must be a whole number of at least 1, got {self.init_seasons!r}")
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        m = season_slots(self.season, step)
        spd = slots_per_day(y.index)
        self.step_, self.end_, self.season_slots_, self.slots_per_day_ = step, y.index[-1], m, spd
        self.local_time_ = X is not None and "cal_slot_of_day" in X.columns and m % spd == 0
        values = y.to_numpy(dtype=float)
        self.n_history_ = len(values)
        offsets = local_offsets(X.reindex(y.index), step, spd) if self.local_time_ else np.zeros(len(values), np.int64)
        grid = _season_grid(values, np.arange(len(values)) + offsets, m)

        p, z, init_ratios = _initial(grid, int(self.init_seasons))
        ratios = []
        for row in grid[int(self.init_seasons):]:
            known = np.isfinite(row)
            demand = known & (row > 0)
            ratios.append(row[demand] / z[demand])  # z > 0 wherever demand occurs (see _initial)
            p = np.where(known, p + a_demand * (demand - p), p)
            z = np.where(demand, z + a_size * (row - z), z)
        ratios = np.concatenate(ratios) if ratios else np.empty(0)
        if len(ratios) < MIN_RATIOS:
            ratios = np.concatenate([ratios, init_ratios])
        ever = (grid > 0).any(axis=0)
        never_known = ~np.isfinite(grid).any(axis=0)
        # Known zeros only: forecast zero.  Never observed at all: the pooled initial estimates stand.
        p = np.where(ever | never_known, p, 0.0)
        self.probability_, self.size_ = p, z
        # Only the table is needed to forecast: the ratios (one per nonzero slot) would bloat the pickle.
        self.table_ = _mixture_table(p, z, ratios if len(ratios) else np.ones(1))
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future.index`` (all after the history)."""
        h = horizon_steps(X_future.index, self.end_, self.step_)
        positions = self.n_history_ - 1 + h
        if self.local_time_:
            positions = positions + local_offsets(X_future, self.step_, self.slots_per_day_)
        table = self.table_[positions % self.season_slots_]
        return finalize_forecast(X_future.index, table[:, 0], {q: table[:, j + 1] for j, q in enumerate(QUANTILES)})


def _fraction(name: str, value) -> float:
    """``value`` as a float in (0, 1], else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise ConfigError(f"tsb: {name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _season_grid(values: np.ndarray, positions: np.ndarray, m: int) -> np.ndarray:
    """Values laid out by season (rows, oldest first) and slot of the season (columns).

    ``positions`` are the slots' positions in (local) time; two values at
    the same position (the hour repeated when clocks go back) are averaged,
    a position without any value is NaN.
    """
    week = positions // m
    week -= week.min() if len(week) else 0
    phase = positions % m
    known = np.isfinite(values)
    n_rows = int(week.max()) + 1 if len(week) else 0
    sums = np.zeros((n_rows, m))
    counts = np.zeros((n_rows, m))
    np.add.at(sums, (week[known], phase[known]), values[known])
    np.add.at(counts, (week[known], phase[known]), 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)


def _initial(grid: np.ndarray, seasons: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Initial probability and size per slot from the first ``seasons`` rows of ``grid``, and their in-sample relative sizes.

    The pooled share and mean size fall back to those of the whole history
    where the first seasons have no known (nonzero) value, so the size is
    positive wherever the history has any demand.
    """
    pooled_p, pooled_z = _pooled(grid)
    grid = grid[:seasons]
    known = np.isfinite(grid)
    demand = known & (grid > 0)
    n_known, n_demand = known.sum(axis=0), demand.sum(axis=0)
    sizes = np.where(demand, grid, 0.0).sum(axis=0)
    if n_known.sum():
        pooled_p = n_demand.sum() / n_known.sum()
    if n_demand.sum():
        pooled_z = sizes.sum() / n_demand.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n_known > 0, n_demand / np.maximum(n_known, 1), pooled_p)
        z = np.where(n_demand > 0, sizes / np.maximum(n_demand, 1), pooled_z)
    ratios = grid[demand] / np.broadcast_to(z, grid.shape)[demand]
    return p.astype(float), z.astype(float), ratios


def _pooled(grid: np.ndarray) -> tuple[float, float]:
    """Share of nonzero among the known values of ``grid`` and their mean nonzero size (0 without any)."""
    known = grid[np.isfinite(grid)]
    demand = known[known > 0]
    return (len(demand) / len(known) if len(known) else 0.0), (float(demand.mean()) if len(demand) else 0.0)


def _mixture_table(p: np.ndarray, z: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """Mean and quantiles per slot, shape (m, 1 + len(QUANTILES)), of "0 w.p. 1 - p, else z * R"."""
    columns = [p * z]
    for q in QUANTILES:
        level = np.where(p > 0, (q - (1 - p)) / np.where(p > 0, p, 1.0), 0.0)
        size = z * np.quantile(ratios, np.clip(level, 0.0, 1.0))
        columns.append(np.where(q <= 1 - p, 0.0, size))
    return np.column_stack(columns)
