"""What a backtest says about staffing: each model's staffing score, the champion's calibration, the cost report.

With a ``staffing`` section in the backtest config, every model of a
region is scored by the pinball loss of its *calibrated* staffing quantile
(:mod:`forecasting.engine.staffing`), cross-fitted: each window's quantile
comes from the offsets of the region's other windows, so a model is never
judged on residuals it was calibrated on.  ``selection_metric: staffing``
chooses champions by that score.  The champion's calibration on all its
windows is stored with it for the nightly run.

The report (``staffing.csv``) gives per region the expected cost per slot
of staffing to the champion's quantile, to seasonal naive's quantile
(calibrated the same way), and to seasonal naive's point forecast; and
(``staffing_coverage.csv``) how often the champion's quantile covered the
demand, per local hour-of-day bucket.  Pure functions: nothing here reads
or writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.engine.staffing import calibrate, cross_fitted_staff, expected_cost, hour_bucket, hour_bucket_label

#: Leaderboard columns of the staffing score (NaN without a staffing section).
STAFFING_COLUMNS = ["staffing_pinball", "staffing_cost", "staffing_coverage"]
#: Columns of ``staffing.csv``.
REPORT_COLUMNS = ["region", "model", "quantile", "cost_champion", "cost_seasonal_naive", "cost_seasonal_naive_point",
                  "cost_ratio", "coverage", "n_slots"]
#: Columns of ``staffing_coverage.csv``.
COVERAGE_COLUMNS = ["region", "model", "hour_bucket", "quantile", "coverage", "n_slots"]

BASELINE = "seasonal_naive"


def staffing_scores(preds: pd.DataFrame, staffing, timezone: str, lead_days: int) -> tuple[pd.DataFrame, dict]:
    """Each model's cross-fitted staffing score, and each model's cross-fitted quantiles.

    Parameters
    ----------
    preds : DataFrame
        One region's window predictions, every model (``model, cutoff, timestamp, actual, yhat``).
    staffing : StaffingConfig
        The quantile and the costs.
    timezone : str
        The region's, for its hour-of-day buckets.
    lead_days : int
        Width of the lead-time buckets.

    Returns
    -------
    scores : DataFrame
        ``model`` and :data:`STAFFING_COLUMNS`.
    staff : dict
        Model -> its predictions with a ``staff`` column.
    """
    q = staffing.quantile
    under, over = staffing.costs()
    rows, staff = [], {}
    for model, g in preds.groupby("model", sort=False):
        g = g.assign(staff=cross_fitted_staff(g, q, timezone, lead_days))
        staff[model] = g
        ok = g.actual.notna() & g.staff.notna()
        rows.append({
            "model": model,
            "staffing_pinball": expected_cost(g.actual, g.staff, q, 1.0 - q),
            "staffing_cost": expected_cost(g.actual, g.staff, under, over),
            "staffing_coverage": float((g.actual[ok] <= g.staff[ok]).mean()) if ok.any() else float("nan"),
        })
    return pd.DataFrame(rows, columns=["model", *STAFFING_COLUMNS]), staff


def champion_calibration(preds: pd.DataFrame, model: str | None, staffing, timezone: str, lead_days: int) -> str | None:
    """The champion's calibration on all its windows, as JSON (``None``: no champion or no staffing)."""
    if staffing is None or model is None:
        return None
    mine = preds[preds.model == model]
    if mine.empty:
        return None
    return calibrate(mine, staffing.quantile, timezone, lead_days).to_json()


def staffing_report(region: str, model: str | None, staff: dict, staffing, timezone: str) -> tuple[dict, list[dict]]:
    """The region's row of ``staffing.csv`` and its rows of ``staffing_coverage.csv``."""
    q = staffing.quantile
    under, over = staffing.costs()
    row = dict.fromkeys(REPORT_COLUMNS, float("nan")) | {"region": region, "model": model, "quantile": q}
    champ, naive = staff.get(model), staff.get(BASELINE)
    if champ is None:
        return row, []
    ok = champ.actual.notna() & champ.staff.notna()
    row.update(cost_champion=expected_cost(champ.actual, champ.staff, under, over),
               coverage=float((champ.actual[ok] <= champ.staff[ok]).mean()) if ok.any() else float("nan"),
               n_slots=int(ok.sum()))
    if naive is not None:
        # Over the slots both were scored on: the same demand, staffed two ways.
        both = champ.loc[ok, ["cutoff", "timestamp", "actual", "staff"]].merge(
            naive[["cutoff", "timestamp", "staff", "yhat"]], on=["cutoff", "timestamp"], suffixes=("", "_naive"))
        row.update(cost_champion=expected_cost(both.actual, both.staff, under, over),
                   cost_seasonal_naive=expected_cost(both.actual, both.staff_naive, under, over),
                   cost_seasonal_naive_point=expected_cost(both.actual, both.yhat, under, over))
        row["cost_ratio"] = row["cost_champion"] / row["cost_seasonal_naive"] if row["cost_seasonal_naive"] > 0 else float("nan")
    scored = champ[ok]
    buckets = hour_bucket(scored.timestamp, timezone)
    covered = (scored.actual <= scored.staff).to_numpy()
    coverage = [{"region": region, "model": model, "hour_bucket": hour_bucket_label(int(b)), "quantile": q,
                 "coverage": float(covered[buckets == b].mean()), "n_slots": int((buckets == b).sum())}
                for b in np.unique(buckets)]
    return row, coverage
