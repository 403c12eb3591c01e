"""Regression with ARMA errors (statsmodels SARIMAX) in log space."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecasting.engine.features import fourier_columns, regressor_columns
from forecasting.models.base import QUANTILES, Forecaster, finalize_forecast
from forecasting.models.ets import history_window
from forecasting.models.seasonal import horizon_steps

#: Fewest observed slots, in days, the model fits on.


class SARIMAXForecaster(Forecaster):
    """ARMA errors around Fourier seasonality and regressors, on ``log1p(y)``.

    Seasonality comes from the local-time Fourier columns of ``X`` (daily
    and weekly harmonics), the rest from the regressor columns (holidays,
    events, promotions, weather, other exogenous variables, moon).  Columns
    constant over the window, or (nearly) linear combinations of other
    columns, are dropped; the others standardised.  The model has a
    constant (``trend="c"``) when ``d == 0`` and none otherwise.  Gaps
    in ``y`` are left to the Kalman filter.  Intervals are the model's
    Gaussian forecast intervals in log space, back-transformed with
    ``expm1`` (so the point forecast is the median, ``yhat == q50``).

    Parameters
    ----------
    order : tuple of int
        ARIMA ``(p, d, q)`` order.
    window : str
        Length of the history used (a pandas offset).
    fourier_day, fourier_week : int
        Daily and weekly harmonics used (capped at those built by
        :func:`forecasting.engine.features.build_features`).
    maxiter : int
        Optimizer iterations.

    Attributes
    ----------
    fit_warnings_ : list of str
        Warnings statsmodels raised while fitting (convergence and the
        like), as ``"Category: message"``; silenced, not lost.
    """

    name = "sarimax"

    def __init__(self, *, order=(2, 0, 1), window: str = "42D", fourier_day: int = 6, fourier_week: int = 3, maxiter: int = 50):
        self.order = order
        self.window = window
        self.fourier_day = fourier_day
        self.fourier_week = fourier_week
        self.maxiter = maxiter

    def fit(self, y: pd.Series, X: pd.DataFrame, horizon: int) -> "SARIMAXForecaster":
        """Fit by maximum likelihood.

        Parameters
        ----------
        y : Series
            History on a complete UTC index with ``freq``.
        X : DataFrame
            Features on ``y.index``.
        horizon : int
            Unused; the forecast works for any horizon.

        Returns
        -------
        SARIMAXForecaster
            ``self``.

        Raises
        ------
        ValueError
            If the window holds fewer than two days of observations.
        """
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        step = pd.Timedelta(pd.tseries.frequencies.to_offset(y.index.freq))
        y = history_window(y, self.window, self.name)
        z = np.log1p(y.clip(lower=0)).to_numpy()

        X = X.reindex(y.index)
        cols = fourier_columns(X, day=int(self.fourier_day), week=int(self.fourier_week)) + regressor_columns(X)
        exog = X[cols].to_numpy(dtype=float)
        mean, std = exog.mean(axis=0), exog.std(axis=0)
        # A column constant over the window (no holiday in it, say) carries
        # nothing to estimate and would make the design singular.
        keep = np.isfinite(std) & (std > 1e-12 * np.maximum(1.0, np.abs(mean)))
        exog = (exog[:, keep] - mean[keep]) / std[keep]
        # Likewise a column that is (nearly) a combination of others, such
        # as a temperature that is just a daily sinusoid: the likelihood is
        # flat along it and the optimizer wanders off to huge coefficients.
        independent = _independent_columns(exog)
        keep[np.flatnonzero(keep)[~independent]] = False
        exog = exog[:, independent]
        cols = [c for c, k in zip(cols, keep) if k]
        mean, std = mean[keep], std[keep]

        order = tuple(int(v) for v in self.order)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            model = SARIMAX(
                z,
                exog=exog if cols else None,
                order=order,
                trend="c" if order[1] == 0 else None,
                concentrate_scale=True,
            )
            # No parameter covariance: the forecast intervals come from the
            # state-space recursions and do not use it.
            result = model.fit(maxiter=int(self.maxiter), disp=False, cov_type="none")

        self.step_ = step
        self.end_ = y.index[-1]
        self.columns_ = cols
        self.exog_mean_ = mean
        self.exog_std_ = std
        self.result_ = result
        self.fit_warnings_ = [f"{w.category.__name__}: {w.message}" for w in record]
        return self

    def predict(self, X_future: pd.DataFrame) -> pd.DataFrame:
        """Forecast the slots of ``X_future.index`` (all after the history)."""
        from scipy.stats import norm

        h = horizon_steps(X_future.index, self.end_, self.step_)
        steps = int(h.max())
        exog = None
        if self.columns_:
            # Steps between the history and X_future (if any) get the window
            # mean of every regressor: 0 after standardising.
            exog = np.zeros((steps, len(self.columns_)))
            exog[h - 1] = (X_future.reindex(columns=self.columns_).to_numpy(dtype=float) - self.exog_mean_) / self.exog_std_
            exog = np.nan_to_num(exog, nan=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = self.result_.get_forecast(steps=steps, exog=exog)
        mean = np.asarray(fc.predicted_mean, dtype=float)[h - 1]
        se = np.sqrt(np.maximum(np.asarray(fc.var_pred_mean, dtype=float), 0.0))[h - 1]
        quantiles = {q: np.expm1(mean + norm.ppf(q) * se) for q in QUANTILES}
        return finalize_forecast(X_future.index, np.expm1(mean), quantiles)


#: Relative size of the pivoted-QR diagonal under which a column counts as
#: a combination of the others (1 - R^2 below about 1e-6).
RANK_TOLERANCE = 1e-3


def _independent_columns(exog: np.ndarray) -> np.ndarray:
    """Mask of a maximal set of linearly independent columns (pivoted QR, in column order)."""
    from scipy.linalg import qr

    mask = np.zeros(exog.shape[1], dtype=bool)
    if exog.shape[1] == 0:
        return mask
    _, r, pivots = qr(exog, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > RANK_TOLERANCE * diag[0]).sum()) if diag[0] > 0 else 0
    mask[pivots[:rank]] = True
    return mask
