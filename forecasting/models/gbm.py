"""Direct multi-horizon gradient boosting on calendar, regressors and weekly lags."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecasting.engine.features import calendar_columns, regressor_columns
from forecasting.models.base import QUANTILES, Forecaster, finalize_forecast, slots_per_day
from forecasting.models.seasonal import horizon_steps


class GBMForecaster(Forecaster):
    """Histogram gradient boosting, one fit serving every step of the horizon.

    Features are the local calendar, the regressors of ``X`` and lags of
    ``y`` at whole weeks that are known at forecast time for every slot of
    the horizon: for ``w0 = ceil(horizon / week)``, lags of ``w0 ..
    w0 + lag_weeks - 1`` weeks, and their mean (ignoring missing lags).
    The point forecast is a Poisson-loss model (counts); each quantile in
    :data:`~forecasting.models.base.QUANTILES` has its own quantile-loss
    model.  Slots with a missing target are not trained on.

    Parameters
    ----------
    max_iter, learning_rate, max_depth, max_leaf_nodes, min_samples_leaf
        Passed to :class:`sklearn.ensemble.HistGradientBoostingRegressor`.
    lag_weeks : int
        Number of weekly lags.
    random_state : int
        Seed of the estimators (early stopping's validation split on large
        histories).

    Attributes
    ----------
    point_model_ : HistGradientBoostingRegressor
        The Poisson model.
    quantile_models_ : dict
        Quantile level -> fitted quantile model.
    lags_ : list of int
        Lags used, in slots.
    feature_names_ : list of str
        Columns of the design matrix, lags last.
    used_features_ : ndarray of bool
        Which of them the models see (not those missing in every row).
    """

    name = "gbm"

    def __init__(
        self,
        *,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_depth: int | None = None,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        lag_weeks: int = 4,
        random_state: int = 0,
    ):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.lag_weeks = lag_weeks
        self.random_state = random_state

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "GBMForecaster":
        """Fit the point and quantile models.

        Parameters
        ----------
        y : Series
            History on a complete UTC index with ``freq``.
        X : DataFrame
            Features on ``y.index``.
        horizon : int
            Slots that will be forecast; chooses the lags.

        Returns
        -------
        GBMForecaster
            ``self``.

        Raises
        ------
        ValueError
            If no slot of ``y`` is observed.
        """
        week = 7 * slots_per_day(y.index)
        first = max(1, math.ceil(int(horizon) / week))
        self.lags_ = [w * week for w in range(first, first + int(self.lag_weeks))]
        self.step_ = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        self.end_ = y.index[-1]
        self.history_ = y.to_numpy(dtype=float)

        X = X.reindex(y.index)
        self.exog_columns_ = calendar_columns(X) + regressor_columns(X)
        self.feature_names_ = self.exog_columns_ + [f"lag_{lag}" for lag in self.lags_] + ["lag_mean"]
        design = self._design(X, np.arange(len(y)))
        target = self.history_
        ok = np.isfinite(target)
        if not ok.any():
            raise ValueError("gbm needs at least one observed slot")
        design, target = design[ok], np.clip(target[ok], 0.0, None)
        # A lag further back than the history is missing everywhere; the
        # binning cannot handle an all-missing column.
        self.used_features_ = np.isfinite(design).any(axis=0)
        design = design[:, self.used_features_]

        fit_boosted(self, design, target)
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future.index`` (all after the history).

        Slots further ahead than the ``horizon`` given to :meth:`fit` get
        missing lags (the trees then fall back on calendar and regressors).
        """
        h = horizon_steps(X_future.index, self.end_, self.step_)
        design = self._design(X_future, len(self.history_) - 1 + h)[:, self.used_features_]
        return predict_boosted(self, X_future.index, design)

    def _design(self, X: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
        """Design matrix for slots at ``positions`` (0 = first slot of the history)."""
        exog = X.reindex(columns=self.exog_columns_).to_numpy(dtype=float)
        n = len(self.history_)
        lags = np.full((len(positions), len(self.lags_)), np.nan)
        for j, lag in enumerate(self.lags_):
            src = positions - lag
            ok = (src >= 0) & (src < n)
            lags[ok, j] = self.history_[src[ok]]
        with np.errstate(invalid="ignore"):
            counts = np.isfinite(lags).sum(axis=1)
            lag_mean = np.where(counts > 0, np.nansum(lags, axis=1) / np.maximum(counts, 1), np.nan)
        return np.column_stack([exog, lags, lag_mean])


def fit_boosted(model, design: np.ndarray, target: np.ndarray) -> None:
    """Fit ``model.point_model_`` (Poisson) and ``model.quantile_models_``
    (one per level of QUANTILES) on one design matrix, with the model's
    boosting parameters."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    common = {
        "max_iter": int(model.max_iter),
        "learning_rate": float(model.learning_rate),
        "max_depth": model.max_depth,
        "max_leaf_nodes": model.max_leaf_nodes,
        "min_samples_leaf": int(model.min_samples_leaf),
        "random_state": model.random_state,
    }
    model.point_model_ = HistGradientBoostingRegressor(loss="poisson", **common).fit(design, target)
    model.quantile_models_ = {
        q: HistGradientBoostingRegressor(loss="quantile", quantile=q, **common).fit(design, target) for q in QUANTILES
    }


def predict_boosted(model, index: pd.DatetimeIndex, design: np.ndarray) -> pd.DataFrame:
    """The forecast frame of models fitted by :func:`fit_boosted`."""
    point = model.point_model_.predict(design)
    quantiles = {q: m.predict(design) for q, m in model.quantile_models_.items()}
    return finalize_forecast(index, point, quantiles)
