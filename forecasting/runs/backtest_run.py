"""The backtest driver: run the task list, stream results to the store, select champions.

Like the nightly driver it is handed an executor and never knows what
cluster is behind it.  Each finished window is stored as it arrives; the
backtest id is derived from what is being evaluated, so running the same
backtest again skips every finished task (resume).  Once every task has an
outcome, each region is evaluated (one region's predictions in memory at a
time), champions are stored, and the reports are written.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecasting.config.backtest import BacktestConfig
from forecasting.runs.backtest import backtest_id, make_cutoffs, tasks_for
from forecasting.store.backtests import BacktestStore
from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.runs.nightly import default_run_date, select_regions
from forecasting.runs.tasks import run_task
from forecasting.logs.records import log_scope, set_run_id
from forecasting.runs.progress import Progress
from forecasting.store.results import atomic_write, store_url
from forecasting.runs.selection import select_region

log = logging.getLogger(__name__)

LEADERBOARD_COLUMNS = ["region", "model", "mase", "wape", "smape", "bias", "coverage_80", "n_windows"]
CHAMPION_COLUMNS = ["region", "model", "mase", "seasonal_naive_mase"]


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
    """
    started = time.monotonic()
    cache = open_cache(cache_path)
    summaries = cache.region_summaries()
    selected = select_regions(summaries.region.tolist(), regions)
    history_end = default_run_date(summaries, cache.freq)
    cutoffs = make_cutoffs(history_end, config)
    candidates = config.candidates()
    job_config = (job_config or ForecastConfig()).with_overrides(horizon=config.horizon)
    bt_id = backtest_id(cache.meta, str(cache.path), selected, candidates, cutoffs, job_config)
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
        progress = Progress(len(todo), enabled=None if show_progress else False, unit="tasks")
        try:
            for n, outcome in enumerate(executor.run(run_task, todo), 1):
                results.record_window(bt_id, by_key[outcome.key], outcome)
                progress.update(outcome.ok)
                if stop_after is not None and n >= stop_after:
                    raise KeyboardInterrupt(f"stopped after {n} tasks")
        finally:
            progress.close()
        champions = _evaluate(results, bt_id, selected, candidates, config, out_dir, plots, cache)
        results.finish_backtest(bt_id, "finished")
        task_rows = results.tasks(bt_id)
    except BaseException:
        results.finish_backtest(bt_id, "interrupted")
        raise
    finally:
        results.close()
    failed = task_rows[task_rows.status.isin(["failed", "lost"])]
    _write_csv(out_dir / "failures.csv", failed, ["region", "model", "cutoff", "status", "error_type", "message"])
    return BacktestSummary(bt_id, len(tasks), len(done), len(failed), cutoffs, out_dir, url, champions, time.monotonic() - started)


def _evaluate(results: BacktestStore, bt_id, regions, candidates, config: BacktestConfig, out_dir: Path, plots: bool, cache):
    labels = [c.label for c in candidates]
    width = int(pd.Timedelta(config.buckets) / pd.Timedelta("1D"))
    task_rows = results.tasks(bt_id)
    boards, buckets, champions, windows = [], [], [], {}
    for region in regions:
        preds = results.predictions(bt_id, region)
        chosen = select_region(
            preds, task_rows[task_rows.region == region], labels, width, config.min_windows, config.default_model, config.top_k
        )
        boards.append(chosen["leaderboard"].assign(region=region))
        buckets.append(chosen["buckets"].assign(region=region))
        champions.append({"region": region, **chosen["champion"]})
        if plots:
            windows[region] = chosen["predictions"]
    board = pd.concat(boards, ignore_index=True) if boards else pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    bucket = pd.concat(buckets, ignore_index=True) if buckets else pd.DataFrame(columns=["region", "model", "bucket", "mase"])
    champs = pd.DataFrame(champions)
    results.save_champions(champs, bt_id)
    _write_csv(out_dir / "leaderboard.csv", board, LEADERBOARD_COLUMNS)
    _write_csv(out_dir / "champions.csv", champs, CHAMPION_COLUMNS)
    _write_csv(out_dir / "metrics_by_horizon.csv", bucket, ["region", "model", "bucket", "mase"])
    _write_csv(
        out_dir / "champion_intervals.csv", champs,
        ["region", "model", "coverage_80", "calibrated_coverage_80", "interval_adjustment", "reason"],
    )
    if plots:
        _plots(out_dir / "plots", board, bucket, champs, windows, cache)
    return champs


def _write_csv(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    with atomic_write(path, newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in frame.reindex(columns=columns).itertuples(index=False):
            writer.writerow(["" if pd.isna(v) else (f"{v:.6g}" if isinstance(v, float) else v) for v in row])


def _plots(folder: Path, board, bucket, champs, windows: dict, cache) -> None:
    from forecasting.reports import backtest_plots, plots

    folder.mkdir(parents=True, exist_ok=True)
    backtest_plots.plot_leaderboard(folder / "leaderboard.png", board[["region", "model", "mase"]], champs[CHAMPION_COLUMNS])
    backtest_plots.plot_error_by_horizon(folder / "error_by_horizon.png", bucket[["model", "bucket", "mase"]])
    for row in champs.itertuples():
        preds = windows.get(row.region)
        if preds is None:
            continue
        mine = preds[preds.model == row.model]
        if mine.empty:
            continue
        last = mine[mine.cutoff == mine.cutoff.max()].set_index("timestamp")[["actual", "yhat", "q10", "q90"]]
        data = cache.load_region(row.region)
        cutoff = last.index[0]
        idx = data.orders.index
        history = data.orders[(idx >= cutoff - pd.Timedelta("14D")) & (idx < cutoff)]
        plots.plot_region_forecast(folder / plot_name(row.region), row.region, history, last, row.model, data.timezone)


def plot_name(region: str) -> str:
    """A safe, unique file name for a region's forecast plot."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in region)[:60]
    return f"forecast_{safe}_{hashlib.sha1(region.encode()).hexdigest()[:6]}.png"
