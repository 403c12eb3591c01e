"""A forecast combination: the average of several models' forecasts."""

from __future__ import annotations

import pandas as pd

from forecasting.models.base import FORECAST_COLUMNS, QUANTILE_COLUMNS, QUANTILES, Forecaster, finalize_forecast
from forecasting.models.spec import COMBINATION, ModelSpec


class Combination(Forecaster):
    """Equal-weight average of member models' point forecasts and quantiles.

    Averaging quantiles across members (rather than mixing their
    distributions) keeps the band no wider than the widest member's.

    Parameters
    ----------
    members : tuple of str
        Model labels (``gbm``, ``sarimax[order=[1,0,1]]``...), at least two;
        by default a cheap, robust blend of the two seasonal baselines.

    Attributes
    ----------
    models_ : list of Forecaster
        The fitted members.
    """

    name = COMBINATION

    def __init__(self, *, members: tuple = ("seasonal_median", "seasonal_naive")):
        self.members = members

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "Combination":
        if len(self.members) < 2:
            raise ValueError("a combination needs at least two member models")
        self.models_ = [ModelSpec.parse(label).build().fit(y, X, horizon=horizon) for label in self.members]
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        frames = [m.predict(X_future) for m in self.models_]
        mean = sum(f[list(FORECAST_COLUMNS)] for f in frames) / len(frames)
        return finalize_forecast(X_future.index, mean["yhat"], {q: mean[c] for q, c in zip(QUANTILES, QUANTILE_COLUMNS)})
