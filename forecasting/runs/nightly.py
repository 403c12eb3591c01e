"""The nightly run: list regions, submit one job each, store what comes back.

The driver is handed an executor (serial or Dask, see
:mod:`forecasting.runs.executors`) and never knows what cluster is behind it.
It reads only the list of regions from the cache, never their histories
(except the orders that score past forecasts before the run: the slots with
new actuals, see :mod:`forecasting.runs.per_region`); each outcome is written to the results store as soon as it arrives (those
arriving during a write share the next), so an interrupted run keeps them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.data.timestamps import freq_seconds, from_epoch_seconds
from forecasting.errors import StoreError, UsageError
from forecasting.runs.loop import drain
from forecasting.runs.regions import select_regions
from forecasting.runs.outcomes import RegionFailure
from forecasting.runs.tasks import RegionTask
from forecasting.logs.records import run_context
from forecasting.store.database import store_url
from forecasting.store.exports import export_run
from forecasting.store.scores import ScoreStore
from forecasting.store.urls import shown_url
from forecasting.runs.per_region import DriftCheck, check_drift, fallback_configs, refit_drifting, region_configs
from forecasting.store.lock import run_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    """What a finished run did."""

    run_id: str
    run_date: str
    status: str
    n_regions: int
    n_ok: int
    n_failed: int
    wall_seconds: float
    folder: Path
    store: str
    failures: list = field(default_factory=list)
    drift: DriftCheck | None = None

    @property
    def failed_fraction(self) -> float:
        return self.n_failed / self.n_regions if self.n_regions else 0.0


def run_status(n_failed: int, n_regions: int, max_failed_fraction: float) -> str:
    """``succeeded``, ``partial`` (few failures) or ``failed`` (too many)."""
    if n_failed == 0:
        return "succeeded"
    return "partial" if n_failed / n_regions <= max_failed_fraction else "failed"


def new_run_id(run_date: str) -> str:
    """A unique, sortable, readable run id."""
    return f"{run_date}-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"


def default_run_date(summaries: pd.DataFrame, freq: str) -> str:
    """The local date after the latest slot of any region: forecast what comes next."""
    dates = []
    for row in summaries.dropna(subset=["last_ts"]).itertuples():
        after = from_epoch_seconds([int(row.last_ts) + freq_seconds(freq)])[0]
        dates.append(after.tz_convert(row.timezone).normalize().strftime("%Y-%m-%d"))
    if not dates:
        raise UsageError("the cache holds no orders: nothing to forecast")
    return max(dates)


def validate_run_date(run_date: str) -> str:
    try:
        return pd.Timestamp(run_date).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        raise UsageError(f"run_date must be a date like 2024-12-31, got {run_date!r}", param="run_date") from None


def run_nightly(
    cache_path,
    out_dir,
    executor,
    config: ForecastConfig,
    regions: list[str] | None = None,
    run_date: str | None = None,
    store: str | None = None,
    cluster: str = "",
    show_progress: bool = False,
    use_champions: bool | None = None,
    resume: str | None = None,
    store_timeout: float = 30.0,
    plan: "NightlyPlan | None" = None,
) -> RunSummary:
    """Forecast every (or every requested) region of a cache.

    Parameters
    ----------
    cache_path : path-like
        The SQLite cache.
    out_dir : path-like
        Output folder: the default results store and ``runs/<run_id>/``.
    executor : Executor
        Where the jobs run.
    config : ForecastConfig
        What each job does.
    regions : list of str, optional
        Subset of regions (default: all).
    run_date : str, optional
        ``YYYY-MM-DD``; default: the day after the cache's latest slot.
    store : str, optional
        SQLAlchemy URL of the results store.
    cluster : str
        Label of the cluster, recorded with the run.
    show_progress : bool
        Draw a progress bar when standard error is a terminal.
    use_champions : bool, optional
        Forecast each region with its backtest champion (and its calibrated
        interval).  ``None``: when the store holds champions; regions
        without one use ``config.models``.
    resume : str, optional
        Id of an earlier run to complete: its regions that are not ``ok``
        are recomputed with the run's own configuration, run date and
        region list (``config``, ``regions`` and ``run_date`` are ignored).
    store_timeout : float
        Seconds a write to a SQLite store waits for another writer.
    plan : NightlyPlan, optional
        What :func:`plan_nightly` made of ``cache_path``, ``config``,
        ``regions`` and ``run_date`` (which are then not looked at again):
        the command line makes the plan before it starts a cluster, so that
        its inputs are checked once.

    Raises
    ------
    RunLockedError
        Another driver is computing the same run date.
    """
    out_dir = Path(out_dir)
    # A bad cache, region list or run date is refused before anything is written.
    if plan is None and not resume:
        plan = plan_nightly(cache_path, config, regions, run_date)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = store_url(out_dir, store)
    results = ScoreStore(url, busy_timeout=store_timeout)
    try:
        if resume:
            plan = _resume_plan(results, resume, cache_path)
        run_id, run_date, config, cache_path = plan.run_id, plan.run_date, plan.config, plan.cache_path
        with run_lock(results.engine, "nightly", run_date, run_id), run_context(run_id):  # run=<id> on its log lines
            # A resumed run keeps the verdict it started with; a new one scores the past and judges it first.
            drift = (DriftCheck(config.on_drift, results.drift_flags(run_id)) if resume
                     else check_drift(results, cache_path, plan.todo, config))
            if drift.action == "refit" and drift.regions and not resume:
                refit_drifting(results, drift.regions, cache_path, executor, out_dir / "runs" / run_id, url)
            configs = region_configs(results, config, plan.todo, use_champions, url)
            if drift.action == "fallback":
                configs = fallback_configs([r for r in drift.regions if r in set(plan.todo)], config, configs)
            if resume:
                results.resume_run(run_id)
            else:
                results.start_run(run_id, "nightly", run_date, cache_path, cluster or executor.name, config, plan.todo)
                results.record_drift(run_id, drift.flagged, drift.action)
            return _execute(results, executor, plan, configs, out_dir, cluster, show_progress, drift)
    finally:
        results.close()


@dataclass(frozen=True)
class NightlyPlan:
    """A nightly run's checked inputs: its id, run date, config, cache and the regions to compute."""

    run_id: str
    run_date: str
    config: ForecastConfig
    cache_path: str
    todo: list
    n_regions: int


def plan_nightly(cache_path, config: ForecastConfig, regions: list[str] | None = None, run_date: str | None = None) -> NightlyPlan:
    """Check a new run's inputs and fix its id: the cache opens, the regions are in it, the run date is a date.

    Raises
    ------
    CacheError, UsageError
        A bad cache, an unknown region, a run date that is no date.
    """
    cache = open_cache(cache_path)
    summaries = cache.region_summaries()
    selected = select_regions(summaries.region.tolist(), regions)
    run_date = validate_run_date(run_date) if run_date else default_run_date(summaries, cache.freq)
    return NightlyPlan(new_run_id(run_date), run_date, config, str(cache.path), selected, len(selected))


def _resume_plan(results, run_id: str, cache_path) -> NightlyPlan:
    run = results.run(run_id)
    if run["kind"] != "nightly":
        raise UsageError(f"resume: run {run_id} is a {run['kind']} run, not a nightly run", param="resume")
    later = results.later_run(run_id)
    if later is not None:
        raise UsageError(
            f"resume: run {later['run_id']} for the same date {run['run_date']} started after {run_id}; "
            f"resume that one instead",
            param="resume",
        )
    # The run's own cache unless another is given (the cache may have moved).
    cache = open_cache(cache_path or run["cache_path"])
    config = ForecastConfig.from_dict(json.loads(run["config_json"]), source=f"run {run_id}")
    outcomes = results.region_outcomes(run_id)
    todo = outcomes.region[outcomes.status != "ok"].tolist()
    log.info("resuming run %s: %d of %d regions to compute", run_id, len(todo), len(outcomes))
    return NightlyPlan(run_id, run["run_date"], config, str(cache.path), todo, len(outcomes))


def _execute(results, executor, plan: NightlyPlan, configs: dict, out_dir: Path, cluster: str, show_progress: bool,
             drift: DriftCheck) -> RunSummary:
    run_id, config = plan.run_id, plan.config
    worker_cache = executor.worker_cache_path or plan.cache_path
    tasks = [RegionTask(r, worker_cache, plan.run_date, configs.get(r, config), run_id) for r in plan.todo]
    log.info("run %s: %d regions, run date %s, cluster %s, store %s", run_id, len(tasks), plan.run_date,
             cluster or executor.name, shown_url(results.url))
    if executor.dashboard_link:
        log.info("dashboard: %s", executor.dashboard_link)
    started = time.monotonic()
    try:
        results.mark_running(run_id, plan.todo)
        drain(executor, tasks, None, show_progress=show_progress, record_many=lambda group: results.record_many(run_id, group))
        outcomes = results.region_outcomes(run_id)
        n_failed = int((outcomes.status != "ok").sum())
        status = run_status(n_failed, plan.n_regions, config.max_failed_fraction)
        message = f"{n_failed} of {plan.n_regions} regions failed" if n_failed else None
        results.finish_run(run_id, status, message=message)
        if config.retention_days:
            results.apply_retention(plan.run_date, config.retention_days)
        folder = out_dir / "runs" / run_id
        try:
            export_run(results, run_id, folder, extra={"drift": {"action": drift.action, "checked": drift.error is None,
                                                                   "error": drift.error, "flagged": _records(drift.flagged)}})
        except OSError as exc:  # disk full, permissions: the store holds everything, re-export on resume
            raise StoreError(f"writing the run's files to {folder} failed: {exc}") from None
    except BaseException as exc:
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        try:
            results.finish_run(run_id, "failed", message=f"{message}; complete it with --resume {run_id}")
        except Exception as store_exc:  # noqa: BLE001 - report the original error, not this one
            log.error("could not mark run %s failed in the store: %s", run_id, store_exc)
        raise
    failures = [
        RegionFailure(region=r.region, key="", error_type=r.error_type or "", message=r.message or "",
                      traceback=r.traceback or "", worker=r.worker or "", duration=r.duration_s or 0.0)
        for r in outcomes[outcomes.status == "failed"].itertuples()
    ]
    return RunSummary(
        run_id=run_id,
        run_date=plan.run_date,
        status=status,
        n_regions=plan.n_regions,
        n_ok=plan.n_regions - n_failed,
        n_failed=n_failed,
        wall_seconds=time.monotonic() - started,
        folder=folder,
        store=results.url,
        failures=failures,
        drift=drift,
    )


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, NaN as ``None`` (JSON has no NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")
