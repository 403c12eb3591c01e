"""Live scores as sums: per slot errors, summed per run, region and local day.

Every live metric is a ratio of sums (:data:`~forecasting.store.schema.SCORE_SUMS`),
so scores of new slots are added to what is stored, and any grouping (lead
time, region, the last N days) is a sum of stored rows; no forecast row has
to be read twice.  The ratios are the engine's own metrics
(:mod:`forecasting.engine.metrics`) written over sums:

* ``mase``: mean of ``|forecast - actual| / scale``, with ``scale`` the mean
  absolute weekly difference of the history before the run date (the
  denominator backtests use, :func:`~forecasting.engine.metrics.seasonal_scale`);
* ``wape``: ``sum |forecast - actual| / sum |actual|``;
* ``bias``: ``sum (forecast - actual) / sum |actual|`` (positive: too high);
* ``coverage``: the fraction of actuals inside ``[q10, q90]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.store.schema import SCORE_SUMS

#: Lead-time groups (days after the run date, day 1 being the run date), as the report shows them.
LEAD_BUCKETS = (("day 1", 1, 1), ("days 2-7", 2, 7), ("days 8-14", 8, 14), ("days 15-28", 15, 28), ("days 29+", 29, 10**6))
#: The group of all lead times.
ALL_LEADS = "all"
METRICS = ("mase", "wape", "bias", "coverage")


def lead_bucket(lead) -> np.ndarray:
    """The :data:`LEAD_BUCKETS` name of each lead (in days)."""
    lead = np.asarray(lead)
    names = np.full(lead.shape, LEAD_BUCKETS[-1][0], dtype=object)
    for name, low, high in reversed(LEAD_BUCKETS):
        names[(lead >= low) & (lead <= high)] = name
    return names


def slot_errors(actual, yhat, q10, q90, scale) -> dict:
    """The per-slot terms of the sums (arrays of the slots' length); ``scale`` per slot."""
    a = np.asarray(actual, dtype=float)
    f = np.asarray(yhat, dtype=float)
    s = np.asarray(scale, dtype=float)
    known = np.isfinite(f)
    err = np.where(known, f - a, 0.0)
    scaled = known & np.isfinite(s) & (s > 0)
    return {
        "n": known.astype(float),
        "abs_err": np.abs(err),
        "err": err,
        "abs_actual": np.where(known, np.abs(a), 0.0),
        "scaled_abs_err": np.where(scaled, np.abs(err) / np.where(scaled, s, 1.0), 0.0),
        "n_scaled": scaled.astype(float),
        "covered": (known & (a >= np.asarray(q10, dtype=float)) & (a <= np.asarray(q90, dtype=float))).astype(float),
    }


def day_sums(slots: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Sum scored slots per run and local day.

    Parameters
    ----------
    slots : pandas.DataFrame
        One row per forecast slot with an actual: ``run_id, run_date, ts``
        (epoch seconds), ``model, actual, scale``, the forecast's ``yhat,
        q10, q90`` and the baseline's ``naive_yhat, naive_q10, naive_q90``
        (NaN where the run has no baseline).
    timezone : str
        The region's IANA time zone: days and leads are local.

    Returns
    -------
    pandas.DataFrame
        ``run_id, day, run_date, lead, model`` and the sums of
        :data:`~forecasting.store.schema.SCORE_SUMS`, plain and ``naive_``.
    """
    keys = ["run_id", "day", "run_date", "lead", "model"]
    if slots.empty:
        return pd.DataFrame(columns=[*keys, *SCORE_SUMS, *(f"naive_{c}" for c in SCORE_SUMS)])
    local = pd.to_datetime(slots["ts"].to_numpy(), unit="s", utc=True).tz_convert(timezone)
    day = local.strftime("%Y-%m-%d")
    lead = (local.tz_localize(None).normalize() - pd.to_datetime(slots["run_date"]).to_numpy()).days + 1
    own = slot_errors(slots["actual"], slots["yhat"], slots["q10"], slots["q90"], slots["scale"])
    naive = slot_errors(slots["actual"], slots["naive_yhat"], slots["naive_q10"], slots["naive_q90"], slots["scale"])
    frame = pd.DataFrame({
        "run_id": slots["run_id"].to_numpy(), "day": day, "run_date": slots["run_date"].to_numpy(),
        "lead": np.asarray(lead, dtype=int), "model": slots["model"].to_numpy(),
        **own, **{f"naive_{k}": v for k, v in naive.items()},
    })
    # A run has one model per region, so grouping by it too changes nothing but keeps it.
    return frame.groupby(keys, sort=True, as_index=False).sum()


def metrics(sums: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    """The metrics of summed rows (``prefix`` ``"naive_"``: the baseline's)."""
    def ratio(top, bottom):
        top = sums[prefix + top].to_numpy(dtype=float)
        bottom = sums[prefix + bottom].to_numpy(dtype=float)
        return np.divide(top, bottom, out=np.full(top.shape, np.nan), where=bottom > 0)

    return pd.DataFrame({
        "mase": ratio("scaled_abs_err", "n_scaled"),
        "wape": ratio("abs_err", "abs_actual"),
        "bias": ratio("err", "abs_actual"),
        "coverage": ratio("covered", "n"),
    }, index=sums.index)
