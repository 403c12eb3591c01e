"""Backtests on a ragged panel: each region's cutoffs end at its own last observation; no champion without a score."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from forecasting.config.backtest import BacktestConfig
from forecasting.config.forecast import ForecastConfig
from forecasting.data.cache import open_cache
from forecasting.engine.window import cut
from forecasting.errors import RegionDataError
from forecasting.runs.backtest import backtest_id, plan_backtest, run_backtest, tasks_for
from forecasting.runs.executors import SerialExecutor
from forecasting.runs.jobs import backtest_window
from forecasting.store.backtests import BacktestStore, load_champions

CFG = BacktestConfig.from_dict({"models": ["seasonal_naive", "seasonal_median"], "cutoffs": 2, "horizon": "7D",
                                "min_windows": 1, "top_k": 0})


def last_observation(cache_path, region) -> pd.Timestamp:
    """The region's latest slot with orders, UTC."""
    return open_cache(cache_path).load_region(region).orders.dropna().index[-1]


def test_each_region_gets_windows_that_end_at_its_own_last_observation(ragged_cache, tmp_path):
    ends = {r: last_observation(ragged_cache, r) for r in ("r000", "r001")}
    assert ends["r000"] - ends["r001"] >= pd.Timedelta("365D")  # the panel is ragged: a year apart
    summary = run_backtest(ragged_cache, tmp_path, SerialExecutor(), CFG, regions=["r000", "r001"], plots=False)
    store = BacktestStore(summary.store)
    tasks = store.tasks(summary.backtest_id)
    windows = {r: store.predictions(summary.backtest_id, r) for r in ends}
    store.close()
    assert (tasks.status == "ok").all() and summary.n_failed == 0  # no window of the year-old region is "stale"
    for region, end in ends.items():
        mine = windows[region]
        latest = mine[mine.cutoff == mine.cutoff.max()]
        assert latest.timestamp.max() == end  # the last window ends on the region's own last observation
        assert latest.actual.notna().all() and sorted(set(mine.cutoff)) == summary.region_cutoffs[region]
        assert len(summary.region_cutoffs[region]) == CFG.cutoffs
    assert not set(summary.region_cutoffs["r000"]) & set(summary.region_cutoffs["r001"])
    champs = summary.champions.set_index("region")
    assert (champs.status == "champion").all() and np.isfinite(champs.mase.astype(float)).all()


def test_a_region_with_no_scored_window_gets_no_champion_and_loses_an_old_one(ragged_cache, tmp_path):
    store = BacktestStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    # An earlier backtest named a champion for r002; this one finds no window to score it on.
    old = pd.DataFrame([{"region": "r002", "model": "seasonal_median", "mase": 0.9, "seasonal_naive_mase": 1.0,
                         "interval_adjustment": 0.0, "reason": "lowest MASE", "status": "champion"}])
    store.start_backtest("bt-old", str(ragged_cache), {}, [])
    store.save_champions(old, "bt-old")
    summary = run_backtest(ragged_cache, tmp_path, SerialExecutor(), CFG, regions=["r000", "r002"], plots=False)
    row = summary.champions.set_index("region").loc["r002"]
    assert row.status == "no_champion" and pd.isna(row.model) and pd.isna(row.mase)
    assert row.reason.startswith("no scored window: ") and "history too short" in row.reason
    champions = load_champions(store).set_index("region")
    verdicts = store.verdicts(summary.backtest_id).set_index("region")
    store.close()
    assert list(champions.index) == ["r000"] and champions.mase.notna().all()
    assert verdicts.loc["r002", "status"] == "no_champion" and verdicts.loc["r002", "reason"] == row.reason
    assert verdicts.loc["r000", ["status", "model"]].tolist() == ["champion", champions.loc["r000", "model"]]


def test_explicit_dates_skip_the_regions_without_data_there(ragged_cache, tmp_path):
    end = last_observation(ragged_cache, "r000").tz_convert("UTC")
    start = (end - pd.Timedelta("30D")).strftime("%Y-%m-%d")
    config = CFG.with_overrides(start=start, end=(end - pd.Timedelta("20D")).strftime("%Y-%m-%d"))
    plan = plan_backtest(ragged_cache, config, regions=["r000", "r001"])
    assert list(plan.cutoffs) == ["r000"] and plan.cutoffs["r000"][0] == start
    assert "no data in the backtest's range" in plan.skipped["r001"]
    summary = run_backtest(ragged_cache, tmp_path, SerialExecutor(), config, plan=plan, plots=False)
    store = BacktestStore(summary.store)
    tasks = store.tasks(summary.backtest_id)
    verdicts = store.verdicts(summary.backtest_id).set_index("region")
    store.close()
    assert set(tasks.region) == {"r000"}  # no task at all for the skipped region
    assert verdicts.loc["r001", "status"] == "skipped" and verdicts.loc["r001", "reason"] == plan.skipped["r001"]
    assert summary.champions.set_index("region").loc["r001", "status"] == "skipped"


def test_ids_and_keys_are_deterministic_and_unchanged_for_a_panel_that_ends_together(ragged_cache, fast_config):
    first, again = plan_backtest(ragged_cache, CFG), plan_backtest(ragged_cache, CFG)
    assert first.backtest_id == again.backtest_id and first.cutoffs == again.cutoffs
    keys = [t.key for t in tasks_for(first.regions, "c", first.candidates, first.cutoffs, fast_config, first.backtest_id)]
    assert len(set(keys)) == len(keys)
    # Every region with the same cutoffs: the id the one shared list gave before cutoffs were per region.
    days = first.cutoffs["r000"]
    args = ({}, "c", ["r0", "r1"], first.candidates)
    assert backtest_id(*args, {"r0": days, "r1": days}, fast_config) == backtest_id(*args, days, fast_config)
    assert backtest_id(*args, {"r0": days, "r1": days[:1]}, fast_config) != backtest_id(*args, days, fast_config)


def test_a_window_after_a_gap_is_scored_though_a_nightly_run_would_call_it_stale(synthetic_cache, tmp_path):
    path = tmp_path / "gap.sqlite"
    path.write_bytes(synthetic_cache.read_bytes())
    with sqlite3.connect(path) as conn:  # twelve days without data before the last two weeks
        conn.execute("DELETE FROM orders WHERE region = 'r000' AND ts >= (SELECT max(ts) - 26 * 86400 FROM orders "
                     "WHERE region = 'r000') AND ts < (SELECT max(ts) - 14 * 86400 FROM orders WHERE region = 'r000')")
    conn.close()
    data = open_cache(path).load_region("r000")
    last = last_observation(path, "r000").tz_convert(data.timezone)
    cutoff = (last - pd.Timedelta("15D")).strftime("%Y-%m-%d")
    config = ForecastConfig(horizon="7D")
    with pytest.raises(RegionDataError, match="stale data"):
        cut(data, cutoff, config)  # the nightly rule
    (task,) = tasks_for(["r000"], str(path), CFG.candidates()[:1], [cutoff], config, "bt-gap")
    result = backtest_window(task)
    assert result.frame.actual.notna().any() and np.isfinite(result.frame.yhat).all()  # scored where data came back
