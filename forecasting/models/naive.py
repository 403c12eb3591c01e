"""Seasonal naive forecasts: the baseline every other model must beat, and the seasonal median.

Their intervals are the per-slot-of-day empirical quantiles of
:mod:`forecasting.models.seasonal`.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.engine.features import slot_of_day_codes
from forecasting.models.base import QUANTILES, Forecaster, finalize_forecast, local_lag_sources, local_offsets, slots_per_day
from forecasting.models.seasonal import horizon_steps, last_season, season_slots, slot_quantiles, utc_slots

class SeasonalNaive(Forecaster):
    """Repeat the last observed season.

    The point forecast of a slot is the value one season earlier (for
    horizons beyond one season, the last observed season repeated); where
    that value is missing, the most recent earlier season that has one.

    Intervals are empirical quantiles of the seasonal differences
    ``y[t] - y[t - season]`` over the last ``n_seasons`` seasons, per local
    slot of day (peaks are noisier than nights), added to the point
    forecast and scaled by ``sqrt(k)`` for the k-th season ahead.

    Parameters
    ----------
    season : str
        Season length, a pandas offset that is a whole number of slots.
    n_seasons : int
        Seasons of differences the intervals are estimated from.

    Seasons are counted in UTC slots: across a daylight-saving change last
    week's daily pattern arrives an hour early or late.  This is the
    baseline of every backtest comparison;
    :class:`LocalSeasonalNaive` counts them in local time.
    """

    name = "seasonal_naive"
    #: Count seasons in local wall-clock time (whole-day seasons only).
    local_time: ClassVar[bool] = False

    def __init__(self, *, season: str = "7D", n_seasons: int = 8):
        self.season = season
        self.n_seasons = n_seasons

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "SeasonalNaive":
        """Store the last season and the per-slot difference quantiles.

        Parameters
        ----------
        y : Series
            History on a complete UTC index with ``freq``.
        X : DataFrame
            Features on ``y.index`` (only ``cal_slot_of_day`` is used).
        horizon : int
            Unused; the forecast works for any horizon.

        Returns
        -------
        SeasonalNaive
            ``self``.
        """
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        m = season_slots(self.season, step)
        spd = slots_per_day(y.index)
        values = y.to_numpy(dtype=float)
        n = len(values)
        X = X.reindex(y.index) if X is not None else None

        self.step_ = step
        self.end_ = y.index[-1]
        self.season_slots_ = m
        self.slots_per_day_ = spd
        self.last_season_ = last_season(values, m, slot_of_day_codes(X, spd) if X is not None else None, spd)
        local = self.local_time and X is not None and m % spd == 0
        self.history_ = values if local else None
        self.offsets_ = local_offsets(X, step, spd) if local else None

        if local and n > m:
            src = local_lag_sources(np.arange(m, n), self.offsets_[m:], m, self.offsets_)
            diff = values[m:] - np.where(src >= 0, values[np.maximum(src, 0)], np.nan)
        else:
            diff = values[m:] - values[:-m] if n > m else np.empty(0)
        keep = min(len(diff), int(self.n_seasons) * m)
        diff = diff[len(diff) - keep:]
        slots = slot_of_day_codes(X.iloc[n - keep:], spd) if X is not None else utc_slots(y.index[n - keep:], spd)
        self.diff_quantiles_ = slot_quantiles(diff, slots, spd)
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future.index`` (all after the history)."""
        h = horizon_steps(X_future.index, self.end_, self.step_)
        m = self.season_slots_
        point = self.last_season_[(h - 1) % m]
        if self.history_ is not None:
            point = self._local_point(h, X_future, point)
        scale = np.sqrt(np.ceil(h / m))
        slots = slot_of_day_codes(X_future, self.slots_per_day_)
        quantiles = {q: point + scale * self.diff_quantiles_[slots, j] for j, q in enumerate(QUANTILES)}
        return finalize_forecast(X_future.index, point, quantiles)

    def _local_point(self, h: np.ndarray, X_future: pd.DataFrame, fallback: np.ndarray) -> np.ndarray:
        """The latest value at the same local time whole seasons back; ``fallback`` where none."""
        m, values = self.season_slots_, self.history_
        n = len(values)
        positions = n - 1 + h
        offsets = local_offsets(X_future, self.step_, self.slots_per_day_)
        point = np.full(len(h), np.nan)
        k = np.ceil(h / m).astype(np.int64)
        for _ in range(-(-n // m) + 1):
            todo = ~np.isfinite(point)
            if not todo.any():
                break
            src = local_lag_sources(positions[todo], offsets[todo], k[todo] * m, self.offsets_)
            point[todo] = np.where(src >= 0, values[np.maximum(src, 0)], np.nan)
            k[todo] += 1
        return np.where(np.isfinite(point), point, fallback)


class LocalSeasonalNaive(SeasonalNaive):
    """Seasonal naive in local wall-clock time.

    The point forecast of a slot is the value at the same local weekday and
    time (for the default ``7D`` season) in the latest observed season, so
    after a daylight-saving change last week's daily pattern is not shifted
    by an hour, as :class:`SeasonalNaive`'s UTC seasons are.  Local time
    comes from the ``cal_slot_of_day`` column; without it, or with a season
    that is not whole days, this is :class:`SeasonalNaive`.  Intervals are
    the same empirical quantiles, of the seasonal differences in local
    time.
    """

    name = "seasonal_naive_local"
    local_time = True


class SeasonalMedian(Forecaster):
    """The median of the same slot over the last ``n_weeks`` seasons.

    Steadier than :class:`SeasonalNaive` where demand repeats closely from
    week to week (schedules, habits): one odd week (a holiday, a storm) in
    the history does not carry over into every week forecast.  Intervals
    are empirical quantiles, per local slot of day, of this very forecast's
    one-season-ahead errors over the last ``n_seasons`` seasons.

    Parameters
    ----------
    season : str
        Season length, a whole number of slots.
    n_weeks : int
        Seasons whose values are combined by the median.
    n_seasons : int
        Seasons of errors the intervals are estimated from.
    """

    name = "seasonal_median"
    #: How the same slot's values over the last seasons make the forecast.
    combine: ClassVar = staticmethod(np.nanmedian)

    def __init__(self, *, season: str = "7D", n_weeks: int = 4, n_seasons: int = 8):
        self.season = season
        self.n_weeks = n_weeks
        self.n_seasons = n_seasons

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "SeasonalMedian":
        """Store the median profile of the last seasons and the error quantiles.

        Raises
        ------
        ValueError
            With fewer than two seasons of history.
        """
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        m = season_slots(self.season, step)
        k = int(self.n_weeks)
        if k < 1:
            raise ConfigError(f"{self.name}: n_weeks must be at least 1, got {self.n_weeks!r}")
        values = y.to_numpy(dtype=float)
        n = len(values)
        if n < 2 * m:
            raise ValueError(f"{self.name} needs at least two seasons of history")
        spd = slots_per_day(y.index)
        X = X.reindex(y.index) if X is not None else None
        self.step_, self.end_, self.season_slots_, self.slots_per_day_ = step, y.index[-1], m, spd
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are filled just below
            last = np.stack([values[n - (j + 1) * m: n - j * m] for j in range(min(k, n // m))])
            profile = self.combine(last, axis=0)
            fallback = last_season(values, m, slot_of_day_codes(X, spd) if X is not None else None, spd)
            self.profile_ = np.where(np.isfinite(profile), profile, fallback)
            # One-season-ahead errors of the same forecast, for the intervals.
            start = max(m, n - int(self.n_seasons) * m)
            lags = np.stack([values[start - (j + 1) * m: n - (j + 1) * m] for j in range(min(k, start // m))])
            errors = values[start:] - self.combine(lags, axis=0)
        slots = slot_of_day_codes(X.iloc[start:], spd) if X is not None else utc_slots(y.index[start:], spd)
        self.error_quantiles_ = slot_quantiles(errors, slots, spd)
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future.index`` (all after the history)."""
        h = horizon_steps(X_future.index, self.end_, self.step_)
        point = self.profile_[(h - 1) % self.season_slots_]
        slots = slot_of_day_codes(X_future, self.slots_per_day_)
        quantiles = {q: point + self.error_quantiles_[slots, j] for j, q in enumerate(QUANTILES)}
        return finalize_forecast(X_future.index, point, quantiles)
