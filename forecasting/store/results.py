"""The results store (any SQLAlchemy URL) and the run folder's exports.

Tables
------
``runs``
    One row per run: id, kind, run date, config and its hash, code version,
    cluster, start and end, status (``running``, ``succeeded``, ``partial``,
    ``failed``), counts.
``region_runs``
    One row per run and region: status (``pending``, ``ok``, ``failed``),
    model, duration, worker, and for failures the exception type, message
    and traceback.
``forecasts``
    Point forecast and quantiles per run, region and slot.  A run date has
    one forecast per region: when a later nightly run for the same date
    forecasts a region, the earlier run's forecasts of that region are
    deleted in the same transaction.
``run_locks``
    One row per nightly run date being computed (see
    :mod:`forecasting.store.lock`).

Every region's outcome is written in one transaction (its row and all its
forecasts together), so a crash leaves each region either as it was or
complete.  Exports are written to a temporary file and renamed into place.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

import forecasting
from forecasting.data.timestamps import from_epoch_seconds, to_epoch_seconds, utc_text
from forecasting.errors import StoreError, UsageError
from forecasting.files import atomic_write
from forecasting.models.base import FORECAST_COLUMNS

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("run_date", sa.String(10), nullable=False, index=True),
    sa.Column("cache_path", sa.Text, nullable=False),
    sa.Column("cluster", sa.Text, nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("config_hash", sa.String(32), nullable=False),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("n_regions", sa.Integer, nullable=False),
    sa.Column("n_ok", sa.Integer, nullable=False, default=0),
    sa.Column("n_failed", sa.Integer, nullable=False, default=0),
    sa.Column("message", sa.Text, nullable=True),
)

region_runs = sa.Table(
    "region_runs",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    # pending (not yet submitted), running (submitted, no outcome yet), ok, failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("worker", sa.Text, nullable=True),
    sa.Column("error_type", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
    sa.Column("details_json", sa.Text, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
)

forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("ts", sa.BigInteger, primary_key=True),
    sa.Column("model", sa.String(64), nullable=False),
    *[sa.Column(c, sa.Float, nullable=False) for c in FORECAST_COLUMNS],
)

run_locks = sa.Table(
    "run_locks",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("run_date", sa.String(10), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)

# Backtests (see forecasting.store.backtests): one row per backtest, one per
# task (region x model x cutoff), the window predictions, and the current
# champion model of each region.
backtests = sa.Table(
    "backtests",
    metadata,
    sa.Column("backtest_id", sa.String(64), primary_key=True),
    sa.Column("cache_path", sa.Text, nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
)

backtest_tasks = sa.Table(
    "backtest_tasks",
    metadata,
    sa.Column("backtest_id", sa.String(64), sa.ForeignKey("backtests.backtest_id"), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("cutoff", sa.String(10), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("scale", sa.Float, nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("worker", sa.Text, nullable=True),
    sa.Column("error_type", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
)

backtest_predictions = sa.Table(
    "backtest_predictions",
    metadata,
    sa.Column("backtest_id", sa.String(64), sa.ForeignKey("backtests.backtest_id"), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("cutoff", sa.String(10), primary_key=True),
    sa.Column("ts", sa.BigInteger, primary_key=True),
    sa.Column("actual", sa.Float, nullable=True),
    *[sa.Column(c, sa.Float, nullable=False) for c in FORECAST_COLUMNS],
)

champions = sa.Table(
    "champions",
    metadata,
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("mase", sa.Float, nullable=True),
    sa.Column("seasonal_naive_mase", sa.Float, nullable=True),
    # Conformal widening (log1p scale) of the q10-q90 interval, from backtest residuals.
    sa.Column("interval_adjustment", sa.Float, nullable=False, default=0.0),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("backtest_id", sa.String(64), nullable=False),
    sa.Column("selected_at", sa.Float, nullable=False),
)

LIBRARIES = ("dask", "distributed", "pandas", "numpy", "scikit-learn", "statsmodels", "sqlalchemy")


def versions() -> dict[str, str]:
    """Versions of Python, this package and the libraries that shape results."""
    out = {"python": sys.version.split()[0], "forecasting": forecasting.__version__}
    for lib in LIBRARIES:
        try:
            out[lib] = importlib_metadata.version(lib)
        except importlib_metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def store_url(out_dir: Path, url: str | None) -> str:
    """The store's URL: ``url`` if given, else ``sqlite:///OUT/results.sqlite``."""
    return url or f"sqlite:///{Path(out_dir).resolve() / 'results.sqlite'}"


class ResultsStore:
    """Read and write runs, region outcomes and forecasts.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL; tables are created if missing.
    busy_timeout : float
        SQLite only: seconds a write waits for another writer before
        failing with :class:`~forecasting.errors.StoreError`.
    """

    def __init__(self, url: str, busy_timeout: float = 30.0):
        try:
            # SQLite: how long a write waits for another process's lock.
            kwargs = {"connect_args": {"timeout": busy_timeout}} if url.startswith("sqlite") else {}
            self.engine = sa.create_engine(url, **kwargs)
            metadata.create_all(self.engine)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise UsageError(f"--store: not a usable database URL {url!r}: {exc}") from None
        except sa.exc.OperationalError as exc:
            raise UsageError(f"--store: cannot open {url!r}: {exc.orig}") from None
        self.url = url

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _write(self, what: str):
        """One write transaction; a store that cannot be written raises StoreError."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            # Locked past the timeout, disk full, read-only: the transaction was
            # rolled back, so nothing partial is visible.
            raise StoreError(f"results store {self.url}: {what} failed: {exc.orig}") from None

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
        now = time.time()
        with self._write("recording a region's outcome") as conn:
            conn.execute(forecasts.delete().where((forecasts.c.run_id == run_id) & (forecasts.c.region == outcome.region)))
            if outcome.ok:
                # One forecast per region and run date: this one replaces
                # those of earlier runs for the same date.
                same_date = sa.select(runs.c.run_id).where(
                    (runs.c.kind == "nightly")
                    & (runs.c.run_date == sa.select(runs.c.run_date).where(runs.c.run_id == run_id).scalar_subquery())
                )
                conn.execute(forecasts.delete().where((forecasts.c.region == outcome.region) & forecasts.c.run_id.in_(same_date)))
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
                frame = outcome.forecast
                rows = pd.DataFrame({"ts": to_epoch_seconds(frame.index)})
                for col in FORECAST_COLUMNS:
                    rows[col] = frame[col].to_numpy(dtype=float)
                rows.insert(0, "run_id", run_id)
                rows.insert(1, "region", outcome.region)
                rows["model"] = outcome.model
                conn.execute(forecasts.insert(), rows.to_dict("records"))
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
        """``(region, ts, model, yhat, q10, q50, q90)`` tuples, streamed."""
        cols = [forecasts.c.region, forecasts.c.ts, forecasts.c.model, *[forecasts.c[c] for c in FORECAST_COLUMNS]]
        q = sa.select(*cols).where(forecasts.c.run_id == run_id).order_by(forecasts.c.region, forecasts.c.ts)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=chunk).execute(q)
            yield from result


def export_run(store: ResultsStore, run_id: str, folder: Path, extra: dict | None = None) -> dict[str, Path]:
    """Write ``forecasts.csv``, ``failures.csv`` and ``run.json`` for a run.

    Returns the paths written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("forecasts.csv", "failures.csv", "run.json")}
    with atomic_write(paths["forecasts.csv"], newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "timestamp", "model", *FORECAST_COLUMNS])
        for region, ts, model, *values in store.iter_forecast_rows(run_id):
            writer.writerow([region, utc_text(ts), model, *(f"{v:.4f}" for v in values)])
    outcomes = store.region_outcomes(run_id)
    failed = outcomes[outcomes.status == "failed"]
    with atomic_write(paths["failures.csv"], newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "error_type", "message"])
        for row in failed.itertuples():
            writer.writerow([row.region, row.error_type, row.message])
    run = store.run(run_id)
    durations = outcomes.duration_s.dropna().astype(float)
    summary = {
        "run_id": run_id,
        "kind": run["kind"],
        "run_date": run["run_date"],
        "status": run["status"],
        "message": run["message"],
        "cluster": run["cluster"],
        "cache": run["cache_path"],
        "config": json.loads(run["config_json"]),
        "config_hash": run["config_hash"],
        "counts": {"regions": run["n_regions"], "ok": run["n_ok"], "failed": run["n_failed"]},
        "started_at": utc_text(run["started_at"]),
        "finished_at": utc_text(run["finished_at"]) if run["finished_at"] else None,
        "wall_seconds": round((run["finished_at"] or time.time()) - run["started_at"], 3),
        "region_seconds": {
            "total": round(float(durations.sum()), 3),
            "median": round(float(durations.median()), 3) if len(durations) else None,
            "max": round(float(durations.max()), 3) if len(durations) else None,
        },
        "models": outcomes.model.dropna().value_counts().to_dict(),
        "failures": [
            {"region": r.region, "error_type": r.error_type, "message": r.message, "traceback": r.traceback} for r in failed.itertuples()
        ],
        "versions": versions(),
        **(extra or {}),
    }
    with atomic_write(paths["run.json"], encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=_json_default)
    return paths


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)
