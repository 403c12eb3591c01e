"""Direct-strategy gradient boosting on the freshest weekly lags, in local time."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.engine.features import calendar_columns, regressor_columns
from forecasting.models.base import Forecaster, local_lag_sources, local_offsets, slots_per_day
from forecasting.models.gbm import fit_boosted, predict_boosted
from forecasting.models.seasonal import horizon_steps


class GBMDirectForecaster(Forecaster):
    """Histogram gradient boosting with one row per (slot, horizon week).

    :class:`~forecasting.models.gbm.GBMForecaster` uses the same lags for
    the whole horizon, so with a 28-day horizon its freshest lag is four
    weeks old even for tomorrow.  This model follows the direct strategy
    instead: a slot in horizon week ``k`` (``k = ceil(step / week)``) sees
    the values of the same local weekday and time ``k, k + 1, ..,
    k + lag_weeks - 1`` weeks earlier, i.e. the latest week observed before
    the forecast origin and the ones before it, their mean, and whether the
    freshest of those days was a holiday (``hol_`` columns at the lag).  The
    training set simulates forecast origins: every observed slot of the
    history appears once for each horizon week ``k = 1 .. ceil(horizon /
    week)`` with that ``k``'s lags and ``k`` itself as a feature, so one
    model learns how far to trust last week's value at every distance.

    Lags are taken in local wall-clock time (recovered from the
    ``cal_slot_of_day`` column), so a daylight-saving change does not shift
    last week's daily pattern by an hour; without that column, and where
    the local slot does not exist, the plain UTC lag is used.

    The point forecast is a Poisson-loss model, each quantile in
    :data:`~forecasting.models.base.QUANTILES` a quantile-loss model, all on
    the calendar, regressors and lag features.  Slots with a missing target
    are not trained on.

    Parameters
    ----------
    max_iter, learning_rate, max_depth, max_leaf_nodes, min_samples_leaf
        Passed to :class:`sklearn.ensemble.HistGradientBoostingRegressor`.
    lag_weeks : int
        Weekly lags per row, counted from the freshest one.
    max_train_weeks : int or None
        Train on at most this many of the latest weeks of target slots (the
        lags may reach further back); ``None`` uses the whole history.
    random_state : int
        Seed of the estimators.

    Attributes
    ----------
    point_model_ : HistGradientBoostingRegressor
        The Poisson model.
    quantile_models_ : dict
        Quantile level -> fitted quantile model.
    horizon_weeks_ : int
        Horizon weeks trained for; slots further ahead use the last one's
        lag distances shifted (and the trees see ``k`` capped by their
        splits).
    feature_names_ : list of str
        Columns of the design matrix.
    used_features_ : ndarray of bool
        Which of them the models see (not those missing in every row).
    """

    name = "gbm_direct"

    def __init__(
        self,
        *,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_depth: int | None = None,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        lag_weeks: int = 4,
        max_train_weeks: int | None = None,
        random_state: int = 0,
    ):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.lag_weeks = lag_weeks
        self.max_train_weeks = max_train_weeks
        self.random_state = random_state

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "GBMDirectForecaster":
        """Fit the point and quantile models on simulated forecast origins.

        Parameters
        ----------
        y : Series
            History on a complete UTC index with ``freq``.
        X : DataFrame
            Features on ``y.index``.
        horizon : int
            Slots that will be forecast; sets the horizon weeks trained for.

        Returns
        -------
        GBMDirectForecaster
            ``self``.

        Raises
        ------
        ConfigError
            If ``lag_weeks`` is below 1.
        ValueError
            With a week of history or less, or no observed slot with an
            observed lag.
        """
        if int(self.lag_weeks) < 1:
            raise ConfigError(f"gbm_direct: lag_weeks must be at least 1, got {self.lag_weeks!r}")
        spd = slots_per_day(y.index)
        week = 7 * spd
        values = y.to_numpy(dtype=float)
        n = len(values)
        if n <= week:
            raise ValueError("gbm_direct needs more than one week of history")
        X = X.reindex(y.index)
        self.step_ = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        self.end_ = y.index[-1]
        self.week_ = week
        self.slots_per_day_ = spd
        self.history_ = values
        self.offsets_ = local_offsets(X, self.step_, spd)
        self.horizon_weeks_ = max(1, math.ceil(int(horizon) / week))
        self.exog_columns_ = calendar_columns(X) + regressor_columns(X)
        self.holiday_columns_ = [c for c in X.columns if c.startswith("hol_")]
        self.history_holidays_ = X[self.holiday_columns_].to_numpy(dtype=float)
        self.feature_names_ = (
            self.exog_columns_
            + ["horizon_week"]
            + [f"lag_w{a}" for a in range(int(self.lag_weeks))]
            + ["lag_mean"]
            + [f"lag_{c}" for c in self.holiday_columns_]
        )

        exog = X[self.exog_columns_].to_numpy(dtype=float)
        first = 0 if self.max_train_weeks is None else max(0, n - int(self.max_train_weeks) * week)
        positions = np.arange(first, n)
        positions = positions[np.isfinite(values[positions])]
        blocks, targets = [], []
        for k in range(1, self.horizon_weeks_ + 1):
            design = self._design(exog[positions], positions, self.offsets_[positions], np.full(len(positions), k))
            has_lag = np.isfinite(design[:, len(self.exog_columns_) + 1:len(self.exog_columns_) + 1 + int(self.lag_weeks)]).any(axis=1)
            blocks.append(design[has_lag])
            targets.append(values[positions[has_lag]])
        design = np.concatenate(blocks)
        target = np.clip(np.concatenate(targets), 0.0, None)
        if not len(target):
            raise ValueError("gbm_direct: no observed slot has an observed value a week or more before it")
        self.used_features_ = np.isfinite(design).any(axis=0)
        design = design[:, self.used_features_]

        fit_boosted(self, design, target)
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future.index`` (all after the history)."""
        h = horizon_steps(X_future.index, self.end_, self.step_)
        positions = len(self.history_) - 1 + h
        offsets = local_offsets(X_future, self.step_, self.slots_per_day_)
        exog = X_future.reindex(columns=self.exog_columns_).to_numpy(dtype=float)
        k = np.ceil(h / self.week_).astype(np.int64)
        design = self._design(exog, positions, offsets, k)[:, self.used_features_]
        return predict_boosted(self, X_future.index, design)

    def _design(self, exog: np.ndarray, positions: np.ndarray, offsets: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Rows for slots at ``positions`` (0 = first slot of the history) in horizon weeks ``k``."""
        n_lags = int(self.lag_weeks)
        lags = np.full((len(positions), n_lags), np.nan)
        first_source = np.full(len(positions), -1)
        for a in range(n_lags):
            src = local_lag_sources(positions, offsets, (k + a) * self.week_, self.offsets_)
            ok = src >= 0
            lags[ok, a] = self.history_[src[ok]]
            if a == 0:
                first_source = src
        with np.errstate(invalid="ignore"):
            counts = np.isfinite(lags).sum(axis=1)
            lag_mean = np.where(counts > 0, np.nansum(lags, axis=1) / np.maximum(counts, 1), np.nan)
        hol = np.full((len(positions), len(self.holiday_columns_)), np.nan)
        ok = first_source >= 0
        hol[ok] = self.history_holidays_[first_source[ok]]
        return np.column_stack([exog, k.astype(float), lags, lag_mean, hol])
