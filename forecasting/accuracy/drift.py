"""Drift: a region whose live error left what its champion's backtest showed, or that seasonal naive beats.

The rule, per region, over its last ``days`` local days of scored slots
(the forecasts of every run that covered them, so all lead times, as a
backtest window has):

* its live MASE is above the highest MASE its champion had in any window of
  the backtest that chose it (the champion's range: better than that range
  is no alarm), or
* its live MASE is above the live MASE of seasonal naive over the same slots,

each by more than ``tolerance`` (a fraction: 0.25 flags 25% above; 0 any
excess).  A few backtest windows give a narrow range, and a few live days
are noisier than a backtest window: in the synthetic history of
``tests/accuracy/test_drift.py`` the stable regions' three-day live MASE
ranged from 16% below to 5% above the top of their three-window range, the
region whose level doubled was 50% above it.

A region is judged once its scored forecasts cover all ``days`` days of
the window (before that, a day or two of errors is noise).  Only the
champion's own forecasts count (runs started after it was chosen, forecast
with its model): a region forecast by a fallback, or re-chosen, is judged
again once ``days`` days of its new forecasts have actuals.  A region without a
champion is judged by the second rule alone, on all its forecasts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.accuracy.scoring import metrics
from forecasting.store.backtests import load_champions
from forecasting.store.schema import backtest_predictions, backtest_tasks, champions, runs, score_days
from forecasting.store.scores import SUM_COLUMNS

#: What ``--on-drift`` may do with a flagged region.
ACTIONS = ("ignore", "fallback", "refit")
COLUMNS = ("region", "model", "live_mase", "naive_mase", "backtest_low", "backtest_high", "n_slots", "first_day", "last_day", "reason")


def backtest_ranges(store) -> pd.DataFrame:
    """Per region with a champion: the lowest and highest MASE of its windows in the backtest that chose it.

    Returns ``region, model, backtest_low, backtest_high, n_windows``.
    """
    p, t, c = backtest_predictions, backtest_tasks, champions
    mae = sa.func.avg(sa.func.abs(p.c.yhat - p.c.actual))
    q = (
        sa.select(p.c.region, p.c.model, p.c.cutoff, mae.label("mae"), t.c.scale)
        .select_from(p.join(c, (c.c.backtest_id == p.c.backtest_id) & (c.c.region == p.c.region) & (c.c.model == p.c.model))
                     .join(t, (t.c.backtest_id == p.c.backtest_id) & (t.c.region == p.c.region) & (t.c.model == p.c.model)
                           & (t.c.cutoff == p.c.cutoff)))
        .where(p.c.actual.is_not(None))
        .group_by(p.c.region, p.c.model, p.c.cutoff, t.c.scale)
    )
    with store.engine.connect() as conn:
        windows = pd.DataFrame(conn.execute(q).all(), columns=["region", "model", "cutoff", "mae", "scale"]).astype({"mae": float, "scale": float})
    windows = windows[(windows.scale > 0) & np.isfinite(windows.scale)]
    windows = windows.assign(mase=windows.mae / windows.scale)
    return (windows.groupby(["region", "model"], as_index=False)
            .agg(backtest_low=("mase", "min"), backtest_high=("mase", "max"), n_windows=("mase", "size")))


def live_errors(store, days: int, regions=None) -> pd.DataFrame:
    """Per region: the live MASE of its last ``days`` scored days and the baseline's over the same slots.

    Returns ``region, model, live_mase, naive_mase, n_slots, first_day, last_day``.
    """
    with store.engine.connect() as conn:
        lasts = dict(conn.execute(sa.select(score_days.c.region, sa.func.max(score_days.c.day)).group_by(score_days.c.region)).all())
        if regions:
            lasts = {r: d for r, d in lasts.items() if r in set(regions)}
        if not lasts:
            return pd.DataFrame(columns=["region", "model", "live_mase", "naive_mase", "n_slots", "first_day", "last_day"])
        earliest = (pd.Timestamp(min(lasts.values())) - pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
        q = (sa.select(score_days, runs.c.started_at).select_from(score_days.join(runs, runs.c.run_id == score_days.c.run_id))
             .where(score_days.c.day >= earliest))
        rows = pd.DataFrame(conn.execute(q).mappings().all())
    rows = rows[rows.region.isin(set(lasts))]
    first = rows.region.map({r: (pd.Timestamp(d) - pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d") for r, d in lasts.items()})
    rows = rows[rows.day >= first]
    champs = load_champions(store).set_index("region")
    # A champion is judged on its own forecasts: its model, in runs started after it was chosen.
    champion_model = rows.region.map(champs.model) if not champs.empty else pd.Series(np.nan, index=rows.index)
    chosen_at = rows.region.map(champs.selected_at) if not champs.empty else pd.Series(np.nan, index=rows.index)
    own = champion_model.isna() | ((rows.model == champion_model) & (rows.started_at >= chosen_at))
    rows = rows[own]
    if rows.empty:
        return pd.DataFrame(columns=["region", "model", "live_mase", "naive_mase", "n_slots", "first_day", "last_day"])
    sums = rows.groupby("region").agg({**{c: "sum" for c in SUM_COLUMNS}, "day": ["min", "max"], "model": "last"})
    sums.columns = [*SUM_COLUMNS, "first_day", "last_day", "model"]
    sums = sums[sums.first_day == sums.index.map(first.groupby(rows.region).first())]  # the whole window is scored
    out = pd.DataFrame({
        "region": sums.index, "model": sums.model.to_numpy(),
        "live_mase": metrics(sums).mase.to_numpy(), "naive_mase": metrics(sums, "naive_").mase.to_numpy(),
        "n_slots": sums.n.astype(int).to_numpy(), "first_day": sums.first_day.to_numpy(), "last_day": sums.last_day.to_numpy(),
    })
    return out.reset_index(drop=True)


def find_drift(store, days: int = 7, regions=None, tolerance: float = 0.25) -> pd.DataFrame:
    """The regions the rule flags, with their live and backtest MASE and the reason in words.

    Parameters
    ----------
    store : forecasting.store.scores.ScoreStore
        Scored (see :func:`forecasting.accuracy.update.update_scores`).
    days : int
        The live window, in local days up to each region's latest scored day.
    regions : list of str, optional
        Only these regions.
    tolerance : float
        The margin above the range or the baseline, as a fraction.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per flagged region.
    """
    live = live_errors(store, days, regions)
    ranges = backtest_ranges(store)
    live = live.merge(ranges[["region", "model", "backtest_low", "backtest_high"]], on=["region", "model"], how="left")
    above_range = live.live_mase > live.backtest_high * (1 + tolerance)
    above_naive = live.live_mase > live.naive_mase * (1 + tolerance)
    reasons = []
    for r, out_of_range, beaten in zip(live.itertuples(), above_range, above_naive):
        why = []
        if out_of_range:
            why.append(f"live MASE {r.live_mase:.3f} above its backtest range {r.backtest_low:.3f}-{r.backtest_high:.3f}"
                       f" by more than {tolerance:.0%}")
        if beaten:
            why.append(f"live MASE {r.live_mase:.3f} worse than seasonal naive's {r.naive_mase:.3f} by more than {tolerance:.0%}")
        reasons.append("; ".join(why) + (f" ({r.first_day} to {r.last_day}, {r.n_slots} slots)" if why else ""))
    live["reason"] = reasons
    return live[above_range | above_naive][list(COLUMNS)].sort_values("region").reset_index(drop=True)
