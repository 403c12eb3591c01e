"""Nightly runs in the results store: runs, their regions' outcomes, forecasts.

A run date has one forecast per region: when a later nightly run for the
same date forecasts a region, the earlier run's forecasts of that region (its
baseline and live scores too) are deleted in the same transaction.  Nothing
else is ever deleted, except by :meth:`ResultsStore.apply_retention` when the
user sets a retention.  Every region's outcome is written in one
transaction (its row and all its forecasts together), so a crash leaves each
region either as it was or complete.  The tables: :mod:`forecasting.store.schema`;
the files of a run: :mod:`forecasting.store.exports`.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

import pandas as pd
import sqlalchemy as sa

import forecasting
from forecasting.data.timestamps import from_epoch_seconds
from forecasting.errors import UsageError
from forecasting.models.base import FORECAST_COLUMNS
from forecasting.store.database import Store, insert_rows, slot_rows
from forecasting.store.schema import baseline_forecasts, forecasts, region_runs, runs, score_days, score_progress


class ResultsStore(Store):
    """Read and write nightly runs, region outcomes and forecasts.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL; tables are created if missing.
    busy_timeout : float
        SQLite only: seconds a write waits for another writer before
        failing with :class:`~forecasting.errors.StoreError`.
    """

    # ----------------------------------------------------------------- writing

    def start_run(self, run_id: str, kind: str, run_date: str, cache_path: str, cluster: str, config, regions: list[str]) -> None:
        """Record a new run and its regions as ``pending``, in one transaction."""
        row = {
            "run_id": run_id,
            "kind": kind,
            "run_date": run_date,
            "cache_path": str(cache_path),
            "cluster": cluster,
            "config_json": json.dumps(config.to_dict(), sort_keys=True, default=str),
            "config_hash": config.digest(),
            "code_version": forecasting.__version__,
            "started_at": time.time(),
            "status": "running",
            "n_regions": len(regions),
            "n_ok": 0,
            "n_failed": 0,
        }
        with self._write("starting the run") as conn:
            conn.execute(runs.insert(), [row])
            conn.execute(region_runs.insert(), [{"run_id": run_id, "region": r, "status": "pending", "attempts": 0} for r in regions])

    def record(self, run_id: str, outcome) -> None:
        """Store one region's outcome (and its forecasts) in one transaction."""
        self.record_many(run_id, [outcome])

    def record_many(self, run_id: str, outcomes) -> None:
        """Store regions' outcomes (and their forecasts) in one transaction: all of them, or none.

        Each region is written as :meth:`record` writes it; one commit for
        them all saves a synchronous disk flush per region (SQLite), which
        was most of the driver's store time at 1,000 regions (``python -m bench scale``).
        """
        outcomes = list(outcomes)
        what = "recording a region's outcome" if len(outcomes) == 1 else f"recording {len(outcomes)} regions' outcomes"
        with self._write(what) as conn:
            for outcome in outcomes:
                self._record(conn, run_id, outcome)

    def _record(self, conn, run_id: str, outcome) -> None:
        now = time.time()
        _delete_forecasts(conn, outcome.region, [run_id])
        if outcome.ok:
            # One forecast per region and run date: this one replaces
            # those of earlier runs for the same date (and their scores).
            same_date = sa.select(runs.c.run_id).where(
                (runs.c.kind == "nightly")
                & (runs.c.run_date == sa.select(runs.c.run_date).where(runs.c.run_id == run_id).scalar_subquery())
            )
            _delete_forecasts(conn, outcome.region, same_date)
            values = {
                "status": "ok",
                "model": outcome.model,
                "duration_s": outcome.timings.get("total"),
                "worker": outcome.worker,
                "error_type": None,
                "message": None,
                "traceback": None,
                "details_json": json.dumps(
                    {"scores": outcome.scores, "diagnostics": outcome.diagnostics, "timings": outcome.timings}, default=str
                ),
            }
            keys = {"run_id": run_id, "region": outcome.region, "model": outcome.model}
            # ``staff``: the staffing quantile, where the region's champion has a calibration.
            columns = (*FORECAST_COLUMNS, "staff") if "staff" in outcome.forecast else FORECAST_COLUMNS
            insert_rows(conn, forecasts, slot_rows(outcome.forecast, columns, keys))
            baseline = getattr(outcome, "baseline", None)
            if baseline is not None:
                keys = {"run_id": run_id, "region": outcome.region}
                insert_rows(conn, baseline_forecasts, slot_rows(baseline, FORECAST_COLUMNS, keys))
        else:
            values = {
                "status": "failed",
                "model": None,
                "duration_s": outcome.duration,
                "worker": outcome.worker,
                "error_type": outcome.error_type,
                "message": outcome.message,
                "traceback": outcome.traceback,
                "details_json": None,
            }
        conn.execute(
            region_runs.update()
            .where((region_runs.c.run_id == run_id) & (region_runs.c.region == outcome.region))
            .values(attempts=region_runs.c.attempts + 1, finished_at=now, **values)
        )

    def resume_run(self, run_id: str) -> list[str]:
        """Reopen a run; return its regions that are not ``ok`` (to recompute)."""
        with self._write("reopening the run") as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(status="running", finished_at=None, message=None))
            todo = conn.execute(
                sa.select(region_runs.c.region)
                .where((region_runs.c.run_id == run_id) & (region_runs.c.status != "ok"))
                .order_by(region_runs.c.region)
            ).scalars().all()
        return list(todo)

    def mark_running(self, run_id: str, regions: list[str]) -> None:
        """Regions handed to the executor: ``running`` until their outcome arrives."""
        with self._write("marking regions running") as conn:
            for chunk in range(0, len(regions), 500):  # stay under SQLite's bound-parameter limit
                conn.execute(
                    region_runs.update()
                    .where((region_runs.c.run_id == run_id) & region_runs.c.region.in_(regions[chunk:chunk + 500]))
                    .values(status="running")
                )

    def later_run(self, run_id: str) -> dict | None:
        """The newest nightly run for the same date started after ``run_id``, if any."""
        run = self.run(run_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(runs)
                .where((runs.c.kind == run["kind"]) & (runs.c.run_date == run["run_date"]) & (runs.c.started_at > run["started_at"]))
                .order_by(runs.c.started_at.desc())
            ).mappings().first()
        return dict(row) if row else None

    def finish_run(self, run_id: str, status: str, message: str | None = None) -> dict:
        """Close a run with its final status; return its row."""
        with self._write("closing the run") as conn:
            counts = dict(
                conn.execute(
                    sa.select(region_runs.c.status, sa.func.count())
                    .where(region_runs.c.run_id == run_id)
                    .group_by(region_runs.c.status)
                ).all()
            )
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(finished_at=time.time(), status=status, message=message, n_ok=counts.get("ok", 0), n_failed=counts.get("failed", 0))
            )
        return self.run(run_id)

    def apply_retention(self, run_date: str, days: int) -> int:
        """Delete the forecasts (and baselines) of nightly runs dated more than ``days`` before ``run_date``.

        Live scores (``score_days``) are kept: accuracy over the past stays
        reportable after the rows it was computed from are gone.  Returns
        the number of forecast rows deleted.
        """
        cutoff = (pd.Timestamp(run_date) - pd.Timedelta(days=days)).strftime("%Y-%m-%d")
        old = sa.select(runs.c.run_id).where((runs.c.kind == "nightly") & (runs.c.run_date < cutoff))
        with self._write("applying the retention") as conn:
            deleted = conn.execute(forecasts.delete().where(forecasts.c.run_id.in_(old))).rowcount
            conn.execute(baseline_forecasts.delete().where(baseline_forecasts.c.run_id.in_(old)))
        return int(deleted or 0)

    # ----------------------------------------------------------------- reading

    def run(self, run_id: str) -> dict:
        """The ``runs`` row of ``run_id``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            raise UsageError(f"no run {run_id!r} in the results store")
        return dict(row)

    def recent_runs(self, limit: int = 10) -> pd.DataFrame:
        """The latest runs, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc()).limit(limit)).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in runs.columns])

    def region_outcomes(self, run_id: str) -> pd.DataFrame:
        """All ``region_runs`` rows of a run."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(region_runs).where(region_runs.c.run_id == run_id).order_by(region_runs.c.region))
            return pd.DataFrame(rows.mappings().all(), columns=[c.name for c in region_runs.columns])

    def forecasts(self, run_id: str, region: str | None = None) -> pd.DataFrame:
        """Forecasts of a run (optionally one region) with a UTC ``timestamp`` column."""
        q = sa.select(forecasts).where(forecasts.c.run_id == run_id)
        if region is not None:
            q = q.where(forecasts.c.region == region)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(q.order_by(forecasts.c.region, forecasts.c.ts)).mappings().all(), columns=[c.name for c in forecasts.columns])
        frame.insert(2, "timestamp", from_epoch_seconds(frame.pop("ts")))
        return frame

    def iter_forecast_rows(self, run_id: str, chunk: int = 50_000) -> Iterator[tuple]:
        """``(region, ts, model, yhat, q10, q50, q90, staff)`` tuples (``staff`` None without one), streamed."""
        cols = [forecasts.c.region, forecasts.c.ts, forecasts.c.model, *[forecasts.c[c] for c in (*FORECAST_COLUMNS, "staff")]]
        q = sa.select(*cols).where(forecasts.c.run_id == run_id).order_by(forecasts.c.region, forecasts.c.ts)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=chunk).execute(q)
            yield from result


def _delete_forecasts(conn, region: str, run_ids) -> None:
    """Delete a region's forecasts, baseline and live scores in ``run_ids`` (a list or a select of run ids)."""
    for table in (forecasts, baseline_forecasts, score_days, score_progress):
        conn.execute(table.delete().where((table.c.region == region) & table.c.run_id.in_(run_ids)))
