"""Backtest bookkeeping in the results store: tasks, window predictions, champions.

Each finished window is written in one transaction (its predictions and its
task row together) as soon as it arrives, so an interrupted backtest keeps
everything it computed, and running it again skips every finished task.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import sqlalchemy as sa

from forecasting.data.timestamps import from_epoch_seconds
from forecasting.models.base import FORECAST_COLUMNS
from forecasting.store.database import Store, slot_rows
from forecasting.store.schema import backtest_predictions, backtest_regions, backtest_tasks, backtests, champions

#: Task statuses a resumed backtest does not run again.  ``failed``: the
#: model or data failed, and would again; ``lost``: a worker died or I/O
#: kept failing, worth another try.
FINISHED = ("ok", "failed")


class BacktestStore(Store):
    """Read and write backtests: their tasks, window predictions and champions.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL; tables are created if missing.
    busy_timeout : float
        SQLite only: seconds a write waits for another writer before
        failing with :class:`~forecasting.errors.StoreError`.
    """

    def start_backtest(self, bt_id: str, cache_path: str, config: dict, tasks) -> set[str]:
        """Register a backtest and its tasks; return the keys already finished.

        A backtest id that exists already is resumed: its finished tasks are
        kept, the others (pending, or interrupted) will run again.
        """
        with self._write("registering the backtest") as conn:
            exists = conn.execute(sa.select(backtests.c.backtest_id).where(backtests.c.backtest_id == bt_id)).first()
            if exists is None:
                conn.execute(
                    backtests.insert(),
                    [{"backtest_id": bt_id, "cache_path": cache_path, "config_json": json.dumps(config, default=str),
                      "started_at": time.time(), "status": "running"}],
                )
                if tasks:  # an empty insert would be one row of NULLs
                    conn.execute(
                        backtest_tasks.insert(),
                        [{"backtest_id": bt_id, "key": t.key, "region": t.region, "model": t.model.label, "cutoff": t.cutoff,
                          "status": "pending"} for t in tasks],
                    )
                return set()
            conn.execute(backtests.update().where(backtests.c.backtest_id == bt_id).values(status="running", finished_at=None))
            done = conn.execute(
                sa.select(backtest_tasks.c.key).where(
                    (backtest_tasks.c.backtest_id == bt_id) & backtest_tasks.c.status.in_(FINISHED)
                )
            ).scalars()
            return set(done)

    def record_window(self, bt_id: str, task, outcome) -> None:
        """Store one window's outcome (and predictions) in one transaction."""
        where = (
            (backtest_predictions.c.backtest_id == bt_id)
            & (backtest_predictions.c.region == task.region)
            & (backtest_predictions.c.model == task.model.label)
            & (backtest_predictions.c.cutoff == task.cutoff)
        )
        with self._write("recording a window's outcome") as conn:
            conn.execute(backtest_predictions.delete().where(where))
            if outcome.ok:
                keys = {"backtest_id": bt_id, "region": task.region, "model": task.model.label, "cutoff": task.cutoff}
                rows = slot_rows(outcome.frame, ("actual", *FORECAST_COLUMNS, "yhat_oracle"), keys, nan_as_null=True)
                conn.execute(backtest_predictions.insert(), rows)
                values = {"status": "ok", "scale": outcome.scale, "scale_sq": _num(outcome.scale_sq), "duration_s": outcome.duration, "worker": outcome.worker,
                          "error_type": None, "message": None, "traceback": None}
            else:
                values = {"status": "lost" if outcome.retryable else "failed", "scale": None, "scale_sq": None, "duration_s": outcome.duration, "worker": outcome.worker,
                          "error_type": outcome.error_type, "message": outcome.message, "traceback": outcome.traceback}
            conn.execute(
                backtest_tasks.update()
                .where((backtest_tasks.c.backtest_id == bt_id) & (backtest_tasks.c.key == task.key))
                .values(**values)
            )

    def finish_backtest(self, bt_id: str, status: str) -> None:
        """Close a backtest with its final status (``finished``, ``interrupted``)."""
        with self._write("closing the backtest") as conn:
            conn.execute(backtests.update().where(backtests.c.backtest_id == bt_id).values(status=status, finished_at=time.time()))

    def tasks(self, bt_id: str) -> pd.DataFrame:
        """Every task row of a backtest."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(backtest_tasks).where(backtest_tasks.c.backtest_id == bt_id)).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in backtest_tasks.columns])

    def predictions(self, bt_id: str, region: str) -> pd.DataFrame:
        """One region's window predictions (``model, cutoff, timestamp, actual, yhat, q10, q50, q90, yhat_oracle``)."""
        cols = [backtest_predictions.c[c] for c in ("model", "cutoff", "ts", "actual", *FORECAST_COLUMNS, "yhat_oracle")]
        q = sa.select(*cols).where((backtest_predictions.c.backtest_id == bt_id) & (backtest_predictions.c.region == region))
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(q.order_by("model", "cutoff", "ts")).all(), columns=[c.name for c in cols])
        frame.insert(2, "timestamp", from_epoch_seconds(frame.pop("ts")))
        frame["actual"] = frame["actual"].astype(float)
        frame["yhat_oracle"] = frame["yhat_oracle"].astype(float)
        return frame

    def save_champions(self, frame: pd.DataFrame, bt_id: str) -> None:
        """Record each region's verdict and replace the champions of the regions it judged (one transaction).

        ``frame`` has a row per region with ``status`` (``champion``,
        ``no_champion``, ``skipped``; missing: ``champion``), ``model``,
        ``mase`` and ``reason``.  A region with no scored window loses any
        champion an earlier backtest gave it; a skipped one (not evaluated)
        keeps it.  A champion without a finite MASE is refused.

        Raises
        ------
        ValueError
            A row with status ``champion`` has no model or no finite MASE.
        """
        now = time.time()
        frame = frame.assign(status=frame.status.fillna("champion")) if "status" in frame else frame.assign(status="champion")
        won = frame[frame.status == "champion"]
        bad = won[won.model.isna() | ~pd.to_numeric(won.mase, errors="coerce").notna()]
        if len(bad):
            raise ValueError(f"champions without a model or a MASE: {', '.join(bad.region)}")
        rows = [
            {"region": r.region, "model": r.model, "mase": _num(r.mase), "seasonal_naive_mase": _num(r.seasonal_naive_mase),
             "interval_adjustment": float(r.interval_adjustment), "reason": r.reason, "backtest_id": bt_id, "selected_at": now,
             "staffing": _text(getattr(r, "staffing", None))}
            for r in won.itertuples()
        ]
        judged = frame[frame.status != "skipped"].region.tolist()
        verdicts = [{"backtest_id": bt_id, "region": r.region, "status": r.status,
                     "model": None if pd.isna(r.model) else r.model, "reason": _text(r.reason)} for r in frame.itertuples()]
        with self._write("saving the champions") as conn:
            conn.execute(champions.delete().where(champions.c.region.in_(judged)))
            if rows:
                conn.execute(champions.insert(), rows)
            conn.execute(backtest_regions.delete().where(backtest_regions.c.backtest_id == bt_id))
            if verdicts:
                conn.execute(backtest_regions.insert(), verdicts)

    def verdicts(self, bt_id: str) -> pd.DataFrame:
        """Each region's verdict in a backtest: ``region, status, model, reason`` (empty for backtests stored before it was kept)."""
        cols = [backtest_regions.c[c] for c in ("region", "status", "model", "reason")]
        q = sa.select(*cols).where(backtest_regions.c.backtest_id == bt_id).order_by(backtest_regions.c.region)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(q).all(), columns=[c.name for c in cols])


def load_champions(store: Store) -> pd.DataFrame:
    """The current champion of every region that has one.

    A champion has a MASE: rows without one (older stores named the default
    model champion of regions with no scored window) are left out, so the
    nightly run uses its configured models there.

    Parameters
    ----------
    store : Store
        Any store on the results database (the nightly run's
        :class:`~forecasting.store.runs.ResultsStore` reads them).
    """
    with store.engine.connect() as conn:
        q = sa.select(champions).where(champions.c.mase.is_not(None)).order_by(champions.c.region)
        rows = conn.execute(q).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in champions.columns])


def _num(value):
    return None if value is None or pd.isna(value) else float(value)


def _text(value):
    return None if value is None or pd.isna(value) else str(value)
