"""A backtest's leaderboard: per model, the metrics over one region's windows.

Pure functions on one region's window predictions (columns ``model, cutoff,
timestamp, actual, yhat, q10, q50, q90``, optionally ``yhat_oracle``) and the
scales of its successful windows (``model, cutoff, scale, scale_sq``).

Scaled metrics are computed per window and averaged over the windows, each
window scaled by its own training history, so a region's quiet and busy
years weigh the same:

* ``mase``: mean absolute error / the history's mean absolute weekly
  seasonal difference;
* ``rmsse``: root of mean squared error / the history's mean squared weekly
  seasonal difference (M5's point metric).  The mean minimises it, so on
  sparse demand a forecast of zeros cannot win it;
* ``spl``: scaled pinball loss, the mean of q10, q50 and q90's pinball losses
  over MASE's scale (M5's uncertainty metric).  A forecast whose quantiles
  are all zero pays for every slot with orders at q90.

WAPE, sMAPE, bias, unscaled pinball loss and the q10-q90 coverage pool every
slot of every window.  ``zero_share`` is the share of zero actuals over the
model's windows, and ``intermittent`` flags a region where it is high
(:func:`forecasting.engine.metrics.is_intermittent`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.engine import metrics

#: Leaderboard columns of the oracle score (NaN without ``oracle_regressors``).
ORACLE_COLUMNS = ["mase_oracle", "wape_oracle", "oracle_gain"]
#: The leaderboard's columns, in order (the staffing scores are added by selection).
COLUMNS = ["model", "mase", "rmsse", "spl", "wape", "smape", "bias", "pinball", "coverage_80", "n_windows",
           "zero_share", "intermittent", *ORACLE_COLUMNS]
_QUANTILES = (("q10", 0.1), ("q50", 0.5), ("q90", 0.9))


def bucket_labels(frame: pd.DataFrame, width_days: int) -> pd.Series:
    """Horizon bucket (``d01-07``, ``d08-14`` ...) of each row, from its window's first slot."""
    first = frame.groupby(["model", "cutoff"])["timestamp"].transform("min")
    days = ((frame["timestamp"] - first) / pd.Timedelta("1D")).astype(float)
    idx = np.floor(days / width_days).astype(int)
    return idx.map(lambda i: f"d{i * width_days + 1:02d}-{(i + 1) * width_days:02d}")


def _pinball_loss(actual: pd.Series, quantile: pd.Series, q: float) -> pd.Series:
    diff = actual - quantile
    return np.maximum(q * diff, (q - 1) * diff)


def _window_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and cutoff: the scaled metrics of the window."""
    frame = frame.assign(
        abs_err=(frame.actual - frame.yhat).abs(),
        sq_err=(frame.actual - frame.yhat) ** 2,
        abs_err_oracle=(frame.actual - frame.yhat_oracle).abs(),
        pinball=sum(_pinball_loss(frame.actual, frame[c], q) for c, q in _QUANTILES) / len(_QUANTILES),
    )
    window = frame.groupby(["model", "cutoff"]).agg(
        mae=("abs_err", "mean"), mse=("sq_err", "mean"), mae_oracle=("abs_err_oracle", "mean"),
        pinball=("pinball", "mean"), scale=("scale", "first"), scale_sq=("scale_sq", "first"))
    scale = window.scale.where(window.scale > 0)
    window["mase"] = window.mae / scale
    window["mase_oracle"] = window.mae_oracle / scale
    window["spl"] = window.pinball / scale
    window["rmsse"] = np.sqrt(window.mse / window.scale_sq.where(window.scale_sq > 0))
    return window


def leaderboard(preds: pd.DataFrame, scales: pd.DataFrame, width_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-model metrics (:data:`COLUMNS`), and per model and horizon bucket MASE and RMSSE.

    Parameters
    ----------
    preds : DataFrame
        One region's window predictions.
    scales : DataFrame
        ``model, cutoff, scale`` and, where known, ``scale_sq`` of the
        successful windows (without ``scale_sq``, RMSSE is NaN).
    width_days : int
        Width of the horizon buckets.
    """
    if preds.empty:
        return pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=["model", "bucket", "mase", "rmsse"])
    scales = scales if "scale_sq" in scales else scales.assign(scale_sq=np.nan)
    frame = preds.merge(scales[["model", "cutoff", "scale", "scale_sq"]], on=["model", "cutoff"], how="left")
    frame["scale_sq"] = frame["scale_sq"].astype(float)
    if "yhat_oracle" not in frame:
        frame["yhat_oracle"] = np.nan
    frame["bucket"] = bucket_labels(frame, width_days)
    window = _window_scores(frame)
    rows = []
    for model, g in frame.groupby("model", sort=False):
        w = window.loc[model]
        share = metrics.zero_share(g.actual)
        rows.append(
            {
                "model": model,
                "mase": float(w.mase.mean()),
                "rmsse": float(w.rmsse.mean()),
                "spl": float(w.spl.mean()),
                "wape": metrics.wape(g.actual, g.yhat),
                "smape": metrics.smape(g.actual, g.yhat),
                "bias": metrics.bias(g.actual, g.yhat),
                "pinball": float(np.nanmean([metrics.pinball(g.actual, g[c], q) for c, q in _QUANTILES])),
                "coverage_80": metrics.coverage(g.actual, g.q10, g.q90),
                "n_windows": int(w.mase.notna().sum()),
                "zero_share": share,
                "intermittent": metrics.is_intermittent(g.actual),
                **_oracle_scores(g, w),
            }
        )
    by_bucket = window_bucket_scores(frame)
    return pd.DataFrame(rows, columns=COLUMNS), by_bucket


def window_bucket_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and horizon bucket: MASE and RMSSE, each the mean over windows of the bucket's score."""
    g = frame.assign(abs_err=(frame.actual - frame.yhat).abs(), sq_err=(frame.actual - frame.yhat) ** 2)
    by_bucket = g.groupby(["model", "cutoff", "bucket"]).agg(
        mae=("abs_err", "mean"), mse=("sq_err", "mean"), scale=("scale", "first"), scale_sq=("scale_sq", "first")).reset_index()
    by_bucket["mase"] = by_bucket.mae / by_bucket.scale.where(by_bucket.scale > 0)
    by_bucket["rmsse"] = np.sqrt(by_bucket.mse / by_bucket.scale_sq.where(by_bucket.scale_sq > 0))
    return by_bucket.groupby(["model", "bucket"], as_index=False)[["mase", "rmsse"]].mean()


def _oracle_scores(g: pd.DataFrame, windows: pd.DataFrame) -> dict:
    """MASE and WAPE with the recorded regressors, and the MASE they buy (honest - oracle),
    over the windows that have both."""
    both = windows.mase_oracle.notna() & windows.mase.notna()
    if not both.any():
        return dict.fromkeys(ORACLE_COLUMNS, float("nan"))
    mase_oracle = float(windows.mase_oracle[both].mean())
    scored = g[g.yhat_oracle.notna()]
    return {"mase_oracle": mase_oracle, "wape_oracle": metrics.wape(scored.actual, scored.yhat_oracle),
            "oracle_gain": float(windows.mase[both].mean()) - mase_oracle}
