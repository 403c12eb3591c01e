"""Every table of the results store, in one :class:`~sqlalchemy.MetaData`.

One place per table: the modules that read and write them import them from
here, and :func:`forecasting.store.database.open_engine` creates them all.

Nightly runs (:mod:`forecasting.store.runs`)
    ``runs``
        One row per run: id, kind, run date, config and its hash, code
        version, cluster, start and end, status (``running``,
        ``succeeded``, ``partial``, ``failed``), counts.
    ``region_runs``
        One row per run and region: status (``pending``, ``running``,
        ``ok``, ``failed``), model, duration, worker, and for failures the
        exception type, message and traceback.
    ``forecasts``
        Point forecast and quantiles per run, region and slot.
    ``baseline_forecasts``
        The seasonal-naive forecast each job made from the same window, the
        baseline live accuracy is compared with.
Live accuracy (:mod:`forecasting.store.scores`)
    ``score_progress``
        One row per run and region scored: the MASE scale of its history and
        the last slot scored (what makes re-scoring incremental).
    ``score_days``
        Sums of errors per run, region and local day of the forecast slots,
        for the forecast and its baseline: every metric is a ratio of them.
    ``drift_flags``
        The regions a nightly run found drifting, why, and what it did.
Run locks (:mod:`forecasting.store.lock`)
    ``run_locks``
        One row per nightly run date being computed.
Backtests (:mod:`forecasting.store.backtests`)
    ``backtests``, ``backtest_tasks``, ``backtest_predictions``
        One row per backtest, one per task (region x model x cutoff), and
        the predictions of each window.
    ``champions``
        The current champion model of each region (always with a MASE).
    ``backtest_regions``
        One row per backtest and region: ``champion``, ``no_champion`` or
        ``skipped``, and why (a table of its own, so stores made before it
        gain it on opening and their ``champions`` stay as they are).
"""

from __future__ import annotations

import sqlalchemy as sa

from forecasting.models.base import FORECAST_COLUMNS

metadata = sa.MetaData()

# Model labels are Text, never String(n): a tuned model's or a combination's
# label has no bound on its length, and PostgreSQL enforces a VARCHAR's
# length where SQLite ignores it.

# -------------------------------------------------------------- nightly runs
# See forecasting.store.runs.

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
    sa.Column("model", sa.Text, nullable=True),
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
    sa.Column("model", sa.Text, nullable=False),
    *[sa.Column(c, sa.Float, nullable=False) for c in FORECAST_COLUMNS],
    # The calibrated staffing quantile (the champion's backtest configured one); NULL otherwise.
    sa.Column("staff", sa.Float, nullable=True),
)

baseline_forecasts = sa.Table(
    "baseline_forecasts",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("ts", sa.BigInteger, primary_key=True),
    *[sa.Column(c, sa.Float, nullable=False) for c in FORECAST_COLUMNS],
)

# ------------------------------------------------------------- live accuracy
# See forecasting.store.scores.

score_progress = sa.Table(
    "score_progress",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("run_date", sa.String(10), nullable=False),
    # Mean absolute weekly difference of the history before the run date (MASE's denominator).
    sa.Column("scale", sa.Float, nullable=True),
    # Epoch seconds of the last slot scored; every slot up to it that had an actual is in score_days.
    sa.Column("scored_until", sa.BigInteger, nullable=False),
    # Epoch seconds of the run's last forecast slot: scored up to it, the run is settled and never read again.
    sa.Column("last_slot", sa.BigInteger, nullable=False),
)

#: The sums each score_days row keeps, for the forecast and (``naive_``) its baseline.
SCORE_SUMS = ("n", "abs_err", "err", "abs_actual", "scaled_abs_err", "n_scaled", "covered")

score_days = sa.Table(
    "score_days",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # local date of the slots
    sa.Column("run_date", sa.String(10), nullable=False, index=True),
    sa.Column("lead", sa.Integer, nullable=False),  # day 1 is the run date itself
    sa.Column("model", sa.Text, nullable=False),
    *[sa.Column(c, sa.Float, nullable=False) for c in SCORE_SUMS],
    *[sa.Column(f"naive_{c}", sa.Float, nullable=False) for c in SCORE_SUMS],
    sa.Index("ix_score_days_region_day", "region", "day"),
)

drift_flags = sa.Table(
    "drift_flags",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=True),
    sa.Column("live_mase", sa.Float, nullable=False),
    sa.Column("naive_mase", sa.Float, nullable=True),
    sa.Column("backtest_low", sa.Float, nullable=True),
    sa.Column("backtest_high", sa.Float, nullable=True),
    sa.Column("n_slots", sa.Integer, nullable=False),
    sa.Column("first_day", sa.String(10), nullable=False),
    sa.Column("last_day", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # ignore, fallback, refit
)

# ------------------------------------------------------------------- locking
# See forecasting.store.lock.

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

# ----------------------------------------------------------------- backtests
# See forecasting.store.backtests: one row per backtest, one per task
# (region x model x cutoff), the window predictions, and the current champion
# model of each region.

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
    # RMSSE's denominator (added with issue 20: NULL in older stores' rows).
    sa.Column("scale_sq", sa.Float, nullable=True),
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
    # The point forecast from the regressors as recorded (--oracle-regressors); NULL otherwise.
    sa.Column("yhat_oracle", sa.Float, nullable=True),
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
    # The staffing quantile's calibration (JSON, forecasting.runs.staffing); NULL: none configured.
    sa.Column("staffing", sa.Text, nullable=True),
    sa.Column("backtest_id", sa.String(64), nullable=False),
    sa.Column("selected_at", sa.Float, nullable=False),
)

backtest_regions = sa.Table(
    "backtest_regions",
    metadata,
    sa.Column("backtest_id", sa.String(64), sa.ForeignKey("backtests.backtest_id"), primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    # champion; no_champion (no scored window: the nightly run uses its configured models); skipped (no cutoff)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)
