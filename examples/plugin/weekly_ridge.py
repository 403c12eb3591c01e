"""WeeklyRidge: an example model plug-in for ``forecasting``.

A ridge regression of ``log1p(orders)`` on the slot of the week in local
time (one-hot, from the ``cal_dow`` and ``cal_slot_of_day`` features), a
linear trend and a few regressor columns (holidays, promotions, events,
weather), fitted on the last ``n_weeks`` weeks of history.  Its interval
comes from the in-sample residuals on the log scale: their 10 %, 50 % and
90 % quantiles per local slot of day (where a slot has too few residuals,
those of all slots).

It follows the model contract of :mod:`forecasting.models.base` and is
declared to ``forecasting`` in this distribution's ``pyproject.toml``::

    [project.entry-points."forecasting.models"]
    weekly_ridge = "weekly_ridge:WeeklyRidge"
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.models.base import QUANTILES, Forecaster, finalize_forecast, slots_per_day

#: Fewer residuals than this in a slot of day: use the quantiles of all slots.
_MIN_RESIDUALS = 5


class WeeklyRidge(Forecaster):
    """Ridge regression on a local weekly profile, trend and regressors, on log counts.

    Parameters
    ----------
    alpha : float
        Ridge penalty (scikit-learn's ``Ridge(alpha=...)``).
    n_weeks : int
        Weeks of the most recent history it is fitted on.
    regressors : tuple of str
        Prefixes of the feature columns used beside the weekly profile
        (``hol_``, ``promo_``, ``evt_``, ``wx_``, ...); ``()`` for none.
    trend : bool
        Add a linear trend (in weeks) to the regression.
    """

    name = "weekly_ridge"

    def __init__(self, *, alpha: float = 1.0, n_weeks: int = 8, regressors: tuple = ("hol_", "promo_", "evt_", "wx_"),
                 trend: bool = True):
        self.alpha = alpha
        self.n_weeks = n_weeks
        self.regressors = regressors
        self.trend = trend

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "WeeklyRidge":
        """Fit the regression and the residual quantiles.

        Parameters
        ----------
        y : Series
            Orders per slot on a complete UTC index with ``freq``; NaN = unknown.
        X : DataFrame
            Features on ``y.index``.
        horizon : int
            Unused: the weekly profile forecasts any horizon.

        Returns
        -------
        WeeklyRidge
            ``self``.

        Raises
        ------
        ValueError
            If the fitted stretch has no known value.
        """
        from sklearn.linear_model import Ridge  # imported here, as the built-in models do, to keep imports cheap

        spd = slots_per_day(y.index)
        keep = min(len(y), int(self.n_weeks) * 7 * spd)
        y = y.iloc[-keep:]
        X = X.reindex(y.index)
        self.slots_per_day_ = spd
        self.step_ = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        self.start_ = y.index[0]
        self.columns_ = [c for c in X.columns if any(c.startswith(p) for p in self.regressors)]
        known = np.isfinite(y.to_numpy(dtype=float))
        if not known.any():
            raise ValueError("weekly_ridge: no known value in the last n_weeks of history")
        target = np.log1p(np.clip(y.to_numpy(dtype=float)[known], 0.0, None))
        design = self._design(X)[known]
        self.model_ = Ridge(alpha=float(self.alpha)).fit(design, target)
        residuals = target - self.model_.predict(design)
        slot = self._slot_of_day(X)[known]
        overall = np.quantile(residuals, QUANTILES)
        table = np.tile(overall, (spd, 1))
        for s in range(spd):
            mine = residuals[slot == s]
            if len(mine) >= _MIN_RESIDUALS:
                table[s] = np.quantile(mine, QUANTILES)
        self.residual_quantiles_ = table  # slot of day x QUANTILES, log scale
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future``.

        Returns
        -------
        DataFrame
            ``yhat, q10, q50, q90`` on ``X_future.index``.
        """
        log_point = self.model_.predict(self._design(X_future))
        offsets = self.residual_quantiles_[self._slot_of_day(X_future)]
        quantiles = {q: np.expm1(log_point + offsets[:, j]) for j, q in enumerate(QUANTILES)}
        return finalize_forecast(X_future.index, np.expm1(log_point), quantiles)

    # ------------------------------------------------------------------ features

    def _slot_of_day(self, X: pd.DataFrame) -> np.ndarray:
        """Local slot of day (UTC where the calendar feature is missing)."""
        spd = self.slots_per_day_
        index = pd.DatetimeIndex(X.index)
        utc = ((index.hour * 60 + index.minute) * 60 // int(self.step_.total_seconds())).to_numpy()
        if "cal_slot_of_day" in X.columns:
            local = X["cal_slot_of_day"].to_numpy(dtype=float)
            utc = np.where(np.isfinite(local), local, utc)
        return np.asarray(utc, dtype=np.int64) % spd

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        """One-hot slot of week, trend (weeks since the first fitted slot) and regressors."""
        spd = self.slots_per_day_
        index = pd.DatetimeIndex(X.index)
        dow = index.dayofweek.to_numpy().astype(float)
        if "cal_dow" in X.columns:
            local = X["cal_dow"].to_numpy(dtype=float)
            dow = np.where(np.isfinite(local), local, dow)
        slot_of_week = dow.astype(np.int64) % 7 * spd + self._slot_of_day(X)
        parts = [np.eye(7 * spd)[slot_of_week]]
        if self.trend:
            weeks = (index - self.start_) / pd.Timedelta("7D")
            parts.append(np.asarray(weeks, dtype=float)[:, None])
        if self.columns_:
            values = X.reindex(columns=self.columns_).to_numpy(dtype=float)
            parts.append(np.where(np.isfinite(values), values, 0.0))
        return np.hstack(parts)
