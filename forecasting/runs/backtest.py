"""Rolling-origin backtests: cutoffs, the flat task list, and the run that streams it into the store.

A backtest is a cartesian product, regions x model parameter sets x cutoffs,
mapped over one job (:func:`forecasting.runs.jobs.backtest_window`, the
engine at a cutoff), like a grid search crossed with cross-validation folds.
Each task is a small descriptor; the worker reads its region from the cache.
A fit sees only orders strictly before its cutoff (the cutoff's local
midnight).  Regressors in the forecast window are the values the cache
holds: calendar, holidays, scheduled events and promotions were known in
advance; weather is taken as recorded, which is an optimistic assumption (a
real forecast would use a weather forecast).

Like the nightly run, :func:`run_backtest` is handed an executor and never
knows what cluster is behind it; the shared loop
(:func:`forecasting.runs.loop.drain`) stores each finished window as it
arrives.  The backtest id is derived from what is being evaluated, so running
the same backtest again skips every finished task (resume).  Once every task
has an outcome, :mod:`forecasting.runs.backtest_report` chooses the
champions and writes the reports.  Its configuration is
:class:`forecasting.config.backtest.BacktestConfig`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecasting.config.backtest import BacktestConfig
from forecasting.config.fields import parse_duration
from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.errors import StoreError, UsageError
from forecasting.logs.records import log_scope, set_run_id
from forecasting.runs.backtest_report import evaluate, write_csv
from forecasting.runs.loop import drain
from forecasting.runs.nightly import default_run_date, select_regions
from forecasting.runs.tasks import BacktestTask
from forecasting.store.backtests import BacktestStore
from forecasting.store.database import store_url

log = logging.getLogger(__name__)


def make_cutoffs(history_end: str, config: BacktestConfig) -> list[str]:
    """Cutoff dates whose whole horizon lies before ``history_end``.

    Parameters
    ----------
    history_end : str
        The first date without data (as a run date would be).
    config : BacktestConfig
        ``horizon``, ``step`` and ``cutoffs`` or ``start``/``end``.

    Raises
    ------
    UsageError
        If no cutoff fits.
    """
    end_day = pd.Timestamp(history_end)
    horizon = parse_duration(config.horizon, "horizon")
    step = parse_duration(config.step, "step")
    latest = end_day - horizon
    if config.cutoffs is not None:
        days = [latest - i * step for i in range(config.cutoffs)][::-1]
    elif config.start or config.end:
        first = pd.Timestamp(config.start) if config.start else latest - pd.Timedelta("365D") + horizon
        last = min(pd.Timestamp(config.end), latest) if config.end else latest
        days = list(pd.date_range(first, last, freq=step))
    else:
        earliest = end_day - pd.Timedelta("365D")
        n = int((latest - earliest) / step) + 1
        days = [latest - i * step for i in range(n)][::-1]
    if not days:
        raise UsageError(f"no cutoff fits: the data ends {history_end} and the horizon is {config.horizon}; choose an earlier start/end")
    return [d.strftime("%Y-%m-%d") for d in days]


def backtest_id(cache_meta: dict, cache_path: str, regions, candidates, cutoffs, config: ForecastConfig) -> str:
    """Deterministic id: the same backtest (same cache build, regions, models,
    cutoffs, job settings) gets the same id, so running it again resumes it."""
    blob = json.dumps(
        {
            "cache": cache_path,
            "cache_created": cache_meta.get("created_at"),
            "regions": list(regions),
            "models": [c.label for c in candidates],
            "cutoffs": list(cutoffs),
            "config": config.to_dict(),
        },
        sort_keys=True,
        default=str,
    )
    return "bt-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def tasks_for(regions, cache_path: str, candidates, cutoffs, config: ForecastConfig, bt_id: str) -> list[BacktestTask]:
    """The flat task list: regions x candidates x cutoffs."""
    return [
        BacktestTask(region, cache_path, spec, cutoff, config, bt_id)
        for region, spec, cutoff in itertools.product(regions, candidates, cutoffs)
    ]


@dataclass(frozen=True)
class BacktestSummary:
    """What a backtest did and where its reports are."""

    backtest_id: str
    n_tasks: int
    n_resumed: int
    n_failed: int
    cutoffs: list
    folder: Path
    store: str
    champions: pd.DataFrame
    wall_seconds: float

    @property
    def mean_mase_ratio(self) -> float:
        """Mean over regions of champion MASE / seasonal-naive MASE."""
        c = self.champions
        return float((c.mase / c.seasonal_naive_mase).mean())


@dataclass(frozen=True)
class BacktestPlan:
    """A backtest's checked inputs: the cache, regions, cutoffs, candidates, job config and the id they give."""

    cache: object
    regions: list
    cutoffs: list
    candidates: list
    job_config: ForecastConfig
    backtest_id: str


def plan_backtest(cache_path, config: BacktestConfig, job_config: ForecastConfig | None = None,
                  regions: list[str] | None = None) -> BacktestPlan:
    """Check a backtest's inputs and derive its id: the cache opens, the regions are in it, a cutoff fits.

    Raises
    ------
    CacheError, UsageError
        A bad cache, an unknown region, no cutoff before the end of the data.
    """
    cache = open_cache(cache_path)
    summaries = cache.region_summaries()
    selected = select_regions(summaries.region.tolist(), regions)
    cutoffs = make_cutoffs(default_run_date(summaries, cache.freq), config)
    candidates = config.candidates()
    job_config = (job_config or ForecastConfig()).with_overrides(horizon=config.horizon)
    bt_id = backtest_id(cache.meta, str(cache.path), selected, candidates, cutoffs, job_config)
    return BacktestPlan(cache, selected, cutoffs, candidates, job_config, bt_id)


@log_scope  # the backtest id set below tags its log lines (run=bt-...) until it returns
def run_backtest(
    cache_path,
    out_dir,
    executor,
    config: BacktestConfig,
    job_config: ForecastConfig | None = None,
    regions: list[str] | None = None,
    store: str | None = None,
    show_progress: bool = False,
    plots: bool = True,
    stop_after: int | None = None,
    plan: BacktestPlan | None = None,
) -> BacktestSummary:
    """Backtest every candidate model on every region and cutoff.

    Parameters
    ----------
    cache_path, out_dir : path-like
        The cache, and the folder for the reports (and default store).
    executor : Executor
        Where the tasks run.
    config : BacktestConfig
        Cutoffs, candidates and selection rules.
    job_config : ForecastConfig, optional
        Data-quality thresholds of the jobs (its horizon is replaced by the
        backtest's).
    regions : list of str, optional
        Subset of regions.
    store : str, optional
        SQLAlchemy URL of the results store (default ``OUT/results.sqlite``).
    show_progress : bool
        Progress bar on a terminal.
    plots : bool
        Write the PNG reports.
    stop_after : int, optional
        Stop (as if interrupted) after this many new task outcomes; for
        tests of resuming.
    plan : BacktestPlan, optional
        What :func:`plan_backtest` made of ``cache_path``, ``config``,
        ``job_config`` and ``regions`` (the command line makes it before it
        starts a cluster, so that its inputs are checked once).

    Raises
    ------
    StoreError
        The results store, or the reports in ``out_dir``, cannot be written.
    """
    started = time.monotonic()
    plan = plan or plan_backtest(cache_path, config, job_config, regions)
    cache, selected, cutoffs, candidates, job_config, bt_id = (
        plan.cache, plan.regions, plan.cutoffs, plan.candidates, plan.job_config, plan.backtest_id
    )
    set_run_id(bt_id)
    tasks = tasks_for(selected, executor.worker_cache_path or str(cache.path), candidates, cutoffs, job_config, bt_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = store_url(out_dir, store)
    results = BacktestStore(url)
    try:
        done = results.start_backtest(bt_id, str(cache.path), {"backtest": config.to_dict(), "job": job_config.to_dict()}, tasks)
        todo = [t for t in tasks if t.key not in done]
        by_key = {t.key: t for t in todo}
        log.info(
            "backtest %s: %d regions x %d models x %d cutoffs = %d tasks (%d done before, %d to run)",
            bt_id, len(selected), len(candidates), len(cutoffs), len(tasks), len(done), len(todo),
        )
        drain(executor, todo, lambda outcome: results.record_window(bt_id, by_key[outcome.key], outcome), unit="tasks",
              show_progress=show_progress, failure_level=logging.DEBUG, stop_after=stop_after)
        try:
            champions = evaluate(results, bt_id, selected, candidates, config, out_dir, plots, cache)
        except OSError as exc:  # disk full, permissions: every window is stored, running it again writes the reports
            raise StoreError(f"writing the backtest's reports to {out_dir} failed: {exc}; run the same backtest "
                             "again to write them (its windows are not recomputed)") from None
        results.finish_backtest(bt_id, "finished")
        task_rows = results.tasks(bt_id)
    except BaseException:
        results.finish_backtest(bt_id, "interrupted")
        raise
    finally:
        results.close()
    failed = task_rows[task_rows.status.isin(["failed", "lost"])]
    write_csv(out_dir / "failures.csv", failed, ["region", "model", "cutoff", "status", "error_type", "message"])
    return BacktestSummary(bt_id, len(tasks), len(done), len(failed), cutoffs, out_dir, url, champions, time.monotonic() - started)
