"""Live accuracy as one run's report shows it: what was known when the run started.

A report must mean the same whenever it is written, so every number here is
bounded by the run's date ``D``: the scores (``score_days``) of nightly runs
dated up to ``D``, on the local days before ``D`` (the actuals a run dated
``D`` could have had); the drift flags the run itself recorded; and per
region the forecasts that earlier nightly runs made for the days before
``D``.  Scoring a later run, or scoring this one once its actuals arrive,
changes none of it.

Everything is read from the results store; nothing is written.  Scores
that are missing for those days (the store was never scored, or not since
some runs) are counted, not computed: see :func:`unscored`.

Functions
---------
drift_flags
    The regions a run flagged as drifting, with reason and action.
earlier_runs
    The nightly runs whose forecasts a region plot shows as past forecasts.
past_forecasts
    One region's stitched forecasts of the days before the run date, at fixed lead times.
unscored
    The (run, region) pairs whose scores stop short of what the run's cache knew.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.data.timestamps import from_epoch_seconds
from forecasting.store.schema import drift_flags as drift_table, forecasts, region_runs, runs, score_progress

__all__ = ["LEADS", "drift_flags", "earlier_runs", "past_forecasts", "unscored"]

#: Lead times (days; day 1 is the forecast's own run date) of the past forecasts drawn per region.
LEADS = (1, 7)


def drift_flags(store, run_id: str) -> pd.DataFrame:
    """The regions run ``run_id`` flagged as drifting: the ``drift_flags`` table's columns, by region (empty if none).

    The same rows as :meth:`forecasting.store.scores.ScoreStore.drift_flags`,
    read from any results store.
    """
    t = drift_table
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.run_id == run_id).order_by(t.c.region)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in t.columns])


def earlier_runs(store, run_date: str, days: int, leads=LEADS) -> dict:
    """Run id -> run date of the nightly runs dated before ``run_date`` whose forecasts at ``leads`` fall in its last ``days`` days."""
    first = (pd.Timestamp(run_date) - pd.Timedelta(days=days + max(leads) - 1)).strftime("%Y-%m-%d")
    q = sa.select(runs.c.run_id, runs.c.run_date).where(
        (runs.c.kind == "nightly") & (runs.c.run_date >= first) & (runs.c.run_date < run_date))
    with store.engine.connect() as conn:
        return dict(conn.execute(q).all())


def past_forecasts(store, region: str, run_date: str, days: int, timezone: str, runs_by_id: dict, leads=LEADS) -> pd.DataFrame:
    """What earlier nightly runs forecast for ``region`` on each of the ``days`` local days before ``run_date``.

    For each day and each lead ``L`` in ``leads``, the slots of that day
    from the run dated ``L - 1`` days before it (lead 1: the day's own
    run), so each lead's rows stitch the runs' forecasts into one series.
    Only those slots are read (one indexed query), whatever the horizon.

    Parameters
    ----------
    store : forecasting.store.runs.ResultsStore
    region : str
    run_date : str
        ``YYYY-MM-DD`` of the run reported on; its own day is not included.
    days : int
        How many local days before it.
    timezone : str
        The region's IANA zone: days are local.
    runs_by_id : dict
        Candidate runs, run id -> run date (:func:`earlier_runs`).
    leads : sequence of int
        Lead times in days.

    Returns
    -------
    pandas.DataFrame
        Indexed by UTC slot start, sorted by lead then time: ``lead, run_id,
        run_date, yhat, q10, q90``.  Empty when no earlier run forecast the
        region for those days (or they were deleted).
    """
    end = pd.Timestamp(run_date)
    first = end - pd.Timedelta(days=days)
    days_index = pd.date_range(first, end + pd.Timedelta(days=1), freq="D")
    midnights = dict(zip(days_index, _midnights(days_index, timezone).tolist()))  # Python ints: SQLite binds no numpy ints
    wanted = []
    for run_id, day in runs_by_id.items():
        for lead in leads:
            target = pd.Timestamp(day) + pd.Timedelta(days=lead - 1)
            if first <= target < end:
                wanted.append((run_id, lead, midnights[target], midnights[target + pd.Timedelta(days=1)]))
    cols = ["run_id", "ts", "yhat", "q10", "q90"]
    rows = []
    if wanted:
        params = {"region": region}
        for n, (run_id, _, lo, hi) in enumerate(wanted):
            params.update({f"r{n}": run_id, f"lo{n}": lo, f"hi{n}": hi})
        with store.engine.connect() as conn:
            rows = conn.execute(_past_query(len(wanted)), params).all()
    frame = pd.DataFrame(dict(zip(cols, zip(*rows))) if rows else {c: [] for c in cols})  # (from Row objects: 5x slower)
    if frame.empty:
        return pd.DataFrame(columns=["lead", "run_id", "run_date", "yhat", "q10", "q90"], index=pd.DatetimeIndex([], tz="UTC"))
    # Lead in local days, as scoring counts it (day 1: the run date itself).
    day = pd.to_datetime(frame.ts.to_numpy(), unit="s", utc=True).tz_convert(timezone).tz_localize(None).normalize()
    lead = (day - pd.to_datetime(frame.run_id.map(runs_by_id)).to_numpy()).days + 1
    frame = frame.assign(lead=np.asarray(lead, dtype=int), run_date=frame.run_id.map(runs_by_id)).sort_values(["lead", "ts"])
    frame.index = from_epoch_seconds(frame.pop("ts").to_numpy())
    return frame[["lead", "run_id", "run_date", "yhat", "q10", "q90"]]


def unscored(store, run_date: str, known: dict) -> int:
    """How many (run, region) pairs of nightly runs dated before ``run_date`` are scored short of the actuals known.

    A pair is short when ``known`` has actuals for slots of its forecast
    that ``score_progress`` does not cover: scoring
    (:func:`forecasting.accuracy.update.update_scores`) would add them.

    Parameters
    ----------
    store : forecasting.store.runs.ResultsStore
    run_date : str
    known : dict
        Region -> ``(timezone, last_ts)``: its zone and the epoch seconds of
        its last actual before ``run_date`` (``None``: none).  Only these
        regions are counted.

    Returns
    -------
    int
    """
    p = score_progress
    has_forecasts = sa.exists().where((forecasts.c.run_id == region_runs.c.run_id) & (forecasts.c.region == region_runs.c.region))
    q = (sa.select(region_runs.c.region, runs.c.run_date, p.c.scored_until, p.c.last_slot)
         .select_from(region_runs.join(runs, runs.c.run_id == region_runs.c.run_id).outerjoin(
             p, (p.c.run_id == region_runs.c.run_id) & (p.c.region == region_runs.c.region)))
         .where((runs.c.kind == "nightly") & (region_runs.c.status == "ok") & (runs.c.run_date < run_date) & has_forecasts))
    with store.engine.connect() as conn:
        pairs = pd.DataFrame(conn.execute(q).all(), columns=["region", "run_date", "scored_until", "last_slot"])
    short = 0
    for region, part in pairs[pairs.region.isin([r for r, (_, last) in known.items() if last is not None])].groupby("region"):
        tz, until = known[region]
        starts = _midnights(pd.DatetimeIndex(pd.to_datetime(part.run_date)), tz)
        scored = part.scored_until.to_numpy(dtype=float)
        never = np.isnan(scored) & (starts <= until)
        behind = ~np.isnan(scored) & (scored < np.fmin(part.last_slot.to_numpy(dtype=float), until))
        short += int((never | behind).sum())
    return short


@functools.lru_cache(maxsize=64)
def _past_query(n: int) -> sa.TextClause:
    """The rows of ``n`` (run, slot range) pairs of one region, by the primary key (run_id, region, ts).

    Plain SQL, built once per ``n``: the same query as an expression took
    a third of the past forecasts' time to build, once per region.
    """
    ranges = " OR ".join(f"(run_id = :r{i} AND ts >= :lo{i} AND ts < :hi{i})" for i in range(n))
    return sa.text(f"SELECT run_id, ts, yhat, q10, q90 FROM {forecasts.name} WHERE region = :region AND ({ranges})")


def _midnights(days: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Epoch seconds of each day's local midnight in ``timezone`` (a skipped midnight: the first instant after it)."""
    local = days.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return local.tz_convert("UTC").as_unit("s").asi8


def _midnight(day: pd.Timestamp, timezone: str) -> int:
    """:func:`_midnights` of one day."""
    return int(_midnights(pd.DatetimeIndex([day]), timezone)[0])
