"""Baselines every backtest includes beside seasonal naive: no orders at all, and the weekly mean.

A champion that cannot beat them shows in the leaderboard.  ``zero`` is the
forecast that MASE (and every absolute-error metric) favours on sparse
demand, where the median slot has no orders; ``mean_week`` is the plain
estimate of the rate that RMSSE rewards there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.models.base import QUANTILES, Forecaster, finalize_forecast
from forecasting.models.naive import SeasonalMedian
from forecasting.models.seasonal import horizon_steps


class ZeroForecast(Forecaster):
    """No orders in any slot, with zero quantiles.

    Not a model to run on purpose: the floor of every comparison.  Where it
    wins, the region has (almost) no orders, or the metric rewards the
    median of sparse demand (MASE does; RMSSE and the scaled pinball loss do
    not).
    """

    name = "zero"

    def __init__(self):
        pass

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "ZeroForecast":
        """Remember where the history ends (forecast slots must come after it)."""
        self.step_ = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        self.end_ = y.index[-1]
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Zeros on ``X_future.index``."""
        n = len(horizon_steps(X_future.index, self.end_, self.step_))
        return finalize_forecast(X_future.index, np.zeros(n), {q: np.zeros(n) for q in QUANTILES})


class MeanWeek(SeasonalMedian):
    """The mean of the same slot over the last ``n_weeks`` seasons.

    The plain per-slot rate estimate: on sparse demand the median of a slot
    is zero and its mean is not.  Intervals are empirical quantiles, per
    local slot of day, of this forecast's own one-season-ahead errors over
    the last ``n_seasons`` seasons (as for ``seasonal_median``).

    Parameters
    ----------
    season : str
        Season length, a whole number of slots.
    n_weeks : int
        Seasons averaged.
    n_seasons : int
        Seasons of errors the intervals are estimated from.
    """

    name = "mean_week"
    combine = staticmethod(np.nanmean)

    def __init__(self, *, season: str = "7D", n_weeks: int = 8, n_seasons: int = 8):
        self.season = season
        self.n_weeks = n_weeks
        self.n_seasons = n_seasons
