"""Live accuracy tables: per region and model, by lead time and overall, beside the baseline's.

Read from the sums of :mod:`forecasting.store.scores`; the metrics are
defined in :mod:`forecasting.accuracy.scoring`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.accuracy.scoring import ALL_LEADS, LEAD_BUCKETS, METRICS, metrics
from forecasting.store.scores import SUM_COLUMNS, summed

#: The columns of ``accuracy.csv``, in order.
COLUMNS = ("region", "model", "lead", "status", "n_runs", "n_slots", *METRICS, *(f"naive_{m}" for m in METRICS))
LEAD_ORDER = [name for name, _, _ in LEAD_BUCKETS] + [ALL_LEADS]


def accuracy_table(store, regions=None, since: str | None = None) -> pd.DataFrame:
    """Live accuracy per region, model and lead-time group, with the baseline's over the same slots.

    A region with stored forecasts but no actual yet has one row, status
    ``no actuals yet``; the others are ``scored``.

    Parameters
    ----------
    store : forecasting.store.scores.ScoreStore
    regions : list of str, optional
    since : str, optional
        Only runs dated on or after this ``YYYY-MM-DD``.
    """
    rows = []
    for buckets in (LEAD_BUCKETS, None):  # per lead-time group, then all leads
        sums = summed(store, ["region", "model"], regions, since, buckets=buckets)
        if not sums.empty:
            sums["lead"] = sums.pop("bucket") if buckets else ALL_LEADS
            rows.append(_with_metrics(sums))
    scored = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(COLUMNS))
    waiting = sorted(set(store.scorable(regions, since).region) - set(scored.region))
    if waiting:
        empty = pd.DataFrame({"region": waiting, "model": "", "lead": ALL_LEADS, "status": "no actuals yet", "n_runs": 0, "n_slots": 0})
        scored = pd.concat([scored, empty], ignore_index=True)
    scored["lead_order"] = scored.lead.map({name: i for i, name in enumerate(LEAD_ORDER)})
    return scored.sort_values(["region", "model", "lead_order"]).drop(columns="lead_order")[list(COLUMNS)].reset_index(drop=True)


def accuracy_by_lead(store, regions=None, since: str | None = None, until: str | None = None) -> pd.DataFrame:
    """All regions together, per lead-time group and overall: what a one-screen summary and a run's report show.

    Parameters
    ----------
    store : forecasting.store.database.Store
        Any store on the results database.
    regions, since
        As for :func:`accuracy_table`.
    until : str, optional
        As known on this ``YYYY-MM-DD``: runs dated up to it, scored on the
        local days before it (a run's report stays as it was written).

    Returns
    -------
    pandas.DataFrame
        ``lead, n_runs, n_slots`` and the metrics, plain and ``naive_``: one
        row per lead group with scored slots, in :data:`LEAD_BUCKETS` order,
        then ``all``.
    """
    columns = ["lead", "n_runs", "n_slots", *METRICS, *(f"naive_{m}" for m in METRICS)]
    by_bucket = summed(store, [], regions, since, until, buckets=LEAD_BUCKETS)
    if by_bucket.empty:
        return pd.DataFrame(columns=columns)
    total = summed(store, [], regions, since, until).assign(lead=ALL_LEADS)
    rows = pd.concat([by_bucket.rename(columns={"bucket": "lead"}), total], ignore_index=True)
    rows["order"] = rows.lead.map({name: i for i, name in enumerate(LEAD_ORDER)})
    return _with_metrics(rows.sort_values("order"))[columns].reset_index(drop=True)


def _with_metrics(sums: pd.DataFrame) -> pd.DataFrame:
    own = metrics(sums)
    naive = metrics(sums, "naive_").add_prefix("naive_")
    return pd.concat([sums.drop(columns=list(SUM_COLUMNS)).assign(status="scored", n_slots=sums.n.astype(int)), own, naive], axis=1)


def format_table(by_lead: pd.DataFrame, table: pd.DataFrame, flagged: pd.DataFrame | None = None, limit: int = 10) -> str:
    """The one-screen text: all regions by lead time, the worst regions, those without actuals, the flagged."""
    def num(v, pct=False):
        return "-" if v is None or not np.isfinite(v) else (f"{v:6.1%}" if pct else f"{v:6.3f}")

    lines = ["live accuracy, all regions (seasonal naive over the same slots in brackets)",
             f"  {'lead':<11}{'slots':>9}  {'MASE':>15}  {'WAPE':>17}  {'bias':>17}  {'q10-q90 cover':>17}"]
    for r in by_lead.itertuples():
        lines.append(f"  {r.lead:<11}{r.n_slots:>9}  {num(r.mase)} ({num(r.naive_mase)})  {num(r.wape, 1)} ({num(r.naive_wape, 1)})"
                     f"  {num(r.bias, 1)} ({num(r.naive_bias, 1)})  {num(r.coverage, 1)} ({num(r.naive_coverage, 1)})")
    overall = table[(table.lead == ALL_LEADS) & (table.status == "scored")].sort_values("mase", ascending=False)
    if not overall.empty:
        lines.append(f"worst regions (all lead times; {len(overall)} region-model rows in all, see accuracy.csv)")
        for r in overall.head(limit).itertuples():
            lines.append(f"  {r.region:<12} {r.model[:28]:<28} MASE {num(r.mase)} (naive {num(r.naive_mase)})  "
                         f"WAPE {num(r.wape, 1)}  runs {r.n_runs}")
    waiting = table[table.status == "no actuals yet"].region.tolist()
    if waiting:
        lines.append(f"no actuals yet: {len(waiting)} regions: {', '.join(waiting[:limit])}{' ...' if len(waiting) > limit else ''}")
    if flagged is not None:
        lines.append(f"drifting: {len(flagged)} regions" + (":" if len(flagged) else ""))
        for r in flagged.head(limit).itertuples():
            lines.append(f"  {r.region:<12} {r.reason}")
    return "\n".join(lines)
