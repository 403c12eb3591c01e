"""Live scores in the results store: what is scored, the rows to score, the sums.

:class:`ScoreStore` reads the forecasts (and their baselines) that have
actuals to be scored, and writes their sums (:mod:`forecasting.accuracy.scoring`)
into ``score_days``, with the last slot scored per run and region in
``score_progress``: re-scoring reads only slots after it.  One transaction
per region, so an interrupted scoring leaves each region scored as before
or completely.  The tables: :mod:`forecasting.store.schema`.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from forecasting.models.base import FORECAST_COLUMNS
from forecasting.store.database import insert_rows, slot_rows
from forecasting.store.runs import ResultsStore
from forecasting.store.schema import (
    SCORE_SUMS, baseline_forecasts, drift_flags, forecasts, region_runs, runs, score_days, score_progress,
)

#: Run ids per ``IN (...)``: under SQLite's bound-parameter limit.
CHUNK = 500
SUM_COLUMNS = (*SCORE_SUMS, *(f"naive_{c}" for c in SCORE_SUMS))


class ScoreStore(ResultsStore):
    """The results store, with the reads and writes of live accuracy."""

    def scorable(self, regions=None, since: str | None = None) -> pd.DataFrame:
        """The nightly runs' regions whose forecasts are still stored.

        Returns ``run_id, region, run_date, scale, scored_until, last_slot``
        (the last three NaN where nothing was scored yet), ordered by region
        and run date.
        """
        p = score_progress
        has_forecasts = sa.exists().where((forecasts.c.run_id == region_runs.c.run_id) & (forecasts.c.region == region_runs.c.region))
        q = (
            sa.select(region_runs.c.run_id, region_runs.c.region, runs.c.run_date, p.c.scale, p.c.scored_until, p.c.last_slot)
            .select_from(region_runs.join(runs, runs.c.run_id == region_runs.c.run_id).outerjoin(
                p, (p.c.run_id == region_runs.c.run_id) & (p.c.region == region_runs.c.region)))
            .where((runs.c.kind == "nightly") & (region_runs.c.status == "ok") & has_forecasts)
        )
        if since:
            q = q.where(runs.c.run_date >= since)
        with self.engine.connect() as conn:
            frame = rows_frame(conn.execute(q), ["run_id", "region", "run_date", "scale", "scored_until", "last_slot"])
        frame = frame.astype({"scale": float, "scored_until": float, "last_slot": float})
        if regions:
            frame = frame[frame.region.isin(set(regions))]
        return frame.sort_values(["region", "run_date"], ignore_index=True)

    def slots_after(self, region: str, after: dict, until: int, baseline: bool = False) -> pd.DataFrame:
        """Forecast (or ``baseline``) rows of ``region`` for the runs in ``after`` (run id -> last slot scored, or
        -inf), from the slot after that one up to ``until`` (epoch seconds).

        Runs scored up to the same slot (every open run, after a nightly
        pass) share one query bounded by it: only new slots are read.
        """
        table = baseline_forecasts if baseline else forecasts
        cols = [table.c.run_id, table.c.ts, *([] if baseline else [table.c.model]), table.c.yhat, table.c.q10, table.c.q90]
        by_bound: dict[float, list] = {}
        for run_id, low in after.items():
            by_bound.setdefault(low, []).append(run_id)
        parts = []
        with self.engine.connect() as conn:
            for low, ids in by_bound.items():
                for i in range(0, len(ids), CHUNK):
                    q = sa.select(*cols).where(table.c.run_id.in_(ids[i:i + CHUNK]) & (table.c.region == region)
                                               & (table.c.ts <= until))
                    if low > float("-inf"):
                        q = q.where(table.c.ts > int(low))
                    parts.append(rows_frame(conn.execute(q), [c.name for c in cols]))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[c.name for c in cols])

    def last_slots(self, region: str, run_ids: list, baseline: bool = False) -> dict:
        """Run id -> epoch seconds of the region's last forecast (or ``baseline``) slot, for those that have one."""
        table = baseline_forecasts if baseline else forecasts
        out = {}
        with self.engine.connect() as conn:
            for i in range(0, len(run_ids), CHUNK):
                q = (sa.select(table.c.run_id, sa.func.max(table.c.ts))
                     .where(table.c.run_id.in_(run_ids[i:i + CHUNK]) & (table.c.region == region)).group_by(table.c.run_id))
                out.update(dict(conn.execute(q).all()))
        return out

    def write_scores(self, region: str, days: pd.DataFrame, progress: pd.DataFrame, baselines: dict | None = None) -> bool:
        """Add ``days`` (from :func:`~forecasting.accuracy.scoring.day_sums`) to the region's stored sums and
        record ``progress`` (``run_id, run_date, scale, previous, scored_until, last_slot``: ``previous`` is the
        ``scored_until`` the slots were read after, NaN for a run not scored before), with any ``baselines``
        computed for runs that had none (run id -> rows), in one transaction.

        Returns ``False``, writing nothing, when another process scored one
        of these runs since they were read (its progress is no longer
        ``previous``): adding these sums would count its slots twice.
        """
        run_ids = progress.run_id.tolist()
        try:
            with self._write(f"scoring region {region}") as conn:
                # The claim comes first: its write takes the database's write lock (a second scorer waits here,
                # then finds the progress moved).
                self._advance(conn, region, progress)
                for run_id, frame in (baselines or {}).items():
                    insert_rows(conn, baseline_forecasts, slot_rows(frame, FORECAST_COLUMNS, {"run_id": run_id, "region": region}))
                if not days.empty:
                    self._add_days(conn, region, run_ids, days)
        except _Moved:
            return False
        return True

    @staticmethod
    def _advance(conn, region: str, progress: pd.DataFrame) -> None:
        p = score_progress
        for r in progress.itertuples():
            values = {"run_date": r.run_date, "scale": None if pd.isna(r.scale) else float(r.scale),
                      "scored_until": int(r.scored_until), "last_slot": int(r.last_slot)}
            if pd.isna(r.previous):  # a run scored for the first time: a second scorer's insert breaks the key
                try:
                    conn.execute(p.insert(), [{"run_id": r.run_id, "region": region, **values}])
                except sa.exc.IntegrityError:
                    raise _Moved(r.run_id) from None
            elif conn.execute(p.update().where((p.c.run_id == r.run_id) & (p.c.region == region)
                                               & (p.c.scored_until == int(r.previous))).values(**values)).rowcount != 1:
                raise _Moved(r.run_id)

    @staticmethod
    def _add_days(conn, region: str, run_ids: list, days: pd.DataFrame) -> None:
        old = []
        for i in range(0, len(run_ids), CHUNK):
            where = (score_days.c.region == region) & score_days.c.run_id.in_(run_ids[i:i + CHUNK])
            old.append(pd.DataFrame(conn.execute(sa.select(score_days).where(where)).mappings().all(),
                                    columns=[c.name for c in score_days.columns]))
            conn.execute(score_days.delete().where(where))
        keys = ["run_id", "day", "run_date", "lead", "model"]
        merged = pd.concat([*[o.drop(columns="region") for o in old], days[[*keys, *SUM_COLUMNS]]], ignore_index=True)
        merged = merged.groupby(keys, as_index=False)[list(SUM_COLUMNS)].sum()
        rows = merged.assign(region=region).to_dict("records")
        insert_rows(conn, score_days, [{**r, "lead": int(r["lead"])} for r in rows])

    def summed(self, by: list[str], regions=None, since: str | None = None, until: str | None = None,
               buckets=None) -> pd.DataFrame:
        """:func:`summed` on this store."""
        return summed(self, by, regions, since, until, buckets)

    # ------------------------------------------------------------------ drift

    def record_drift(self, run_id: str, flagged: pd.DataFrame, action: str) -> None:
        """Store the regions a run found drifting (:func:`forecasting.accuracy.drift.find_drift`) and the action taken."""
        rows = [
            {"run_id": run_id, "region": r.region, "model": None if pd.isna(r.model) else str(r.model),
             "live_mase": float(r.live_mase), "naive_mase": _float(r.naive_mase), "backtest_low": _float(r.backtest_low),
             "backtest_high": _float(r.backtest_high), "n_slots": int(r.n_slots), "first_day": r.first_day,
             "last_day": r.last_day, "reason": r.reason, "action": action}
            for r in flagged.itertuples()
        ]
        with self._write("recording drifting regions") as conn:
            conn.execute(drift_flags.delete().where(drift_flags.c.run_id == run_id))
            insert_rows(conn, drift_flags, rows)

    def drift_flags(self, run_id: str) -> pd.DataFrame:
        """The regions run ``run_id`` found drifting: the columns of ``drift_flags`` (empty if none)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(drift_flags).where(drift_flags.c.run_id == run_id).order_by(drift_flags.c.region))
            return pd.DataFrame(rows.mappings().all(), columns=[c.name for c in drift_flags.columns])


def _float(value):
    return None if value is None or pd.isna(value) else float(value)


def summed(store, by: list[str], regions=None, since: str | None = None, until: str | None = None,
           buckets=None) -> pd.DataFrame:
    """``score_days`` sums grouped ``by`` columns of it (``region``, ``model``, ``lead``, ``day``...), with ``n_runs``.

    Parameters
    ----------
    store : forecasting.store.database.Store
        Any store on the results database (the report reads a plain one).
    by : list of str
        Columns to group by (none: one row of totals).
    regions : list of str, optional
        Only these regions.
    since : str, optional
        Only runs dated on or after this ``YYYY-MM-DD``.
    until : str, optional
        As known on this date: runs dated up to it, slots of local days before it.
    buckets : sequence of (name, first, last), optional
        Also group by these lead-time groups (a ``bucket`` column), computed
        by the database: ``n_runs`` counts distinct runs per group, which no
        sum of finer rows can give.
    """
    cols = [score_days.c[c] for c in by]
    names = list(by)
    if buckets:
        lead = score_days.c.lead
        cols.append(sa.case(*[((lead >= low) & (lead <= high), name) for name, low, high in buckets],
                            else_=sa.null()).label("bucket"))
        names.append("bucket")
    q = sa.select(*cols, sa.func.count(sa.distinct(score_days.c.run_id)).label("n_runs"),
                  *[sa.func.sum(score_days.c[c]).label(c) for c in SUM_COLUMNS])
    if cols:
        q = q.group_by(*cols)
    if since:
        q = q.where(score_days.c.run_date >= since)
    if until:
        q = q.where((score_days.c.run_date <= until) & (score_days.c.day < until))
    if regions:
        q = q.where(score_days.c.region.in_(sorted(set(regions))))
    with store.engine.connect() as conn:
        frame = rows_frame(conn.execute(q), [*names, "n_runs", *SUM_COLUMNS])
    frame = frame[frame.n_runs > 0] if not cols else frame  # (totals of nothing: one row of NULLs)
    if buckets:
        frame = frame[frame.bucket.notna()]
    return frame.astype({c: float for c in SUM_COLUMNS}).reset_index(drop=True)


def rows_frame(result, columns: list[str]) -> pd.DataFrame:
    """A frame of a query's rows, made from plain tuples.

    pandas does not take SQLAlchemy's ``Row`` for a tuple and probes each
    one for attributes: ``pd.DataFrame(result.all())`` took 0.73 s for
    60,452 rows, this 0.096 s (``python -m bench live-accuracy --profile``).
    """
    return pd.DataFrame([tuple(r) for r in result], columns=columns)


class _Moved(Exception):
    """Another process scored a run since its slots were read."""
