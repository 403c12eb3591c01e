"""Forecast accuracy metrics.

All functions ignore slots where the actual value is unknown (NaN).  MASE is
scaled by the in-sample error of the weekly seasonal-naive forecast, the
baseline every comparison here uses: MASE < 1 beats last week's values.
RMSSE (M5's point metric) scales squared errors by the seasonal naive's
in-sample squared error: the mean, not the median, minimises it, so on
sparse demand (mostly zero slots) a forecast of zeros cannot win it as it
wins MASE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=float)
    f = np.asarray(y_pred, dtype=float)
    keep = np.isfinite(a) & np.isfinite(f)
    return a[keep], f[keep]


def _seasonal_diff(y_train: pd.Series, season: str) -> np.ndarray:
    step = pd.Timedelta(y_train.index.freq)
    lag = int(pd.Timedelta(season) / step)
    values = np.asarray(y_train, dtype=float)
    if len(values) <= lag:
        return np.empty(0)
    diff = values[lag:] - values[:-lag]
    return diff[np.isfinite(diff)]


def seasonal_scale(y_train: pd.Series, season: str = "7D") -> float:
    """Mean absolute seasonal difference of the training series (MASE's denominator)."""
    diff = _seasonal_diff(y_train, season)
    return float(np.abs(diff).mean()) if diff.size else float("nan")


def seasonal_scale_sq(y_train: pd.Series, season: str = "7D") -> float:
    """Mean squared seasonal difference of the training series (RMSSE's denominator)."""
    diff = _seasonal_diff(y_train, season)
    return float(np.square(diff).mean()) if diff.size else float("nan")


def mase(y_true, y_pred, y_train: pd.Series, season: str = "7D") -> float:
    """Mean absolute scaled error; NaN when the scale is zero or unknown."""
    a, f = _pair(y_true, y_pred)
    scale = seasonal_scale(y_train, season)
    if not a.size or not np.isfinite(scale) or scale == 0:
        return float("nan")
    return float(np.mean(np.abs(a - f)) / scale)


def rmsse(y_true, y_pred, y_train: pd.Series, season: str = "7D") -> float:
    """Root mean squared scaled error; NaN when the scale is zero or unknown."""
    a, f = _pair(y_true, y_pred)
    scale = seasonal_scale_sq(y_train, season)
    if not a.size or not np.isfinite(scale) or scale == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.square(a - f)) / scale))


def zero_share(y) -> float:
    """Share of the known slots that are zero."""
    values = np.asarray(y, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.mean(values == 0)) if values.size else float("nan")


#: Mean interval between nonzero slots above which a series counts as
#: intermittent (Syntetos-Boylan's ADI cut-off).
INTERMITTENT_ADI = 1.32


def is_intermittent(y) -> bool:
    """Whether demand is intermittent: on average more than 1.32 slots per nonzero slot.

    That is a zero share above about 24 %; the rule the leaderboard and
    ``cache info`` flag, under which MASE favours forecasts of zero.
    """
    return intermittent_share(zero_share(y))


def intermittent_share(share: float) -> bool:
    """:func:`is_intermittent` from the zero share itself (False when unknown)."""
    return bool(np.isfinite(share) and (share >= 1 or 1 / (1 - share) > INTERMITTENT_ADI))


def wape(y_true, y_pred) -> float:
    """Weighted absolute percentage error: sum |error| / sum |actual|."""
    a, f = _pair(y_true, y_pred)
    total = np.abs(a).sum()
    return float(np.abs(a - f).sum() / total) if total > 0 else float("nan")


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in [0, 2]; slots where both are zero count as perfect."""
    a, f = _pair(y_true, y_pred)
    if not a.size:
        return float("nan")
    denom = np.abs(a) + np.abs(f)
    ratio = np.divide(2 * np.abs(a - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(ratio.mean())


def bias(y_true, y_pred) -> float:
    """Mean forecast minus actual, relative to the mean actual (positive: too high)."""
    a, f = _pair(y_true, y_pred)
    mean = np.abs(a).mean() if a.size else 0.0
    return float((f - a).mean() / mean) if mean > 0 else float("nan")


def pinball(y_true, y_quantile, q: float) -> float:
    """Mean pinball (quantile) loss of a ``q``-quantile forecast."""
    a, f = _pair(y_true, y_quantile)
    if not a.size:
        return float("nan")
    diff = a - f
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(y_true, lower, upper) -> float:
    """Fraction of actual values inside ``[lower, upper]``."""
    a = np.asarray(y_true, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    keep = np.isfinite(a) & np.isfinite(lo) & np.isfinite(hi)
    if not keep.any():
        return float("nan")
    return float(np.mean((a[keep] >= lo[keep]) & (a[keep] <= hi[keep])))
