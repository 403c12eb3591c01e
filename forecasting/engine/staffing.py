"""The staffing quantile: a forecast's cost-optimal quantile, calibrated on backtest residuals.

Staffing for ``s`` when ``a`` orders come costs ``cost_under * (a - s)`` if
``a > s`` (diners wait) and ``cost_over * (s - a)`` otherwise (drivers sit
idle).  The expected cost is lowest at the quantile
``q* = cost_under / (cost_under + cost_over)`` of the demand (the
newsvendor's critical ratio), and at that quantile the cost is the pinball
loss scaled by ``cost_under + cost_over``.

A model's own quantiles are rarely calibrated where it matters: the evening
peak is noisier than the night, and day 20 than day 1.  So the staffing
quantile is the point forecast moved on the log1p scale by the ``q*``
quantile of the backtest residuals ``log1p(actual) - log1p(yhat)`` of its
cell: local hour-of-day bucket (:data:`HOUR_BUCKET_HOURS` hours) x lead-time
bucket (days since the origin, the backtest's ``buckets``).  A cell with
fewer than :data:`MIN_CELL` residuals uses its hour bucket over all leads,
then all residuals.  The level is the finite-sample conformal one,
``ceil((n + 1) q) / n``, so the coverage of a cell is at least ``q`` when its
residuals are exchangeable.

:class:`Calibration` is what a backtest stores with a champion and the
nightly job applies (:meth:`Calibration.apply`): plain data, JSON both ways.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Width of the hour-of-day buckets, in hours (8 buckets a day).
HOUR_BUCKET_HOURS = 3
#: Fewest residuals a cell needs for its own offset.
MIN_CELL = 30


def target_quantile(cost_under: float, cost_over: float) -> float:
    """The cost-optimal quantile ``cost_under / (cost_under + cost_over)``."""
    return float(cost_under) / float(cost_under + cost_over)


def hour_bucket(timestamps, timezone: str, hours: int = HOUR_BUCKET_HOURS) -> np.ndarray:
    """Local hour-of-day bucket (0 = from midnight) of each UTC timestamp."""
    idx = pd.DatetimeIndex(timestamps)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx
    return (idx.tz_convert(timezone).hour.to_numpy() // hours).astype(np.int64)


def hour_bucket_label(bucket: int, hours: int = HOUR_BUCKET_HOURS) -> str:
    """``"06-09"``: the local hours a bucket covers."""
    return f"{bucket * hours:02d}-{(bucket + 1) * hours:02d}"


def lead_bucket(timestamps, origin, lead_days: int) -> np.ndarray:
    """Lead-time bucket of each slot: whole ``lead_days`` since the window's first slot ``origin``."""
    idx = pd.DatetimeIndex(timestamps)
    origin = pd.Timestamp(origin)
    if idx.tz is None and origin.tz is not None:
        idx = idx.tz_localize("UTC")
    days = (idx - origin) / pd.Timedelta("1D")
    return np.maximum(np.floor(np.asarray(days, dtype=float) / lead_days), 0).astype(np.int64)


def residuals(actual, yhat) -> np.ndarray:
    """``log1p(actual) - log1p(yhat)`` (a negative forecast counts as 0)."""
    return np.log1p(np.asarray(actual, dtype=float)) - np.log1p(np.maximum(np.asarray(yhat, dtype=float), 0.0))


def _level_quantile(values: np.ndarray, q: float) -> float:
    n = values.size
    level = min(1.0, math.ceil((n + 1) * q) / n)
    return float(np.quantile(values, level, method="higher"))


@dataclass(frozen=True)
class Calibration:
    """Offsets (log1p scale) that turn a point forecast into its staffing quantile.

    Attributes
    ----------
    quantile : float
        The target ``q*``.
    lead_days : int
        Width of the lead-time buckets.
    hour_hours : int
        Width of the hour-of-day buckets.
    cells : dict
        ``"hour,lead"`` -> offset, for cells with enough residuals.
    hours : dict
        ``"hour"`` -> offset over every lead time.
    overall : float
        Offset of all residuals (0 with none).
    """

    quantile: float
    lead_days: int
    hour_hours: int = HOUR_BUCKET_HOURS
    cells: dict = field(default_factory=dict)
    hours: dict = field(default_factory=dict)
    overall: float = 0.0

    @classmethod
    def fit(cls, hour: np.ndarray, lead: np.ndarray, resid: np.ndarray, quantile: float, lead_days: int,
            hour_hours: int = HOUR_BUCKET_HOURS, min_cell: int = MIN_CELL) -> "Calibration":
        """The offsets of residuals ``resid`` in their hour and lead buckets."""
        ok = np.isfinite(resid)
        hour, lead, resid = np.asarray(hour)[ok], np.asarray(lead)[ok], np.asarray(resid)[ok]
        if resid.size == 0:
            return cls(float(quantile), int(lead_days), int(hour_hours))
        frame = pd.DataFrame({"h": hour, "l": lead, "r": resid})
        cells = {f"{h},{l}": _level_quantile(g.r.to_numpy(), quantile)
                 for (h, l), g in frame.groupby(["h", "l"]) if len(g) >= min_cell}
        hours = {str(h): _level_quantile(g.r.to_numpy(), quantile) for h, g in frame.groupby("h") if len(g) >= min_cell}
        return cls(float(quantile), int(lead_days), int(hour_hours), cells, hours, _level_quantile(resid, quantile))

    def offsets(self, hour: np.ndarray, lead: np.ndarray) -> np.ndarray:
        """The offset of each (hour bucket, lead bucket): its cell's, else its hour's, else the overall one."""
        out = np.empty(len(hour), dtype=float)
        for i, (h, l) in enumerate(zip(np.asarray(hour).tolist(), np.asarray(lead).tolist())):
            out[i] = self.cells.get(f"{h},{l}", self.hours.get(str(h), self.overall))
        return out

    def staff(self, yhat, hour: np.ndarray, lead: np.ndarray) -> np.ndarray:
        """The staffing quantile of point forecasts ``yhat`` in those buckets (never negative)."""
        base = np.log1p(np.maximum(np.asarray(yhat, dtype=float), 0.0))
        return np.maximum(np.expm1(base + self.offsets(hour, lead)), 0.0)

    def apply(self, forecast: pd.DataFrame, timezone: str) -> np.ndarray:
        """The staffing quantile of a forecast frame (UTC slot index, ``yhat``) whose first slot is its origin."""
        index = pd.DatetimeIndex(forecast.index)
        return self.staff(forecast["yhat"].to_numpy(dtype=float), hour_bucket(index, timezone, self.hour_hours),
                          lead_bucket(index, index[0], self.lead_days))

    def to_json(self) -> str:
        """Plain JSON (stored with the champion)."""
        return json.dumps({"quantile": self.quantile, "lead_days": self.lead_days, "hour_hours": self.hour_hours,
                           "cells": self.cells, "hours": self.hours, "overall": self.overall}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Calibration":
        """The inverse of :meth:`to_json`.

        Raises
        ------
        ValueError
            Not a calibration.
        """
        try:
            data = json.loads(text)
            return cls(float(data["quantile"]), int(data["lead_days"]), int(data["hour_hours"]),
                       {str(k): float(v) for k, v in data["cells"].items()},
                       {str(k): float(v) for k, v in data["hours"].items()}, float(data["overall"]))
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a staffing calibration: {exc}") from None


def window_buckets(preds: pd.DataFrame, timezone: str, lead_days: int, hour_hours: int = HOUR_BUCKET_HOURS):
    """Hour and lead bucket of each row of window predictions (``cutoff, timestamp``; one model)."""
    first = preds.groupby("cutoff")["timestamp"].transform("min")
    lead = np.maximum(np.floor(((preds["timestamp"] - first) / pd.Timedelta("1D")).to_numpy(dtype=float) / lead_days), 0)
    return hour_bucket(preds["timestamp"], timezone, hour_hours), lead.astype(np.int64)


def calibrate(preds: pd.DataFrame, quantile: float, timezone: str, lead_days: int) -> Calibration:
    """The calibration of one model's backtest windows (``cutoff, timestamp, actual, yhat``)."""
    hour, lead = window_buckets(preds, timezone, lead_days)
    return Calibration.fit(hour, lead, residuals(preds["actual"], preds["yhat"]), quantile, lead_days)


def cross_fitted_staff(preds: pd.DataFrame, quantile: float, timezone: str, lead_days: int) -> np.ndarray:
    """Each window's staffing quantile from the calibration of the *other* windows (NaN with one window).

    What :func:`calibrate` on every window would give the nightly run, scored
    honestly: no window is scored with offsets learnt from itself.
    """
    out = np.full(len(preds), np.nan)
    cutoffs = preds["cutoff"].to_numpy()
    if len(np.unique(cutoffs)) < 2:
        return out
    hour, lead = window_buckets(preds, timezone, lead_days)
    resid = residuals(preds["actual"], preds["yhat"])
    yhat = preds["yhat"].to_numpy(dtype=float)
    for c in np.unique(cutoffs):
        mine = cutoffs == c
        cal = Calibration.fit(hour[~mine], lead[~mine], resid[~mine], quantile, lead_days)
        out[mine] = cal.staff(yhat[mine], hour[mine], lead[mine])
    return out


def expected_cost(actual, staff, cost_under: float, cost_over: float) -> float:
    """Mean cost per slot of staffing ``staff`` for ``actual`` (slots with either missing left out)."""
    a, s = np.asarray(actual, dtype=float), np.asarray(staff, dtype=float)
    ok = np.isfinite(a) & np.isfinite(s)
    if not ok.any():
        return float("nan")
    a, s = a[ok], s[ok]
    return float(np.mean(cost_under * np.maximum(a - s, 0.0) + cost_over * np.maximum(s - a, 0.0)))
