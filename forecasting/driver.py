"""The nightly run: list regions, submit one job each, store what comes back.

The driver is handed an executor (serial or Dask, see
:mod:`forecasting.execution`) and never knows what cluster is behind it.
It reads only the list of regions from the cache, never their histories;
each outcome is written to the results store as soon as it arrives, so a
run that is interrupted keeps what it computed.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from forecasting.backtest_store import load_champions
from forecasting.config import ForecastConfig, ModelSpec
from forecasting.data.cache import from_epoch_seconds, freq_seconds, open_cache
from forecasting.errors import UsageError
from forecasting.jobs import RegionTask, run_task
from forecasting.progress import Progress
from forecasting.results import ResultsStore, export_run, store_url

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

    @property
    def failed_fraction(self) -> float:
        return self.n_failed / self.n_regions if self.n_regions else 0.0


def run_status(n_failed: int, n_regions: int, max_failed_fraction: float) -> str:
    """``succeeded``, ``partial`` (few failures) or ``failed`` (too many)."""
    if n_failed == 0:
        return "succeeded"
    return "partial" if n_failed / n_regions <= max_failed_fraction else "failed"


def region_configs(store, config: ForecastConfig, regions: list[str], use_champions: bool | None, url: str) -> dict:
    """Per-region job configs that use the regions' backtest champions."""
    if use_champions is False:
        return {}
    champs = load_champions(store)
    if champs.empty:
        if use_champions:
            raise UsageError(
                f"--models champion: the results store {url} holds no champions; "
                "run 'forecasting backtest' with the same --out (or --store) first"
            )
        return {}
    wanted = set(regions)
    out = {
        row.region: replace(config, models=(ModelSpec.parse(row.model),), interval_adjustment=float(row.interval_adjustment))
        for row in champs.itertuples()
        if row.region in wanted
    }
    log.info("models: backtest champions for %d regions, %s for the other %d",
             len(out), ",".join(m.label for m in config.models), len(wanted) - len(out))
    return out


def new_run_id(run_date: str) -> str:
    """A unique, sortable, readable run id."""
    return f"{run_date}-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"


def select_regions(available: list[str], requested: list[str] | None) -> list[str]:
    """The regions to run: all, or the requested ones (which must exist)."""
    if not requested:
        return list(available)
    known = set(available)
    missing = [r for r in requested if r not in known]
    if missing:
        from forecasting.config import did_you_mean

        hint = did_you_mean(missing[0], available)
        raise UsageError(f"--regions: not in the cache: {', '.join(map(repr, missing))}{hint}")
    return list(dict.fromkeys(requested))


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
        raise UsageError(f"--run-date must be a date like 2024-12-31, got {run_date!r}") from None


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
    """
    cache = open_cache(cache_path)
    cache_path = str(cache.path)
    summaries = cache.region_summaries()
    selected = select_regions(summaries.region.tolist(), regions)
    run_date = validate_run_date(run_date) if run_date else default_run_date(summaries, cache.freq)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = store_url(out_dir, store)
    results = ResultsStore(url)
    try:
        run_id = new_run_id(run_date)
        configs = region_configs(results, config, selected, use_champions, url)
    except BaseException:
        results.close()
        raise
    worker_cache = executor.worker_cache_path or cache_path
    tasks = [RegionTask(r, worker_cache, run_date, configs.get(r, config), run_id) for r in selected]
    progress = Progress(len(tasks), enabled=None if show_progress else False)
    log.info("run %s: %d regions, run date %s, cluster %s, store %s", run_id, len(tasks), run_date, cluster or executor.name, url)
    if executor.dashboard_link:
        log.info("dashboard: %s", executor.dashboard_link)
    try:
        results.start_run(run_id, "nightly", run_date, cache_path, cluster or executor.name, config, selected)
    except BaseException:
        results.close()
        raise
    started = time.monotonic()
    failures = []
    try:
        for outcome in executor.run(run_task, tasks):
            results.record(run_id, outcome)
            if not outcome.ok:
                failures.append(outcome)
                log.warning("region %s failed: %s: %s", outcome.region, outcome.error_type, outcome.message)
            progress.update(outcome.ok)
        progress.close()
        status = run_status(len(failures), len(tasks), config.max_failed_fraction)
        message = f"{len(failures)} of {len(tasks)} regions failed" if failures else None
        results.finish_run(run_id, status, message=message)
        folder = out_dir / "runs" / run_id
        export_run(results, run_id, folder)
    except BaseException as exc:
        progress.close()
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        results.finish_run(run_id, "failed", message=message)
        raise
    finally:
        results.close()
    n_failed = len(failures)
    return RunSummary(
        run_id=run_id,
        run_date=run_date,
        status=status,
        n_regions=len(tasks),
        n_ok=len(tasks) - n_failed,
        n_failed=n_failed,
        wall_seconds=time.monotonic() - started,
        folder=folder,
        store=url,
        failures=failures,
    )
