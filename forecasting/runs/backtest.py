"""Rolling-origin backtests: cutoffs, the flat task list, and the run that streams it into the store.

A backtest is a cartesian product, regions x model parameter sets x the
region's cutoffs (counted back from each region's own last observation, see
:mod:`forecasting.runs.cutoffs`), mapped over one job (:func:`forecasting.runs.jobs.backtest_window`, the
engine at a cutoff), like a grid search crossed with cross-validation folds.
Each task is a small descriptor; the worker reads its region from the cache.
A fit sees only orders strictly before its cutoff (the cutoff's local
midnight), and its regressors in the window are what was known at the
cutoff, by the nightly run's own rule: calendar, holidays, scheduled events
and promotions as the cache holds them; weather as forecast before the
cutoff, else a climatology of the weather recorded before it
(:mod:`forecasting.engine.exogenous`).  With ``oracle_regressors`` each
window is also forecast from the weather as recorded, and the leaderboard
shows both scores: what the oracle adds is accuracy the nightly run never gets.

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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecasting.config.backtest import BacktestConfig
from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.errors import StoreError
from forecasting.logs.records import log_scope, set_run_id
from forecasting.runs.backtest_report import evaluate, write_csv
from forecasting.runs.cutoffs import make_cutoffs, region_cutoffs  # noqa: F401 - make_cutoffs: part of this module's API
from forecasting.runs.loop import drain
from forecasting.runs.regions import select_regions
from forecasting.runs.tasks import BacktestTask
from forecasting.store.backtests import BacktestStore
from forecasting.store.database import store_url

log = logging.getLogger(__name__)

#: Columns of ``failures.csv`` and :attr:`BacktestSummary.failures`.
FAILURE_COLUMNS = ["region", "model", "cutoff", "status", "error_type", "message"]


#: How a window's regressors are made, recorded in every backtest id: windows
#: made by an earlier rule (weather as recorded) are never resumed as if honest.
REGRESSOR_RULE = "known-at-cutoff"


def backtest_id(cache_meta: dict, cache_path: str, regions, candidates, cutoffs, config: ForecastConfig,
                oracle: bool = False) -> str:
    """Deterministic id: the same backtest (same cache build, regions, models,
    cutoffs, job settings) gets the same id, so running it again resumes it.

    ``cutoffs`` is a list (every region's) or a dict of each region's; when
    every region has the same ones the id is the one the list gives, so the
    backtests of panels that end on the same day keep their ids.
    """
    if isinstance(cutoffs, dict):
        distinct = {tuple(days) for days in cutoffs.values()}
        cutoffs = list(distinct.pop()) if len(distinct) == 1 else {r: list(d) for r, d in sorted(cutoffs.items())}
    blob = json.dumps(
        {
            "cache": cache_path,
            "cache_created": cache_meta.get("created_at"),
            "regions": list(regions),
            "models": [c.label for c in candidates],
            "cutoffs": cutoffs if isinstance(cutoffs, dict) else list(cutoffs),
            "config": config.to_dict(),
            "regressors": REGRESSOR_RULE + ("+oracle" if oracle else ""),
        },
        sort_keys=True,
        default=str,
    )
    return "bt-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def tasks_for(regions, cache_path: str, candidates, cutoffs, config: ForecastConfig, bt_id: str,
              oracle: bool = False) -> list[BacktestTask]:
    """The flat task list: each region x candidates x its cutoffs.

    ``cutoffs`` is one list for every region, or a dict of each region's
    (a region missing from it has no task).  A task's key names its region,
    model and cutoff, so per-region cutoffs keep keys unique and stable.
    ``oracle``: every task also forecasts from the recorded regressors.
    """
    per_region = cutoffs if isinstance(cutoffs, dict) else dict.fromkeys(regions, cutoffs)
    return [
        BacktestTask(region, cache_path, spec, cutoff, config, bt_id, oracle)
        for region in regions
        for spec, cutoff in itertools.product(candidates, per_region.get(region, ()))
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
    region_cutoffs: dict = field(default_factory=dict)
    #: A row per region and model (``LEADERBOARD_COLUMNS`` of :mod:`forecasting.runs.backtest_report`).
    leaderboard: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The tasks that failed or were lost: ``region, model, cutoff, status, error_type, message``.
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: With ``keep_windows``: every window's predictions (see :class:`forecasting.runs.backtest_report.Verdict`).
    windows: pd.DataFrame | None = None

    @property
    def mean_mase_ratio(self) -> float:
        """Mean over the regions with a champion of champion MASE / seasonal-naive MASE (NaN: none)."""
        c = self.champions[self.champions.status == "champion"]
        return float((c.mase / c.seasonal_naive_mase).mean())


@dataclass(frozen=True)
class BacktestPlan:
    """A backtest's checked inputs: the cache, regions, cutoffs, candidates, job config and the id they give.

    ``cutoffs`` maps each region with a window to its cutoffs; ``skipped``
    the others to why they have none.
    """

    cache: object
    regions: list
    cutoffs: dict
    candidates: list
    job_config: ForecastConfig
    backtest_id: str
    skipped: dict = field(default_factory=dict)

    @property
    def all_cutoffs(self) -> list:
        """Every region's cutoffs together, sorted."""
        return sorted({c for days in self.cutoffs.values() for c in days})


def plan_backtest(cache_path, config: BacktestConfig, job_config: ForecastConfig | None = None,
                  regions: list[str] | None = None) -> BacktestPlan:
    """Check a backtest's inputs and derive its id: the cache opens, the regions are in it, a cutoff fits.

    Each region's cutoffs are counted back from its own last observation
    (or, with ``start``/``end``, are those of the range its data covers):
    see :func:`forecasting.runs.cutoffs.region_cutoffs`.

    Raises
    ------
    CacheError, UsageError
        A bad cache, an unknown region, no cutoff before the end of any region's data.
    """
    cache = open_cache(cache_path)
    summaries = cache.region_summaries()
    selected = select_regions(summaries.region.tolist(), regions)
    cutoffs, skipped = region_cutoffs(summaries, cache.freq, config, selected)
    candidates = config.candidates()
    job_config = (job_config or ForecastConfig()).with_overrides(horizon=config.horizon)
    bt_id = backtest_id(cache.meta, str(cache.path), selected, candidates, cutoffs, job_config, config.oracle_regressors)
    return BacktestPlan(cache, selected, cutoffs, candidates, job_config, bt_id, skipped)


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
    keep_windows: bool = False,
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
    keep_windows : bool
        Return every window's predictions in :attr:`BacktestSummary.windows`.

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
    tasks = tasks_for(selected, executor.worker_cache_path or str(cache.path), candidates, cutoffs, job_config, bt_id,
                      config.oracle_regressors)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = store_url(out_dir, store)
    results = BacktestStore(url)
    try:
        done = results.start_backtest(bt_id, str(cache.path), {"backtest": config.to_dict(), "job": job_config.to_dict()}, tasks)
        todo = [t for t in tasks if t.key not in done]
        by_key = {t.key: t for t in todo}
        log.info(
            "backtest %s: %d regions x %d models x their own cutoffs (%d in all) = %d tasks (%d done before, %d to run)",
            bt_id, len(cutoffs), len(candidates), len(plan.all_cutoffs), len(tasks), len(done), len(todo),
        )
        for region, reason in plan.skipped.items():
            log.warning("backtest %s: region %s skipped: %s", bt_id, region, reason)
        drain(executor, todo, lambda outcome: results.record_window(bt_id, by_key[outcome.key], outcome), unit="tasks",
              show_progress=show_progress, failure_level=logging.DEBUG, stop_after=stop_after)
        try:
            verdict = evaluate(results, bt_id, selected, candidates, config, out_dir, plots, cache, plan.skipped,
                               keep_windows)
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
    failed = task_rows[task_rows.status.isin(["failed", "lost"])].reindex(columns=FAILURE_COLUMNS)
    write_csv(out_dir / "failures.csv", failed, FAILURE_COLUMNS)
    return BacktestSummary(bt_id, len(tasks), len(done), len(failed), plan.all_cutoffs, out_dir, url, verdict.champions,
                           time.monotonic() - started, cutoffs, verdict.leaderboard, failed.reset_index(drop=True),
                           verdict.windows)
