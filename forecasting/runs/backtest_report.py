"""A finished backtest's verdict: leaderboards, champions and their reports.

One region's window predictions in memory at a time: each is handed to
:func:`forecasting.runs.selection.select_region`, champions go to the store
(the nightly run uses them), leaderboards and metrics to CSV files, and
optionally PNG plots.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from forecasting.runs.leaderboard import ORACLE_COLUMNS
from forecasting.runs.selection import select_region
from forecasting.runs.staffing_report import COVERAGE_COLUMNS, REPORT_COLUMNS, STAFFING_COLUMNS
from forecasting.store.backtests import BacktestStore
from forecasting.files import atomic_write

LEADERBOARD_COLUMNS = ["region", "model", "mase", "rmsse", "spl", "wape", "smape", "bias", "coverage_80", "n_windows",
                       "zero_share", "intermittent", *ORACLE_COLUMNS, *STAFFING_COLUMNS]
CHAMPION_COLUMNS = ["region", "model", "mase", "seasonal_naive_mase"]
#: champions.csv: a row per region; ``status`` is ``champion``, ``no_champion``
#: (no scored window: ``model`` and ``mase`` empty) or ``skipped`` (no cutoff in
#: the backtest's start/end range), and ``reason`` says why; ``selection_metric``
#: is what the champion was chosen by.
CHAMPION_CSV_COLUMNS = [*CHAMPION_COLUMNS, "status", "reason", "selection_metric"]


#: metrics_by_horizon.csv
BUCKET_COLUMNS = ["region", "model", "bucket", "mase", "rmsse"]


class Verdict(NamedTuple):
    """What :func:`evaluate` decided: a row per region (``CHAMPION_CSV_COLUMNS`` and more) and the leaderboard."""

    champions: pd.DataFrame
    leaderboard: pd.DataFrame
    #: With ``keep_windows``: every window prediction (combinations too), a ``region`` column first.
    windows: pd.DataFrame | None = None


#: Columns of :attr:`Verdict.windows`.
WINDOW_COLUMNS = ["region", "model", "cutoff", "timestamp", "actual", "yhat", "q10", "q50", "q90", "yhat_oracle"]


def evaluate(results: BacktestStore, bt_id, regions, candidates, config, out_dir: Path, plots: bool, cache,
             skipped: dict | None = None, keep_windows: bool = False) -> Verdict:
    """Choose each region's champion, store the verdicts, write the CSV reports (and plots); return the verdicts.

    ``skipped`` maps the regions that had no cutoff to why: they are listed
    (status ``skipped``), with no champion.  ``keep_windows`` returns every
    region's window predictions too (all in memory at once: for the Python
    API, not for the command line).
    """
    labels = [c.label for c in candidates]
    zones = cache.timezones() if config.staffing is not None else {}
    staffing_rows, coverage_rows = [], []
    width = int(pd.Timedelta(config.buckets) / pd.Timedelta("1D"))
    task_rows = results.tasks(bt_id)
    skipped = skipped or {}
    boards, buckets, champions, windows = [], [], [], {}
    for region in regions:
        if region in skipped:
            champions.append({"region": region, "model": None, "status": "skipped", "interval_adjustment": 0.0,
                              "reason": skipped[region]})
            continue
        preds = results.predictions(bt_id, region)
        chosen = select_region(
            preds, task_rows[task_rows.region == region], labels, width, config.min_windows, config.default_model, config.top_k,
            config.staffing, zones.get(region, "UTC"), config.selection_metric, region,
        )
        if chosen["staffing"] is not None:
            staffing_rows.append(chosen["staffing"][0])
            coverage_rows.extend(chosen["staffing"][1])
        boards.append(chosen["leaderboard"].assign(region=region))
        buckets.append(chosen["buckets"].assign(region=region))
        champions.append({"region": region, **chosen["champion"]})
        if plots or keep_windows:
            windows[region] = chosen["predictions"]
    board = pd.concat(boards, ignore_index=True) if boards else pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    bucket = pd.concat(buckets, ignore_index=True) if buckets else pd.DataFrame(columns=BUCKET_COLUMNS)
    champs = pd.DataFrame(champions).reindex(columns=[*CHAMPION_CSV_COLUMNS, "interval_adjustment", "coverage_80",
                                                      "calibrated_coverage_80", "staffing"])
    results.save_champions(champs, bt_id)
    write_csv(out_dir / "leaderboard.csv", board, LEADERBOARD_COLUMNS)
    write_csv(out_dir / "champions.csv", champs, CHAMPION_CSV_COLUMNS)
    write_csv(out_dir / "metrics_by_horizon.csv", bucket, BUCKET_COLUMNS)
    write_csv(
        out_dir / "champion_intervals.csv", champs,
        ["region", "model", "coverage_80", "calibrated_coverage_80", "interval_adjustment", "reason"],
    )
    if config.staffing is not None:
        write_csv(out_dir / "staffing.csv", pd.DataFrame(staffing_rows), REPORT_COLUMNS)
        write_csv(out_dir / "staffing_coverage.csv", pd.DataFrame(coverage_rows), COVERAGE_COLUMNS)
    if plots:
        _plots(out_dir / "plots", board, bucket, champs, windows, cache)
    kept = None
    if keep_windows:
        frames = [w.assign(region=r).reindex(columns=WINDOW_COLUMNS) for r, w in windows.items() if len(w)]
        kept = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=WINDOW_COLUMNS)
    return Verdict(champs, board.reindex(columns=LEADERBOARD_COLUMNS), kept)


def write_csv(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    """``frame``'s ``columns`` as CSV (floats to 6 significant digits, NaN empty), written atomically."""
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
        if preds is None or row.status != "champion":
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
