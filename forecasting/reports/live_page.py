"""The run report's live-accuracy section and each region's past forecasts, as the page template shows them.

:func:`section` gathers the section (accuracy by lead time with its plot,
the regions the run flagged as drifting) and :func:`region_past` one
region's earlier forecasts for its plot, both from :mod:`forecasting.reports.live`,
as plain values that the template escapes.

Why the report does not score: it is a read of the store (``forecasting
report`` never creates or changes one, and may be given a read-only
store), and scoring twice at once would count slots twice (each scorer
adds the sums of the slots after the progress it read).  The nightly run
scores before it forecasts; when scores are missing for the days a run
knew, the section says how many (run, region) pairs lack them instead.
"""

from __future__ import annotations

import base64
import math

import numpy as np
import pandas as pd

from forecasting.accuracy.tables import accuracy_by_lead
from forecasting.reports import live
from forecasting.reports.figures import PNG_COLORS, new_figure, png_bytes
from forecasting.reports.live_plots import draw_lead_accuracy

__all__ = ["FIGSIZE", "past_days", "region_past", "section"]

#: Size (inches) of the accuracy-by-lead plot, at the report's resolution.
FIGSIZE = (8.0, 2.4)


def section(store, run: dict, known: dict | None, dpi: float) -> dict:
    """The live-accuracy section of ``run``'s report.

    Parameters
    ----------
    store : forecasting.store.runs.ResultsStore
    run : dict
        The run's ``runs`` row.
    known : dict or None
        Region -> ``(timezone, last_ts)``, its last actual in the run's cache
        before the run date (:func:`forecasting.reports.live.unscored`);
        ``None`` without a cache (then whether scores are missing cannot be told).
    dpi : float
        Resolution of the plot.

    Returns
    -------
    dict
        ``as_of`` (the run date), ``rows`` (the table, numbers as text),
        ``png_base64``, ``width``, ``height`` (the plot; ``""`` without
        scores), ``unscored`` (pairs scored short of the run's cache, or
        ``None`` when unknown) and ``flags`` (one dict per flagged region:
        ``region, model, live_mase, naive_mase, backtest, days, n_slots,
        reason, action``).
    """
    as_of = str(run["run_date"])
    by_lead = accuracy_by_lead(store, until=as_of)
    png = ""
    if not by_lead.empty:
        fig = new_figure(FIGSIZE, dpi)
        draw_lead_accuracy(fig, by_lead)
        png = base64.b64encode(png_bytes(fig, PNG_COLORS)).decode("ascii")
    rows = [{
        "lead": r.lead, "n_runs": int(r.n_runs), "n_slots": int(r.n_slots),
        **{m: _number(getattr(r, m)) for m in ("mase", "naive_mase")},
        **{m: _percent(getattr(r, m)) for m in ("wape", "naive_wape", "bias", "naive_bias", "coverage", "naive_coverage")},
    } for r in by_lead.itertuples()]
    flags = [{
        "region": f.region, "model": f.model or "", "live_mase": _number(f.live_mase), "naive_mase": _number(f.naive_mase),
        "backtest": "" if _missing(f.backtest_high) else f"{_number(f.backtest_low)}-{_number(f.backtest_high)}",
        "days": f"{f.first_day} to {f.last_day}", "n_slots": int(f.n_slots), "reason": f.reason, "action": f.action,
    } for f in live.drift_flags(store, run["run_id"]).itertuples()]
    unscored = live.unscored(store, as_of, known) if known is not None else None
    return {"as_of": as_of, "rows": rows, "png_base64": png, "width": int(FIGSIZE[0] * dpi), "height": int(FIGSIZE[1] * dpi),
            "unscored": unscored, "flags": flags}


def past_days(span: pd.Timedelta) -> int:
    """Local days of past forecasts shown for a history of ``span`` (whole days, rounded up)."""
    return int(math.ceil(span / pd.Timedelta(days=1)))


def region_past(store, region: str, run_date: str, days: int, timezone: str, runs_by_id: dict,
                orders: pd.Series | None) -> tuple[pd.DataFrame | None, str]:
    """One region's earlier forecasts of the days before the run date, and the caption's sentence about them.

    Parameters
    ----------
    store, region, run_date, days, timezone, runs_by_id
        As for :func:`forecasting.reports.live.past_forecasts`.
    orders : pandas.Series or None
        The cache's orders around the run date (``None`` without a cache).

    Returns
    -------
    past : pandas.DataFrame or None
        What to draw (``None``: nothing, the sentence says why).
    sentence : str
    """
    if days <= 0:
        return None, ""
    if orders is None:
        return None, "past forecasts not shown: no actuals to compare them with (the run's cache is not available or lacks this region)"
    past = live.past_forecasts(store, region, run_date, days, timezone, runs_by_id)
    if past.empty:
        return None, f"no earlier nightly run forecast this region for the {days} days before {run_date}"
    actual = orders.reindex(past.index)
    if not np.isfinite(actual.to_numpy(dtype=float)).any():
        return None, f"past forecasts not shown: the cache holds no actuals for the {days} days before {run_date}"
    counts = past.groupby("lead").run_id.nunique()
    told = ", ".join(f"day {int(lead)} on {n} of {days} days" for lead, n in counts.items())
    return past, f"past forecasts (orange: day 1 with its 80% band; purple dashed: day 7): {told}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value) -> str:
    return "–" if _missing(value) or not np.isfinite(value) else f"{value:.3f}"


def _percent(value) -> str:
    return "–" if _missing(value) or not np.isfinite(value) else f"{value:.1%}"
